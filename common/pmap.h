/*
 * pmap.h — the one hash-table module of the tree: item pointers found by a
 * 64-bit hash (common/hash.h) and a caller's match function, in two
 * variants that share that contract, the walk counter and the iteration
 * rules.
 *
 * struct pmap — persistent (hash array mapped trie with path copying), for
 * data read without locks by other threads (the DNS catalog and zones,
 * dns/db.c, dns/zone.c).  Readers use a `struct pmap` value without locks:
 * it is never changed in place once published.  A writer changes a map
 * inside a transaction: the nodes on the path to a change are copied (cost
 * O(log32 n)), nodes already copied by the same transaction are changed in
 * place, and every node the new version stops referencing is pushed on the
 * transaction's reclaim list to be freed after a grace period.  Publishing
 * the new version is then one pointer store by the owner of the map.
 *
 * struct pmap_flat — mutable (open addressing), for data that only its one
 * writer reads (the replicated state, consensus/; tables of node/).  A
 * reserve call makes room for N more items; a put after it never allocates
 * and never fails, so that applying a command is "reserve, then change
 * what cannot fail".  Iteration by a cursor that the caller may keep
 * between steps (a copy done in slices).
 *
 * Why two variants, not the trie in an owned mode for both: at a million
 * items a lookup costs 46-54 ns in the flat table against 183-214 ns down
 * the trie (four or five dependent node loads), an insert 54-57 against
 * 225-275 ns (tools/bench/state_apply.c --tables; BENCHMARKS.md, "One
 * hash-table module"); the trie is smaller (22 against 34 bytes per item at a
 * million, ~16 bytes less per table of 2 items), but the state machine's
 * tables are written and read by one thread, so it would pay the trie's
 * loads for a persistence it does not use.  A reserve for the trie would
 * have to preallocate a path of up to 13 nodes per put and full-size
 * nodes to grow in place; the flat table's reserve is one allocation.  The
 * snapshot freeze (consensus/frozen.c) takes each zone's items by copy on
 * write at the grain of a zone, cost per zone touched, so a pinned trie
 * root would not make it simpler.  What must agree between the variants —
 * how a key becomes a hash (hash_mix64, hash_bytes), how an item is
 * matched (pmap_match_fn), how walks are counted (pmap_stats_walked) — is
 * defined once, here.
 *
 * Items are the caller's pointers (at least 2-byte aligned for the trie,
 * non-NULL for both); the maps store no keys.  The caller supplies the
 * 64-bit hash of each key and a match function; when a trie node must be
 * split, item_hash(item, ctx) recomputes the hash of an item already
 * stored (the flat table keeps each item's hash next to it).
 */
#ifndef COMMON_PMAP_H
#define COMMON_PMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"
#include "common/reclaim.h"

struct pmap_node;

struct pmap {
        struct pmap_node *root;
};

/* A write transaction: id must be unique for the life of the process. */
struct pmap_txn {
        uint64_t id;
        struct reclaim_list *retired; /* borrowed: receives replaced nodes */
        uint64_t visited;             /* statistics: nodes put and del went through */
};

typedef bool (*pmap_match_fn)(const void *item, const void *key);
typedef uint64_t (*pmap_hash_fn)(const void *item, const void *ctx);

void *pmap_get(const struct pmap *map, uint64_t hash, const void *key,
               pmap_match_fn match);

/*
 * Stepwise lookup without matching, for warming the cache: a caller that
 * has many keys to look up advances each of them one level per round and
 * so waits for their cache misses together instead of one after another.
 * pmap_seek_step() moves one level down and prefetches what it reaches; it
 * returns PMAP_SEEK_MORE while levels remain, PMAP_SEEK_ITEM with *item set
 * to the only item that can match the hash (prefetched, not yet compared),
 * PMAP_SEEK_NONE when no item has the hash, or PMAP_SEEK_GIVE_UP at a list
 * of items whose hashes collide (rare; pmap_get() tells).
 */
struct pmap_seek {
        const struct pmap_node *node;
        uint64_t hash;
        unsigned shift;
};

enum pmap_seek_result {
        PMAP_SEEK_NONE,
        PMAP_SEEK_MORE,
        PMAP_SEEK_ITEM,
        PMAP_SEEK_GIVE_UP
};

void pmap_seek_begin(struct pmap_seek *seek, const struct pmap *map, uint64_t hash);
enum pmap_seek_result pmap_seek_step(struct pmap_seek *seek, const void **item);

/*
 * Inserts item, or replaces the item that matches key.  *replaced (may be
 * NULL) receives the replaced item or NULL; the caller decides its fate.
 * Returns 0 or -ENOMEM (the map is then unchanged for readers, and the
 * transaction must be aborted).
 */
int pmap_put(struct pmap_txn *txn, struct pmap *map, uint64_t hash, const void *key,
             void *item, pmap_match_fn match, pmap_hash_fn item_hash, const void *ctx,
             void **replaced);

/* Removes the item matching key; *removed receives it (NULL if absent). */
int pmap_del(struct pmap_txn *txn, struct pmap *map, uint64_t hash, const void *key,
             pmap_match_fn match, void **removed);

/*
 * Calls fn on every item until it returns non-zero, which is returned.
 * Walks are counted per thread (nodes and items visited by pmap_walk and
 * pmap_free, slots visited by pmap_flat_walk and pmap_flat_next), so that
 * tests can check that a write walks nothing; lookups (the query path) and
 * puts and dels of either variant are not counted.
 */
uint64_t pmap_stats_walked(void);
int pmap_walk(const struct pmap *map, int (*fn)(void *item, void *arg), void *arg);

bool pmap_empty(const struct pmap *map);

/*
 * Frees the nodes of a map.  With txn_id == 0 every node is freed (the map is
 * not shared with any other version).  With a transaction id only the nodes
 * that transaction created are freed (used to discard an aborted version:
 * nodes it did not create belong to the published version).  item_free (may
 * be NULL) is called on every item reachable through a freed node.
 */
void pmap_free(struct pmap *map, uint64_t txn_id,
               void (*item_free)(void *item, void *arg), void *arg);

/*
 * The flat variant.  Linear probing with backward-shift deletion (no
 * tombstones); the table doubles at a load of 1/2.  A big table doubles
 * incrementally: the reserve that outgrows it allocates the new table and
 * leaves the old one beside it (`move`), and every later reserve and put
 * moves a few of its slots over, so that no single write pays for
 * reinserting every item (at a million zones that took 0.5-0.9 s of the
 * loop, and an election).  Meanwhile a lookup may probe both tables, and a
 * deletion in the old one leaves a tombstone.  All fields are read only
 * for callers (count: items held, in both tables).
 */
struct pmap_slot {
        uint64_t hash;
        void *item; /* NULL: free slot */
};

struct pmap_flat_move; /* the old table while it is moved */

struct pmap_flat {
        struct pmap_slot *slots;
        size_t cap; /* power of two, or 0 */
        size_t count;
        struct pmap_flat_move *move; /* NULL: no move under way */
};

void pmap_flat_init(struct pmap_flat *map);

/*
 * Tables of 2 MB and more (from 131,072 slots) on transparent huge pages
 * (madvise), for tables allocated from then on; off until called.  At a
 * million zones the state's name and id tables are 32-64 MB read at random:
 * on 4 KB pages every probe also misses the TLB.  node/heap.c turns it on
 * where it puts the heap on huge pages (node/heap.h).
 */
void pmap_flat_huge_pages(bool on);

/* Frees the slots, not the items. */
void pmap_flat_fini(struct pmap_flat *map);

void *pmap_flat_get(const struct pmap_flat *map, uint64_t hash, const void *key,
                    pmap_match_fn match);

/* Makes room for `extra` more items without further allocation: 0 or
 * -ENOMEM (the map unchanged). */
int pmap_flat_reserve(struct pmap_flat *map, size_t extra);

/*
 * Inserts item, or replaces the item matching key; returns the replaced item
 * or NULL.  Call pmap_flat_reserve first: put never allocates and never fails.
 */
void *pmap_flat_put(struct pmap_flat *map, uint64_t hash, const void *key, void *item,
                    pmap_match_fn match);

/* Removes and returns the item matching key, or NULL. */
void *pmap_flat_del(struct pmap_flat *map, uint64_t hash, const void *key,
                    pmap_match_fn match);

/*
 * Iteration in table order (the old table of a move first): the item at or
 * after *cursor (start at 0), and *cursor moved past it; NULL at the end.
 * The cursor stays valid while the map is not changed, so a walk may be
 * done in slices.  During a move every reserve and put changes the map,
 * even a reserve with room or a put that only replaces (each moves slots),
 * and the move's end renumbers the slots.  A walker that deletes the item
 * just returned steps the cursor back by one (the deletion may have moved a
 * later item into that slot).  Deletions never move items between the
 * tables of a move.
 *   for (size_t i = 0; (item = pmap_flat_next(map, &i)) != NULL;)
 */
void *pmap_flat_next(const struct pmap_flat *map, size_t *cursor);

/* Calls fn on every item until it returns non-zero, which is returned. */
int pmap_flat_walk(const struct pmap_flat *map, int (*fn)(void *item, void *arg),
                   void *arg);

#endif
