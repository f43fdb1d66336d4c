/*
 * rtt.c — per-network RTT aggregation (see rtt.h).
 */
#include "dns/rtt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct bucket {
        struct dns_net net; /* family 0: free */
        uint64_t sum_us;
        uint32_t count;
};

struct dns_rtt_table {
        struct bucket b[DNS_RTT_BUCKETS];
        size_t used;
        uint64_t recorded, dropped;
};

struct dns_rtt_table *dns_rtt_table_new(void)
{
        return calloc(1, sizeof(struct dns_rtt_table));
}

void dns_rtt_table_free(struct dns_rtt_table *t)
{
        free(t);
}

static uint32_t net_hash(const struct dns_net *n)
{
        uint32_t h = 2166136261u ^ n->family;
        for (unsigned i = 0; i < 6; i++)
                h = (h ^ n->bytes[i]) * 16777619u;
        return h;
}

void dns_rtt_record(struct dns_rtt_table *t, const struct dns_client_addr *addr,
                    uint32_t rtt_us)
{
        if (t == NULL || rtt_us == 0 ||
            (addr->family != AF_INET && addr->family != AF_INET6))
                return;
        struct dns_net n;
        memset(&n, 0, sizeof(n));
        n.family = addr->family;
        n.prefix = addr->family == AF_INET ? 24 : 48;
        memcpy(n.bytes, addr->bytes, n.prefix / 8);
        uint32_t i = net_hash(&n) & (DNS_RTT_BUCKETS - 1);
        for (unsigned probe = 0; probe < DNS_RTT_BUCKETS; probe++) {
                struct bucket *b = &t->b[(i + probe) & (DNS_RTT_BUCKETS - 1)];
                if (b->net.family == 0) {
                        if (t->used >= DNS_RTT_BUCKETS * 3 / 4)
                                break; /* full enough: keep probes short */
                        b->net = n;
                        t->used++;
                }
                if (memcmp(&b->net, &n, sizeof(n)) == 0) {
                        b->sum_us += rtt_us;
                        if (b->count < UINT32_MAX)
                                b->count++;
                        t->recorded++;
                        return;
                }
        }
        t->dropped++;
}

static int by_count(const void *a, const void *b)
{
        const struct bucket *x = *(const struct bucket *const *)a;
        const struct bucket *y = *(const struct bucket *const *)b;
        if (x->count != y->count)
                return x->count > y->count ? -1 : 1;
        return memcmp(&x->net, &y->net, sizeof(x->net));
}

static int by_net(const void *a, const void *b)
{
        const struct dns_rtt_sample *x = a, *y = b;
        if (x->net.family != y->net.family)
                return x->net.family < y->net.family ? -1 : 1;
        return memcmp(x->net.bytes, y->net.bytes, 16);
}

size_t dns_rtt_drain(struct dns_rtt_table *t, struct dns_rtt_sample *out, size_t max)
{
        static const struct bucket *live[DNS_RTT_BUCKETS]; /* loop thread only */
        size_t n = 0, k = 0;
        if (t == NULL)
                return 0;
        for (size_t i = 0; i < DNS_RTT_BUCKETS; i++)
                if (t->b[i].net.family != 0 && t->b[i].count > 0)
                        live[n++] = &t->b[i];
        qsort(live, n, sizeof(live[0]), by_count);
        for (; k < n && k < max; k++) {
                uint64_t mean = live[k]->sum_us / live[k]->count;
                out[k] = (struct dns_rtt_sample){
                    live[k]->net,
                    mean ? (mean > UINT32_MAX ? UINT32_MAX : (uint32_t)mean) : 1,
                    live[k]->count};
        }
        qsort(out, k, sizeof(out[0]), by_net);
        memset(t->b, 0, sizeof(t->b));
        t->used = 0;
        return k;
}

void dns_rtt_stats(const struct dns_rtt_table *t, uint64_t *recorded, uint64_t *dropped)
{
        *recorded = t ? t->recorded : 0;
        *dropped = t ? t->dropped : 0;
}
