/*
 * hmap.h — a small open-addressing hash table for the replicated state.
 *
 * The state machine keeps zones, record sets, owners, changes and request ids
 * in these tables so that applying a command costs what the command touches,
 * never the size of a zone.  Items are the caller's pointers; the table keeps
 * each item's 64-bit hash next to it and asks a match function to compare
 * keys, so it stores no keys itself.  Linear probing with backward-shift
 * deletion (no tombstones); the table doubles at a load of 1/2.  A reserve
 * call lets a writer grow the table before a change that must not fail.
 */
#ifndef CONSENSUS_HMAP_H
#define CONSENSUS_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cs_hslot {
        uint64_t hash;
        void *item; /* NULL: free slot */
};

struct cs_hmap {
        struct cs_hslot *slots;
        size_t cap; /* power of two, or 0 */
        size_t count;
};

typedef bool (*cs_hmap_match_fn)(const void *item, const void *key);

void cs_hmap_init(struct cs_hmap *map);
/* Frees the slots, not the items. */
void cs_hmap_fini(struct cs_hmap *map);

void *cs_hmap_get(const struct cs_hmap *map, uint64_t hash, const void *key,
                  cs_hmap_match_fn match);

/* Makes room for `extra` more items without further allocation: 0 or -ENOMEM. */
int cs_hmap_reserve(struct cs_hmap *map, size_t extra);

/*
 * Inserts item, or replaces the item matching key; returns the replaced item
 * or NULL.  Call cs_hmap_reserve first: put never allocates and never fails.
 */
void *cs_hmap_put(struct cs_hmap *map, uint64_t hash, const void *key, void *item,
                  cs_hmap_match_fn match);

/* Removes and returns the item matching key, or NULL. */
void *cs_hmap_del(struct cs_hmap *map, uint64_t hash, const void *key,
                  cs_hmap_match_fn match);

/* Iteration: for (i = 0; i < map->cap; i++) if (map->slots[i].item) ... */

/* 64-bit hash of a byte string (FNV-1a with a final mix), chainable by seed. */
uint64_t cs_hash_bytes(const void *data, size_t len, uint64_t seed);

#endif
