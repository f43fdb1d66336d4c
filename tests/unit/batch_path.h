/*
 * batch_path.h — the check that the UDP server's batch path answers as
 * dns_answer() does.  assert_batch_path_same() parses a batch of queries,
 * runs dns_answer_warm() over all of them (the prefetching walks side by
 * side), answers each with dns_answer_parsed() and asserts the bytes equal
 * dns_answer()'s for the same query.  Include after <cmocka.h>.
 */
#ifndef TESTS_UNIT_BATCH_PATH_H
#define TESTS_UNIT_BATCH_PATH_H

#include <stdint.h>
#include <stdlib.h>

#include "dns/answer.h"

static inline void assert_batch_path_same(const struct dns_catalog *cat,
                                          const uint8_t (*q)[512], const size_t *len,
                                          unsigned n)
{
        struct dns_query *parsed = calloc(n, sizeof(*parsed));
        enum dns_parse_status *st = calloc(n, sizeof(*st));
        uint8_t *a1 = malloc(DNS_TCP_MAX), *a2 = malloc(DNS_TCP_MAX);
        assert_true(parsed != NULL && st != NULL && a1 != NULL && a2 != NULL);
        for (unsigned i = 0; i < n; i++)
                st[i] = dns_query_parse(&parsed[i], q[i], len[i]);
        dns_answer_warm(cat, parsed, st, n);
        for (unsigned i = 0; i < n; i++) {
                size_t l1 = dns_answer(cat, q[i], len[i], DNS_TRANSPORT_UDP, a1, 0, NULL);
                size_t l2 = dns_answer_parsed(cat, &parsed[i], st[i], DNS_TRANSPORT_UDP,
                                              a2, 0, NULL);
                assert_true(l1 > 12);
                assert_int_equal(l1, l2);
                assert_memory_equal(a1, a2, l1);
        }
        free(a2);
        free(a1);
        free(st);
        free(parsed);
}

#endif
