/*
 * latency.c — the compiled latency map (see latency.h).
 *
 * Compiling sorts the items by (family, address, length), so that a prefix
 * comes after every prefix that encloses it; a stack of the prefixes that
 * enclose the current one gives each prefix its parent, whose RTTs it
 * inherits for the regions it has none for.  The prefixes then go into a
 * common/lpm.h table (each prefix's value: its entry), which finds the
 * longest prefix no longer than the client's and the scope.  Addresses are
 * 128-bit integers here (IPv4 in the low 32 bits).
 */
#include "dns/latency.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/lpm.h"
#include "common/reclaim.h"
#include "dns/db.h"

typedef unsigned __int128 u128;

#define NONE UINT32_MAX

struct entry {
        uint8_t len;
        uint32_t parent;   /* NONE: outermost */
        uint32_t first, n; /* its RTTs in map->rtt */
};

struct dns_latency_map {
        struct lpm *lpm;    /* value: index in entries */
        size_t n_family[2]; /* prefixes of IPv4, IPv6 */
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
        lpm_free(m->lpm);
        free(m->entries);
        free(m->rtt);
        free(m);
}

size_t dns_latency_prefix_count(const struct dns_latency_map *m)
{
        return m ? m->n_entries : 0;
}

static int rtt_cmp(const void *a, const void *b)
{
        const struct dns_latency_rtt *x = a, *y = b;
        return x->region < y->region ? -1 : x->region > y->region;
}

/* Entries [from, to) of one family (sorted): parents and inherited RTTs. */
static void inherit_family(struct dns_latency_map *m, unsigned width, const u128 *lo,
                           uint32_t from, uint32_t to)
{
        uint32_t stack[130];
        unsigned depth = 0;
        for (uint32_t k = from; k < to; k++) {
                struct entry *e = &m->entries[k];
                while (depth > 0) {
                        uint32_t t = stack[depth - 1];
                        u128 thi = lo[t] | host_mask(width, m->entries[t].len);
                        if (thi >= lo[k])
                                break;
                        depth--;
                }
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
        static const unsigned widths[2] = {32, 128};
        size_t nv = 0;
        for (size_t i = 0; i < n; i++) {
                const struct dns_net *net = &items[i].net;
                unsigned fam = net->family == AF_INET6 ? 1 : 0;
                if ((net->family != AF_INET && net->family != AF_INET6) ||
                    net->prefix > widths[fam])
                        continue;
                v[nv++] = (struct pitem){addr_of(net, widths[fam]), (uint8_t)fam,
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
        m->n_family[0] = fam_start[1];
        m->n_family[1] = n_prefix - fam_start[1];
        for (unsigned f = 0; f < 2; f++)
                inherit_family(m, widths[f], lo, fam_start[f], fam_start[f + 1]);
        struct lpm_prefix *lp = calloc(n_prefix ? n_prefix : 1, sizeof(*lp));
        if (lp == NULL)
                goto nomem;
        for (size_t i = 0; i < n_prefix; i++) {
                unsigned f = i >= fam_start[1] ? 1 : 0, bytes = widths[f] / 8;
                lp[i].family = f ? LPM_IPV6 : LPM_IPV4;
                lp[i].len = m->entries[i].len;
                lp[i].value = (uint32_t)i;
                for (unsigned b = 0; b < bytes; b++)
                        lp[i].addr[b] = (uint8_t)(lo[i] >> (8 * (bytes - 1 - b)));
        }
        int rc = lpm_build(lp, n_prefix, &m->lpm);
        free(lp);
        if (rc != 0)
                goto nomem; /* prefixes are distinct: only -ENOMEM */
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

bool dns_latency_lookup(const struct dns_latency_map *m, const struct dns_net *net,
                        struct dns_latency_match *out)
{
        memset(out, 0, sizeof(*out));
        if (m == NULL || (net->family != AF_INET && net->family != AF_INET6))
                return false;
        unsigned f = net->family == AF_INET6 ? 1 : 0;
        if (m->n_family[f] == 0)
                return false;
        struct lpm_match x;
        lpm_lookup(m->lpm, f ? LPM_IPV6 : LPM_IPV4, net->bytes, net->prefix, &x);
        out->scope = x.scope;
        if (!x.found)
                return true;
        const struct entry *e = &m->entries[x.value];
        out->rtt = &m->rtt[e->first];
        out->n_rtt = e->n;
        out->prefix = x.len;
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
