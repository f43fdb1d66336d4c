/*
 * route_micro.c — CPU cost of answering routed names vs plain names, in
 * process (no sockets), for policy_bench.sh.
 *
 * Builds one zone with N names of each kind — plain s<i> (one A), plain
 * s8-<i> (8 A), weighted w<i> (3 sets, 1:2:3), failover f<i> (pair),
 * multivalue m<i> (8 sets of one A), alias a<i> (to w<i>) — through
 * dns_txn_rrset_put_route() as a node does, encodes 100,000 queries per
 * kind for random names, and answers them with dns_answer() in rounds,
 * kinds interleaved, timing each pass with the thread's CPU clock (so other
 * processes on the machine do not count).  Prints the median ns per query
 * of each kind and the ratios routed / plain.  The UDP server adds its
 * system calls (~2.7 µs per query here) to every kind alike, so these
 * ratios bound the end-to-end ones from below.
 *
 *   route_micro [N] [ROUNDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/answer.h"
#include "dns/db.h"
#include "dns/route.h"
#include "dns/wire.h"
#include "dns/zonefile.h"
#include "tools/bench/bench_util.h"

#define QUERIES 100000
#define KINDS   6

static const char *const kinds[KINDS] = {"s", "s8-", "w", "f", "m", "a"};

static void name_of(const char *prefix, unsigned i, uint8_t *wire)
{
        char text[64];
        snprintf(text, sizeof(text), "%s%u.example.test.", prefix, i);
        if (dns_name_from_text(text, wire) != 0)
                abort();
}

static void put(struct dns_txn *txn, const uint8_t *origin, const uint8_t *owner,
                uint32_t set_id, const uint8_t *const *rdata, const uint16_t *len,
                size_t n, const struct dns_route *route)
{
        if (dns_txn_rrset_put_route(txn, origin, owner, DNS_TYPE_A, set_id, 300, rdata,
                                    len, n, route) != 0) {
                fprintf(stderr, "put: %s\n", txn->error);
                exit(1);
        }
}

static void build(struct dns_db *db, unsigned n)
{
        uint8_t origin[256], owner[256], soa[64];
        struct dns_txn txn;
        dns_name_from_text("example.test.", origin);
        if (dns_txn_begin(db, &txn) != 0 || dns_txn_zone_create(&txn, origin, true) != 0)
                abort();
        size_t sl = 0;
        dns_name_from_text("ns.example.test.", soa);
        sl += (size_t)dns_name_wire_len(soa, sizeof(soa));
        dns_name_from_text("hm.example.test.", soa + sl);
        sl += (size_t)dns_name_wire_len(soa + sl, sizeof(soa) - sl);
        for (int k = 0; k < 5; k++, sl += 4)
                wire_put32(soa + sl, 300);
        if (dns_txn_rr_add(&txn, origin, origin, DNS_TYPE_SOA, 0, 300, soa,
                           (uint16_t)sl) < 0)
                abort();
        for (unsigned i = 0; i < n; i++) {
                uint8_t ip[8][4];
                const uint8_t *rd[8];
                uint16_t len[8];
                for (int k = 0; k < 8; k++) {
                        ip[k][0] = 10;
                        ip[k][1] = (uint8_t)(i >> 8);
                        ip[k][2] = (uint8_t)i;
                        ip[k][3] = (uint8_t)(k + 1);
                        rd[k] = ip[k];
                        len[k] = 4;
                }
                name_of("s", i, owner);
                put(&txn, origin, owner, 0, rd, len, 1, NULL);
                name_of("s8-", i, owner);
                put(&txn, origin, owner, 0, rd, len, 8, NULL);
                name_of("w", i, owner);
                for (int k = 0; k < 3; k++) {
                        struct dns_route r = {DNS_POLICY_WEIGHTED, 0, (uint8_t)(k + 1),
                                              0};
                        put(&txn, origin, owner, (uint32_t)k + 1, &rd[k], &len[k], 1, &r);
                }
                name_of("f", i, owner);
                for (int k = 0; k < 2; k++) {
                        struct dns_route r = {DNS_POLICY_FAILOVER,
                                              k ? DNS_ROUTE_SECONDARY : DNS_ROUTE_PRIMARY,
                                              0, 0};
                        put(&txn, origin, owner, (uint32_t)k + 1, &rd[k], &len[k], 1, &r);
                }
                name_of("m", i, owner);
                for (int k = 0; k < 8; k++) {
                        struct dns_route r = {DNS_POLICY_MULTIVALUE, 0, 0, 0};
                        put(&txn, origin, owner, (uint32_t)k + 1, &rd[k], &len[k], 1, &r);
                }
                uint8_t target[256];
                name_of("w", i, target);
                const uint8_t *t = target;
                uint16_t tl = (uint16_t)dns_name_wire_len(target, sizeof(target));
                name_of("a", i, owner);
                struct dns_route alias = {DNS_POLICY_NONE, DNS_ROUTE_ALIAS, 0, 0};
                put(&txn, origin, owner, 0, &t, &tl, 1, &alias);
        }
        if (dns_txn_commit(&txn) != 0)
                abort();
}

struct query {
        uint8_t wire[64];
        uint16_t len;
};

int main(int argc, char **argv)
{
        unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 2000;
        unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 7;
        struct dns_db db;
        if (n == 0 || n > 65535 || rounds == 0 || rounds > 100 || dns_db_init(&db) != 0)
                return 2;
        build(&db, n);
        struct query *q = malloc(sizeof(*q) * QUERIES * KINDS);
        srand(7);
        for (int k = 0; k < KINDS; k++)
                for (int i = 0; i < QUERIES; i++) {
                        struct query *one = &q[k * QUERIES + i];
                        uint8_t name[256];
                        name_of(kinds[k], (unsigned)rand() % n, name);
                        int nl = dns_name_wire_len(name, sizeof(name));
                        memset(one->wire, 0, DNS_HEADER_SIZE);
                        wire_put16(one->wire, (uint16_t)i);
                        wire_put16(one->wire + 4, 1);
                        memcpy(one->wire + DNS_HEADER_SIZE, name, (size_t)nl);
                        wire_put16(one->wire + DNS_HEADER_SIZE + nl, DNS_TYPE_A);
                        wire_put16(one->wire + DNS_HEADER_SIZE + nl + 2, DNS_CLASS_IN);
                        one->len = (uint16_t)(DNS_HEADER_SIZE + nl + 4);
                }
        static uint8_t out[DNS_TCP_MAX];
        double *ns = calloc((size_t)rounds * KINDS, sizeof(double));
        const struct dns_catalog *cat = dns_db_current(&db);
        unsigned rotation = 0;
        size_t sink = 0;
        for (unsigned r = 0; r < rounds; r++)
                for (int k = 0; k < KINDS; k++) {
                        double t0 = bench_cpu_ns();
                        for (int i = 0; i < QUERIES; i++) {
                                const struct query *one = &q[k * QUERIES + i];
                                sink +=
                                    dns_answer(cat, one->wire, one->len,
                                               DNS_TRANSPORT_UDP, out, rotation++, NULL);
                        }
                        ns[k * rounds + r] = (bench_cpu_ns() - t0) / QUERIES;
                }
        static const char *const labels[KINDS] = {
            "simple (1 A)",    "simple8 (8 A)",  "weighted (3 sets)",
            "failover (pair)", "multivalue (8)", "alias -> weighted"};
        double med[KINDS];
        printf("| names | median ns per query (CPU) | rounds |\n|---|---:|---|\n");
        for (int k = 0; k < KINDS; k++) {
                qsort(&ns[k * rounds], rounds, sizeof(double), bench_cmp_double);
                med[k] = ns[k * rounds + rounds / 2];
                printf("| %s | %.1f | %u |\n", labels[k], med[k], rounds);
        }
        printf("\nweighted / simple: %.3f (cost ratio; qps ratio = %.3f)\n",
               med[2] / med[0], med[0] / med[2]);
        printf("failover / simple: %.3f (qps ratio = %.3f)\n", med[3] / med[0],
               med[0] / med[3]);
        printf("multivalue / simple8: %.3f (qps ratio = %.3f)\n", med[4] / med[1],
               med[1] / med[4]);
        printf("alias / simple: %.3f (qps ratio = %.3f)\n", med[5] / med[0],
               med[0] / med[5]);
        if (sink == 0)
                return 1;
        free(ns);
        free(q);
        dns_db_fini(&db);
        return 0;
}
