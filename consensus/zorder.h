/*
 * zorder.h — the zones of the state in name order, kept as they change.
 *
 * The API lists zones a page at a time, sorted by name as text (docs/API.md,
 * GET /v1/zones).  Sorting every zone on each request costs O(n log n) per
 * page; this index is a skip list updated by every zone creation and
 * deletion (O(log n) each), from which a page is a search for its marker
 * and a walk of `limit` links.  It is derived from the zones (not part of
 * the replicated encoding) and lives in `struct cs_state`.
 *
 * Each zone holds its link (`struct cs_zlink`, in the zone's own allocation,
 * so inserting cannot fail); a link's height comes from the zone's hash, so
 * the index is the same on every node and needs no random numbers.
 */
#ifndef CONSENSUS_ZORDER_H
#define CONSENSUS_ZORDER_H

#include <stddef.h>
#include <stdint.h>

#define CS_ZORDER_LEVELS 16

struct cs_zone;

/* The first characters of a zone's name as text, kept in its link (in the
 * padding after `levels`): a search decides most comparisons on them and
 * reads the zone's name only when they are equal. */
#define CS_ZLINK_PREFIX 7

struct cs_zlink {
        const struct cs_zone *zone;
        uint8_t levels;
        unsigned char prefix[CS_ZLINK_PREFIX]; /* zero-padded */
        struct cs_zlink *next[];               /* levels entries */
};

struct cs_zorder {
        struct cs_zlink *head[CS_ZORDER_LEVELS];
        /* The last link on each level (NULL: the level is empty), so that a
         * zone sorting after every other one is appended without a search:
         * a snapshot lists its zones in this order, and restoring 1,000,000
         * zones searched the list for each (a cache miss per level). */
        struct cs_zlink *tail[CS_ZORDER_LEVELS];
        size_t count;
};

/* The bytes of the link of a zone with this origin hash (the zone
 * allocates it with itself), and its set-up once the zone's hash is set. */
size_t cs_zlink_size(uint64_t hash);
void cs_zlink_init(struct cs_zlink *link, const struct cs_zone *zone);

void cs_zorder_init(struct cs_zorder *o);
/* link is borrowed (the zone owns it); its zone must not be in the index. */
void cs_zorder_insert(struct cs_zorder *o, struct cs_zlink *link);
void cs_zorder_remove(struct cs_zorder *o, struct cs_zlink *link);

/*
 * The first zone whose name as text (consensus/wire.h cs_name_text) sorts
 * after `marker` (text, any case; NULL or "" for the first zone), or NULL.
 * The zone after a zone: its link's next[0].
 */
const struct cs_zlink *cs_zorder_after(const struct cs_zorder *o, const char *marker);

/* The index's order of two zones' links: < 0, 0 (the same name) or > 0. */
int cs_zorder_cmp(const struct cs_zlink *a, const struct cs_zlink *b);
/* The same of a zone's link and a name as text (lowercased, cs_name_text's
 * form), and the first zone whose name sorts at or after that text. */
int cs_zorder_cmp_key(const struct cs_zlink *link, const char *key);
const struct cs_zlink *cs_zorder_from(const struct cs_zorder *o, const char *key);

#endif
