/*
 * geo_micro.c — what one client lookup of geolocation (geo/table.h) and
 * IP-based routing (common/lpm.h) costs when the clients are many, as the
 * UDP path does it: batches of 64 queries, with and without the batch's
 * prefetch rounds (geo_table_warm_*, lpm_warm_*) before the lookups.
 *
 * Compiles the GeoIP database MMDB, draws CLIENTS distinct /24s the
 * database places somewhere (random IPv4), and builds a CIDR trie of half
 * of them (as geo_zone.py's collection).  Each round answers 1,000,000
 * queries from random clients: per batch, optionally the prefetch rounds,
 * then one lookup per query, each lookup's address depending on the last
 * one's result (the server's queries do not overlap their misses by
 * themselves: answering one writes a packet before the next looks up);
 * between batches POLLUTE KB of other memory is read (the kernel's and the
 * answer's work).  Thread CPU clock; prints the median, min and max ns
 * per query of ROUNDS rounds for each mode.
 *
 *   geo_micro MMDB [CLIENTS] [ROUNDS] [POLLUTE_KB]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/lpm.h"
#include "geo/geo.h"
#include "geo/table.h"
#include "tools/bench/bench_util.h"

#define QUERIES 1000000
#define BATCH   64

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint8_t (*clients)[4];
static unsigned nclients;
static uint8_t *pollute;
static size_t pollute_size;
static volatile uint64_t sink;

static void pollute_read(void)
{
        uint64_t s = 0;
        for (size_t i = 0; i < pollute_size; i += 64)
                s += pollute[i];
        sink += s;
}

/* kind 0: geo, 1: cidr, 2: neither (the loop and the other memory, to
 * subtract); warm: the prefetch rounds first. */
static double run(const struct geo_table *t, const struct lpm *trie, int kind, int warm)
{
        unsigned batch[BATCH];
        uint64_t dep = 0;
        double t0 = bench_cpu_ns();
        for (unsigned q = 0; q < QUERIES; q += BATCH) {
                for (unsigned i = 0; i < BATCH; i++)
                        batch[i] = (unsigned)(bench_xorshift(&rng) % nclients);
                pollute_read();
#ifndef GEO_MICRO_NO_WARM /* built against a tree without the prefetch */
                if (warm && kind == 0) {
                        struct geo_table_warm w[BATCH];
                        unsigned own[BATCH], active = 0;
                        for (unsigned i = 0; i < BATCH; i++)
                                if (geo_table_warm_begin(t, AF_INET, clients[batch[i]],
                                                         &w[active]))
                                        own[active++] = batch[i];
                        while (active > 0) {
                                unsigned kept = 0;
                                for (unsigned i = 0; i < active; i++)
                                        if (geo_table_warm_step(t, clients[own[i]],
                                                                &w[i])) {
                                                w[kept] = w[i];
                                                own[kept++] = own[i];
                                        }
                                active = kept;
                        }
                } else if (warm && kind == 1) {
                        struct lpm_warm w[BATCH];
                        unsigned active = 0;
                        for (unsigned i = 0; i < BATCH; i++)
                                if (lpm_warm_begin(trie, LPM_IPV4, clients[batch[i]], 24,
                                                   &w[active]))
                                        active++;
                        while (active > 0) {
                                unsigned kept = 0;
                                for (unsigned i = 0; i < active; i++)
                                        if (lpm_warm_step(trie, &w[i]))
                                                w[kept++] = w[i];
                                active = kept;
                        }
                }
#endif
                for (unsigned i = 0; i < BATCH; i++) {
                        uint8_t a[4];
                        memcpy(a, clients[batch[i]], 4);
                        a[3] ^= (uint8_t)(dep & 0); /* a dependency on the last */
                        __asm__ volatile("" : "+m"(a));
                        if (kind == 2) {
                                dep = a[0];
                        } else if (kind == 0) {
                                struct geo_place p;
                                geo_table_lookup(t, AF_INET, a, &p);
                                dep = p.prefix + (uint8_t)p.country[0];
                        } else {
                                struct lpm_match m;
                                lpm_lookup(trie, LPM_IPV4, a, 24, &m);
                                dep = m.value + m.scope;
                        }
                        sink += dep;
                }
        }
        return (bench_cpu_ns() - t0) / QUERIES;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr,
                        "usage: geo_micro MMDB [CLIENTS] [ROUNDS] [POLLUTE_KB]\n");
                return 2;
        }
        unsigned want = argc > 2 ? (unsigned)atoi(argv[2]) : 50000;
        unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 5;
        pollute_size = (argc > 4 ? (size_t)atoi(argv[4]) : 256) * 1024;
        pollute = calloc(1, pollute_size + 64);
        char err[256];
        struct geo_db *db;
        struct geo_table *t;
        if (geo_db_open(argv[1], NULL, &db, err, sizeof(err)) != 0 ||
            geo_table_build(db, &t, err, sizeof(err)) != 0) {
                fprintf(stderr, "geo_micro: %s\n", err);
                return 1;
        }
        clients = malloc(want * sizeof(*clients));
        struct lpm_prefix *pre = calloc(want, sizeof(*pre));
        unsigned npre = 0;
        while (nclients < want) {
                uint32_t v = (uint32_t)bench_xorshift(&rng);
                uint8_t a[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                                0};
                struct geo_place p;
                if (geo_table_lookup(t, AF_INET, a, &p) != 0 || !p.found)
                        continue;
                memcpy(clients[nclients++], a, 4);
                if (v & 1) {
                        pre[npre].family = LPM_IPV4;
                        pre[npre].len = 24;
                        memcpy(pre[npre].addr, a, 4);
                        pre[npre].value = (v >> 8) % 9 + 1;
                        npre++;
                }
        }
        struct lpm *trie;
        if (lpm_build(pre, npre, &trie) != 0) {
                fprintf(stderr, "geo_micro: lpm_build failed (a /24 drawn twice?)\n");
                return 1;
        }
        static const char *names[] = {"geo", "geo+warm", "cidr", "cidr+warm", "neither"};
        double *ns[5];
        for (int m = 0; m < 5; m++)
                ns[m] = calloc(rounds, sizeof(double));
        for (unsigned r = 0; r < rounds; r++)
                for (int m = 0; m < 5; m++) {
#ifdef GEO_MICRO_NO_WARM
                        if (m & 1 && m < 4)
                                continue;
#endif
                        ns[m][r] = run(t, trie, m / 2, m & 1);
                }
        for (int m = 0; m < 5; m++) {
                qsort(ns[m], rounds, sizeof(double), bench_cmp_double);
                printf("%-10s clients %u  ns/query median %.1f (min %.1f, max %.1f)\n",
                       names[m], nclients, ns[m][rounds / 2], ns[m][0],
                       ns[m][rounds - 1]);
        }
        FILE *f = fopen("/proc/self/smaps_rollup", "r");
        char line[256];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
                if (strncmp(line, "AnonHugePages:", 14) == 0)
                        fputs(line, stdout);
        if (f != NULL)
                fclose(f);
        return (int)(sink & 0);
}
