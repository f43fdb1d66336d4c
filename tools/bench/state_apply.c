/*
 * state_apply.c — what applying writes to the replicated state costs, in
 * process: a cs_state is filled with N zones (apex SOA + two NS) by
 * zone-creation commands, then each of 9 rounds times, on the thread's CPU
 * clock, K zone creations (deleted again, untimed, so that the state keeps
 * N zones) and K record upserts (one UPSERT action per batch, a new A set
 * "h<round>" in zone i % N).  Prints the median and the spread of the
 * rounds, in ns per apply, the heap per zone after the fill (mallinfo2),
 * and the longest creation of the fill (a table that doubles at once pays
 * for all its items in one apply; common/pmap.h).
 * No cluster, no I/O; what it exercises is the state's hash tables.
 *
 *   build/tools/bench/state_apply N [K]   (K default 1000)
 *
 * With GLIBC_TUNABLES=glibc.malloc.hugetlb=1 the heap and the big tables
 * are on huge pages, as in a node (node/heap.h).
 *
 * With --tables N: the two variants of common/pmap.h side by side, N items
 * keyed by a 64-bit number: ns per insert (the trie in one transaction,
 * the flat table after one reserve), per random lookup (hits, 9 rounds of
 * 100,000), and heap bytes per item — the figures behind choosing the flat
 * table for the replicated state (see common/pmap.h).
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/pmap.h"
#include "common/reclaim.h"
#include "consensus/state.h"
#include "tools/bench/bench_apex.h"
#include "tools/bench/bench_util.h"

#define ROUNDS 9

static uint64_t next_index = 1;

static int create(struct cs_state *st, unsigned i, struct cs_result *res)
{
        uint8_t origin[64];
        size_t len = bench_zone_origin(i, origin);
        char id[32];
        snprintf(id, sizeof(id), "Z%08u", i);
        struct cs_zone_spec spec = {
            .origin = origin,
            .origin_len = len,
            .zone_id = id,
            .comment = "bench",
            .soa = {origin, len, 6, "", 3600, &soa_v, 1, {0}},
            .ns = {origin, len, 2, "", 172800, ns_v, 2, {0}},
        };
        struct cs_ctx ctx = {.index = next_index++, .timestamp_ms = 1000};
        int rc = cs_state_zone_create(st, &ctx, &spec, res);
        if (rc != 0)
                fprintf(stderr, "create zone %u: %s\n", i, res->message);
        cs_result_reset(res);
        return rc;
}

static int upsert(struct cs_state *st, unsigned zone, unsigned round,
                  struct cs_result *res)
{
        uint8_t origin[64], owner[80];
        size_t len = bench_zone_origin(zone, origin);
        int n = snprintf((char *)owner + 1, sizeof(owner) - 1, "h%u", round);
        owner[0] = (uint8_t)n;
        memcpy(owner + 1 + n, origin, len);
        uint8_t a[4] = {192, 0, 2, (uint8_t)(round + 1)};
        const struct cs_rdata a_v = {a, 4};
        struct cs_action act = {CS_ACTION_UPSERT,
                                {owner, len + 1 + (size_t)n, 1, "", 300, &a_v, 1, {0}}};
        struct cs_batch b = {origin, len, NULL, &act, 1};
        struct cs_ctx ctx = {.index = next_index++, .timestamp_ms = 1000};
        int rc = cs_state_batch_apply(st, &ctx, &b, res);
        if (rc != 0)
                fprintf(stderr, "upsert in zone %u: %s\n", zone, res->message);
        cs_result_reset(res);
        return rc;
}

static void report(const char *what, double *v, unsigned n, unsigned k)
{
        qsort(v, ROUNDS, sizeof(*v), bench_cmp_double);
        printf(
            "%-8s N=%u K=%u: median %.0f ns per apply (min %.0f, max %.0f, %d rounds)\n",
            what, n, k, v[ROUNDS / 2] / k, v[0] / k, v[ROUNDS - 1] / k, ROUNDS);
}

struct titem {
        uint64_t key;
        uint64_t hash;
};

static bool titem_match(const void *item, const void *key)
{
        return ((const struct titem *)item)->key == *(const uint64_t *)key;
}

static uint64_t titem_hash(const void *item, const void *ctx)
{
        return ((const struct titem *)item)->hash;
}

static int tables(unsigned n)
{
        struct titem *items = malloc((size_t)n * sizeof(*items));
        uint64_t *probe = malloc(100000 * sizeof(*probe));
        if (items == NULL || probe == NULL)
                return 1;
        for (unsigned i = 0; i < n; i++)
                items[i] = (struct titem){i, hash_mix64(i)};
        for (unsigned i = 0; i < 100000; i++)
                probe[i] = hash_mix64(i ^ 0x5bd1e995u) % n;
        struct pmap trie = {NULL};
        struct pmap_flat flat;
        pmap_flat_init(&flat);
        struct reclaim_list retired;
        reclaim_init(&retired);
        struct pmap_txn txn = {1, &retired, 0};
        size_t h0 = bench_heap_used();
        double t0 = bench_cpu_ns();
        for (unsigned i = 0; i < n; i++)
                if (pmap_put(&txn, &trie, items[i].hash, &items[i].key, &items[i],
                             titem_match, titem_hash, NULL, NULL) != 0)
                        return 1;
        double put_trie = (bench_cpu_ns() - t0) / n;
        size_t h1 = bench_heap_used();
        t0 = bench_cpu_ns();
        if (pmap_flat_reserve(&flat, n) != 0)
                return 1;
        for (unsigned i = 0; i < n; i++)
                pmap_flat_put(&flat, items[i].hash, &items[i].key, &items[i],
                              titem_match);
        double put_flat = (bench_cpu_ns() - t0) / n;
        size_t h2 = bench_heap_used();
        double get[2][ROUNDS];
        uint64_t sink = 0;
        for (unsigned r = 0; r < ROUNDS; r++)
                for (int v = 0; v < 2; v++) {
                        t0 = bench_cpu_ns();
                        for (unsigned i = 0; i < 100000; i++) {
                                uint64_t k = probe[i];
                                uint64_t h = hash_mix64(k);
                                const struct titem *it =
                                    v == 0 ? pmap_get(&trie, h, &k, titem_match)
                                           : pmap_flat_get(&flat, h, &k, titem_match);
                                sink += it->hash;
                        }
                        get[v][r] = bench_cpu_ns() - t0;
                }
        /* Mapped tables (1 MB and more) are outside mallinfo2's heap: count
         * the flat table's slots directly. */
        size_t flat_bytes = flat.cap * sizeof(struct pmap_slot);
        (void)h2;
        printf(
            "tables   N=%u: insert trie %.0f ns, flat %.0f ns; bytes per item trie %.1f, "
            "flat %.1f\n",
            n, put_trie, put_flat, (double)(h1 - h0) / n, (double)flat_bytes / n);
        report("get trie", get[0], n, 100000);
        report("get flat", get[1], n, 100000);
        pmap_free(&trie, 0, NULL, NULL);
        pmap_flat_fini(&flat);
        reclaim_fini(&retired);
        free(items);
        free(probe);
        return sink == 0;
}

int main(int argc, char **argv)
{
        /* Big tables on huge pages as in the node, when the heap is. */
        const char *tunables = getenv("GLIBC_TUNABLES");
        pmap_flat_huge_pages(tunables != NULL &&
                             strstr(tunables, "glibc.malloc.hugetlb=1") != NULL);
        if (argc > 2 && strcmp(argv[1], "--tables") == 0)
                return tables((unsigned)strtoul(argv[2], NULL, 10));
        unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 10;
        unsigned k = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1000;
        if (n == 0 || k == 0)
                return 2;
        struct cs_state st;
        struct cs_result res;
        cs_result_init(&res);
        size_t before = bench_heap_used();
        cs_state_init(&st);
        double longest = 0;
        unsigned longest_at = 0;
        for (unsigned i = 0; i < n; i++) {
                double t0 = bench_cpu_ns();
                if (create(&st, i, &res) != 0)
                        return 1;
                double t = bench_cpu_ns() - t0;
                if (t > longest) {
                        longest = t;
                        longest_at = i;
                }
        }
        printf("filled   N=%u: %.0f bytes per zone (with its change record); the longest "
               "creation %.3f ms, of zone %u\n",
               n, (double)(bench_heap_used() - before) / n, longest / 1e6, longest_at);
        double t_create[ROUNDS], t_upsert[ROUNDS];
        for (unsigned r = 0; r < ROUNDS; r++) {
                double t0 = bench_cpu_ns();
                for (unsigned j = 0; j < k; j++)
                        if (create(&st, n + j, &res) != 0)
                                return 1;
                t_create[r] = bench_cpu_ns() - t0;
                for (unsigned j = 0; j < k; j++) {
                        uint8_t origin[64];
                        size_t len = bench_zone_origin(n + j, origin);
                        struct cs_ctx ctx = {.index = next_index++, .timestamp_ms = 1000};
                        if (cs_state_zone_delete(&st, &ctx, origin, len, true, &res) != 0)
                                return 1;
                        cs_result_reset(&res);
                }
                t0 = bench_cpu_ns();
                for (unsigned j = 0; j < k; j++)
                        if (upsert(&st, (r * k + j) % n, r, &res) != 0)
                                return 1;
                t_upsert[r] = bench_cpu_ns() - t0;
        }
        report("create", t_create, n, k);
        report("upsert", t_upsert, n, k);
        cs_state_fini(&st);
        cs_result_fini(&res);
        return 0;
}
