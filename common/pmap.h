/*
 * pmap.h — a persistent hash map (hash array mapped trie) with path copying.
 *
 * Readers use a `struct pmap` value without locks: it is never changed in
 * place once published.  A writer changes a map inside a transaction: the
 * nodes on the path to a change are copied (cost O(log32 n)), nodes already
 * copied by the same transaction are changed in place, and every node the
 * new version stops referencing is pushed on the transaction's reclaim list
 * to be freed after a grace period.  Publishing the new version is then one
 * pointer store by the owner of the map.
 *
 * Items are the caller's pointers (at least 2-byte aligned); the map stores
 * no keys.  The caller supplies the 64-bit hash of each key and a match
 * function; when a node must be split, item_hash(item, ctx) recomputes the
 * hash of an item already stored.
 */
#ifndef COMMON_PMAP_H
#define COMMON_PMAP_H

#include <stdbool.h>
#include <stdint.h>

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
 * or PMAP_SEEK_NONE.
 */
struct pmap_seek {
        const struct pmap_node *node;
        uint64_t hash;
        unsigned shift;
};

enum pmap_seek_result { PMAP_SEEK_NONE, PMAP_SEEK_MORE, PMAP_SEEK_ITEM };

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
 * pmap_free), so that tests can check that a write walks nothing; lookups
 * (the query path) are not counted.
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

#endif
