/*
 * table.c — a GeoIP database compiled into a multibit trie (see table.h).
 *
 * Building: geo_db_walk() hands over the tree's leaves in address order.
 * A data leaf's record number is looked up in a hash of the records seen
 * (most records serve many networks); a new record is read once with
 * geo_db_record_place() and its place interned in a second hash keyed by
 * the place's content (records that differ only in fields routing does
 * not use, a city's name or postal code, share one place).  The leaf then
 * becomes one 32-bit entry — the place's index and the network's length,
 * or a node's index — written into every slot of the trie it covers.
 *
 * An entry: bit 31 set, the index of a node for the next 8 (right below
 * the root) or 4 bits, counted in 16 entries;
 * clear, a network: bits 8..30 its place (0: no data; ALIAS: go on in the
 * IPv4 table), bits 0..7 its length.  Nodes live in one array, copied at
 * the end into memory aligned to cache lines.
 */
#include "geo/table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/bigmem.h"
#include "common/hash.h"

#define CHILD      0x80000000u
#define ALIAS      0x7fffffu
#define MAX_PLACES 0x7ffffeu
#define ROOT_BITS  16
#define ROOT_SIZE  (1u << ROOT_BITS)
#define FANOUT     16 /* entries of a node past the third byte */

_Static_assert(sizeof(struct geo_place) == 32, "a place is half a cache line");
#define WIDE_BITS 8 /* bits of a node right below the root */

struct geo_table {
        uint32_t *root[2]; /* IPv4, IPv6 (NULL for an IPv4 database) */
        uint32_t *cells;   /* FANOUT per node */
        struct geo_place *places;
        void *mem; /* roots, cells and places of the built table, in one block */
        struct geo_table_stats stats;
};

/* ---- building ---------------------------------------------------------------- */

struct slot64 {
        uint64_t key; /* 0: free */
        uint32_t value;
};

struct build {
        const struct geo_db *db;
        struct geo_table *t;
        size_t ncells, capcells;
        size_t nplaces, capplaces;
        struct slot64 *records; /* record number -> place */
        size_t nrecords, caprecords;
        uint32_t *byplace; /* place index + 1, hashed by content; 0: free */
        size_t capbyplace;
        char *err;
        size_t err_size;
};

static uint64_t place_hash(const struct geo_place *p)
{
        uint64_t a = 0, lat, lon;
        memcpy(&a, p->continent, 2);
        a = a << 16 | (uint64_t)(uint8_t)p->country[0] << 8 | (uint8_t)p->country[1];
        a = a << 24 | (uint64_t)(uint8_t)p->subdivision[0] << 16 |
            (uint64_t)(uint8_t)p->subdivision[1] << 8 | (uint8_t)p->subdivision[2];
        a = a << 1 | p->has_coordinates;
        memcpy(&lat, &p->latitude, 8);
        memcpy(&lon, &p->longitude, 8);
        return hash_mix64(a ^ hash_mix64(lat ^ hash_mix64(lon)));
}

static bool place_equal(const struct geo_place *a, const struct geo_place *b)
{
        return a->found == b->found && memcmp(a->continent, b->continent, 3) == 0 &&
               memcmp(a->country, b->country, 3) == 0 &&
               memcmp(a->subdivision, b->subdivision, 4) == 0 &&
               a->has_coordinates == b->has_coordinates &&
               memcmp(&a->latitude, &b->latitude, sizeof(double)) == 0 &&
               memcmp(&a->longitude, &b->longitude, sizeof(double)) == 0;
}

static int grow(void **ptr, size_t *cap, size_t need, size_t size)
{
        if (need <= *cap)
                return 0;
        size_t n = *cap ? *cap : 64;
        while (n < need)
                n += n / 2;
        void *p = realloc(*ptr, n * size);
        if (p == NULL)
                return -ENOMEM;
        *ptr = p;
        *cap = n;
        return 0;
}

static int byplace_rehash(struct build *b)
{
        size_t cap = b->capbyplace ? b->capbyplace * 2 : 1024;
        uint32_t *s = calloc(cap, sizeof(*s));
        if (s == NULL)
                return -ENOMEM;
        for (size_t i = 1; i < b->nplaces; i++) {
                size_t h = place_hash(&b->t->places[i]) & (cap - 1);
                while (s[h] != 0)
                        h = (h + 1) & (cap - 1);
                s[h] = (uint32_t)i + 1;
        }
        free(b->byplace);
        b->byplace = s;
        b->capbyplace = cap;
        return 0;
}

/* The index of place p, added when new. */
static int place_intern(struct build *b, const struct geo_place *p, uint32_t *out)
{
        if (2 * (b->nplaces + 1) > b->capbyplace && byplace_rehash(b) != 0)
                return -ENOMEM;
        size_t mask = b->capbyplace - 1, h = place_hash(p) & mask;
        for (; b->byplace[h] != 0; h = (h + 1) & mask) {
                uint32_t i = b->byplace[h] - 1;
                if (place_equal(&b->t->places[i], p)) {
                        *out = i;
                        return 0;
                }
        }
        if (b->nplaces >= MAX_PLACES) {
                snprintf(b->err, b->err_size, "more than %u distinct places", MAX_PLACES);
                return -EINVAL;
        }
        if (grow((void **)&b->t->places, &b->capplaces, b->nplaces + 1,
                 sizeof(*b->t->places)) != 0)
                return -ENOMEM;
        b->t->places[b->nplaces] = *p;
        b->t->places[b->nplaces].prefix = 0;
        b->byplace[h] = (uint32_t)b->nplaces + 1;
        *out = (uint32_t)b->nplaces++;
        return 0;
}

static int records_rehash(struct build *b)
{
        size_t cap = b->caprecords ? b->caprecords * 2 : 1024;
        struct slot64 *s = calloc(cap, sizeof(*s));
        if (s == NULL)
                return -ENOMEM;
        for (size_t i = 0; i < b->caprecords; i++) {
                if (b->records[i].key == 0)
                        continue;
                size_t h = hash_mix64(b->records[i].key) & (cap - 1);
                while (s[h].key != 0)
                        h = (h + 1) & (cap - 1);
                s[h] = b->records[i];
        }
        free(b->records);
        b->records = s;
        b->caprecords = cap;
        return 0;
}

/* The place of data record `record` (non-zero). */
static int record_place(struct build *b, uint64_t record, uint32_t *out)
{
        if (2 * (b->nrecords + 1) > b->caprecords && records_rehash(b) != 0)
                return -ENOMEM;
        size_t mask = b->caprecords - 1, h = hash_mix64(record) & mask;
        for (; b->records[h].key != 0; h = (h + 1) & mask) {
                if (b->records[h].key == record) {
                        *out = b->records[h].value;
                        return 0;
                }
        }
        struct geo_place p;
        if (geo_db_record_place(b->db, record, &p) != 0) {
                snprintf(b->err, b->err_size, "a network's record is outside the data");
                return -EINVAL;
        }
        int rc = place_intern(b, &p, out);
        if (rc != 0)
                return rc;
        b->records[h].key = record;
        b->records[h].value = *out;
        b->nrecords++;
        return 0;
}

/* A new node of `size` entries (a multiple of FANOUT) all holding `fill`;
 * its index (in units of FANOUT entries). */
static int node_new(struct build *b, unsigned size, uint32_t fill, uint32_t *out)
{
        size_t n = b->ncells / FANOUT;
        if (n + size / FANOUT >= CHILD ||
            grow((void **)&b->t->cells, &b->capcells, b->ncells + size, sizeof(uint32_t)))
                return -ENOMEM;
        for (unsigned i = 0; i < size; i++)
                b->t->cells[b->ncells + i] = fill;
        b->ncells += size;
        b->t->stats.nodes++;
        *out = (uint32_t)n;
        return 0;
}

static inline unsigned nibble(const uint8_t *addr, unsigned bit)
{
        uint8_t byte = addr[bit / 8];
        return bit % 8 ? byte & 0xfu : byte >> 4;
}

/* The bits a node at `depth` uses: the whole third byte below the root
 * (one read for the /17../24 networks that most clients fall in), then 4. */
static inline unsigned stride_at(unsigned depth)
{
        return depth == ROOT_BITS ? WIDE_BITS : 4;
}

/* The index into a node at depth of addr's next bits. */
static inline unsigned slot_at(const uint8_t *addr, unsigned depth)
{
        return depth == ROOT_BITS ? addr[ROOT_BITS / 8] : nibble(addr, depth);
}

/* Writes entry into every slot the network addr/len of family f covers. */
static int insert(struct build *b, unsigned f, const uint8_t *addr, unsigned len,
                  uint32_t entry)
{
        uint32_t *root = b->t->root[f];
        unsigned top = (unsigned)addr[0] << 8 | addr[1];
        if (len <= ROOT_BITS) {
                unsigned n = 1u << (ROOT_BITS - len);
                top &= ~(n - 1);
                for (unsigned i = 0; i < n; i++)
                        root[top + i] = entry;
                return 0;
        }
        /* Where the entry leading on sits: a root slot, or a node's cell. */
        uint32_t *slot = &root[top];
        size_t cell = SIZE_MAX;
        for (unsigned depth = ROOT_BITS;;) {
                unsigned stride = stride_at(depth);
                uint32_t e = cell == SIZE_MAX ? *slot : b->t->cells[cell];
                if (!(e & CHILD)) {
                        uint32_t idx;
                        if (node_new(b, 1u << stride, e, &idx) != 0)
                                return -ENOMEM;
                        e = idx | CHILD;
                        if (cell == SIZE_MAX)
                                *slot = e;
                        else
                                b->t->cells[cell] = e;
                }
                size_t base = (size_t)(e & ~CHILD) * FANOUT;
                unsigned at = slot_at(addr, depth);
                if (len <= depth + stride) {
                        unsigned n = 1u << (depth + stride - len);
                        at &= ~(n - 1);
                        for (unsigned i = 0; i < n; i++)
                                b->t->cells[base + at + i] = entry;
                        return 0;
                }
                cell = base + at;
                depth += stride;
        }
}

static int on_leaf(void *ctx, const struct geo_leaf *leaf)
{
        struct build *b = ctx;
        uint32_t place = 0;
        if (leaf->kind == GEO_LEAF_DATA) {
                int rc = record_place(b, leaf->record, &place);
                if (rc != 0)
                        return rc;
        } else if (leaf->kind == GEO_LEAF_IPV4) {
                if (leaf->len > 96) {
                        snprintf(b->err, b->err_size,
                                 "the IPv4 subtree is reached below /96");
                        return -EINVAL;
                }
                place = ALIAS;
        }
        b->t->stats.networks++;
        unsigned f = leaf->family == 4 ? 0 : 1;
        if (insert(b, f, leaf->addr, leaf->len, place << 8 | leaf->len) != 0)
                return -ENOMEM;
        return 0;
}

int geo_table_build(const struct geo_db *db, struct geo_table **out, char *err,
                    size_t err_size)
{
        struct geo_info info;
        geo_db_info(db, &info);
        struct geo_table *t = calloc(1, sizeof(*t));
        struct build b = {.db = db, .t = t, .err = err, .err_size = err_size};
        int rc = -ENOMEM;
        snprintf(err, err_size, "out of memory");
        if (t == NULL)
                return -ENOMEM;
        t->root[0] = calloc(ROOT_SIZE, sizeof(uint32_t));
        if (info.ip_version == 6)
                t->root[1] = calloc(ROOT_SIZE, sizeof(uint32_t));
        struct geo_place none;
        memset(&none, 0, sizeof(none));
        uint32_t zero;
        if (t->root[0] == NULL || (info.ip_version == 6 && t->root[1] == NULL) ||
            place_intern(&b, &none, &zero) != 0)
                goto fail;
        err[0] = '\0';
        rc = geo_db_walk(db, on_leaf, &b);
        if (rc != 0) {
                if (err[0] == '\0')
                        snprintf(err, err_size,
                                 rc == -ENOMEM
                                     ? "out of memory"
                                     : "the search tree is corrupt or not a tree");
                goto fail;
        }
        /* The roots, the nodes and the places into one block on huge pages
         * (bigmem.h): a lookup's three reads then miss the TLB rarely.  Each
         * part starts on a cache line; a 32-byte place never straddles two. */
        size_t rbytes = ROOT_SIZE * sizeof(uint32_t);
        size_t nroots = t->root[1] ? 2 : 1;
        size_t cbytes = (b.ncells ? b.ncells : FANOUT) * sizeof(uint32_t);
        size_t pbytes = b.nplaces * sizeof(*t->places);
        size_t coff = nroots * rbytes, poff = (coff + cbytes + 63) & ~(size_t)63;
        uint8_t *mem = bigmem_alloc(poff + pbytes);
        if (mem == NULL) {
                rc = -ENOMEM;
                snprintf(err, err_size, "out of memory");
                goto fail;
        }
        for (size_t f = 0; f < nroots; f++) {
                memcpy(mem + f * rbytes, t->root[f], rbytes);
                free(t->root[f]);
                t->root[f] = (uint32_t *)(mem + f * rbytes);
        }
        if (b.ncells)
                memcpy(mem + coff, t->cells, b.ncells * sizeof(uint32_t));
        free(t->cells);
        t->cells = (uint32_t *)(mem + coff);
        memcpy(mem + poff, t->places, pbytes);
        free(t->places);
        t->places = (struct geo_place *)(mem + poff);
        t->mem = mem;
        t->stats.places = b.nplaces - 1;
        t->stats.bytes = sizeof(*t) +
                         ROOT_SIZE * sizeof(uint32_t) * (t->root[1] ? 2 : 1) +
                         b.ncells * sizeof(uint32_t) + b.nplaces * sizeof(*t->places);
        free(b.records);
        free(b.byplace);
        *out = t;
        return 0;
fail:
        free(b.records);
        free(b.byplace);
        geo_table_free(t);
        return rc;
}

void geo_table_free(struct geo_table *t)
{
        if (t == NULL)
                return;
        if (t->mem != NULL) {
                bigmem_free(t->mem);
        } else {
                free(t->root[0]);
                free(t->root[1]);
                free(t->cells);
                free(t->places);
        }
        free(t);
}

void geo_table_stats(const struct geo_table *t, struct geo_table_stats *out)
{
        *out = t->stats;
}

/* ---- looking up ---------------------------------------------------------------- */

/* The entry of the network holding addr in family f's table. */
static inline uint32_t walk(const struct geo_table *t, unsigned f, const uint8_t *addr)
{
        uint32_t e = t->root[f][(unsigned)addr[0] << 8 | addr[1]];
        if (!(e & CHILD))
                return e;
        e = t->cells[(size_t)(e & ~CHILD) * FANOUT + addr[ROOT_BITS / 8]];
        for (unsigned depth = ROOT_BITS + WIDE_BITS; e & CHILD; depth += 4)
                e = t->cells[(size_t)(e & ~CHILD) * FANOUT + nibble(addr, depth)];
        return e;
}

int geo_table_lookup(const struct geo_table *t, int family, const uint8_t *addr,
                     struct geo_place *out)
{
        uint32_t e;
        unsigned len;
        if (family == AF_INET) {
                e = walk(t, 0, addr);
                len = e & 0xffu;
        } else if (family == AF_INET6 && t->root[1] != NULL) {
                e = walk(t, 1, addr);
                len = e & 0xffu;
                if ((e >> 8 & ALIAS) == ALIAS) {
                        /* The next 32 bits are an IPv4 address (len <= 96). */
                        uint8_t v4[4];
                        for (unsigned i = 0; i < 4; i++) {
                                unsigned bit = len + 8 * i;
                                unsigned lo = bit % 8;
                                unsigned hi = addr[bit / 8];
                                unsigned next = bit / 8 + 1 < 16 ? addr[bit / 8 + 1] : 0;
                                v4[i] =
                                    (uint8_t)(lo ? (hi << lo | next >> (8 - lo)) : hi);
                        }
                        e = walk(t, 0, v4);
                        len += e & 0xffu;
                }
        } else {
                return -EINVAL;
        }
        *out = t->places[e >> 8 & ALIAS];
        out->prefix = (uint8_t)len;
        return 0;
}

bool geo_table_warm_begin(const struct geo_table *t, int family, const uint8_t *addr,
                          struct geo_table_warm *w)
{
        unsigned f = family == AF_INET ? 0 : 1;
        if ((family != AF_INET && family != AF_INET6) || t->root[f] == NULL)
                return false;
        w->at = &t->root[f][(unsigned)addr[0] << 8 | addr[1]];
        w->depth = ROOT_BITS;
        __builtin_prefetch(w->at);
        return true;
}

bool geo_table_warm_step(const struct geo_table *t, const uint8_t *addr,
                         struct geo_table_warm *w)
{
        uint32_t e = *w->at;
        if (e & CHILD) {
                if (w->depth >= 128)
                        return false;
                w->at =
                    &t->cells[(size_t)(e & ~CHILD) * FANOUT + slot_at(addr, w->depth)];
                w->depth += stride_at(w->depth);
                __builtin_prefetch(w->at);
                return true;
        }
        uint32_t place = e >> 8 & ALIAS;
        if (place != ALIAS) /* an IPv6 alias of IPv4 is left to the lookup */
                __builtin_prefetch(&t->places[place]);
        return false;
}
