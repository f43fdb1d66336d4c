/*
 * snapshot.h — the whole replicated state as msgpack, and back.
 *
 * The FSM snapshots through these functions.  The encoding is canonical —
 * zones, record sets and members sorted, changes in apply order — so two
 * nodes with the same state produce the same bytes, whatever the history of
 * their hash tables (tests compare replicas this way).  It is a sequence of
 * msgpack objects, each small, so decoding never builds a tree of the whole
 * state: a header (magic, CS_SNAPSHOT_VERSION, counters and bounds), the
 * member table, per zone its header then its record sets in chunks of at
 * most 1024, then the change records in chunks.  Decoding validates like
 * the commands do and fills a fresh state; on any error nothing is kept.
 */
#ifndef CONSENSUS_SNAPSHOT_H
#define CONSENSUS_SNAPSHOT_H

#include <stddef.h>

#include "consensus/state.h"

/* Format versions: every check of "which format brought what" reads one of
 * these names, so a merge that renumbers changes only this block. */
#define CS_SNAPSHOT_VERSION_ROUTING 2 /* record sets' routing fields */
#define CS_SNAPSHOT_VERSION_HEALTH  3 /* the health section */
#define CS_SNAPSHOT_VERSION_LATENCY 4 /* the latency-map section */
#define CS_SNAPSHOT_VERSION_CIDR    5 /* CIDR collections after the latency map */
#define CS_SNAPSHOT_VERSION         CS_SNAPSHOT_VERSION_CIDR /* written */
#define CS_SNAPSHOT_VERSION_MIN     1 /* still loaded: no routing, no health */

/* *buf is malloc'ed (free it with free); *len is a multiple of 8. */
int cs_snapshot_encode(const struct cs_state *st, void **buf, size_t *len);

/*
 * The same encoding in two steps, so that the thread that applies commands
 * never spends long on a large state (raft's asynchronous snapshots):
 *
 *   cs_snapshot_freeze   on the applying thread: packs the header, members
 *                        and health checks, starts a view and pins the
 *                        state.  Its cost does not grow with the zones,
 *                        record sets or change records; 0 or -ENOMEM.
 *   cs_snapshot_encode_frozen
 *                        on any thread, while the applying thread goes on:
 *                        takes the zones, record sets and change records
 *                        of the freeze, then sorts and packs them; gives the
 *                        bytes cs_snapshot_encode would have given at
 *                        freeze time.  Once per view.  0 or -ENOMEM.
 *   cs_snapshot_thaw     on the applying thread, after the encoding ended:
 *                        frees the view and unpins the state.
 *
 * Copy on write (frozen.c): until the encoder has taken a zone, the applying
 * thread takes it for the view itself just before changing its record sets
 * or serial or deleting it, once per zone and view.  While pinned, the state
 * keeps what it lets go of (replaced and deleted record sets, deleted zones,
 * evicted change records, a state replaced by a restore) until the last pin
 * goes; record sets are never changed in place.  One view fills at a time:
 * a second freeze meanwhile takes its view whole (a pointer per object).
 */
struct cs_frozen;
int cs_snapshot_freeze(struct cs_state *st, struct cs_frozen **view);
int cs_snapshot_encode_frozen(struct cs_frozen *view, void **buf, size_t *len);
/* The same bytes as one LZ4 frame (consensus/lz4frame.h), compressed as
 * they are packed: what raft writes as the snapshot file.  `hint`: the size
 * of the last one (its output buffer starts that large).  The content is
 * padded to whole 8-byte words like cs_snapshot_encode's; the frame is
 * not. */
int cs_snapshot_encode_frozen_lz4(struct cs_frozen *view, size_t hint, void **buf,
                                  size_t *len);
void cs_snapshot_thaw(struct cs_state *st, struct cs_frozen *view);
/* From any thread: an encoding of the view under way (or to come) stops
 * soon and fails with -ECANCELED; the view must still be thawed. */
void cs_snapshot_frozen_cancel(struct cs_frozen *view);
/* The encoder's taking in steps (cs_snapshot_encode_frozen runs it to the
 * end): takes zones worth about `budget` objects; 1 when the view holds
 * everything, 0 when not yet, -ENOMEM or -ECANCELED. */
int cs_snapshot_frozen_step(struct cs_frozen *view, size_t budget);
/* How many objects (zones, record sets, change records, latency-map
 * entries) the view holds once encoded (those it kept from the last
 * snapshot's segments included): the size of the state, for
 * pacing snapshots by the size of the state.  And how many of them the
 * applying thread took (copy on write). */
size_t cs_snapshot_frozen_items(const struct cs_frozen *view);
size_t cs_snapshot_frozen_loop_items(const struct cs_frozen *view);
/* Zone comparisons the encoding made to put the zones in name order: only
 * those the applying thread took out of order are sorted and placed. */
size_t cs_snapshot_frozen_order_cmps(const struct cs_frozen *view);
/* Times a view frozen with cs_snapshot_freeze grew its arrays while it was
 * filled: 0, it has room from its freeze for every zone and record set
 * there were (the walk holds the lock the applying thread waits for). */
size_t cs_snapshot_frozen_grows(const struct cs_frozen *view);
/* Zones and segments an encoding took from the last snapshot as they were
 * (consensus/segments.h), and the zones it packed anew. */
size_t cs_snapshot_frozen_kept_zones(const struct cs_frozen *view);
size_t cs_snapshot_frozen_kept_segments(const struct cs_frozen *view);
size_t cs_snapshot_frozen_packed_zones(const struct cs_frozen *view);
/* The memory holding the last snapshot's segments for the next one
 * (blocks, keys, table; 0 before the first). */
size_t cs_snapshot_kept_bytes(const struct cs_state *st);

/* out must be initialised and empty; on failure it is left empty.  The
 * bytes may be an LZ4 frame of them (cs_snapshot_encode_frozen_lz4: raft
 * decompresses its files, but a snapshot handed over as written is one).
 * 0, -EBADMSG, -EPROTO (version), -EINVAL (inconsistent) or -ENOMEM. */
int cs_snapshot_decode(const void *buf, size_t len, struct cs_state *out, char *err,
                       size_t errlen);

#endif
