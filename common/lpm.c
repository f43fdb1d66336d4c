/*
 * lpm.c — a path-compressed binary trie for longest-prefix match (lpm.h).
 *
 * Addresses are 128-bit keys held as two 64-bit words, most significant bit
 * first; an IPv4 address fills the top 32 bits.  Each family has its own
 * trie (an IPv4 client never matches an IPv6 prefix).  A node is either a
 * prefix the caller gave (has_value) or a branch where the prefixes below it
 * first differ; a chain of single-child nodes never exists, so a trie of n
 * prefixes has at most 2n - 1 nodes and its depth is bounded by the number
 * of distinct prefix lengths on a path, not by the address width.  Every
 * node stores its whole key, so a lookup checks each node it reaches and
 * stops at the first one the address leaves.
 *
 * Building sorts the prefixes (family, key, length), so that the prefixes
 * below any node form one run of the array with the node's own prefix (if
 * any) first, and lays the nodes out in one array in depth-first order
 * (child 0 right after its parent).  Nodes refer to children by index.
 *
 * A large IPv4 trie also gets a stride table: for each value of an
 * address's first 16 bits, where the walk stands once it has used those
 * bits (the best match so far and the first node of 16 bits or more, or
 * the finished outcome).  A lookup that knows 16 bits or more starts
 * there, which saves the cache misses of the trie's first levels.
 */
#include "common/lpm.h"

#include "common/bigmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

struct key {
        uint64_t hi, lo;
};

struct node {
        struct key key; /* masked to len */
        uint32_t child[2];
        uint32_t value;
        uint8_t len;
        uint8_t has_value;
};

#define STRIDE_BITS 16
#define STRIDE_MIN  256 /* IPv4 prefixes from which the table pays */

/* The walk after the first STRIDE_BITS bits of an address. */
struct stride {
        uint32_t node; /* where to go on, or NONE: finished */
        uint32_t value;
        uint8_t found, len, scope;
};

struct lpm {
        struct stride *stride; /* IPv4, 1 << STRIDE_BITS entries, or NULL */
        uint32_t root[2];      /* by family: 0 IPv4, 1 IPv6 */
        size_t prefixes;
        size_t count; /* nodes */
        struct node *nodes;
        void *mem; /* the stride table and the nodes, one block (bigmem.h) */
};

/* A prefix while building. */
struct item {
        struct key key;
        uint32_t value;
        uint8_t family; /* 0 or 1 */
        uint8_t len;
};

static inline unsigned width_of(unsigned family)
{
        return family == 0 ? 32 : 128;
}

static inline int family_index(uint8_t family)
{
        return family == LPM_IPV4 ? 0 : family == LPM_IPV6 ? 1 : -1;
}

static inline uint64_t load_be64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = (v << 8) | p[i];
        return v;
}

static inline struct key key_from(unsigned family, const uint8_t *addr)
{
        struct key k;
        if (family == 0) {
                k.hi = (uint64_t)addr[0] << 56 | (uint64_t)addr[1] << 48 |
                       (uint64_t)addr[2] << 40 | (uint64_t)addr[3] << 32;
                k.lo = 0;
        } else {
                k.hi = load_be64(addr);
                k.lo = load_be64(addr + 8);
        }
        return k;
}

static inline struct key key_mask(struct key k, unsigned len)
{
        if (len == 0) {
                k.hi = k.lo = 0;
        } else if (len < 64) {
                k.hi &= ~(uint64_t)0 << (64 - len);
                k.lo = 0;
        } else if (len < 128) {
                k.lo &= len == 64 ? 0 : ~(uint64_t)0 << (128 - len);
        }
        return k;
}

/* Index of the first bit where a and b differ, or limit if they agree on
 * the first limit bits. */
static inline unsigned first_diff(struct key a, struct key b, unsigned limit)
{
        uint64_t x = a.hi ^ b.hi;
        unsigned d;
        if (x != 0)
                d = (unsigned)__builtin_clzll(x);
        else if ((x = a.lo ^ b.lo) != 0)
                d = 64 + (unsigned)__builtin_clzll(x);
        else
                d = 128;
        return d < limit ? d : limit;
}

static inline unsigned bit_at(struct key k, unsigned i)
{
        return i < 64 ? (unsigned)(k.hi >> (63 - i)) & 1
                      : (unsigned)(k.lo >> (127 - i)) & 1;
}

static int item_cmp(const void *pa, const void *pb)
{
        const struct item *a = pa, *b = pb;
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        if (a->key.hi != b->key.hi)
                return a->key.hi < b->key.hi ? -1 : 1;
        if (a->key.lo != b->key.lo)
                return a->key.lo < b->key.lo ? -1 : 1;
        return a->len < b->len ? -1 : a->len > b->len;
}

struct builder {
        const struct item *items;
        struct node *nodes;
        uint32_t used;
};

/* The node for items[a..b) (sorted, non-empty, one family): returns its
 * index.  Recursion depth is at most 129 (lengths strictly grow). */
static uint32_t build_range(struct builder *bld, size_t a, size_t b)
{
        const struct item *it = bld->items;
        unsigned len = first_diff(it[a].key, it[b - 1].key, 128);
        for (size_t i = a; i < b; i++)
                if (it[i].len < len)
                        len = it[i].len;

        uint32_t idx = bld->used++;
        struct node *n = &bld->nodes[idx];
        n->key = key_mask(it[a].key, len);
        n->len = (uint8_t)len;
        n->child[0] = n->child[1] = NONE;
        n->has_value = 0;
        n->value = 0;

        size_t i = a;
        if (it[a].len == len) {
                n->has_value = 1;
                n->value = it[a].value;
                i++;
        }
        if (i == b)
                return idx;
        /* Below: every item is longer than len, bit len set ones last. */
        size_t lo = i, hi = b;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (bit_at(it[mid].key, len) == 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        uint32_t c0 = lo > i ? build_range(bld, i, lo) : NONE;
        uint32_t c1 = b > lo ? build_range(bld, lo, b) : NONE;
        bld->nodes[idx].child[0] = c0;
        bld->nodes[idx].child[1] = c1;
        return idx;
}

/* The stride table of the IPv4 trie: each entry is what the lookup loop
 * below gives for its 16 bits, stopped at the first node of 16 bits or
 * more (its child choice needs bit 16). */
static void build_stride(struct lpm *t)
{
        for (uint32_t v = 0; v < 1u << STRIDE_BITS; v++) {
                struct key k = {(uint64_t)v << (64 - STRIDE_BITS), 0};
                struct stride e = {NONE, 0, 0, 0, 0};
                uint32_t idx = t->root[0];
                while (idx != NONE) {
                        const struct node *n = &t->nodes[idx];
                        if (n->len >= STRIDE_BITS) {
                                e.node = idx;
                                break;
                        }
                        unsigned d = first_diff(k, n->key, n->len);
                        if (d < n->len) {
                                e.scope = (uint8_t)(d + 1);
                                break;
                        }
                        if (n->has_value) {
                                e.found = 1;
                                e.len = n->len;
                                e.value = n->value;
                        }
                        unsigned b = bit_at(k, n->len);
                        if (n->child[b] == NONE) {
                                e.scope = (uint8_t)(n->child[!b] == NONE ? n->len
                                                                         : n->len + 1u);
                                break;
                        }
                        idx = n->child[b];
                }
                t->stride[v] = e;
        }
}

int lpm_build(const struct lpm_prefix *prefixes, size_t count, struct lpm **out)
{
        if (count > (NONE - 1) / 2)
                return -ENOMEM;
        struct lpm *t = calloc(1, sizeof(*t));
        struct item *items = count ? malloc(count * sizeof(*items)) : NULL;
        if (t == NULL || (count && items == NULL)) {
                free(t);
                free(items);
                return -ENOMEM;
        }
        t->root[0] = t->root[1] = NONE;

        for (size_t i = 0; i < count; i++) {
                int f = family_index(prefixes[i].family);
                if (f < 0 || prefixes[i].len > width_of((unsigned)f)) {
                        free(items);
                        free(t);
                        return -EINVAL;
                }
                items[i].family = (uint8_t)f;
                items[i].len = prefixes[i].len;
                items[i].value = prefixes[i].value;
                items[i].key =
                    key_mask(key_from((unsigned)f, prefixes[i].addr), prefixes[i].len);
        }
        if (count)
                qsort(items, count, sizeof(*items), item_cmp);

        size_t kept = 0;
        for (size_t i = 0; i < count; i++) {
                if (kept > 0 && item_cmp(&items[kept - 1], &items[i]) == 0) {
                        if (items[kept - 1].value != items[i].value) {
                                free(items);
                                free(t);
                                return -EEXIST;
                        }
                        continue;
                }
                items[kept++] = items[i];
        }
        t->prefixes = kept;

        if (kept) {
                struct builder bld = {.items = items, .used = 0};
                bld.nodes = malloc(2 * kept * sizeof(*bld.nodes));
                if (bld.nodes == NULL) {
                        free(items);
                        free(t);
                        return -ENOMEM;
                }
                size_t v6 = 0;
                while (v6 < kept && items[v6].family == 0)
                        v6++;
                if (v6 > 0)
                        t->root[0] = build_range(&bld, 0, v6);
                if (kept > v6)
                        t->root[1] = build_range(&bld, v6, kept);
                /* The stride table and the nodes in one block, on huge
                 * pages when large: lookups read them at random. */
                size_t sbytes =
                    v6 >= STRIDE_MIN ? sizeof(struct stride) << STRIDE_BITS : 0;
                uint8_t *mem = bigmem_alloc(sbytes + bld.used * sizeof(*bld.nodes));
                if (mem == NULL) {
                        free(bld.nodes);
                        free(items);
                        free(t);
                        return -ENOMEM;
                }
                memcpy(mem + sbytes, bld.nodes, bld.used * sizeof(*bld.nodes));
                free(bld.nodes);
                t->mem = mem;
                t->nodes = (struct node *)(mem + sbytes);
                t->count = bld.used;
                if (sbytes) {
                        t->stride = (struct stride *)mem;
                        build_stride(t);
                }
        }
        free(items);
        *out = t;
        return 0;
}

void lpm_free(struct lpm *table)
{
        if (table == NULL)
                return;
        bigmem_free(table->mem);
        free(table);
}

void lpm_lookup(const struct lpm *table, uint8_t family, const uint8_t *addr,
                unsigned known, struct lpm_match *out)
{
        out->found = false;
        out->len = 0;
        out->scope = 0;
        out->value = 0;
        int f = family_index(family);
        if (table == NULL || f < 0)
                return;
        unsigned width = width_of((unsigned)f);
        if (known > width)
                known = width;
        struct key k = key_mask(key_from((unsigned)f, addr), known);

        unsigned scope = 0;
        uint32_t idx = table->root[f];
        if (f == 0 && table->stride != NULL && known >= STRIDE_BITS) {
                const struct stride *e = &table->stride[k.hi >> (64 - STRIDE_BITS)];
                out->found = e->found;
                out->len = e->len;
                out->value = e->value;
                scope = e->scope;
                idx = e->node;
        }
        while (idx != NONE) {
                const struct node *n = &table->nodes[idx];
                if (n->len > known) {
                        /* Too long to match: the outcome depends on every
                         * known bit unless the address already left it. */
                        unsigned d = first_diff(k, n->key, known);
                        scope = d < known ? d + 1 : known;
                        break;
                }
                unsigned d = first_diff(k, n->key, n->len);
                if (d < n->len) {
                        scope = d + 1;
                        break;
                }
                if (n->has_value) {
                        out->found = true;
                        out->len = n->len;
                        out->value = n->value;
                }
                if (n->len == known) {
                        scope = known;
                        break;
                }
                unsigned b = bit_at(k, n->len);
                if (n->child[b] == NONE) {
                        /* Bit len told the address apart from the other
                         * branch; a leaf needed no more than its own bits. */
                        scope = n->child[!b] == NONE ? n->len : n->len + 1u;
                        break;
                }
                idx = n->child[b];
        }
        out->scope = (uint8_t)scope;
}

bool lpm_warm_begin(const struct lpm *table, uint8_t family, const uint8_t *addr,
                    unsigned known, struct lpm_warm *w)
{
        int f = family_index(family);
        if (table == NULL || f < 0)
                return false;
        unsigned width = width_of((unsigned)f);
        w->known = known > width ? width : known;
        struct key k = key_mask(key_from((unsigned)f, addr), w->known);
        w->key_hi = k.hi;
        w->key_lo = k.lo;
        if (f == 0 && table->stride != NULL && w->known >= STRIDE_BITS) {
                w->stride = &table->stride[k.hi >> (64 - STRIDE_BITS)];
                __builtin_prefetch(w->stride);
                return true;
        }
        w->stride = NULL;
        w->node = table->root[f];
        if (w->node == NONE)
                return false;
        __builtin_prefetch(&table->nodes[w->node]);
        return true;
}

bool lpm_warm_step(const struct lpm *table, struct lpm_warm *w)
{
        if (w->stride != NULL) {
                w->node = ((const struct stride *)w->stride)->node;
                w->stride = NULL;
        } else {
                /* As lpm_lookup() goes on from the node it reached. */
                const struct node *n = &table->nodes[w->node];
                struct key k = {w->key_hi, w->key_lo};
                if (n->len >= w->known || first_diff(k, n->key, n->len) < n->len)
                        return false;
                w->node = n->child[bit_at(k, n->len)];
        }
        if (w->node == NONE)
                return false;
        __builtin_prefetch(&table->nodes[w->node]);
        return true;
}

size_t lpm_count(const struct lpm *table)
{
        return table ? table->prefixes : 0;
}

size_t lpm_memory(const struct lpm *table)
{
        if (table == NULL)
                return 0;
        return sizeof(*table) + table->count * sizeof(struct node) +
               (table->stride ? sizeof(struct stride) << STRIDE_BITS : 0);
}
