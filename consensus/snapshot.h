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

#define CS_SNAPSHOT_VERSION 1

/* *buf is malloc'ed (free it with free); *len is a multiple of 8. */
int cs_snapshot_encode(const struct cs_state *st, void **buf, size_t *len);

/* out must be initialised and empty; on failure it is left empty. 0,
 * -EBADMSG, -EPROTO (version), -EINVAL (inconsistent) or -ENOMEM. */
int cs_snapshot_decode(const void *buf, size_t len, struct cs_state *out, char *err,
                       size_t errlen);

#endif
