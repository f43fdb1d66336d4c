/*
 * test_dns_metrics.c — the per-server DNS counters (dns/metrics.c).
 *
 * Messages are counted by protocol, qtype and rcode (the extended BADVERS
 * and BADCOOKIE included), unanswered ones apart; each zone gets a slot the
 * first time it answers and a full table sends the rest to the overflow
 * counter; histogram buckets take their upper bound inclusively; and
 * merging two servers sums their counters and matches zones by their hash
 * whatever slot each server gave them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/metrics.h"
#include "dns/wire.h"

static struct dns_zone *zone_new(const char *label, uint64_t hash)
{
        size_t n = strlen(label);
        struct dns_zone *z = calloc(1, sizeof(*z) + n + 2);
        z->hash = hash;
        z->origin[0] = (uint8_t)n;
        memcpy(z->origin + 1, label, n);
        z->origin_len = (uint16_t)(n + 2);
        return z;
}

static struct dns_query query(uint16_t qtype, const struct dns_zone *zone)
{
        struct dns_query q;
        memset(&q, 0, sizeof(q));
        q.qtype = qtype;
        q.qclass = DNS_CLASS_IN;
        q.question_size = 5;
        q.zone_known = zone != NULL;
        q.zone = zone;
        return q;
}

static void answer(uint8_t *out, unsigned rcode, bool tc)
{
        memset(out, 0, DNS_HEADER_SIZE);
        out[2] = 0x84 | (tc ? 0x02 : 0);
        out[3] = (uint8_t)(rcode & 0xf);
}

static unsigned qtype_index(const char *name)
{
        for (unsigned i = 0; i < DNS_METRICS_QTYPES; i++)
                if (strcmp(dns_metrics_qtype_name(i), name) == 0)
                        return i;
        return 99;
}

static unsigned rcode_index(const char *name)
{
        for (unsigned i = 0; i < DNS_METRICS_RCODES; i++)
                if (strcmp(dns_metrics_rcode_name(i), name) == 0)
                        return i;
        return 99;
}

static void test_counts_by_protocol_type_rcode_and_zone(void **state)
{
        (void)state;
        struct dns_metrics *m = calloc(1, sizeof(*m));
        struct dns_zone *a = zone_new("a", 11), *b = zone_new("b", 12);
        uint8_t out[512];
        for (int i = 0; i < 3; i++) {
                struct dns_query q = query(DNS_TYPE_A, a);
                answer(out, DNS_RCODE_NOERROR, false);
                dns_metrics_count(m, 0, &q, DNS_PARSE_OK, out, 100);
        }
        struct dns_query q = query(DNS_TYPE_AAAA, b);
        answer(out, DNS_RCODE_NXDOMAIN, true);
        dns_metrics_count(m, 1, &q, DNS_PARSE_OK, out, 40);
        q = query(DNS_TYPE_A, NULL);
        answer(out, DNS_RCODE_BADCOOKIE, false);
        dns_metrics_count(m, 0, &q, DNS_PARSE_BADCOOKIE, out, 40);
        q = query(DNS_TYPE_A, NULL);
        answer(out, DNS_RCODE_BADVERS, false);
        dns_metrics_count(m, 0, &q, DNS_PARSE_BADVERS, out, 40);
        q = query(999, a); /* dropped by rate limiting: no response */
        dns_metrics_count(m, 0, &q, DNS_PARSE_OK, out, 0);
        q = query(0, NULL);
        dns_metrics_count(m, 0, &q, DNS_PARSE_DROP, out, 0);

        assert_int_equal(dns_metrics_get(&m->queries[0][qtype_index("A")]), 5);
        assert_int_equal(dns_metrics_get(&m->queries[0][qtype_index("other")]), 1);
        assert_int_equal(dns_metrics_get(&m->queries[0][qtype_index("none")]), 1);
        assert_int_equal(dns_metrics_get(&m->queries[1][qtype_index("AAAA")]), 1);
        assert_int_equal(dns_metrics_get(&m->responses[0][rcode_index("NOERROR")]), 3);
        assert_int_equal(dns_metrics_get(&m->responses[1][rcode_index("NXDOMAIN")]), 1);
        assert_int_equal(dns_metrics_get(&m->responses[0][rcode_index("BADCOOKIE")]), 1);
        assert_int_equal(dns_metrics_get(&m->responses[0][rcode_index("BADVERS")]), 1);
        assert_int_equal(dns_metrics_get(&m->unanswered[0]), 2);
        assert_int_equal(dns_metrics_get(&m->truncated[1]), 1);
        assert_int_equal(dns_metrics_get(&m->size[0].sum), 380);
        unsigned zones = 0;
        for (unsigned i = 0; i < DNS_METRICS_ZONES; i++) {
                struct dns_metrics_zone *z = &m->zones[i];
                if (dns_metrics_get(&z->hash) == 0)
                        continue;
                zones++;
                if (z->origin[1] == 'a') {
                        assert_int_equal(dns_metrics_get(&z->queries[qtype_index("A")]),
                                         3);
                        assert_int_equal(
                            dns_metrics_get(&z->queries[qtype_index("other")]), 1);
                        assert_int_equal(
                            dns_metrics_get(&z->responses[0][rcode_index("NOERROR")]), 3);
                } else {
                        assert_int_equal(z->origin[1], 'b');
                        assert_int_equal(
                            dns_metrics_get(&z->responses[1][rcode_index("NXDOMAIN")]),
                            1);
                }
        }
        assert_int_equal(zones, 2);
        free(a);
        free(b);
        free(m);
}

/* Every type with a counter of its own lands in it (the types below 256 are
 * found in a table, the others searched), anything else in "other". */
static void test_each_named_type_has_its_counter(void **state)
{
        (void)state;
        static const struct {
                uint16_t type;
                const char *name;
        } types[] = {{1, "A"},     {2, "NS"},     {5, "CNAME"}, {6, "SOA"},
                     {12, "PTR"},  {15, "MX"},    {16, "TXT"},  {28, "AAAA"},
                     {33, "SRV"},  {35, "NAPTR"}, {43, "DS"},   {48, "DNSKEY"},
                     {64, "SVCB"}, {65, "HTTPS"}, {257, "CAA"}, {255, "ANY"}};
        struct dns_metrics *m = calloc(1, sizeof(*m));
        uint8_t out[512];
        answer(out, DNS_RCODE_NOERROR, false);
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                struct dns_query q = query(types[i].type, NULL);
                dns_metrics_count(m, 0, &q, DNS_PARSE_OK, out, 100);
                unsigned at = qtype_index(types[i].name);
                assert_true(at < DNS_METRICS_QTYPES);
                assert_int_equal(dns_metrics_get(&m->queries[0][at]), 1);
        }
        static const uint16_t others[] = {0, 3, 99, 254, 256, 258, 32769, 65535};
        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
                struct dns_query q = query(others[i], NULL);
                dns_metrics_count(m, 0, &q, DNS_PARSE_OK, out, 100);
        }
        assert_int_equal(dns_metrics_get(&m->queries[0][qtype_index("other")]), 8);
        uint64_t all = 0;
        for (unsigned i = 0; i < DNS_METRICS_QTYPES; i++)
                all += dns_metrics_get(&m->queries[0][i]);
        assert_int_equal(all, 16 + 8);
        free(m);
}

static void test_full_zone_table_counts_overflow(void **state)
{
        (void)state;
        struct dns_metrics *m = calloc(1, sizeof(*m));
        uint8_t out[DNS_HEADER_SIZE];
        answer(out, DNS_RCODE_NOERROR, false);
        for (unsigned i = 0; i < DNS_METRICS_ZONES + 44; i++) {
                /* hashes that all want slot 0 first: the probe must wrap */
                struct dns_zone *z = zone_new("z", (uint64_t)(i + 1) * DNS_METRICS_ZONES);
                struct dns_query q = query(DNS_TYPE_A, z);
                dns_metrics_count(m, 0, &q, DNS_PARSE_OK, out, sizeof(out));
                dns_metrics_count(m, 0, &q, DNS_PARSE_OK, out, sizeof(out));
                free(z);
        }
        assert_int_equal(dns_metrics_get(&m->zone_overflow), 88);
        for (unsigned i = 0; i < DNS_METRICS_ZONES; i++)
                assert_int_equal(dns_metrics_get(&m->zones[i].queries[qtype_index("A")]),
                                 2);
        free(m);
}

static void test_histogram_bounds_are_inclusive(void **state)
{
        (void)state;
        struct dns_metrics *m = calloc(1, sizeof(*m));
        uint8_t out[DNS_HEADER_SIZE];
        answer(out, DNS_RCODE_NOERROR, false);
        struct dns_query q = query(DNS_TYPE_A, NULL);
        dns_metrics_count(m, 0, &q, DNS_PARSE_OK, out, 64);
        dns_metrics_count(m, 0, &q, DNS_PARSE_OK, out, 65);
        dns_metrics_count(m, 0, &q, DNS_PARSE_OK, out, 70000);
        assert_int_equal(dns_metrics_get(&m->size[0].bucket[0]), 1);
        assert_int_equal(dns_metrics_get(&m->size[0].bucket[1]), 1);
        assert_int_equal(dns_metrics_get(&m->size[0].bucket[DNS_METRICS_SIZES]), 1);
        for (unsigned i = 0; i < DNS_METRICS_SIZES; i++) { /* every bound, and past it */
                uint64_t at = dns_metrics_get(&m->size[1].bucket[i]);
                uint64_t next = dns_metrics_get(&m->size[1].bucket[i + 1]);
                dns_metrics_count(m, 1, &q, DNS_PARSE_OK, out,
                                  dns_metrics_size_bounds[i]);
                assert_int_equal(dns_metrics_get(&m->size[1].bucket[i]), at + 1);
                dns_metrics_count(m, 1, &q, DNS_PARSE_OK, out,
                                  dns_metrics_size_bounds[i] + 1);
                assert_int_equal(dns_metrics_get(&m->size[1].bucket[i + 1]), next + 1);
        }
        /* Every length (the small ones are bucketed by a bit position):
         * in the bucket of the number of bounds below it (shorter than a
         * header is not an answer). */
        struct dns_metrics *each = calloc(1, sizeof(*each));
        for (size_t len = DNS_HEADER_SIZE; len <= 70000; len++) {
                unsigned want = 0;
                while (want < DNS_METRICS_SIZES && len > dns_metrics_size_bounds[want])
                        want++;
                uint64_t before = dns_metrics_get(&each->size[0].bucket[want]);
                dns_metrics_count(each, 0, &q, DNS_PARSE_OK, out, len);
                assert_int_equal(dns_metrics_get(&each->size[0].bucket[want]),
                                 before + 1);
        }
        free(each);
        dns_metrics_time(m, 1, 5000, 64); /* a batch of 64 at the first bound */
        dns_metrics_time(m, 1, 2000000000, 1);
        assert_int_equal(dns_metrics_get(&m->time[1].bucket[0]), 64);
        assert_int_equal(dns_metrics_get(&m->time[1].bucket[DNS_METRICS_TIMES]), 1);
        assert_int_equal(dns_metrics_get(&m->time[1].sum), 64 * 5000 + 2000000000ull);
        free(m);
}

static void test_merge_sums_servers_and_matches_zones_by_hash(void **state)
{
        (void)state;
        struct dns_metrics *s1 = calloc(1, sizeof(*s1)), *s2 = calloc(1, sizeof(*s2));
        struct dns_metrics *sum = calloc(1, sizeof(*sum));
        struct dns_zone *a = zone_new("a", 5), *b = zone_new("b", 5 + DNS_METRICS_ZONES);
        uint8_t out[DNS_HEADER_SIZE];
        answer(out, DNS_RCODE_NOERROR, false);
        /* s1 gives a the slot 5 and b the next; s2 the other way round */
        struct dns_query qa = query(DNS_TYPE_A, a), qb = query(DNS_TYPE_MX, b);
        dns_metrics_count(s1, 0, &qa, DNS_PARSE_OK, out, sizeof(out));
        dns_metrics_count(s1, 0, &qb, DNS_PARSE_OK, out, sizeof(out));
        dns_metrics_count(s2, 0, &qb, DNS_PARSE_OK, out, sizeof(out));
        dns_metrics_count(s2, 0, &qa, DNS_PARSE_OK, out, sizeof(out));
        dns_metrics_count(s2, 0, &qa, DNS_PARSE_OK, out, sizeof(out));
        dns_metrics_merge(sum, s1);
        dns_metrics_merge(sum, s2);
        assert_int_equal(dns_metrics_get(&sum->queries[0][qtype_index("A")]), 3);
        assert_int_equal(dns_metrics_get(&sum->queries[0][qtype_index("MX")]), 2);
        assert_int_equal(dns_metrics_get(&sum->responses[0][0]), 5);
        unsigned seen = 0;
        for (unsigned i = 0; i < DNS_METRICS_ZONES; i++) {
                struct dns_metrics_zone *z = &sum->zones[i];
                if (dns_metrics_get(&z->hash) == 0)
                        continue;
                seen++;
                if (z->origin[1] == 'a')
                        assert_int_equal(dns_metrics_get(&z->queries[qtype_index("A")]),
                                         3);
                else
                        assert_int_equal(dns_metrics_get(&z->queries[qtype_index("MX")]),
                                         2);
        }
        assert_int_equal(seen, 2);
        free(a);
        free(b);
        free(s1);
        free(s2);
        free(sum);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_counts_by_protocol_type_rcode_and_zone),
            cmocka_unit_test(test_each_named_type_has_its_counter),
            cmocka_unit_test(test_full_zone_table_counts_overflow),
            cmocka_unit_test(test_histogram_bounds_are_inclusive),
            cmocka_unit_test(test_merge_sums_servers_and_matches_zones_by_hash),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
