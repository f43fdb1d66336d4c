/*
 * test_dns_logq.c — the bounded log queue (dns/logq.c) shared by the query
 * log and dnstap, and dnstap's message list (dns_dnstap_messages_parse).
 *
 * With the writer held inside its first entry, a ring takes exactly its
 * capacity and refuses (and counts) the next entry; released, the writer
 * hands every entry over in order, calls reopen between two entries (not
 * before the one in hand) when asked, and stopping writes what is queued.
 * The message list accepts query, response and both in either order, and
 * refuses anything else with the offending item named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "dns/dnstap.h"
#include "dns/logq.h"

struct seen {
        atomic_bool hold;   /* the writer waits in its first entry while set */
        atomic_int entered; /* entries the writer started */
        int order[256];     /* entry values, or -1 for a reopen */
        int count;
        int idles;
};

static void pause_ms(int ms)
{
        struct timespec ts = {0, ms * 1000000L};
        nanosleep(&ts, NULL);
}

static void on_write(void *ctx, void *entry)
{
        struct seen *s = ctx;
        atomic_fetch_add(&s->entered, 1);
        while (atomic_load(&s->hold))
                pause_ms(1);
        if (s->count < 256)
                s->order[s->count++] = *(int *)entry;
}

static void on_idle(void *ctx)
{
        ((struct seen *)ctx)->idles++;
}

static void on_reopen(void *ctx)
{
        struct seen *s = ctx;
        if (s->count < 256)
                s->order[s->count++] = -1;
}

static const struct dns_logq_ops ops = {on_write, on_idle, on_reopen};

static void test_full_ring_drops_and_counts_then_everything_in_order(void **state)
{
        static struct seen s;
        memset(&s, 0, sizeof(s));
        atomic_store(&s.hold, true);
        struct dns_logq *q;
        char err[200];
        const struct dns_logq_config cfg = {sizeof(int), 10, &ops, &s}; /* -> 64 */
        assert_int_equal(dns_logq_start(&q, &cfg, err, sizeof(err)), 0);
        struct dns_logq_ring *r = dns_logq_ring_new(q);
        assert_non_null(r);
        int *slot = dns_logq_reserve(r);
        assert_non_null(slot);
        *slot = 0;
        dns_logq_commit(r);
        while (atomic_load(&s.entered) == 0) /* the writer holds entry 0 */
                pause_ms(1);
        dns_logq_reopen(q); /* asked while entry 0 is in hand */
        for (int i = 1; i < 64; i++) {
                slot = dns_logq_reserve(r);
                assert_non_null(slot);
                *slot = i;
                dns_logq_commit(r);
        }
        assert_null(dns_logq_reserve(r)); /* 64 in the ring: full */
        assert_null(dns_logq_reserve(r));
        dns_logq_drop(r);
        assert_int_equal(dns_logq_dropped(q), 3);
        atomic_store(&s.hold, false);
        dns_logq_stop(q);
        assert_int_equal(s.count, 65);
        assert_int_equal(s.order[0], 0);
        assert_int_equal(s.order[1], -1); /* the reopen, after entry 0 */
        for (int i = 1; i < 64; i++)
                assert_int_equal(s.order[i + 1], i);
        assert_true(s.idles >= 1);
}

static void test_rings_are_independent(void **state)
{
        static struct seen s;
        memset(&s, 0, sizeof(s));
        struct dns_logq *q;
        char err[200];
        const struct dns_logq_config cfg = {sizeof(int), 64, &ops, &s};
        assert_int_equal(dns_logq_start(&q, &cfg, err, sizeof(err)), 0);
        struct dns_logq_ring *a = dns_logq_ring_new(q), *b = dns_logq_ring_new(q);
        for (int i = 0; i < 10; i++) {
                struct dns_logq_ring *r = i % 2 ? b : a;
                int *slot = dns_logq_reserve(r);
                assert_non_null(slot);
                *slot = 100 + i;
                dns_logq_commit(r);
        }
        dns_logq_stop(q);
        assert_int_equal(s.count, 10);
        int sum = 0;
        for (int i = 0; i < s.count; i++)
                sum += s.order[i];
        assert_int_equal(sum, 10 * 100 + 45);
}

static void test_dnstap_message_list(void **state)
{
        unsigned m = 0;
        char err[200];
        assert_int_equal(dns_dnstap_messages_parse("query", &m, err, sizeof(err)), 0);
        assert_int_equal(m, DNS_DNSTAP_QUERY);
        assert_int_equal(dns_dnstap_messages_parse("response", &m, err, sizeof(err)), 0);
        assert_int_equal(m, DNS_DNSTAP_RESPONSE);
        assert_int_equal(
            dns_dnstap_messages_parse("response,query", &m, err, sizeof(err)), 0);
        assert_int_equal(m, DNS_DNSTAP_QUERY | DNS_DNSTAP_RESPONSE);
        const char *bad[] = {
            "",        ",",     "query,",        ",query", "query,,response",
            "queries", "Query", "query response"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                m = 77;
                assert_int_equal(dns_dnstap_messages_parse(bad[i], &m, err, sizeof(err)),
                                 -1);
                assert_int_equal(m, 77);
                assert_non_null(strstr(err, "is not query or response"));
        }
        dns_dnstap_messages_parse("query,queries", &m, err, sizeof(err));
        assert_non_null(strstr(err, "'queries'"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_full_ring_drops_and_counts_then_everything_in_order),
            cmocka_unit_test(test_rings_are_independent),
            cmocka_unit_test(test_dnstap_message_list),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
