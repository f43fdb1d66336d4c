/*
 * test_dns_latency.c — the compiled latency map (dns/latency.h): longest
 * prefix match in both families, RTTs inherited from enclosing prefixes,
 * the scope an answer holds for (narrowed by more specific entries near
 * the client), clients whose prefix is shorter than the entries, and the
 * per-network RTT aggregation of dns/rtt.h.
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

#include "dns/latency.h"
#include "dns/rtt.h"

static struct dns_net net(const char *text, unsigned len)
{
        struct dns_net n;
        memset(&n, 0, sizeof(n));
        n.family = strchr(text, ':') ? AF_INET6 : AF_INET;
        n.prefix = (uint8_t)len;
        assert_int_equal(inet_pton(n.family, text, n.bytes), 1);
        return n;
}

static struct dns_latency_item item(const char *text, unsigned len, const char *region,
                                    uint32_t us)
{
        return (struct dns_latency_item){net(text, len), dns_latency_region_key(region),
                                         us};
}

static struct dns_latency_match look(const struct dns_latency_map *m, const char *text,
                                     unsigned len)
{
        struct dns_latency_match out;
        struct dns_net n = net(text, len);
        assert_true(dns_latency_lookup(m, &n, &out));
        return out;
}

/* The network mask of an IPv4 prefix length (0..32). */
static uint32_t mask_of(unsigned len)
{
        return len == 0 ? 0 : len >= 32 ? 0xffffffffu : ~(0xffffffffu >> len);
}

static uint32_t rtt(const struct dns_latency_match *m, const char *region)
{
        return dns_latency_rtt_of(m, dns_latency_region_key(region));
}

static void longest_prefix_wins_and_inherits(void **state)
{
        (void)state;
        struct dns_latency_item items[] = {
            item("10.0.0.0", 8, "eu", 50000),    item("10.0.0.0", 8, "us", 90000),
            item("10.1.2.0", 24, "eu", 9000),    item("10.1.2.128", 25, "us", 1000),
            item("2001:db8::", 32, "us", 7000),  item("10.0.0.0", 8, "eu", 60000),
            item("2001:db8:1::", 48, "eu", 3000)};
        struct dns_latency_map *m;
        assert_int_equal(dns_latency_compile(items, 7, &m), 0);
        assert_int_equal(dns_latency_prefix_count(m), 5);
        /* 10.9.9.9: only the /8 holds it; the lowest of the two eu RTTs. */
        struct dns_latency_match x = look(m, "10.9.9.9", 32);
        assert_int_equal(x.prefix, 8);
        assert_int_equal(rtt(&x, "eu"), 50000);
        assert_int_equal(rtt(&x, "us"), 90000);
        assert_int_equal(rtt(&x, "ap"), 0);
        /* The /8 holds more specific entries elsewhere: the answer is for
         * 10.8.0.0/13 (10.9.9.9's largest block clear of 10.1.2.0/24). */
        assert_int_equal(x.scope, 13);
        /* 10.1.2.3 in the /24: its own eu, us inherited from the /8. */
        x = look(m, "10.1.2.3", 32);
        assert_int_equal(x.prefix, 24);
        assert_int_equal(rtt(&x, "eu"), 9000);
        assert_int_equal(rtt(&x, "us"), 90000);
        assert_int_equal(x.scope, 25); /* the /25 next to it differs */
        x = look(m, "10.1.2.200", 32);
        assert_int_equal(x.prefix, 25);
        assert_int_equal(rtt(&x, "us"), 1000);
        assert_int_equal(rtt(&x, "eu"), 9000); /* from the /24 */
        assert_int_equal(x.scope, 25);
        /* A resolver's /24 says nothing finer: the /25 is not used, and the
         * answer is for the whole /24. */
        x = look(m, "10.1.2.0", 24);
        assert_int_equal(x.prefix, 24);
        assert_int_equal(rtt(&x, "us"), 90000);
        assert_int_equal(x.scope, 24);
        /* Outside every prefix: no RTT, a scope that still says where. */
        x = look(m, "192.0.2.1", 32);
        assert_null(x.rtt);
        assert_int_equal(x.scope, 1); /* 128.0.0.0/1 holds no entry */
        /* IPv6 */
        x = look(m, "2001:db8:1:2::5", 128);
        assert_int_equal(x.prefix, 48);
        assert_int_equal(rtt(&x, "eu"), 3000);
        assert_int_equal(rtt(&x, "us"), 7000);
        assert_int_equal(x.scope, 48);
        x = look(m, "2001:db8:2::", 56);
        assert_int_equal(x.prefix, 32);
        assert_int_equal(rtt(&x, "eu"), 0);
        dns_latency_free(m);
}

static void a_family_without_data_says_so(void **state)
{
        (void)state;
        struct dns_latency_item one = item("0.0.0.0", 0, "eu", 10);
        struct dns_latency_map *m;
        assert_int_equal(dns_latency_compile(&one, 1, &m), 0);
        struct dns_latency_match x = look(m, "203.0.113.9", 32);
        assert_int_equal(x.prefix, 0);
        assert_int_equal(x.scope, 0); /* everyone alike */
        assert_int_equal(rtt(&x, "eu"), 10);
        struct dns_net n6 = net("2001:db8::1", 128);
        assert_false(dns_latency_lookup(m, &n6, &x));
        dns_latency_free(m);
        assert_int_equal(dns_latency_compile(NULL, 0, &m), 0);
        struct dns_net n4 = net("203.0.113.9", 32);
        assert_false(dns_latency_lookup(m, &n4, &x));
        dns_latency_free(m);
}

/* Many nested and adjacent prefixes against a linear scan. */
static void lookups_match_a_linear_scan(void **state)
{
        (void)state;
        enum { N = 600 };
        struct dns_latency_item *items = calloc(N, sizeof(*items));
        srand(7);
        for (int i = 0; i < N; i++) {
                char text[32];
                unsigned len = (unsigned)(rand() % 25) + 8;
                uint32_t a = ((uint32_t)rand() << 16 ^ (uint32_t)rand()) & 0x0a0fffffu;
                a &= mask_of(len);
                snprintf(text, sizeof(text), "%u.%u.%u.%u", a >> 24, a >> 16 & 255,
                         a >> 8 & 255, a & 255);
                items[i] = item(text, len, i % 2 ? "eu" : "us", (uint32_t)i + 1);
        }
        struct dns_latency_map *m;
        assert_int_equal(dns_latency_compile(items, N, &m), 0);
        for (int k = 0; k < 3000; k++) {
                uint32_t a = ((uint32_t)rand() << 16 ^ (uint32_t)rand()) & 0x0a0fffffu;
                int best = -1;
                for (int i = 0; i < N; i++) {
                        uint32_t p;
                        memcpy(&p, items[i].net.bytes, 4);
                        p = ntohl(p);
                        unsigned len = items[i].net.prefix;
                        uint32_t mask = mask_of(len);
                        if ((a & mask) == p && (best < 0 || len > items[best].net.prefix))
                                best = i;
                }
                struct dns_net n;
                memset(&n, 0, sizeof(n));
                n.family = AF_INET;
                n.prefix = 32;
                uint32_t be = htonl(a);
                memcpy(n.bytes, &be, 4);
                struct dns_latency_match x;
                assert_true(dns_latency_lookup(m, &n, &x));
                if (best < 0) {
                        assert_null(x.rtt);
                        continue;
                }
                assert_int_equal(x.prefix, items[best].net.prefix);
                assert_true(x.scope >= x.prefix);
                /* Every address of the scope block finds the same prefix. */
                uint32_t lo = a & mask_of(x.scope);
                uint32_t hi = lo | ~mask_of(x.scope);
                const uint32_t probes[2] = {lo, hi};
                for (int pi = 0; pi < 2; pi++) {
                        struct dns_latency_match y;
                        be = htonl(probes[pi]);
                        memcpy(n.bytes, &be, 4);
                        assert_true(dns_latency_lookup(m, &n, &y));
                        assert_ptr_equal(y.rtt, x.rtt);
                }
        }
        dns_latency_free(m);
        free(items);
}

static void rtts_aggregate_per_network(void **state)
{
        (void)state;
        struct dns_rtt_table *t = dns_rtt_table_new();
        struct dns_client_addr a = {.family = AF_INET, .len = 4, .bytes = {192, 0, 2, 7}};
        struct dns_client_addr b = {
            .family = AF_INET, .len = 4, .bytes = {192, 0, 2, 99}};
        struct dns_client_addr c = {
            .family = AF_INET6, .len = 16, .bytes = {0x20, 1, 0xd, 0xb8, 0, 1, 0, 2, 3}};
        dns_rtt_record(t, &a, 100);
        dns_rtt_record(t, &b, 300);
        dns_rtt_record(t, &c, 50);
        dns_rtt_record(t, &c, 0); /* no measure: ignored */
        struct dns_rtt_sample out[4];
        assert_int_equal(dns_rtt_drain(t, out, 4), 2);
        assert_int_equal(out[0].net.family, AF_INET);
        assert_int_equal(out[0].net.prefix, 24);
        assert_int_equal(out[0].net.bytes[3], 0);
        assert_int_equal(out[0].rtt_us, 200);
        assert_int_equal(out[0].count, 2);
        assert_int_equal(out[1].net.prefix, 48);
        assert_int_equal(out[1].net.bytes[6], 0);      /* cut to the /48 */
        assert_int_equal(dns_rtt_drain(t, out, 4), 0); /* emptied */
        /* Bounded: the busiest first. */
        dns_rtt_record(t, &a, 1);
        dns_rtt_record(t, &c, 1);
        dns_rtt_record(t, &c, 1);
        assert_int_equal(dns_rtt_drain(t, out, 1), 1);
        assert_int_equal(out[0].net.family, AF_INET6);
        uint64_t rec, drop;
        dns_rtt_stats(t, &rec, &drop);
        assert_int_equal(rec, 6);
        assert_int_equal(drop, 0);
        dns_rtt_table_free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(longest_prefix_wins_and_inherits),
            cmocka_unit_test(a_family_without_data_says_so),
            cmocka_unit_test(lookups_match_a_linear_scan),
            cmocka_unit_test(rtts_aggregate_per_network),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
