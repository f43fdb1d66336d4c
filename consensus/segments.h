/*
 * segments.h — the last snapshot's zones, kept compressed in pieces that
 * the next snapshot takes as they are where nothing in them changed.
 *
 * A snapshot packs the zones in name order (zorder.h).  The table cuts
 * that order into segments: each covers the names from its key (the text
 * of its first zone when it was cut; NULL: from the first name) up to the
 * next segment's key, and holds the LZ4 blocks its zones were packed and
 * compressed to (lz4frame.h).  Every change to a zone (its record sets or
 * serial, its creation or deletion: the cs_frozen_zone_* hooks) marks the
 * segment covering its name with the current view generation
 * (cs_state.cow_gen).  A view of generation G keeps a segment's blocks when
 * no mark came between the freeze of the view that packed them and G's
 * (`since` is 0, or G or later: G's own marks follow its freeze), and
 * walks, packs and compresses the zones of the others.  So a snapshot
 * costs the zones changed since the last one, plus a search of the name
 * order per segment kept, not a visit of every zone.
 *
 * The encoder builds a new table per snapshot (the segments kept, and the
 * runs of changed ones cut anew by size) and the applying thread installs
 * it when the view is thawed; marks made meanwhile went to the old table,
 * and the install carries them over to the new segments covering the same
 * names.
 */
#ifndef CONSENSUS_SEGMENTS_H
#define CONSENSUS_SEGMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/zorder.h"

/* About what a segment's zones pack to before compression. */
#define CS_SEGMENT_BYTES 32768

struct cs_segment {
        char *key;               /* NULL: from the first name on */
        uint8_t *blocks;         /* LZ4 blocks (lz4frame.h); may be NULL when len 0 */
        size_t len, raw;         /* bytes of blocks, and what they decompress to */
        size_t zones;            /* zones they hold */
        size_t items;            /* zones and record sets */
        bool packed;             /* blocks hold the segment (not an empty state's) */
        bool reused;             /* (a new table) blocks are the old table's */
        uint32_t since;          /* the first mark since its view froze; 0: none */
        uint32_t last;           /* the last mark */
        size_t from_lo, from_hi; /* (a new table) the old segments it covers */
};

struct cs_segments {
        struct cs_segment *v;
        size_t n, cap;
        uint32_t gen; /* the view that packed it */
        size_t bytes; /* its memory (blocks, keys, table), set at install */
};

/* The segment covering a zone's name (t has at least one segment). */
size_t cs_segments_find(const struct cs_segments *t, const struct cs_zlink *link);

/* Marks the segment covering a zone's name as changed at generation gen,
 * and returns its index (t NULL: no table yet, nothing to mark, 0). */
size_t cs_segments_mark(struct cs_segments *t, const struct cs_zlink *link, uint32_t gen);

/* Whether a view of generation gen takes the segment's blocks as they are. */
static inline bool cs_segment_kept(const struct cs_segment *s, uint32_t gen)
{
        return s->packed && (s->since == 0 || s->since >= gen);
}

/* A table of one segment covering every name, with nothing packed (before
 * the first snapshot: so that marks are kept).  NULL without memory. */
struct cs_segments *cs_segments_unpacked(void);

/* Appends a segment to a table being built: a copy of *s (key duplicated).
 * 0 or -ENOMEM. */
int cs_segments_push(struct cs_segments *t, const struct cs_segment *s);

/*
 * Replaces *old (may be NULL) with fresh, built by the view of generation
 * fresh->gen from *old: each new segment takes the marks its old ones got
 * from that view's freeze on (then it is changed for the next view), and
 * reused blocks change owner.
 */
void cs_segments_install(struct cs_segments **old, struct cs_segments *fresh);

/* Frees a table (NULL: nothing); the blocks a new table reuses stay. */
void cs_segments_free(struct cs_segments *t);

#endif
