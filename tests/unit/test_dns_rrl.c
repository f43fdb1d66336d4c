/*
 * test_dns_rrl.c — Response Rate Limiting accounts (dns/rrl.c).
 *
 * Time is handed in, so each test plays seconds exactly: a burst is limited
 * after `rate` responses, limited responses alternate drop / slip with slip
 * 2, credit comes back at `rate` a second up to `rate`, a flood's debt
 * lasts `window` seconds, clients of one /24 share an account while other
 * networks, kinds and names do not, exempt networks and network parsing,
 * and a table far smaller than the clients keeps working.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "dns/rrl.h"

static struct dns_client_addr addr(const char *text)
{
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, text, &in->sin_addr) == 1)
                in->sin_family = AF_INET;
        else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
                in6->sin6_family = AF_INET6;
        struct dns_client_addr a;
        dns_client_addr_set(&a, (struct sockaddr *)&ss);
        return a;
}

static void setup(struct dns_rrl *rrl, unsigned rate, unsigned window, unsigned slip)
{
        struct dns_rrl_config cfg;
        dns_rrl_config_default(&cfg);
        cfg.rate = rate;
        cfg.window = window;
        cfg.slip = slip;
        cfg.exempt_count = 0;
        assert_int_equal(dns_rrl_init(rrl, &cfg), 0);
}

/* Responses passed out of n at time now. */
static unsigned passed(struct dns_rrl *rrl, const char *client, unsigned n, uint32_t now,
                       unsigned *slips)
{
        struct dns_client_addr a = addr(client);
        unsigned ok = 0, counter = 0;
        for (unsigned i = 0; i < n; i++) {
                enum dns_rrl_verdict v =
                    dns_rrl_check(rrl, &a, DNS_RRL_ANSWER, 42, now, &counter);
                ok += v == DNS_RRL_PASS;
                if (slips != NULL)
                        *slips += v == DNS_RRL_SLIP;
        }
        return ok;
}

static void test_burst_limited_after_rate(void **state)
{
        struct dns_rrl rrl;
        setup(&rrl, 5, 15, 2);
        unsigned slips = 0;
        assert_int_equal(passed(&rrl, "192.0.2.1", 25, 1000, &slips), 5);
        assert_int_equal(slips, 10); /* every 2nd of the 20 limited */
        dns_rrl_fini(&rrl);
}

static void test_slip_zero_and_one(void **state)
{
        struct dns_rrl rrl;
        setup(&rrl, 1, 1, 0);
        unsigned slips = 0;
        passed(&rrl, "192.0.2.1", 10, 1000, &slips);
        assert_int_equal(slips, 0);
        dns_rrl_fini(&rrl);
        setup(&rrl, 1, 1, 1);
        slips = 0;
        passed(&rrl, "192.0.2.1", 10, 1000, &slips);
        assert_int_equal(slips, 9);
        dns_rrl_fini(&rrl);
}

static void test_credit_returns_at_rate(void **state)
{
        struct dns_rrl rrl;
        setup(&rrl, 5, 1, 2);
        assert_int_equal(passed(&rrl, "192.0.2.1", 5, 1000, NULL), 5);
        assert_int_equal(passed(&rrl, "192.0.2.1", 1, 1000, NULL), 0);
        /* One second later: -1 + 5 = 4 left, then limited. */
        assert_int_equal(passed(&rrl, "192.0.2.1", 10, 1001, NULL), 4);
        /* Credit is capped at one second's worth. */
        assert_int_equal(passed(&rrl, "192.0.2.1", 20, 1100, NULL), 5);
        dns_rrl_fini(&rrl);
}

static void test_flood_debt_lasts_window(void **state)
{
        struct dns_rrl rrl;
        setup(&rrl, 10, 3, 2);
        /* A flood: the balance sinks to -30 (3 s of credit). */
        passed(&rrl, "192.0.2.1", 1000, 1000, NULL);
        assert_int_equal(passed(&rrl, "192.0.2.1", 1, 1002, NULL), 0); /* -30+20 */
        assert_int_equal(passed(&rrl, "192.0.2.1", 1, 1003, NULL), 0); /* -11+10 */
        assert_int_equal(passed(&rrl, "192.0.2.1", 1, 1004, NULL), 1); /* -2+10 */
        dns_rrl_fini(&rrl);
}

static void test_accounts_by_network_kind_and_name(void **state)
{
        struct dns_rrl rrl;
        setup(&rrl, 3, 15, 2);
        assert_int_equal(passed(&rrl, "192.0.2.1", 3, 1000, NULL), 3);
        /* Same /24: same account, already spent. */
        assert_int_equal(passed(&rrl, "192.0.2.200", 3, 1000, NULL), 0);
        /* Another /24 and an IPv6 client have their own. */
        assert_int_equal(passed(&rrl, "192.0.3.1", 3, 1000, NULL), 3);
        assert_int_equal(passed(&rrl, "2001:db8:0:1::1", 3, 1000, NULL), 3);
        /* Same /56, other /64: shared. */
        assert_int_equal(passed(&rrl, "2001:db8:0:2::1", 1, 1000, NULL), 0);
        /* Another kind or name from the spent network: its own account. */
        struct dns_client_addr a = addr("192.0.2.1");
        unsigned counter = 0;
        assert_int_equal(dns_rrl_check(&rrl, &a, DNS_RRL_NXDOMAIN, 42, 1000, &counter),
                         DNS_RRL_PASS);
        assert_int_equal(dns_rrl_check(&rrl, &a, DNS_RRL_ANSWER, 43, 1000, &counter),
                         DNS_RRL_PASS);
        dns_rrl_fini(&rrl);
}

static void test_exempt_networks(void **state)
{
        struct dns_rrl_config cfg;
        dns_rrl_config_default(&cfg);
        struct dns_rrl rrl;
        assert_int_equal(dns_rrl_init(&rrl, &cfg), 0);
        struct dns_client_addr lo = addr("127.0.0.1"), lo6 = addr("::1"),
                               other = addr("192.0.2.1");
        assert_true(dns_rrl_exempt(&rrl, &lo));
        assert_true(dns_rrl_exempt(&rrl, &lo6));
        assert_false(dns_rrl_exempt(&rrl, &other));
        dns_rrl_fini(&rrl);

        struct dns_net net;
        assert_int_equal(dns_net_parse("198.51.100.77/20", &net), 0);
        assert_int_equal(net.prefix, 20);
        struct dns_client_addr in = addr("198.51.111.1"), out = addr("198.51.112.1");
        assert_true(dns_net_contains(&net, &in));
        assert_false(dns_net_contains(&net, &out));
        assert_int_equal(dns_net_parse("2001:db8::/33", &net), 0);
        struct dns_client_addr in6 = addr("2001:db8:7fff::1"),
                               out6 = addr("2001:db8:8000::1");
        assert_true(dns_net_contains(&net, &in6));
        assert_false(dns_net_contains(&net, &out6));
        assert_false(dns_net_contains(&net, &in)); /* other family */
        const char *bad[] = {"",           "/24",           "192.0.2.0/33",
                             "192.0.2.0/", "192.0.2.0/x",   "2001:db8::/129",
                             "host",       "192.0.2.0/24/1"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_not_equal(dns_net_parse(bad[i], &net), 0);
}

static void test_small_table_many_clients(void **state)
{
        struct dns_rrl_config cfg;
        dns_rrl_config_default(&cfg);
        cfg.exempt_count = 0;
        cfg.table_size = 1024;
        cfg.rate = 2;
        struct dns_rrl rrl;
        assert_int_equal(dns_rrl_init(&rrl, &cfg), 0);
        /* 100,000 networks through 1,024 accounts: nothing breaks, and a
         * network that just spent its credit is still limited. */
        unsigned counter = 0;
        for (uint32_t i = 0; i < 100000; i++) {
                struct dns_client_addr a = {.family = AF_INET, .len = 4};
                uint32_t net = htonl(0x0a000000u | i << 8);
                memcpy(a.bytes, &net, 4);
                dns_rrl_check(&rrl, &a, DNS_RRL_ANSWER, 1, 1000, &counter);
        }
        assert_int_equal(passed(&rrl, "192.0.2.1", 10, 1000, NULL), 2);
        dns_rrl_fini(&rrl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_burst_limited_after_rate),
            cmocka_unit_test(test_slip_zero_and_one),
            cmocka_unit_test(test_credit_returns_at_rate),
            cmocka_unit_test(test_flood_debt_lasts_window),
            cmocka_unit_test(test_accounts_by_network_kind_and_name),
            cmocka_unit_test(test_exempt_networks),
            cmocka_unit_test(test_small_table_many_clients),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
