/*
 * test_dns_cidr.c — the IP-based (CIDR) policy on the query path.
 *
 * IP-based sets are put with dns_txn_rrset_put_route() (collection and
 * location numbers as node/publish_cidr.c gives them), the collection's
 * trie is built with common/lpm.h and published with
 * dns_db_cidr_publish(), and queries with ECS options are answered by
 * dns_answer(): the longest matching prefix's location wins (overlapping
 * IPv4 and IPv6 blocks), an ECS /24 never matches a /32 block, no match
 * answers the "*" set, no match without "*" is NODATA, a matching set that
 * is down gives way to a healthy "*", both down answer the match (fail
 * open), a client without a location gets "*", and the scope echoed is the
 * prefix length the answer depended on, checked byte for byte.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/lpm.h"
#include "dns/answer.h"
#include "dns/db.h"
#include "dns/route.h"
#include "dns/wire.h"
#include "dns/zonefile.h"

#include "batch_path.h"
#include "zone_text.h"

static const char ZONE[] = "$ORIGIN example.com.\n"
                           "$TTL 3600\n"
                           "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                           "@ NS ns1\n"
                           "ns1 A 192.0.2.53\n";

enum { COLL = 7, LOC_A = 101, LOC_B = 102, LOC_C = 103, LOC_D = 104, LOC_E = 105 };
enum { HC_B = 1, HC_ANY = 2 };

static struct dns_db db;
static uint32_t next_set_id = 1;

static void put_cidr(struct dns_txn *txn, const char *owner, uint8_t last,
                     uint32_t location, uint32_t health)
{
        uint8_t origin[256], name[256], ip[4] = {192, 0, 2, last};
        assert_int_equal(dns_name_from_text("example.com.", origin), 0);
        assert_int_equal(dns_name_from_text(owner, name), 0);
        const uint8_t *rdata = ip;
        uint16_t rdlen = 4;
        struct dns_route route = {.health = health,
                                  .location = DNS_GEO_CIDR,
                                  .cidr_collection = COLL,
                                  .cidr_location = location};
        if (dns_txn_rrset_put_route(txn, origin, name, DNS_TYPE_A, next_set_id++, 60,
                                    &rdata, &rdlen, 1, &route) != 0)
                fail_msg("put %s: %s", owner, txn->error);
}

static void prefix(struct lpm_prefix *p, const char *text, uint8_t len, uint32_t value)
{
        memset(p, 0, sizeof(*p));
        if (inet_pton(AF_INET, text, p->addr) == 1) {
                p->family = LPM_IPV4;
        } else {
                assert_int_equal(inet_pton(AF_INET6, text, p->addr), 1);
                p->family = LPM_IPV6;
        }
        p->len = len;
        p->value = value;
}

static int setup(void **state)
{
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        zone_text_load(&txn, ZONE);
        /* The default first: set order must not matter. */
        put_cidr(&txn, "www.example.com.", 9, DNS_CIDR_DEFAULT, HC_ANY);
        put_cidr(&txn, "www.example.com.", 1, LOC_A, 0);
        put_cidr(&txn, "www.example.com.", 2, LOC_B, HC_B);
        put_cidr(&txn, "www.example.com.", 3, LOC_C, 0);
        put_cidr(&txn, "www.example.com.", 4, LOC_D, 0);
        put_cidr(&txn, "www.example.com.", 5, LOC_E, 0);
        put_cidr(&txn, "nodef.example.com.", 1, LOC_A, 0);
        assert_int_equal(dns_txn_commit(&txn), 0);

        struct lpm_prefix p[5];
        prefix(&p[0], "10.0.0.0", 8, LOC_A);
        prefix(&p[1], "10.1.0.0", 16, LOC_B);
        prefix(&p[2], "10.1.2.3", 32, LOC_C);
        prefix(&p[3], "2001:db8::", 32, LOC_D);
        prefix(&p[4], "2001:db8:1::", 48, LOC_E);
        struct lpm *trie;
        assert_int_equal(lpm_build(p, 5, &trie), 0);
        struct dns_cidr *cidr = malloc(sizeof(*cidr) + sizeof(cidr->table[0]));
        cidr->count = 1;
        cidr->table[0] = (struct dns_cidr_table){COLL, trie};
        assert_int_equal(dns_db_cidr_publish(&db, cidr, NULL, 0), 0);
        return 0;
}

static int teardown(void **state)
{
        dns_db_fini(&db); /* frees the published tries */
        return 0;
}

static void health(const uint32_t *down, unsigned n)
{
        struct dns_health *h = dns_health_new(1, 4);
        assert_non_null(h);
        for (unsigned i = 0; i < n; i++)
                h->status[down[i] - 1] = DNS_HEALTH_UNHEALTHY;
        assert_int_equal(dns_db_health_publish(&db, h), 0);
}

/*
 * Asks qname A with an ECS option for addr/source (addr NULL: no option);
 * returns the one answer's last octet (0: NODATA).  The echoed option is
 * checked byte for byte: code 8, length, family, source, *scope (the
 * expected scope) and the address as sent.
 */
/* Writes into q the query qname A with an ECS option for addr/source (addr
 * NULL: none), the option into option (olen bytes); returns q's length. */
static size_t make_query(uint8_t *q, const char *qname, const char *addr, uint8_t source,
                         uint8_t option[40], size_t *olen_out)
{
        uint8_t a[16];
        size_t n = 12;
        memset(q, 0, 12);
        q[0] = 0x42;
        q[5] = 1;  /* QDCOUNT */
        q[11] = 1; /* ARCOUNT */
        assert_int_equal(dns_name_from_text(qname, q + n), 0);
        n += dns_name_wire_len(q + n, 256);
        wire_put16(q + n, DNS_TYPE_A);
        wire_put16(q + n + 2, 1);
        n += 4;
        static const uint8_t opt[] = {0, 0, 41, 4, 208, 0, 0, 0, 0};
        memcpy(q + n, opt, sizeof(opt));
        n += sizeof(opt);
        uint16_t family = 0;
        unsigned alen = (source + 7u) / 8u;
        size_t olen = 0;
        if (addr != NULL) {
                family = inet_pton(AF_INET, addr, a) == 1 ? 1 : 2;
                if (family == 2)
                        assert_int_equal(inet_pton(AF_INET6, addr, a), 1);
                wire_put16(option, 8);
                wire_put16(option + 2, (uint16_t)(4 + alen));
                wire_put16(option + 4, family);
                option[6] = source;
                option[7] = 0;
                memcpy(option + 8, a, alen);
                olen = 8 + alen;
        }
        wire_put16(q + n, (uint16_t)olen);
        memcpy(q + n + 2, option, olen);
        n += 2 + olen;
        *olen_out = olen;
        return n;
}

static unsigned ask(const char *qname, const char *addr, uint8_t source, uint8_t scope)
{
        uint8_t q[512], out[2048], option[40];
        size_t olen, n = make_query(q, qname, addr, source, option, &olen);
        size_t r = dns_answer(dns_db_current(&db), q, n, DNS_TRANSPORT_UDP, out, 0, NULL);
        assert_true(r > 12);
        assert_int_equal(out[3] & 0xf, 0); /* NOERROR, also for NODATA */
        if (addr != NULL) {
                /* The option is last, echoed with the scope. */
                option[7] = scope;
                assert_true(r >= olen);
                if (memcmp(out + r - olen, option, olen) != 0)
                        fail_msg("%s/%u: echoed scope %u, expected %u", addr, source,
                                 out[r - olen + 7], scope);
        }
        unsigned ancount = wire_get16(out + 6);
        if (ancount == 0)
                return 0;
        assert_int_equal(ancount, 1);
        for (size_t i = 12; i + 16 <= r; i++)
                if (out[i] == 0xc0 && out[i + 2] == 0 && out[i + 3] == 1 &&
                    out[i + 11] == 4 && out[i + 12] == 192)
                        return out[i + 15];
        fail_msg("no A record in the answer");
        return 0;
}

static void test_longest_prefix_wins(void **state)
{
        health(NULL, 0);
        /* 10.1.5.0/24: in the /8 and the /16; told apart from the /32 at
         * bit 21 of the address. */
        assert_int_equal(ask("www.example.com.", "10.1.5.0", 24, 22), 2);
        /* 10.2.0.0/24: only the /8; told apart from the /16 at bit 14. */
        assert_int_equal(ask("www.example.com.", "10.2.0.0", 24, 15), 1);
        /* 10.200.0.0/24: told apart from the /16 at its first bit after /8. */
        assert_int_equal(ask("www.example.com.", "10.200.0.0", 24, 9), 1);
}

static void test_ecs_source_shorter_than_a_block_never_matches_it(void **state)
{
        health(NULL, 0);
        /* The /32 lies inside the client's /24: not matched, and the answer
         * holds for the whole /24 only (scope 24). */
        assert_int_equal(ask("www.example.com.", "10.1.2.0", 24, 24), 2);
        /* A /40 source is cut to the /24 resolvers are allowed. */
        assert_int_equal(ask("www.example.com.", "10.1.2.3", 32, 24), 2);
}

static void test_ipv6_blocks(void **state)
{
        health(NULL, 0);
        assert_int_equal(ask("www.example.com.", "2001:db8:1::", 56, 48), 5);
        assert_int_equal(ask("www.example.com.", "2001:db8:2::", 56, 47), 4);
        /* Outside every IPv6 block: the default; an IPv4 block never holds
         * an IPv6 client. */
        assert_int_equal(ask("www.example.com.", "2001:db9::", 48, 32), 9);
}

static void test_no_match_is_the_default_or_nodata(void **state)
{
        health(NULL, 0);
        assert_int_equal(ask("www.example.com.", "198.51.100.0", 24, 1), 9);
        assert_int_equal(ask("nodef.example.com.", "198.51.100.0", 24, 1), 0);
        assert_int_equal(ask("nodef.example.com.", "10.9.0.0", 24, 13), 1);
        /* No location at all (no ECS, no peer address): only "*". */
        assert_int_equal(ask("www.example.com.", NULL, 0, 0), 9);
        assert_int_equal(ask("nodef.example.com.", NULL, 0, 0), 0);
}

static void test_health_and_fail_open(void **state)
{
        uint32_t b[] = {HC_B};
        health(b, 1);
        /* B is down: the healthy default answers. */
        assert_int_equal(ask("www.example.com.", "10.1.5.0", 24, 22), 9);
        uint32_t both[] = {HC_B, HC_ANY};
        health(both, 2);
        /* Both down: the match answers (fail open). */
        assert_int_equal(ask("www.example.com.", "10.1.5.0", 24, 22), 2);
        /* The default down, A up: A. */
        uint32_t any[] = {HC_ANY};
        health(any, 1);
        assert_int_equal(ask("www.example.com.", "10.2.0.0", 24, 15), 1);
        /* Nothing matches and the default is down: it still answers. */
        assert_int_equal(ask("www.example.com.", "198.51.100.0", 24, 1), 9);
        health(NULL, 0);
}

static void test_a_new_trie_replaces_the_old(void **state)
{
        health(NULL, 0);
        struct lpm_prefix p[1];
        prefix(&p[0], "198.51.100.0", 22, LOC_C);
        struct lpm *trie;
        assert_int_equal(lpm_build(p, 1, &trie), 0);
        const struct dns_cidr *old = dns_db_current(&db)->cidr;
        struct lpm *gone = (struct lpm *)old->table[0].trie;
        struct dns_cidr *cidr = malloc(sizeof(*cidr) + sizeof(cidr->table[0]));
        cidr->count = 1;
        cidr->table[0] = (struct dns_cidr_table){COLL, trie};
        assert_int_equal(dns_db_cidr_publish(&db, cidr, &gone, 1), 0);
        assert_int_equal(ask("www.example.com.", "198.51.100.0", 24, 22), 3);
        assert_int_equal(ask("www.example.com.", "10.1.5.0", 24, 1), 9);
        /* Without the collection: every client gets the default. */
        struct dns_cidr *none = malloc(sizeof(*none));
        none->count = 0;
        gone = trie;
        assert_int_equal(dns_db_cidr_publish(&db, none, &gone, 1), 0);
        assert_int_equal(ask("www.example.com.", "198.51.100.0", 24, 0), 9);
}

/* The UDP batch path — dns_answer_warm() prefetching every query's walk of
 * the trie side by side, then dns_answer_parsed() — gives the bytes
 * dns_answer() gives, for a batch of clients in and out of the blocks,
 * IPv4 and IPv6, without an option, and names with and without a policy;
 * also with a trie large enough for its stride table. */
static void batch_compare(void)
{
        static const struct {
                const char *name, *addr;
                uint8_t source;
        } qs[] = {
            {"www.example.com.", "10.1.5.0", 24},
            {"www.example.com.", "10.1.2.3", 32},
            {"www.example.com.", "10.9.9.0", 24},
            {"www.example.com.", "11.0.0.0", 24},
            {"nodef.example.com.", "10.2.0.0", 16},
            {"nodef.example.com.", "12.0.0.0", 8},
            {"www.example.com.", "2001:db8:1::", 56},
            {"www.example.com.", "2001:db9::", 56},
            {"www.example.com.", NULL, 0},
            {"ns1.example.com.", "10.1.5.0", 24},
            {"www.example.com.", "10.1.7.0", 24},
            {"www.example.com.", "0.0.0.0", 0},
            {"www.example.com.", "10.6.3.0", 24},
            {"www.example.com.", "10.3.150.0", 24},
            {"www.example.com.", "10.6.3.0", 20},
            {"www.example.com.", "10.6.3.9", 32},
        };
        enum { N = sizeof(qs) / sizeof(qs[0]) };
        static uint8_t q[N][512];
        size_t len[N];
        for (unsigned i = 0; i < N; i++) {
                uint8_t option[40];
                size_t olen;
                len[i] =
                    make_query(q[i], qs[i].name, qs[i].addr, qs[i].source, option, &olen);
        }
        assert_batch_path_same(dns_db_current(&db), (const uint8_t(*)[512])q, len, N);
}

static void test_batch_path_gives_the_same_bytes(void **state)
{
        health(NULL, 0);
        batch_compare(); /* the collection is gone (the test above) */
        /* The first test's blocks and 1,000 more (a stride table), all IPv4 /24s
         * in 10.0.0.0/8 but for the ones above. */
        enum { MORE = 1000 };
        struct lpm_prefix *p = calloc(MORE + 5, sizeof(*p));
        assert_non_null(p);
        prefix(&p[0], "10.0.0.0", 8, LOC_A);
        prefix(&p[1], "10.1.0.0", 16, LOC_B);
        prefix(&p[2], "10.1.2.3", 32, LOC_C);
        prefix(&p[3], "2001:db8::", 32, LOC_D);
        prefix(&p[4], "2001:db8:1::", 48, LOC_E);
        for (unsigned i = 0; i < MORE; i++) {
                char text[32];
                snprintf(text, sizeof(text), "10.%u.%u.0", 2 + i / 200, i % 200);
                prefix(&p[5 + i], text, 24, i % 2 ? LOC_B : LOC_C);
        }
        struct lpm *trie;
        assert_int_equal(lpm_build(p, MORE + 5, &trie), 0);
        free(p);
        struct dns_cidr *cidr = malloc(sizeof(*cidr) + sizeof(cidr->table[0]));
        cidr->count = 1;
        cidr->table[0] = (struct dns_cidr_table){COLL, trie};
        assert_int_equal(dns_db_cidr_publish(&db, cidr, NULL, 0), 0);
        assert_int_equal(ask("www.example.com.", "10.6.3.0", 24, 24), 2);
        batch_compare();
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_longest_prefix_wins),
            cmocka_unit_test(test_ecs_source_shorter_than_a_block_never_matches_it),
            cmocka_unit_test(test_ipv6_blocks),
            cmocka_unit_test(test_no_match_is_the_default_or_nodata),
            cmocka_unit_test(test_health_and_fail_open),
            cmocka_unit_test(test_a_new_trie_replaces_the_old),
            cmocka_unit_test(test_batch_path_gives_the_same_bytes),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
