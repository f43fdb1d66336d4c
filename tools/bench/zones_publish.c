/*
 * zones_publish.c — what a restart costs in publishing the restored state
 * to the DNS engine: N zones (apex SOA + two NS + one A, as issue 12's
 * benchmark) are restored into a cs_state as a snapshot's decoding adds
 * them, then node_publish_all (node/publish.c) builds the served catalog
 * from the state in one dns_db transaction, as a node does after
 * restoring a snapshot.  Prints the time per zone, best of three.  No
 * cluster, no I/O.
 *
 * With --apply K, what each applied command then costs the DNS side at N
 * zones: 9 rounds of K zone creations as a node publishes one (a
 * transaction creating the zone with its SOA and NS sets, committed, then
 * one for its import batch, an A set), and K upserts of a set in zone
 * i % N, one transaction each; the created zones are deleted again,
 * untimed.  Median and spread of the rounds, in ns per creation (both its
 * transactions) and per upsert.
 *
 *   build/tools/bench/zones_publish [--apply K] [N ...]   (default 100000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/db.h"
#include "node/cluster_priv.h"
#include "tools/bench/bench_apex.h"
#include "tools/bench/bench_util.h"

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* "z<i>.bench<i % 97>.example." as a wire name, as zones_bench.py names
 * them; returns its length. */
static size_t origin_of(unsigned i, uint8_t *out)
{
        char a[16], b[16];
        int na = snprintf(a, sizeof(a), "z%u", i);
        int nb = snprintf(b, sizeof(b), "bench%u", i % 97);
        size_t o = 0;
        out[o++] = (uint8_t)na;
        memcpy(out + o, a, (size_t)na);
        o += (size_t)na;
        out[o++] = (uint8_t)nb;
        memcpy(out + o, b, (size_t)nb);
        o += (size_t)nb;
        memcpy(out + o, "\7example\0", 9);
        return o + 9;
}

static int restore(struct cs_state *st, unsigned n)
{
        char err[256];
        for (unsigned i = 0; i < n; i++) {
                uint8_t origin[64], owner[80];
                size_t len = origin_of(i, origin);
                owner[0] = 3;
                memcpy(owner + 1, "ns1", 3);
                memcpy(owner + 4, origin, len);
                uint8_t a[4] = {192, 0, 2, (uint8_t)(i % 250 + 1)};
                const struct cs_rdata a_v = {a, 4};
                char id[32];
                snprintf(id, sizeof(id), "Z%08u", i);
                struct cs_zone *z;
                struct cs_rrset_spec s_soa = {origin, len, 6, "", 3600, &soa_v, 1, {0}};
                struct cs_rrset_spec s_ns = {origin, len, 2, "", 172800, ns_v, 2, {0}};
                struct cs_rrset_spec s_a = {owner, len + 4, 1, "", 3600, &a_v, 1, {0}};
                int rc = cs_state_restore_zone(st, origin, len, id, "", 1000, 1, &z, err,
                                               sizeof(err));
                if (rc == 0)
                        rc = cs_state_restore_rrset(z, &s_soa, err, sizeof(err));
                if (rc == 0)
                        rc = cs_state_restore_rrset(z, &s_ns, err, sizeof(err));
                if (rc == 0)
                        rc = cs_state_restore_rrset(z, &s_a, err, sizeof(err));
                if (rc != 0) {
                        fprintf(stderr, "restore zone %u: %s\n", i, err);
                        return rc;
                }
        }
        return 0;
}

/* A set "ns1" A 192.0.2.x in the zone `origin`, as the import batch of a
 * bench zone puts it (index i, ttl 3600). */
static int put_a(struct dns_txn *txn, const uint8_t *origin, size_t len, const char *host,
                 unsigned i)
{
        uint8_t owner[96];
        size_t n = strlen(host);
        owner[0] = (uint8_t)n;
        memcpy(owner + 1, host, n);
        memcpy(owner + 1 + n, origin, len);
        const uint8_t a[4] = {192, 0, 2, (uint8_t)(i % 250 + 1)};
        const uint8_t *rdata[1] = {a};
        const uint16_t rdlen[1] = {4};
        return dns_txn_rrset_put(txn, origin, owner, 1, 0, 3600, rdata, rdlen, 1);
}

#define APPLY_ROUNDS 9

/* The zone `origin` with its apex SOA and NS sets, created in txn as a
 * node publishes a zone creation (node_publish_zone). */
static int create_zone(struct dns_txn *txn, const uint8_t *origin)
{
        const uint8_t *soa[1] = {bench_soa};
        const uint16_t soa_len[1] = {sizeof(bench_soa)};
        const uint8_t *ns[2] = {bench_ns1, bench_ns2};
        const uint16_t ns_len[2] = {sizeof(bench_ns1), sizeof(bench_ns2)};
        if (dns_txn_zone_create(txn, origin, true) != 0 ||
            dns_txn_rrset_put(txn, origin, origin, 6, 0, 3600, soa, soa_len, 1) < 0 ||
            dns_txn_rrset_put(txn, origin, origin, 2, 0, 172800, ns, ns_len, 2) < 0)
                return -1;
        return 0;
}

/* Ends txn: commits it after a change that went well (rc >= 0), else
 * aborts it.  0 or -1. */
static int finish(struct dns_txn *txn, int rc)
{
        if (rc >= 0)
                return dns_txn_commit(txn) == 0 ? 0 : -1;
        dns_txn_abort(txn);
        return -1;
}

/* --apply: K creations (the zone with its apex, then its import batch: two
 * committed transactions, as a node publishes them) and K upserts (one
 * transaction each) per round, on top of the n zones published. */
static int apply_rounds(struct node_cluster *c, unsigned n, unsigned k)
{
        double create[APPLY_ROUNDS], upsert[APPLY_ROUNDS];
        unsigned next = n;
        for (int r = 0; r < APPLY_ROUNDS; r++) {
                struct dns_txn txn;
                uint8_t origin[64];
                double t0 = bench_cpu_ns();
                for (unsigned i = 0; i < k; i++) {
                        size_t len = origin_of(next + i, origin);
                        if (dns_txn_begin(c->db, &txn) != 0 ||
                            finish(&txn, create_zone(&txn, origin)) != 0 ||
                            dns_txn_begin(c->db, &txn) != 0 ||
                            finish(&txn, put_a(&txn, origin, len, "ns1", next + i)) != 0)
                                return -1;
                }
                create[r] = (bench_cpu_ns() - t0) / k;
                t0 = bench_cpu_ns();
                for (unsigned i = 0; i < k; i++) {
                        size_t len = origin_of(i % n, origin);
                        if (dns_txn_begin(c->db, &txn) != 0 ||
                            finish(&txn,
                                   put_a(&txn, origin, len, "up", (unsigned)r + i)) != 0)
                                return -1;
                }
                upsert[r] = (bench_cpu_ns() - t0) / k;
                for (unsigned i = 0; i < k; i++) {
                        origin_of(next + i, origin);
                        if (dns_txn_begin(c->db, &txn) != 0 ||
                            finish(&txn, dns_txn_zone_delete(&txn, origin)) != 0)
                                return -1;
                }
                next += k;
        }
        qsort(create, APPLY_ROUNDS, sizeof(double), bench_cmp_double);
        qsort(upsert, APPLY_ROUNDS, sizeof(double), bench_cmp_double);
        printf("applied: N=%u K=%u: creation %.0f ns (min %.0f, max %.0f) for its two "
               "transactions, upsert %.0f ns (min %.0f, max %.0f), %d rounds\n",
               n, k, create[APPLY_ROUNDS / 2], create[0], create[APPLY_ROUNDS - 1],
               upsert[APPLY_ROUNDS / 2], upsert[0], upsert[APPLY_ROUNDS - 1],
               APPLY_ROUNDS);
        return 0;
}

static unsigned apply_k; /* --apply */

static int measure(unsigned n)
{
        struct node_cluster *c = calloc(1, sizeof(*c));
        struct dns_db *db = calloc(1, sizeof(*db));
        if (c == NULL || db == NULL || dns_db_init(db) != 0)
                return -1;
        c->db = db;
        cs_state_init(&c->state);
        if (restore(&c->state, n) != 0)
                return -1;
        double best = 1e18;
        for (int round = 0; round < 3; round++) {
                double t0 = now_ms();
                if (node_publish_all(c, "a restored state (bench)") != 0)
                        return -1;
                double t = now_ms() - t0;
                if (t < best)
                        best = t;
        }
        printf("published: %u zones in %.1f ms, %.0f ns per zone (best of 3)\n", n, best,
               best * 1e6 / n);
        if (apply_k > 0 && n > 0 && apply_rounds(c, n, apply_k) != 0) {
                fprintf(stderr, "a transaction of --apply failed\n");
                return -1;
        }
        node_publish_fini(c);
        dns_db_fini(db);
        cs_state_fini(&c->state);
        free(db);
        free(c);
        return 0;
}

int main(int argc, char **argv)
{
        unsigned sizes[64], n_sizes = 0;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--apply") == 0) {
                        char *end = NULL;
                        if (i + 1 < argc)
                                apply_k = (unsigned)strtoul(argv[++i], &end, 10);
                        if (end == NULL || *end != 0 || apply_k == 0) {
                                fprintf(stderr, "--apply needs a count above 0\n");
                                return 2;
                        }
                } else if (n_sizes < sizeof(sizes) / sizeof(sizes[0])) {
                        sizes[n_sizes++] = (unsigned)strtoul(argv[i], NULL, 10);
                }
        }
        if (n_sizes == 0)
                sizes[n_sizes++] = 100000;
        for (unsigned i = 0; i < n_sizes; i++)
                if (measure(sizes[i]) != 0)
                        return 1;
        return 0;
}
