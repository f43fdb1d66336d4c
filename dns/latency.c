/*
 * latency.c — the compiled latency map (see latency.h).
 *
 * Compiling sorts the items by (family, address, length), so that a prefix
 * comes after every prefix that encloses it; a stack of the prefixes that
 * enclose the current one gives each prefix its parent (for inherited RTTs
 * and for clients whose own prefix is shorter) and cuts the address space
 * into disjoint ranges, each owned by the innermost prefix covering it.
 * Addresses are 128-bit integers (IPv4 in the low 32 bits).
 */
#include "dns/latency.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/reclaim.h"
#include "dns/db.h"

typedef unsigned __int128 u128;

#define NONE UINT32_MAX

struct range {
        u128 lo, hi;
        uint32_t entry; /* NONE: no prefix covers it */
};

struct entry {
        uint8_t len;
        uint32_t parent;   /* NONE: outermost */
        uint32_t first, n; /* its RTTs in map->rtt */
};

/* The ranges of a family cover its whole address space in order, so each
 * is kept as its first address only (its last is the next one's first,
 * less one): IPv4 ones as 32-bit keys, so that a search touches few cache
 * lines. */
struct family {
        uint32_t *lo4;   /* IPv4: first addresses */
        u128 *lo6;       /* IPv6: first addresses */
        uint32_t *entry; /* the entry of each range, NONE: no prefix */
        size_t n;
        unsigned width; /* 32 or 128 */
};

struct dns_latency_map {
        struct family fam[2]; /* IPv4, IPv6 */
        struct entry *entries;
        size_t n_entries;
        struct dns_latency_rtt *rtt;
        size_t n_rtt;
};

uint64_t dns_latency_region_key(const char *name)
{
        uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
                h ^= *p;
                h *= 0x100000001b3ull;
        }
        return h ? h : 1;
}

static u128 host_mask(unsigned width, unsigned len)
{
        if (len >= width)
                return 0;
        unsigned bits = width - len;
        return bits >= 128 ? ~(u128)0 : ((u128)1 << bits) - 1;
}

static u128 addr_of(const struct dns_net *net, unsigned width)
{
        u128 a = 0;
        for (unsigned i = 0; i < width / 8; i++)
                a = a << 8 | net->bytes[i];
        return a & ~host_mask(width, net->prefix);
}

struct pitem {
        u128 lo;
        uint8_t fam, len;
        uint64_t region;
        uint32_t rtt_us;
};

static int pitem_cmp(const void *a, const void *b)
{
        const struct pitem *x = a, *y = b;
        if (x->fam != y->fam)
                return x->fam < y->fam ? -1 : 1;
        if (x->lo != y->lo)
                return x->lo < y->lo ? -1 : 1;
        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        if (x->region != y->region)
                return x->region < y->region ? -1 : 1;
        return x->rtt_us < y->rtt_us ? -1 : x->rtt_us > y->rtt_us;
}

void dns_latency_free(void *p)
{
        struct dns_latency_map *m = p;
        if (m == NULL)
                return;
        for (int f = 0; f < 2; f++) {
                free(m->fam[f].lo4);
                free(m->fam[f].lo6);
                free(m->fam[f].entry);
        }
        free(m->entries);
        free(m->rtt);
        free(m);
}

size_t dns_latency_prefix_count(const struct dns_latency_map *m)
{
        return m ? m->n_entries : 0;
}

/* A growing array of ranges. */
struct rbuild {
        struct range *v;
        size_t n, cap;
        bool failed;
};

static void emit(struct rbuild *b, u128 lo, u128 hi, uint32_t entry)
{
        if (b->failed || lo > hi)
                return;
        if (b->n == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 64;
                struct range *v = realloc(b->v, cap * sizeof(*v));
                if (v == NULL) {
                        b->failed = true;
                        return;
                }
                b->v = v;
                b->cap = cap;
        }
        b->v[b->n++] = (struct range){lo, hi, entry};
}

static int rtt_cmp(const void *a, const void *b)
{
        const struct dns_latency_rtt *x = a, *y = b;
        return x->region < y->region ? -1 : x->region > y->region;
}

/* Entries [from, to) of one family (sorted): parents, inherited RTTs and
 * ranges.  `lo` holds each entry's first address. */
static int build_family(struct dns_latency_map *m, struct family *f, const u128 *lo,
                        uint32_t from, uint32_t to)
{
        uint32_t stack[130];
        unsigned depth = 0;
        struct rbuild b = {0};
        u128 max = host_mask(f->width, 0), cursor = 0;
        bool done = false; /* cursor passed the last address */
        for (uint32_t k = from; k < to; k++) {
                struct entry *e = &m->entries[k];
                u128 elo = lo[k];
                while (depth > 0) {
                        uint32_t t = stack[depth - 1];
                        u128 thi = lo[t] | host_mask(f->width, m->entries[t].len);
                        if (thi >= elo)
                                break;
                        if (!done)
                                emit(&b, cursor, thi, t);
                        cursor = thi + 1;
                        depth--;
                }
                if (!done && cursor < elo)
                        emit(&b, cursor, elo - 1, depth ? stack[depth - 1] : NONE);
                cursor = elo;
                e->parent = depth ? stack[depth - 1] : NONE;
                /* Inherit the parent's RTTs for regions this prefix lacks
                 * (the parent's list is complete: it came first). */
                if (e->parent != NONE) {
                        const struct entry *p = &m->entries[e->parent];
                        size_t own = e->n;
                        for (uint32_t i = 0; i < p->n; i++) {
                                const struct dns_latency_rtt *r = &m->rtt[p->first + i];
                                bool have = false;
                                for (size_t j = 0; j < own && !have; j++)
                                        have = m->rtt[e->first + j].region == r->region;
                                if (!have) {
                                        /* Room was counted: appended after the
                                         * entry's own RTTs (see compile). */
                                        m->rtt[e->first + e->n++] = *r;
                                }
                        }
                        qsort(&m->rtt[e->first], e->n, sizeof(m->rtt[0]), rtt_cmp);
                }
                stack[depth++] = k;
        }
        while (depth > 0) {
                uint32_t t = stack[--depth];
                u128 thi = lo[t] | host_mask(f->width, m->entries[t].len);
                if (!done)
                        emit(&b, cursor, thi, t);
                if (thi == max)
                        done = true;
                else
                        cursor = thi + 1;
        }
        if (!done && from < to)
                emit(&b, cursor, max, NONE);
        if (!b.failed && b.n > 0) {
                f->entry = malloc(b.n * sizeof(*f->entry));
                if (f->width == 32)
                        f->lo4 = malloc(b.n * sizeof(*f->lo4));
                else
                        f->lo6 = malloc(b.n * sizeof(*f->lo6));
                if (f->entry == NULL || (f->lo4 == NULL && f->lo6 == NULL))
                        b.failed = true;
                for (size_t i = 0; !b.failed && i < b.n; i++) {
                        f->entry[i] = b.v[i].entry;
                        if (f->lo4 != NULL)
                                f->lo4[i] = (uint32_t)b.v[i].lo;
                        else
                                f->lo6[i] = b.v[i].lo;
                }
        }
        free(b.v);
        if (b.failed)
                return -ENOMEM; /* what was allocated goes with the map */
        f->n = b.n;
        return 0;
}

int dns_latency_compile(const struct dns_latency_item *items, size_t n,
                        struct dns_latency_map **out)
{
        *out = NULL;
        struct dns_latency_map *m = calloc(1, sizeof(*m));
        struct pitem *v = malloc((n ? n : 1) * sizeof(*v));
        u128 *lo = NULL;
        if (m == NULL || v == NULL)
                goto nomem;
        m->fam[0].width = 32;
        m->fam[1].width = 128;
        size_t nv = 0;
        for (size_t i = 0; i < n; i++) {
                const struct dns_net *net = &items[i].net;
                unsigned fam = net->family == AF_INET6 ? 1 : 0;
                if ((net->family != AF_INET && net->family != AF_INET6) ||
                    net->prefix > m->fam[fam].width)
                        continue;
                v[nv++] = (struct pitem){addr_of(net, m->fam[fam].width), (uint8_t)fam,
                                         net->prefix, items[i].region, items[i].rtt_us};
        }
        qsort(v, nv, sizeof(*v), pitem_cmp);
        /* Prefixes, and room for their RTTs: their own plus what a parent
         * can give (at most the number of distinct regions). */
        size_t n_prefix = 0, n_regions = 0;
        for (size_t i = 0; i < nv; i++)
                if (i == 0 || v[i].fam != v[i - 1].fam || v[i].lo != v[i - 1].lo ||
                    v[i].len != v[i - 1].len)
                        n_prefix++;
        {
                uint64_t *keys = malloc((nv ? nv : 1) * sizeof(*keys));
                if (keys == NULL)
                        goto nomem;
                for (size_t i = 0; i < nv; i++)
                        keys[i] = v[i].region;
                for (size_t i = 0; i < nv; i++) { /* count distinct (small) */
                        bool seen = false;
                        for (size_t j = 0; j < n_regions && !seen; j++)
                                seen = keys[j] == v[i].region;
                        if (!seen)
                                keys[n_regions++] = v[i].region;
                }
                free(keys);
        }
        m->entries = calloc(n_prefix ? n_prefix : 1, sizeof(*m->entries));
        m->rtt = calloc(n_prefix * n_regions + 1, sizeof(*m->rtt));
        lo = calloc(n_prefix ? n_prefix : 1, sizeof(*lo));
        if (m->entries == NULL || m->rtt == NULL || lo == NULL)
                goto nomem;
        size_t k = (size_t)-1;
        uint32_t fam_start[3] = {0, 0, 0};
        for (size_t i = 0; i < nv; i++) {
                if (i == 0 || v[i].fam != v[i - 1].fam || v[i].lo != v[i - 1].lo ||
                    v[i].len != v[i - 1].len) {
                        k++;
                        m->entries[k].len = v[i].len;
                        m->entries[k].first = (uint32_t)(k * n_regions);
                        lo[k] = v[i].lo;
                        if (v[i].fam == 0)
                                fam_start[1] = (uint32_t)k + 1;
                } else if (v[i].region == v[i - 1].region) {
                        continue; /* sorted by RTT: the lowest was kept */
                }
                struct entry *e = &m->entries[k];
                m->rtt[e->first + e->n++] =
                    (struct dns_latency_rtt){v[i].region, v[i].rtt_us};
        }
        m->n_entries = n_prefix;
        m->n_rtt = n_prefix * n_regions;
        fam_start[2] = (uint32_t)n_prefix;
        for (unsigned f = 0; f < 2; f++)
                if (build_family(m, &m->fam[f], lo, fam_start[f], fam_start[f + 1]) != 0)
                        goto nomem;
        free(v);
        free(lo);
        *out = m;
        return 0;
nomem:
        free(v);
        free(lo);
        dns_latency_free(m);
        return -ENOMEM;
}

/* The smallest L whose block of a lies in [lo, hi] (a is in it). */
static unsigned block_len(u128 a, u128 lo, u128 hi, unsigned width)
{
        unsigned l = 0, h = width;
        while (l < h) {
                unsigned mid = (l + h) / 2;
                u128 hm = host_mask(width, mid);
                if ((a & ~hm) >= lo && (a | hm) <= hi)
                        h = mid;
                else
                        l = mid + 1;
        }
        return l;
}

bool dns_latency_lookup(const struct dns_latency_map *m, const struct dns_net *net,
                        struct dns_latency_match *out)
{
        memset(out, 0, sizeof(*out));
        if (m == NULL || (net->family != AF_INET && net->family != AF_INET6))
                return false;
        const struct family *f = &m->fam[net->family == AF_INET6 ? 1 : 0];
        if (f->n == 0 || net->prefix > f->width)
                return false;
        u128 a = addr_of(net, f->width), lo, hi;
        size_t l = 0, h = f->n; /* the last range with lo <= a */
        if (f->lo4 != NULL) {
                uint32_t a4 = (uint32_t)a;
                while (h - l > 1) {
                        size_t mid = (l + h) / 2;
                        if (f->lo4[mid] <= a4)
                                l = mid;
                        else
                                h = mid;
                }
                lo = f->lo4[l];
                hi = l + 1 < f->n ? (u128)f->lo4[l + 1] - 1 : host_mask(32, 0);
        } else {
                while (h - l > 1) {
                        size_t mid = (l + h) / 2;
                        if (f->lo6[mid] <= a)
                                l = mid;
                        else
                                h = mid;
                }
                lo = f->lo6[l];
                hi = l + 1 < f->n ? f->lo6[l + 1] - 1 : host_mask(128, 0);
        }
        uint32_t e = f->entry[l];
        out->scope = (uint8_t)block_len(a, lo, hi, f->width);
        if (out->scope > net->prefix)
                out->scope = net->prefix; /* nothing finer is known of the client */
        if (e != NONE && m->entries[e].len > net->prefix) {
                /* Finer than the client's own prefix: the enclosing prefix
                 * the client is known to be in decides, for its network. */
                while (e != NONE && m->entries[e].len > net->prefix)
                        e = m->entries[e].parent;
                out->scope = net->prefix;
        }
        if (e == NONE)
                return true;
        out->rtt = &m->rtt[m->entries[e].first];
        out->n_rtt = m->entries[e].n;
        out->prefix = m->entries[e].len;
        return true;
}

int dns_db_latency_publish(struct dns_db *db, struct dns_latency_map *map)
{
        struct dns_txn txn;
        int rc = dns_txn_begin(db, &txn);
        if (rc != 0)
                return rc;
        const struct dns_latency_map *old = txn.catalog->latency;
        if (old != NULL &&
            reclaim_push(&txn.retired, dns_latency_free, (void *)old) != 0) {
                dns_txn_abort(&txn);
                return -ENOMEM;
        }
        txn.catalog->latency = map;
        return dns_txn_commit(&txn);
}
