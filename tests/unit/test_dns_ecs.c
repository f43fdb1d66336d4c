/*
 * test_dns_ecs.c — EDNS Client Subnet (RFC 7871) on the query path.
 *
 * Queries are built byte by byte with an OPT record holding an ECS option,
 * answered by dns_answer() / dns_query_locate() + dns_answer_parsed() from
 * a small zone, and the responses compared byte for byte where the option
 * is echoed: the checks of RFC 7871 §7.1.1 that make a query FORMERR
 * (family, prefix against address length, stray bits, scope, a second
 * option), truncation of long source prefixes to the configured maximum,
 * the location from the source address when there is no option, and
 * trusted resolver networks.
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

#include "dns/answer.h"
#include "dns/db.h"
#include "dns/ecs.h"
#include "dns/rrl.h"
#include "dns/wire.h"
#include "dns/zonefile.h"

#include "zone_text.h"

static const char ZONE[] = "$ORIGIN example.com.\n"
                           "$TTL 3600\n"
                           "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                           "@ NS ns1\n"
                           "ns1 A 192.0.2.53\n"
                           "www A 192.0.2.80\n";

static struct dns_db db;

static int setup(void **state)
{
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        zone_text_load(&txn, ZONE);
        assert_int_equal(dns_txn_commit(&txn), 0);
        return 0;
}

static int teardown(void **state)
{
        dns_db_fini(&db);
        return 0;
}

/* www.example.com A with an OPT holding `opt` (option code, length, data
 * as given); returns the query's size. */
static size_t make_query(uint8_t *q, const uint8_t *opt, size_t opt_len)
{
        static const uint8_t head[] = {0x12, 0x34, 0x00, 0x00, 0,   1,   0,   0,   0,
                                       0,    0,    1,    3,    'w', 'w', 'w', 7,   'e',
                                       'x',  'a',  'm',  'p',  'l', 'e', 3,   'c', 'o',
                                       'm',  0,    0,    1,    0,   1};
        memcpy(q, head, sizeof(head));
        size_t n = sizeof(head);
        q[n++] = 0; /* root owner */
        q[n++] = 0;
        q[n++] = 41; /* OPT */
        q[n++] = 0x04;
        q[n++] = 0xd0; /* payload 1232 */
        q[n++] = 0;
        q[n++] = 0;
        q[n++] = 0;
        q[n++] = 0;
        q[n++] = (uint8_t)(opt_len >> 8);
        q[n++] = (uint8_t)opt_len;
        if (opt_len != 0)
                memcpy(q + n, opt, opt_len);
        return n + opt_len;
}

static unsigned rcode_of(const uint8_t *r, size_t n)
{
        assert_true(n >= 12);
        return r[3] & 0xf;
}

/* The options of the response's OPT record (it is the last record). */
static const uint8_t *response_options(const uint8_t *r, size_t n, uint16_t *len)
{
        /* The answer section is small: find OPT by walking from the end is
         * not possible; the zone's answer to www A is 16 bytes after the
         * question, so search for the OPT header pattern from the back. */
        for (size_t i = n; i-- > 12;) {
                if (i + 11 <= n && r[i] == 0 && r[i + 1] == 0 && r[i + 2] == 41) {
                        uint16_t rdlen = (uint16_t)(r[i + 9] << 8 | r[i + 10]);
                        if (i + 11 + rdlen == n) {
                                *len = rdlen;
                                return r + i + 11;
                        }
                }
        }
        *len = 0;
        return NULL;
}

static size_t ask(const uint8_t *opt, size_t opt_len, uint8_t *out)
{
        uint8_t q[512];
        size_t qn = make_query(q, opt, opt_len);
        return dns_answer(dns_db_current(&db), q, qn, DNS_TRANSPORT_UDP, out, 0, NULL);
}

static void expect_formerr(const uint8_t *opt, size_t opt_len)
{
        uint8_t out[2048];
        size_t n = ask(opt, opt_len, out);
        assert_int_equal(rcode_of(out, n), DNS_RCODE_FORMERR);
}

static void test_valid_ipv4_option_is_echoed_with_scope_zero(void **state)
{
        static const uint8_t opt[] = {0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100};
        uint8_t out[2048];
        size_t n = ask(opt, sizeof(opt), out);
        assert_int_equal(rcode_of(out, n), DNS_RCODE_NOERROR);
        assert_int_equal(out[7], 1); /* the A record */
        uint16_t len;
        const uint8_t *o = response_options(out, n, &len);
        assert_non_null(o);
        static const uint8_t want[] = {0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100};
        assert_int_equal(len, sizeof(want));
        assert_memory_equal(o, want, sizeof(want));
}

static void test_ipv6_option_and_zero_prefix_are_echoed(void **state)
{
        static const uint8_t v6[] = {0,    8,    0,    11,   0,    2,    56,  0,
                                     0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56};
        uint8_t out[2048];
        size_t n = ask(v6, sizeof(v6), out);
        assert_int_equal(rcode_of(out, n), DNS_RCODE_NOERROR);
        uint16_t len;
        const uint8_t *o = response_options(out, n, &len);
        assert_int_equal(len, sizeof(v6));
        assert_memory_equal(o, v6, sizeof(v6));
        /* SOURCE PREFIX-LENGTH 0: no address bytes at all. */
        static const uint8_t zero[] = {0, 8, 0, 4, 0, 1, 0, 0};
        n = ask(zero, sizeof(zero), out);
        assert_int_equal(rcode_of(out, n), DNS_RCODE_NOERROR);
        o = response_options(out, n, &len);
        assert_int_equal(len, sizeof(zero));
        assert_memory_equal(o, zero, sizeof(zero));
}

static void test_malformed_options_get_formerr(void **state)
{
        /* unknown family */
        expect_formerr((const uint8_t[]){0, 8, 0, 7, 0, 3, 24, 0, 198, 51, 100}, 11);
        /* family with a high byte */
        expect_formerr((const uint8_t[]){0, 8, 0, 7, 1, 1, 24, 0, 198, 51, 100}, 11);
        /* prefix longer than the family's address */
        expect_formerr((const uint8_t[]){0, 8, 0, 9, 0, 1, 33, 0, 1, 2, 3, 4, 5}, 13);
        /* too many address bytes for /24 */
        expect_formerr((const uint8_t[]){0, 8, 0, 8, 0, 1, 24, 0, 198, 51, 100, 0}, 12);
        /* too few */
        expect_formerr((const uint8_t[]){0, 8, 0, 6, 0, 1, 24, 0, 198, 51}, 10);
        /* a bit set past the prefix (/23 with .101) */
        expect_formerr((const uint8_t[]){0, 8, 0, 7, 0, 1, 23, 0, 198, 51, 101}, 11);
        /* scope not 0 in a query */
        expect_formerr((const uint8_t[]){0, 8, 0, 7, 0, 1, 24, 24, 198, 51, 100}, 11);
        /* shorter than the fixed part */
        expect_formerr((const uint8_t[]){0, 8, 0, 3, 0, 1, 0}, 7);
        /* two options */
        expect_formerr((const uint8_t[]){0, 8, 0, 4, 0, 1, 0, 0, 0, 8, 0, 4, 0, 1, 0, 0},
                       16);
        /* the option's length past the OPT's RDATA */
        expect_formerr((const uint8_t[]){0, 8, 0, 8, 0, 1, 24, 0, 198, 51, 100}, 11);
}

static void test_formerr_response_carries_no_option(void **state)
{
        static const uint8_t opt[] = {0, 8, 0, 7, 0, 1, 24, 7, 198, 51, 100};
        uint8_t out[2048];
        size_t n = ask(opt, sizeof(opt), out);
        assert_int_equal(rcode_of(out, n), DNS_RCODE_FORMERR);
        uint16_t len;
        assert_null(response_options(out, n, &len));
}

static void locate(const uint8_t *opt, size_t opt_len, const char *peer,
                   const struct dns_ecs_config *cfg, struct dns_query *q, uint8_t *wire)
{
        size_t n = opt_len ? make_query(wire, opt, opt_len) : 0;
        if (opt_len == 0) {
                /* No OPT at all: the header says ARCOUNT 0. */
                n = make_query(wire, NULL, 0) - 11;
                wire[11] = 0;
        }
        assert_int_equal(dns_query_parse(q, wire, n), DNS_PARSE_OK);
        struct dns_client_addr client;
        memset(&client, 0, sizeof(client));
        if (peer != NULL) {
                struct dns_net net;
                assert_int_equal(dns_net_parse(peer, &net), 0);
                client.family = net.family;
                client.len = net.family == AF_INET ? 4 : 16;
                memcpy(client.bytes, net.bytes, 16);
        }
        dns_query_locate(q, peer ? &client : NULL, cfg);
}

static void test_long_source_prefixes_are_cut_to_the_maximum(void **state)
{
        struct dns_ecs_config cfg;
        dns_ecs_config_default(&cfg);
        struct dns_query q;
        uint8_t wire[512];
        static const uint8_t v4[] = {0, 8, 0, 8, 0, 1, 32, 0, 198, 51, 100, 77};
        locate(v4, sizeof(v4), "192.0.2.1", &cfg, &q, wire);
        assert_true(q.loc.from_ecs);
        assert_int_equal(q.loc.net.family, AF_INET);
        assert_int_equal(q.loc.net.prefix, 24);
        static const uint8_t want4[16] = {198, 51, 100, 0};
        assert_memory_equal(q.loc.net.bytes, want4, 16);
        /* /22 with the default /24 maximum is used as sent. */
        static const uint8_t v4s[] = {0, 8, 0, 7, 0, 1, 22, 0, 198, 51, 100};
        locate(v4s, sizeof(v4s), "192.0.2.1", &cfg, &q, wire);
        assert_int_equal(q.loc.net.prefix, 22);
        static const uint8_t v6[] = {0,    8,    0,    20,   0,    2,    128,  0,
                                     0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
                                     0x9a, 0xbc, 0xde, 0xf0, 0,    0,    0,    1};
        locate(v6, sizeof(v6), "192.0.2.1", &cfg, &q, wire);
        assert_int_equal(q.loc.net.family, AF_INET6);
        assert_int_equal(q.loc.net.prefix, 56);
        static const uint8_t want6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56};
        assert_memory_equal(q.loc.net.bytes, want6, 16);
        /* A smaller configured maximum, cutting inside a byte. */
        cfg.max_ipv4 = 20;
        locate(v4, sizeof(v4), NULL, &cfg, &q, wire);
        assert_int_equal(q.loc.net.prefix, 20);
        static const uint8_t want20[16] = {198, 51, 96};
        assert_memory_equal(q.loc.net.bytes, want20, 16);
}

static void test_cut_prefix_is_echoed_as_the_query_sent_it(void **state)
{
        static const uint8_t v4[] = {0, 8, 0, 8, 0, 1, 32, 0, 198, 51, 100, 77};
        uint8_t out[2048];
        size_t n = ask(v4, sizeof(v4), out);
        uint16_t len;
        const uint8_t *o = response_options(out, n, &len);
        assert_int_equal(len, sizeof(v4));
        assert_memory_equal(o, v4, sizeof(v4)); /* scope 0 */
}

static void test_without_option_the_source_address_locates(void **state)
{
        struct dns_query q;
        uint8_t wire[512];
        locate(NULL, 0, "203.0.113.9", NULL, &q, wire);
        assert_false(q.loc.from_ecs);
        assert_int_equal(q.loc.net.family, AF_INET);
        assert_int_equal(q.loc.net.prefix, 32);
        static const uint8_t want[16] = {203, 0, 113, 9};
        assert_memory_equal(q.loc.net.bytes, want, 16);
}

static void test_untrusted_sender_is_located_by_its_address(void **state)
{
        struct dns_ecs_config cfg;
        dns_ecs_config_default(&cfg);
        cfg.trusted_count = 1;
        assert_int_equal(dns_net_parse("192.0.2.0/24", &cfg.trusted[0]), 0);
        static const uint8_t v4[] = {0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100};
        struct dns_query q;
        uint8_t wire[512], out[2048];
        locate(v4, sizeof(v4), "203.0.113.9", &cfg, &q, wire);
        assert_false(q.loc.from_ecs);
        assert_int_equal(q.loc.net.prefix, 32);
        assert_int_equal(q.loc.net.bytes[0], 203);
        /* and its response carries no ECS option */
        size_t n = dns_answer_parsed(dns_db_current(&db), &q, DNS_PARSE_OK,
                                     DNS_TRANSPORT_UDP, out, 0, NULL);
        uint16_t len;
        const uint8_t *o = response_options(out, n, &len);
        assert_non_null(o);
        assert_int_equal(len, 0);
        /* A trusted one is located by the option. */
        locate(v4, sizeof(v4), "192.0.2.200", &cfg, &q, wire);
        assert_true(q.loc.from_ecs);
        assert_int_equal(q.loc.net.prefix, 24);
        assert_int_equal(q.loc.net.bytes[0], 198);
        /* ECS off: never used. */
        cfg.trusted_count = 0;
        cfg.enabled = false;
        locate(v4, sizeof(v4), "192.0.2.200", &cfg, &q, wire);
        assert_false(q.loc.from_ecs);
}

static void test_echo_fits_the_payload_with_a_cookie(void **state)
{
        /* COOKIE (client only) and ECS together: both echoed, OPT length right. */
        static const uint8_t opt[] = {0, 10, 0, 8, 1, 2, 3,  4, 5,   6,  7,  8,
                                      0, 8,  0, 7, 0, 1, 24, 0, 198, 51, 100};
        uint8_t out[2048];
        size_t n = ask(opt, sizeof(opt), out);
        assert_int_equal(rcode_of(out, n), DNS_RCODE_NOERROR);
        uint16_t len;
        const uint8_t *o = response_options(out, n, &len);
        static const uint8_t ecs[] = {0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100};
        assert_non_null(o);
        assert_true(len >= sizeof(ecs));
        assert_memory_equal(o + len - sizeof(ecs), ecs, sizeof(ecs));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid_ipv4_option_is_echoed_with_scope_zero),
            cmocka_unit_test(test_ipv6_option_and_zero_prefix_are_echoed),
            cmocka_unit_test(test_malformed_options_get_formerr),
            cmocka_unit_test(test_formerr_response_carries_no_option),
            cmocka_unit_test(test_long_source_prefixes_are_cut_to_the_maximum),
            cmocka_unit_test(test_cut_prefix_is_echoed_as_the_query_sent_it),
            cmocka_unit_test(test_without_option_the_source_address_locates),
            cmocka_unit_test(test_untrusted_sender_is_located_by_its_address),
            cmocka_unit_test(test_echo_fits_the_payload_with_a_cookie),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
