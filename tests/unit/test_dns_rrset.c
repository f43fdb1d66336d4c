/*
 * test_dns_rrset.c — immutable record-set blobs.
 *
 * Checks that dns_rrsets_add() and dns_rrsets_put() build new blobs without
 * touching the old one, keep sets sorted by (type, set id), pre-encode each
 * record (type, class IN, TTL, RDLENGTH, RDATA), drop duplicate records,
 * keep a set's TTL when a record brings another, replace and remove whole
 * sets, and that find/get/next walk the result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/rrset.h"
#include "dns/wire.h"

static const uint8_t A1[] = {192, 0, 2, 1}, A2[] = {192, 0, 2, 2}, A3[] = {192, 0, 2, 3};

static struct dns_rrsets *add(struct dns_rrsets *old, uint16_t type, uint32_t set_id,
                              uint32_t ttl, const uint8_t *rdata, uint16_t rdlen,
                              int want)
{
        struct dns_rrsets *out = (void *)1;
        assert_int_equal(dns_rrsets_add(old, type, set_id, ttl, rdata, rdlen, &out),
                         want);
        return out;
}

static unsigned records(const struct dns_rrsets *sets, const struct dns_rrset_info *info)
{
        unsigned n = 0;
        for (const uint8_t *rr = dns_rrset_next(sets, info, NULL); rr != NULL;
             rr = dns_rrset_next(sets, info, rr))
                n++;
        return n;
}

static void test_add_to_empty_encodes_record_header(void **state)
{
        struct dns_rrsets *s = add(NULL, DNS_TYPE_A, 0, 300, A1, 4, 0);
        assert_non_null(s);
        assert_int_equal(s->count, 1);
        const struct dns_rrset_info *info = dns_rrsets_find(s, DNS_TYPE_A);
        assert_non_null(info);
        assert_int_equal(info->count, 1);
        assert_int_equal(info->ttl, 300);
        const uint8_t *rr = dns_rrset_next(s, info, NULL);
        const uint8_t want[] = {0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1};
        assert_memory_equal(rr, want, sizeof(want));
        assert_int_equal(dns_rr_rdlen(rr), 4);
        assert_memory_equal(dns_rr_rdata(rr), A1, 4);
        assert_null(dns_rrset_next(s, info, rr));
        free(s);
}

static void test_add_builds_new_blob_and_leaves_old_untouched(void **state)
{
        struct dns_rrsets *s1 = add(NULL, DNS_TYPE_A, 0, 300, A1, 4, 0);
        size_t size1 = sizeof(*s1) + s1->count * sizeof(s1->set[0]) + s1->data_size;
        uint8_t *copy = malloc(size1);
        memcpy(copy, s1, size1);
        struct dns_rrsets *s2 = add(s1, DNS_TYPE_A, 0, 300, A2, 4, 0);
        assert_ptr_not_equal(s1, s2);
        assert_memory_equal(copy, s1, size1);
        assert_int_equal(records(s2, dns_rrsets_find(s2, DNS_TYPE_A)), 2);
        free(copy);
        free(s1);
        free(s2);
}

static void test_add_of_duplicate_record_returns_null_blob(void **state)
{
        struct dns_rrsets *s1 = add(NULL, DNS_TYPE_A, 0, 300, A1, 4, 0);
        assert_null(add(s1, DNS_TYPE_A, 0, 300, A1, 4, 0));
        free(s1);
}

static void test_add_with_other_ttl_keeps_set_ttl_and_returns_1(void **state)
{
        struct dns_rrsets *s1 = add(NULL, DNS_TYPE_A, 0, 300, A1, 4, 0);
        struct dns_rrsets *s2 = add(s1, DNS_TYPE_A, 0, 60, A2, 4, 1);
        const struct dns_rrset_info *info = dns_rrsets_find(s2, DNS_TYPE_A);
        assert_int_equal(info->ttl, 300);
        for (const uint8_t *rr = dns_rrset_next(s2, info, NULL); rr != NULL;
             rr = dns_rrset_next(s2, info, rr))
                assert_int_equal(wire_get32(rr + 4), 300);
        free(s1);
        free(s2);
}

static void test_sets_are_sorted_by_type_then_set_id(void **state)
{
        const uint8_t ns[] = {2, 'n', 's', 0};
        struct dns_rrsets *s =
            add(NULL, DNS_TYPE_TXT, 0, 1, (const uint8_t *)"\1x", 2, 0);
        struct dns_rrsets *t;
        t = add(s, DNS_TYPE_A, 2, 1, A1, 4, 0);
        free(s);
        s = add(t, DNS_TYPE_NS, 0, 1, ns, 4, 0);
        free(t);
        t = add(s, DNS_TYPE_A, 1, 1, A2, 4, 0);
        free(s);
        s = add(t, DNS_TYPE_A, 0, 1, A3, 4, 0);
        free(t);
        assert_int_equal(s->count, 5);
        uint16_t types[] = {DNS_TYPE_A, DNS_TYPE_A, DNS_TYPE_A, DNS_TYPE_NS,
                            DNS_TYPE_TXT};
        uint32_t ids[] = {0, 1, 2, 0, 0};
        for (int i = 0; i < 5; i++) {
                assert_int_equal(s->set[i].type, types[i]);
                assert_int_equal(s->set[i].set_id, ids[i]);
        }
        /* find returns the first set of a type; get the exact key. */
        assert_ptr_equal(dns_rrsets_find(s, DNS_TYPE_A), &s->set[0]);
        assert_ptr_equal(dns_rrsets_get(s, DNS_TYPE_A, 2), &s->set[2]);
        assert_memory_equal(dns_rr_rdata(dns_rrset_next(s, &s->set[2], NULL)), A1, 4);
        assert_null(dns_rrsets_get(s, DNS_TYPE_A, 3));
        assert_null(dns_rrsets_find(s, DNS_TYPE_MX));
        assert_null(dns_rrsets_find(NULL, DNS_TYPE_A));
        assert_null(dns_rrsets_get(NULL, DNS_TYPE_A, 0));
        free(s);
}

static void test_put_replaces_whole_set(void **state)
{
        struct dns_rrsets *s1 = add(NULL, DNS_TYPE_A, 0, 300, A1, 4, 0);
        struct dns_rrsets *s2 = add(s1, DNS_TYPE_A, 0, 300, A2, 4, 0);
        struct dns_rrsets *s3 =
            add(s2, DNS_TYPE_MX, 0, 300, (const uint8_t *)"\0\12\0", 3, 0);
        const uint8_t *rdata[] = {A3};
        const uint16_t rdlen[] = {4};
        struct dns_rrsets *s4;
        assert_int_equal(dns_rrsets_put(s3, DNS_TYPE_A, 0, 99, rdata, rdlen, 1, &s4), 0);
        const struct dns_rrset_info *a = dns_rrsets_find(s4, DNS_TYPE_A);
        assert_int_equal(a->count, 1);
        assert_int_equal(a->ttl, 99);
        assert_memory_equal(dns_rr_rdata(dns_rrset_next(s4, a, NULL)), A3, 4);
        assert_int_equal(wire_get32(dns_rrset_next(s4, a, NULL) + 4), 99);
        assert_non_null(dns_rrsets_find(s4, DNS_TYPE_MX));
        assert_int_equal(records(s3, dns_rrsets_find(s3, DNS_TYPE_A)), 2);
        free(s1);
        free(s2);
        free(s3);
        free(s4);
}

static void test_put_with_zero_records_removes_set_and_last_set_gives_null(void **state)
{
        struct dns_rrsets *s1 = add(NULL, DNS_TYPE_A, 0, 300, A1, 4, 0);
        struct dns_rrsets *s2 =
            add(s1, DNS_TYPE_TXT, 0, 300, (const uint8_t *)"\1x", 2, 0);
        struct dns_rrsets *s3, *s4, *s5;
        assert_int_equal(dns_rrsets_put(s2, DNS_TYPE_A, 0, 0, NULL, NULL, 0, &s3), 0);
        assert_int_equal(s3->count, 1);
        assert_null(dns_rrsets_find(s3, DNS_TYPE_A));
        assert_int_equal(dns_rrsets_put(s3, DNS_TYPE_TXT, 0, 0, NULL, NULL, 0, &s4), 0);
        assert_null(s4);
        /* Removing a set that is not there keeps the rest. */
        assert_int_equal(dns_rrsets_put(s3, DNS_TYPE_MX, 0, 0, NULL, NULL, 0, &s5), 0);
        assert_int_equal(s5->count, 1);
        free(s1);
        free(s2);
        free(s3);
        free(s5);
}

static void test_many_sets_and_large_rdata(void **state)
{
        /* More sets than fit on the stack paths, and a record over 512 bytes. */
        struct dns_rrsets *s = NULL;
        for (uint16_t t = 1000; t < 1040; t++) {
                struct dns_rrsets *n = add(s, t, 0, 5, A1, 4, 0);
                free(s);
                s = n;
        }
        uint8_t big[2000];
        memset(big, 0xab, sizeof(big));
        struct dns_rrsets *n = add(s, 1020, 0, 5, big, sizeof(big), 0);
        free(s);
        s = n;
        assert_int_equal(s->count, 40);
        const struct dns_rrset_info *info = dns_rrsets_find(s, 1020);
        assert_int_equal(info->count, 2);
        const uint8_t *rr = dns_rrset_next(s, info, dns_rrset_next(s, info, NULL));
        assert_int_equal(dns_rr_rdlen(rr), sizeof(big));
        assert_memory_equal(dns_rr_rdata(rr), big, sizeof(big));
        assert_non_null(dns_rrsets_find(s, 1039));
        free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_add_to_empty_encodes_record_header),
            cmocka_unit_test(test_add_builds_new_blob_and_leaves_old_untouched),
            cmocka_unit_test(test_add_of_duplicate_record_returns_null_blob),
            cmocka_unit_test(test_add_with_other_ttl_keeps_set_ttl_and_returns_1),
            cmocka_unit_test(test_sets_are_sorted_by_type_then_set_id),
            cmocka_unit_test(test_put_replaces_whole_set),
            cmocka_unit_test(
                test_put_with_zero_records_removes_set_and_last_set_gives_null),
            cmocka_unit_test(test_many_sets_and_large_rdata),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
