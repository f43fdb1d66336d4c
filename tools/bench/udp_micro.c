/*
 * udp_micro.c — the user-space work of the UDP serving thread per query, in
 * process (no sockets), with the DNS limits on and exercised.
 *
 * Loads a zone file (the peer bench's example.test zone) and its query
 * file (name and type per line, as qblast sends them: RD=1, no EDNS), then
 * runs what dns/server_udp.c's round_trip() does to each batch of 64
 * queries between recvmmsg and sendmmsg — parse, locate, the cookie check,
 * the warm-up walk, the answer, the RRL charge of every answer (no network
 * exempt, a rate no account reaches) and the metrics counters — timing each
 * pass over the queries with the thread's CPU clock (other processes do
 * not count).  The queries of a batch are copied into the batch's buffers
 * first, as the kernel's receive copy leaves them in the cache.  Prints
 * the median and the best ns per query.  Build it against the libraries of
 * two builds and run them in alternation to compare.
 *
 *   cc -O2 -D_GNU_SOURCE -I. -Ibuild-bench tools/bench/udp_micro.c \
 *      build-bench/dns/libqdns_dns.a build-bench/common/libqdns_common.a \
 *      -lldns -lpthread -o /tmp/udp_micro
 *   taskset -c 0 /tmp/udp_micro ZONEFILE QUERYFILE [PASSES]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/answer.h"
#include "dns/db.h"
#include "dns/metrics.h"
#include "dns/packet.h"
#include "dns/rrl.h"
#include "dns/wire.h"
#include "dns/zonefile.h"
#include "tools/bench/bench_util.h"

#define BATCH   64
#define MAXQ    100000
#define QUERY_B 512

struct query {
        uint8_t wire[QUERY_B];
        size_t len;
};

/* The queries packed one after another (as qblast cycles through them), so
 * that reading them streams instead of missing the cache at each. */
struct packed {
        uint8_t *bytes;
        uint32_t *at; /* of query i; at[n] is the end */
};

static int type_code(const char *t)
{
        static const struct {
                const char *name;
                int code;
        } types[] = {{"A", 1},   {"NS", 2},   {"CNAME", 5}, {"SOA", 6},  {"PTR", 12},
                     {"MX", 15}, {"TXT", 16}, {"AAAA", 28}, {"SRV", 33}, {"ANY", 255}};
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if (strcmp(types[i].name, t) == 0)
                        return types[i].code;
        return -1;
}

static int encode(const char *name, const char *type, uint16_t id, struct query *q)
{
        int code = type_code(type);
        char text[300];
        snprintf(text, sizeof(text), "%s%s", name,
                 name[strlen(name) - 1] == '.' ? "" : ".");
        if (code < 0 || dns_name_from_text(text, q->wire + DNS_HEADER_SIZE) != 0)
                return -1;
        memset(q->wire, 0, DNS_HEADER_SIZE);
        wire_put16(q->wire, id);
        q->wire[2] = 0x01; /* RD */
        q->wire[5] = 1;    /* QDCOUNT */
        size_t n = (size_t)dns_name_wire_len(q->wire + DNS_HEADER_SIZE, 256);
        size_t pos = DNS_HEADER_SIZE + n;
        wire_put16(q->wire + pos, (uint16_t)code);
        wire_put16(q->wire + pos + 2, DNS_CLASS_IN);
        q->len = pos + 4;
        return 0;
}

/* The batch of round_trip(), without the system calls' parts. */
static struct {
        uint8_t query[BATCH][QUERY_B + 64];
        uint8_t answer[BATCH][DNS_EDNS_OUR_PAYLOAD];
        struct dns_query parsed[BATCH];
        enum dns_parse_status status[BATCH];
        size_t len[BATCH];
        uint64_t account[BATCH];
        bool charge[BATCH];
        struct sockaddr_in peer[BATCH];
        bool last_known, last_exempt; /* the last client, as server_udp.c */
        struct dns_client_addr last_client;
        uint64_t last_network;
} b;

/* rate_limit_account() of dns/server_udp.c. */
static void account(struct dns_rrl *rrl, unsigned i)
{
        b.charge[i] = false;
        if (b.len[i] == 0)
                return;
        struct dns_client_addr client;
        dns_client_addr_set(&client, (struct sockaddr *)&b.peer[i]);
        if (!b.last_known || !dns_client_addr_equal(&client, &b.last_client)) {
                b.last_known = true;
                b.last_client = client;
                b.last_exempt = dns_rrl_exempt(rrl, &client);
                b.last_network = dns_rrl_network(rrl, &client);
        }
        if (b.last_exempt)
                return;
        const struct dns_query *q = &b.parsed[i];
        unsigned rcode = b.answer[i][3] & 0xf;
        enum dns_rrl_kind kind = DNS_RRL_ANSWER;
        uint64_t name = q->qname.hash[0] ^ q->qtype;
        if (b.status[i] != DNS_PARSE_OK ||
            (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN)) {
                kind = DNS_RRL_ERROR;
                name = 0;
        } else if (rcode == DNS_RCODE_NXDOMAIN) {
                kind = DNS_RRL_NXDOMAIN;
                name = q->zone != NULL ? q->zone->hash : 0;
        } else if (wire_get16(b.answer[i] + 6) == 0) {
                kind = DNS_RRL_NODATA;
                name = q->qname.hash[0];
        }
        b.account[i] = dns_rrl_account_of(rrl, b.last_network, kind, name);
        b.charge[i] = true;
        dns_rrl_prefetch(rrl, b.account[i]);
}

static void batch(const struct dns_catalog *cat, struct dns_rrl *rrl,
                  struct dns_metrics *m, const struct packed *qs, unsigned first,
                  unsigned n, unsigned *rotation, unsigned *slip,
                  struct dns_answer_stats *stats)
{
        for (unsigned i = 0; i < n; i++) {
                size_t len = qs->at[first + i + 1] - qs->at[first + i];
                memcpy(b.query[i], qs->bytes + qs->at[first + i], len);
                b.len[i] = len;
        }
        for (unsigned i = 0; i < n; i++)
                b.status[i] = dns_query_parse(&b.parsed[i], b.query[i], b.len[i]);
        for (unsigned i = 0; i < n; i++) {
                if (b.status[i] != DNS_PARSE_OK)
                        continue;
                struct dns_client_addr client;
                dns_client_addr_set(&client, (struct sockaddr *)&b.peer[i]);
                dns_query_locate(&b.parsed[i], &client, NULL);
        }
        dns_answer_warm(cat, b.parsed, b.status, n);
        b.last_known = false;
        for (unsigned i = 0; i < n; i++) {
                b.len[i] =
                    dns_answer_parsed(cat, &b.parsed[i], b.status[i], DNS_TRANSPORT_UDP,
                                      b.answer[i], (*rotation)++, stats);
                account(rrl, i); /* as soon as the answer is written */
        }
        uint32_t now = (uint32_t)time(NULL);
        for (unsigned i = 0; i < n; i++)
                if (b.charge[i] &&
                    dns_rrl_charge(rrl, b.account[i], now, slip) != DNS_RRL_PASS)
                        b.len[i] = 0;
        for (unsigned i = 0; i < n; i++)
                dns_metrics_count(m, DNS_TRANSPORT_UDP, &b.parsed[i], b.status[i],
                                  b.answer[i], b.len[i]);
}

int main(int argc, char **argv)
{
        if (argc < 3) {
                fprintf(stderr, "usage: %s ZONEFILE QUERYFILE [PASSES]\n", argv[0]);
                return 2;
        }
        int passes = argc > 3 ? atoi(argv[3]) : 15;
        static struct dns_db db;
        struct dns_txn txn;
        uint8_t origin[256];
        dns_name_from_text("example.test.", origin);
        struct dns_zonefile_stats zs;
        if (dns_db_init(&db) != 0 || dns_txn_begin(&db, &txn) != 0 ||
            dns_zonefile_load(&txn, argv[1], origin, NULL, NULL, NULL, &zs) != 0 ||
            dns_txn_commit(&txn) != 0) {
                fprintf(stderr, "%s: cannot load\n", argv[1]);
                return 1;
        }
        static struct query qs[MAXQ];
        unsigned nq = 0;
        FILE *f = fopen(argv[2], "r");
        char line[512];
        while (f != NULL && nq < MAXQ && fgets(line, sizeof(line), f) != NULL) {
                char name[300], type[16];
                if (sscanf(line, "%299s %15s", name, type) == 2 &&
                    encode(name, type, (uint16_t)nq, &qs[nq]) == 0)
                        nq++;
        }
        if (f != NULL)
                fclose(f);
        if (nq < BATCH) {
                fprintf(stderr, "%s: too few queries\n", argv[2]);
                return 1;
        }
        struct packed packed = {malloc((size_t)nq * QUERY_B),
                                malloc(((size_t)nq + 1) * sizeof(uint32_t))};
        packed.at[0] = 0;
        for (unsigned i = 0; i < nq; i++) {
                memcpy(packed.bytes + packed.at[i], qs[i].wire, qs[i].len);
                packed.at[i + 1] = packed.at[i] + (uint32_t)qs[i].len;
        }
        struct dns_rrl_config cfg;
        dns_rrl_config_default(&cfg);
        cfg.exempt_count = 0; /* --rrl-exempt none */
        cfg.rate = 100000;    /* --rrl-rate 100000 */
        static struct dns_rrl rrl;
        if (dns_rrl_init(&rrl, &cfg) != 0)
                return 1;
        struct dns_metrics *m = calloc(1, sizeof(*m));
        for (unsigned i = 0; i < BATCH; i++) {
                b.peer[i].sin_family = AF_INET;
                b.peer[i].sin_addr.s_addr = htonl(0x7f000001);
        }
        const struct dns_catalog *cat = dns_db_current(&db);
        unsigned rotation = 0, slip = 0;
        struct dns_answer_stats stats = {0};
        double *per = calloc((size_t)passes, sizeof(double));
        for (int p = -1; p < passes; p++) { /* pass -1 warms up */
                double t0 = bench_cpu_ns();
                for (unsigned at = 0; at + BATCH <= nq; at += BATCH)
                        batch(cat, &rrl, m, &packed, at, BATCH, &rotation, &slip, &stats);
                double t = (bench_cpu_ns() - t0) / (double)(nq / BATCH * BATCH);
                if (p >= 0)
                        per[p] = t;
        }
        qsort(per, (size_t)passes, sizeof(double), bench_cmp_double);
        printf("%s: %.1f ns per query (median of %d passes over %u queries; best %.1f)"
               " noerror %llu nxdomain %llu\n",
               argv[0], per[passes / 2], passes, nq, per[0],
               (unsigned long long)stats.rcode[0], (unsigned long long)stats.rcode[3]);
        free(per);
        free(packed.bytes);
        free(packed.at);
        free(m);
        return 0;
}
