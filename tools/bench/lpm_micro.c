/*
 * lpm_micro.c — cost of the IP-based policy's trie (common/lpm.h) at a
 * million prefixes, for cidr_bench.py.
 *
 * Builds a table of N distinct random prefixes (by default 1,000,000: 90 % IPv4 of
 * lengths 8 to 32, most of them /16 to /24 as real routing tables are, 10 %
 * IPv6 /24 to /64, nested and overlapping), timing the build, and reports
 * its memory.  Then looks up 1,000,000 client subnets (ECS /24 and /56:
 * half inside some prefix, half random) in rounds, timing each round with
 * the thread's CPU clock, and prints the median, minimum and maximum ns per
 * lookup over the rounds.
 *
 *   lpm_micro [N] [ROUNDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/lpm.h"
#include "tools/bench/bench_util.h"

#define LOOKUPS 1000000

static uint64_t rng = 0x243f6a8885a308d3ull;

static double now_wall(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void mask(uint8_t *addr, unsigned len)
{
        for (unsigned i = len; i < 128; i++)
                addr[i / 8] &= (uint8_t) ~(1u << (7 - i % 8));
}

static void random_prefix(struct lpm_prefix *p)
{
        uint64_t r = bench_xorshift(&rng), s = bench_xorshift(&rng);
        memset(p, 0, sizeof(*p));
        if (r % 10 != 9) {
                static const uint8_t lens[] = {8,  12, 16, 16, 18, 20, 20, 22,
                                               22, 23, 24, 24, 24, 24, 28, 32};
                p->family = LPM_IPV4;
                p->len = lens[(r >> 8) % 16];
                memcpy(p->addr, &s, 4);
        } else {
                p->family = LPM_IPV6;
                p->len = (uint8_t)(24 + (r >> 8) % 41);
                p->addr[0] = 0x20;
                p->addr[1] = 0x01;
                memcpy(p->addr + 2, &s, 8);
        }
        mask(p->addr, p->len);
        p->value = (uint32_t)(r >> 32);
}

static int prefix_cmp(const void *pa, const void *pb)
{
        const struct lpm_prefix *a = pa, *b = pb;
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        int c = memcmp(a->addr, b->addr, 16);
        return c ? c : (a->len > b->len) - (a->len < b->len);
}

int main(int argc, char **argv)
{
        size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
        unsigned rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 9;
        if (rounds == 0)
                rounds = 1;
        struct lpm_prefix *p = calloc(n ? n : 1, sizeof(*p));
        struct lpm_prefix *q = calloc(LOOKUPS, sizeof(*q));
        if (p == NULL || q == NULL)
                return 1;
        /* Random prefixes until n of them are distinct (short IPv4 lengths
         * repeat often: /8 has 256 values). */
        size_t have = 0;
        while (have < n) {
                for (size_t i = have; i < n; i++)
                        random_prefix(&p[i]);
                qsort(p, n, sizeof(*p), prefix_cmp);
                have = 0;
                for (size_t i = 0; i < n; i++)
                        if (have == 0 || prefix_cmp(&p[have - 1], &p[i]) != 0)
                                p[have++] = p[i];
        }
        for (size_t i = 0; i < n; i++) /* shuffled: the build sorts itself */
        {
                size_t j = (size_t)(bench_xorshift(&rng) % (i + 1));
                struct lpm_prefix t = p[i];
                p[i] = p[j];
                p[j] = t;
        }
        for (size_t i = 0; i < LOOKUPS; i++) {
                uint64_t s = bench_xorshift(&rng);
                if (i % 2 == 0 && n > 0) {
                        q[i] = p[bench_xorshift(&rng) % n];
                        memcpy(q[i].addr + (q[i].family == LPM_IPV4 ? 2 : 6), &s, 2);
                } else {
                        q[i].family = i % 20 == 1 ? LPM_IPV6 : LPM_IPV4;
                        memcpy(q[i].addr, &s, 8);
                }
                q[i].len = q[i].family == LPM_IPV4 ? 24 : 56;
                mask(q[i].addr, q[i].len);
        }
        struct lpm *t = NULL;
        double w0 = now_wall();
        int rc = lpm_build(p, n, &t);
        double build = now_wall() - w0;
        if (rc != 0) {
                fprintf(stderr, "lpm_build: %d\n", rc);
                return 1;
        }
        double *ns = calloc(rounds, sizeof(*ns));
        uint64_t found = 0, sink = 0;
        for (unsigned r = 0; r < rounds; r++) {
                double t0 = bench_cpu_ns();
                for (size_t i = 0; i < LOOKUPS; i++) {
                        struct lpm_match m;
                        lpm_lookup(t, q[i].family, q[i].addr, q[i].len, &m);
                        found += m.found;
                        sink += m.value + m.scope;
                }
                ns[r] = (bench_cpu_ns() - t0) / LOOKUPS;
        }
        double sorted[64];
        unsigned k = rounds < 64 ? rounds : 64;
        memcpy(sorted, ns, k * sizeof(double));
        qsort(sorted, k, sizeof(double), bench_cmp_double);
        printf(
            "prefixes %zu (distinct %zu), build %.0f ms, memory %.1f MB (%.1f bytes per "
            "prefix)\n",
            n, lpm_count(t), build * 1e3, (double)lpm_memory(t) / 1e6,
            (double)lpm_memory(t) / (double)(lpm_count(t) ? lpm_count(t) : 1));
        printf("lookup ns per query over %u rounds of %d: median %.1f, min %.1f, max "
               "%.1f (%.0f%% found; %llu)\n",
               rounds, LOOKUPS, sorted[k / 2], sorted[0], sorted[k - 1],
               100.0 * (double)found / ((double)LOOKUPS * rounds),
               (unsigned long long)(sink & 1));
        lpm_free(t);
        free(p);
        free(q);
        free(ns);
        return 0;
}
