/*
 * pmap.c — the persistent trie of pmap.h (the flat table is pmap_flat.c;
 * both count what they walk in pmap_walked, pmap_priv.h).
 *
 * Each node consumes 5 bits of the hash: a 32-bit bitmap says which of the
 * 32 branches are present and the slots array holds only those, in bit
 * order.  A slot is an item (low bit clear) or a child node (low bit set).
 * When the 64 hash bits are used up (13 levels), a "collision" node holds its
 * items in a plain list.  Nodes record the transaction that created them:
 * that transaction may change them in place, any other copies them first.
 */
#include "common/pmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/pmap_priv.h"

#define BITS      5
#define MAX_SHIFT 60 /* last level with hash bits left */
/* Items one collision node can hold. */
#define MAX_SLOTS UINT16_MAX

struct pmap_node {
        uint64_t txn;
        uint32_t bitmap;   /* collision node: number of items */
        uint8_t collision; /* 1: slots is a plain list of items */
        uint8_t pad;
        uint16_t capacity; /* slots allocated */
        void *slot[];
};

static inline bool is_child(const void *slot)
{
        return ((uintptr_t)slot & 1u) != 0;
}

static inline struct pmap_node *as_child(void *slot)
{
        return (struct pmap_node *)((uintptr_t)slot & ~(uintptr_t)1);
}

static inline void *tag_child(struct pmap_node *node)
{
        return (void *)((uintptr_t)node | 1u);
}

/* Without -mpopcnt, __builtin_popcount is a libgcc call; this stays inline. */
static inline unsigned popcount32(uint32_t x)
{
#ifdef __POPCNT__
        return (unsigned)__builtin_popcount(x);
#else
        x = x - ((x >> 1) & 0x55555555u);
        x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
        x = (x + (x >> 4)) & 0x0f0f0f0fu;
        return (x * 0x01010101u) >> 24;
#endif
}

static inline unsigned count_of(const struct pmap_node *node)
{
        return node->collision ? node->bitmap : popcount32(node->bitmap);
}

static inline unsigned index_of(uint32_t bitmap, uint32_t bit)
{
        return popcount32(bitmap & (bit - 1));
}

bool pmap_empty(const struct pmap *map)
{
        return map->root == NULL;
}

/* The slot of a (non-collision) node that hash leads to at shift, or NULL. */
static inline void *slot_for(const struct pmap_node *node, uint64_t hash, unsigned shift)
{
        uint32_t bit = 1u << ((hash >> shift) & 31);
        if ((node->bitmap & bit) == 0)
                return NULL;
        return node->slot[index_of(node->bitmap, bit)];
}

/*
 * Starts fetching a node about to be read.  The slot wanted may lie a few
 * cache lines past the bitmap: fetch them together, not one after another.
 */
static inline void prefetch_node(const struct pmap_node *node)
{
        __builtin_prefetch(node);
        __builtin_prefetch((const char *)node + 64);
        __builtin_prefetch((const char *)node + 128);
}

void *pmap_get(const struct pmap *map, uint64_t hash, const void *key,
               pmap_match_fn match)
{
        const struct pmap_node *node = map->root;
        unsigned shift = 0;
        while (node != NULL) {
                if (node->collision) {
                        for (unsigned i = 0; i < node->bitmap; i++)
                                if (match(node->slot[i], key))
                                        return node->slot[i];
                        return NULL;
                }
                void *slot = slot_for(node, hash, shift);
                if (slot == NULL)
                        return NULL;
                if (!is_child(slot))
                        return match(slot, key) ? slot : NULL;
                node = as_child(slot);
                prefetch_node(node);
                shift += BITS;
        }
        return NULL;
}

void pmap_seek_begin(struct pmap_seek *seek, const struct pmap *map, uint64_t hash)
{
        seek->node = map->root;
        seek->hash = hash;
        seek->shift = 0;
        if (seek->node != NULL)
                __builtin_prefetch(seek->node);
}

enum pmap_seek_result pmap_seek_step(struct pmap_seek *seek, const void **item)
{
        const struct pmap_node *node = seek->node;
        if (node == NULL)
                return PMAP_SEEK_NONE;
        if (node->collision)
                return PMAP_SEEK_GIVE_UP; /* collision lists are rare: not worth it */
        void *slot = slot_for(node, seek->hash, seek->shift);
        if (slot == NULL)
                return PMAP_SEEK_NONE;
        if (!is_child(slot)) {
                __builtin_prefetch(slot);
                *item = slot;
                return PMAP_SEEK_ITEM;
        }
        seek->node = as_child(slot);
        prefetch_node(seek->node);
        seek->shift += BITS;
        return PMAP_SEEK_MORE;
}

static void free_node(void *node)
{
        free(node);
}

static struct pmap_node *node_new(uint64_t txn, unsigned capacity)
{
        struct pmap_node *node = malloc(sizeof(*node) + capacity * sizeof(void *));
        if (node == NULL)
                return NULL;
        node->txn = txn;
        node->bitmap = 0;
        node->collision = 0;
        node->capacity = (uint16_t)capacity;
        return node;
}

/*
 * Returns a version of node that txn may change, with room for at least
 * `need` slots: node itself when txn created it and it is big enough, else a
 * copy (and the original goes to the reclaim list when txn did not create it).
 */
static struct pmap_node *writable(struct pmap_txn *txn, struct pmap_node *node,
                                  unsigned need)
{
        unsigned count = count_of(node);
        if (node->txn == txn->id) {
                if (need <= node->capacity)
                        return node;
                unsigned cap = need + (need >> 1);
                if (cap > 32 && !node->collision)
                        cap = 32;
                if (cap > MAX_SLOTS)
                        cap = MAX_SLOTS;
                struct pmap_node *grown =
                    realloc(node, sizeof(*node) + cap * sizeof(void *));
                if (grown == NULL)
                        return NULL;
                grown->capacity = (uint16_t)cap;
                return grown;
        }
        struct pmap_node *copy = node_new(txn->id, need > count ? need : count);
        if (copy == NULL)
                return NULL;
        copy->bitmap = node->bitmap;
        copy->collision = node->collision;
        memcpy(copy->slot, node->slot, count * sizeof(void *));
        if (reclaim_push(txn->retired, free_node, node) != 0) {
                free(copy);
                return NULL;
        }
        return copy;
}

/* Builds the subtree holding two items whose hashes agree below `shift`. */
static struct pmap_node *pair(struct pmap_txn *txn, unsigned shift, void *a, uint64_t ha,
                              void *b, uint64_t hb)
{
        if (shift > MAX_SHIFT) {
                struct pmap_node *node = node_new(txn->id, 2);
                if (node == NULL)
                        return NULL;
                node->collision = 1;
                node->bitmap = 2;
                node->slot[0] = a;
                node->slot[1] = b;
                return node;
        }
        uint32_t ba = 1u << ((ha >> shift) & 31);
        uint32_t bb = 1u << ((hb >> shift) & 31);
        if (ba == bb) {
                struct pmap_node *node = node_new(txn->id, 1);
                if (node == NULL)
                        return NULL;
                struct pmap_node *child = pair(txn, shift + BITS, a, ha, b, hb);
                if (child == NULL) {
                        free(node);
                        return NULL;
                }
                node->bitmap = ba;
                node->slot[0] = tag_child(child);
                return node;
        }
        struct pmap_node *node = node_new(txn->id, 2);
        if (node == NULL)
                return NULL;
        node->bitmap = ba | bb;
        node->slot[0] = ba < bb ? a : b;
        node->slot[1] = ba < bb ? b : a;
        return node;
}

struct put_args {
        struct pmap_txn *txn;
        uint64_t hash;
        const void *key;
        void *item;
        pmap_match_fn match;
        pmap_hash_fn item_hash;
        const void *ctx;
        void *replaced;
};

/* Returns the new version of node (NULL on ENOMEM, with nothing published). */
static struct pmap_node *put(struct put_args *a, struct pmap_node *node, unsigned shift)
{
        a->txn->visited++;
        if (node->collision) {
                for (unsigned i = 0; i < node->bitmap; i++) {
                        if (a->match(node->slot[i], a->key)) {
                                struct pmap_node *w =
                                    writable(a->txn, node, node->bitmap);
                                if (w == NULL)
                                        return NULL;
                                a->replaced = w->slot[i];
                                w->slot[i] = a->item;
                                return w;
                        }
                }
                if (node->bitmap >= MAX_SLOTS)
                        return NULL; /* 64K items with one 64-bit hash */
                struct pmap_node *w = writable(a->txn, node, node->bitmap + 1);
                if (w == NULL)
                        return NULL;
                w->slot[w->bitmap++] = a->item;
                return w;
        }
        uint32_t bit = 1u << ((a->hash >> shift) & 31);
        unsigned idx = index_of(node->bitmap, bit);
        unsigned count = count_of(node);
        if ((node->bitmap & bit) == 0) {
                struct pmap_node *w = writable(a->txn, node, count + 1);
                if (w == NULL)
                        return NULL;
                memmove(&w->slot[idx + 1], &w->slot[idx], (count - idx) * sizeof(void *));
                w->slot[idx] = a->item;
                w->bitmap |= bit;
                return w;
        }
        void *slot = node->slot[idx];
        void *next;
        if (is_child(slot)) {
                struct pmap_node *child = put(a, as_child(slot), shift + BITS);
                if (child == NULL)
                        return NULL;
                if (child == as_child(slot))
                        return node; /* changed in place below: path already owned */
                next = tag_child(child);
        } else if (a->match(slot, a->key)) {
                a->replaced = slot;
                next = a->item;
        } else {
                uint64_t other = a->item_hash(slot, a->ctx);
                struct pmap_node *sub =
                    pair(a->txn, shift + BITS, slot, other, a->item, a->hash);
                if (sub == NULL)
                        return NULL;
                next = tag_child(sub);
        }
        struct pmap_node *w = writable(a->txn, node, count);
        if (w == NULL)
                return NULL;
        w->slot[idx] = next;
        return w;
}

int pmap_put(struct pmap_txn *txn, struct pmap *map, uint64_t hash, const void *key,
             void *item, pmap_match_fn match, pmap_hash_fn item_hash, const void *ctx,
             void **replaced)
{
        struct put_args a = {txn, hash, key, item, match, item_hash, ctx, NULL};
        if (replaced != NULL)
                *replaced = NULL;
        if (map->root == NULL) {
                struct pmap_node *node = node_new(txn->id, 1);
                if (node == NULL)
                        return -ENOMEM;
                node->bitmap = 1u << (hash & 31);
                node->slot[0] = item;
                map->root = node;
                return 0;
        }
        struct pmap_node *root = put(&a, map->root, 0);
        if (root == NULL)
                return -ENOMEM;
        map->root = root;
        if (replaced != NULL)
                *replaced = a.replaced;
        return 0;
}

struct del_args {
        struct pmap_txn *txn;
        uint64_t hash;
        const void *key;
        pmap_match_fn match;
        void *removed;
        int error;
};

/*
 * Returns the new version of node, which is NULL when it became empty, or
 * the node unchanged when nothing matched.  Errors go to a->error.
 */
static struct pmap_node *del(struct del_args *a, struct pmap_node *node, unsigned shift)
{
        a->txn->visited++;
        unsigned count = count_of(node);
        unsigned idx;
        if (node->collision) {
                for (idx = 0; idx < count; idx++)
                        if (a->match(node->slot[idx], a->key))
                                break;
                if (idx == count)
                        return node;
                a->removed = node->slot[idx];
                if (count == 1) {
                        if (node->txn != a->txn->id)
                                a->error = reclaim_push(a->txn->retired, free_node, node);
                        else
                                free(node);
                        return NULL;
                }
                struct pmap_node *w = writable(a->txn, node, count);
                if (w == NULL) {
                        a->error = -ENOMEM;
                        return node;
                }
                w->slot[idx] = w->slot[--w->bitmap];
                return w;
        }
        uint32_t bit = 1u << ((a->hash >> shift) & 31);
        if ((node->bitmap & bit) == 0)
                return node;
        idx = index_of(node->bitmap, bit);
        void *slot = node->slot[idx];
        void *next = NULL; /* NULL: drop the slot */
        if (is_child(slot)) {
                struct pmap_node *child = as_child(slot);
                struct pmap_node *sub = del(a, child, shift + BITS);
                if (a->error != 0 || a->removed == NULL)
                        return node;
                if (sub != NULL) {
                        /* A child left with one item is folded into this node. */
                        if (!sub->collision && count_of(sub) == 1 &&
                            !is_child(sub->slot[0])) {
                                next = sub->slot[0];
                                if (sub->txn == a->txn->id)
                                        free(sub);
                                else
                                        a->error =
                                            reclaim_push(a->txn->retired, free_node, sub);
                        } else if (sub->collision && sub->bitmap == 1) {
                                next = sub->slot[0];
                                if (sub->txn == a->txn->id)
                                        free(sub);
                                else
                                        a->error =
                                            reclaim_push(a->txn->retired, free_node, sub);
                        } else if (sub == child) {
                                return node; /* changed in place */
                        } else {
                                next = tag_child(sub);
                        }
                }
        } else {
                if (!a->match(slot, a->key))
                        return node;
                a->removed = slot;
        }
        if (next == NULL && count == 1) {
                if (node->txn == a->txn->id)
                        free(node);
                else if (reclaim_push(a->txn->retired, free_node, node) != 0)
                        a->error = -ENOMEM;
                return NULL;
        }
        struct pmap_node *w = writable(a->txn, node, count);
        if (w == NULL) {
                a->error = -ENOMEM;
                return node;
        }
        if (next != NULL) {
                w->slot[idx] = next;
        } else {
                memmove(&w->slot[idx], &w->slot[idx + 1],
                        (count - idx - 1) * sizeof(void *));
                w->bitmap &= ~bit;
        }
        return w;
}

int pmap_del(struct pmap_txn *txn, struct pmap *map, uint64_t hash, const void *key,
             pmap_match_fn match, void **removed)
{
        struct del_args a = {txn, hash, key, match, NULL, 0};
        if (removed != NULL)
                *removed = NULL;
        if (map->root == NULL)
                return 0;
        struct pmap_node *root = del(&a, map->root, 0);
        if (a.error != 0)
                return a.error;
        map->root = root;
        if (removed != NULL)
                *removed = a.removed;
        return 0;
}

_Thread_local uint64_t pmap_walked;

uint64_t pmap_stats_walked(void)
{
        return pmap_walked;
}

static int walk(const struct pmap_node *node, int (*fn)(void *, void *), void *arg)
{
        unsigned count = count_of(node);
        pmap_walked += 1 + count;
        for (unsigned i = 0; i < count; i++) {
                void *slot = node->slot[i];
                int rc = is_child(slot) ? walk(as_child(slot), fn, arg) : fn(slot, arg);
                if (rc != 0)
                        return rc;
        }
        return 0;
}

int pmap_walk(const struct pmap *map, int (*fn)(void *item, void *arg), void *arg)
{
        return map->root != NULL ? walk(map->root, fn, arg) : 0;
}

static void free_tree(struct pmap_node *node, uint64_t txn_id,
                      void (*item_free)(void *, void *), void *arg)
{
        if (txn_id != 0 && node->txn != txn_id)
                return;
        unsigned count = count_of(node);
        pmap_walked += 1 + count;
        for (unsigned i = 0; i < count; i++) {
                void *slot = node->slot[i];
                if (is_child(slot))
                        free_tree(as_child(slot), txn_id, item_free, arg);
                else if (item_free != NULL)
                        item_free(slot, arg);
        }
        free(node);
}

void pmap_free(struct pmap *map, uint64_t txn_id,
               void (*item_free)(void *item, void *arg), void *arg)
{
        if (map->root != NULL)
                free_tree(map->root, txn_id, item_free, arg);
        map->root = NULL;
}
