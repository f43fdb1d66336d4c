/*
 * test_dns_packet.c — query parsing and the response writer.
 *
 * Each parser test hands dns_query_parse() one crafted message and checks
 * the verdict: dropped (short header, QR set), FORMERR (question count not
 * 1, answer records, compression in the question, label over 63, name over
 * 255, truncated question, two OPTs, bad option lengths, OPT owner not the
 * root, trailing bytes), BADVERS (EDNS version 1) or NOTIMP (NOTIFY,
 * UPDATE).  The writer tests check that a record set is written whole or
 * rolled back, and that names in RDATA are compressed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/packet.h"
#include "dns/rrset.h"
#include "dns/wire.h"

struct msg {
        uint8_t b[1024];
        size_t n;
};

static void put8(struct msg *m, uint8_t v)
{
        m->b[m->n++] = v;
}

static void put16(struct msg *m, uint16_t v)
{
        wire_put16(m->b + m->n, v);
        m->n += 2;
}

static void put_bytes(struct msg *m, const void *p, size_t n)
{
        if (n != 0)
                memcpy(m->b + m->n, p, n);
        m->n += n;
}

/* Header with the given counts, opcode and flags. */
static void header(struct msg *m, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
                   uint16_t ar)
{
        m->n = 0;
        put16(m, 0x1234);
        put16(m, flags);
        put16(m, qd);
        put16(m, an);
        put16(m, ns);
        put16(m, ar);
}

static const uint8_t QNAME[] = {3,   'w', 'w', 'w', 7,   'e', 'x',
                                'a', 'm', 'p', 'l', 'e', 0};

static void question(struct msg *m)
{
        put_bytes(m, QNAME, sizeof(QNAME));
        put16(m, DNS_TYPE_A);
        put16(m, DNS_CLASS_IN);
}

/* OPT: owner root, payload, version, options of rdlen bytes. */
static void opt(struct msg *m, uint16_t payload, uint8_t version, const uint8_t *rdata,
                uint16_t rdlen)
{
        put8(m, 0);
        put16(m, DNS_TYPE_OPT);
        put16(m, payload);
        put8(m, 0);
        put8(m, version);
        put16(m, DNS_EDNS_DO);
        put16(m, rdlen);
        put_bytes(m, rdata, rdlen);
}

static enum dns_parse_status parse(const struct msg *m, struct dns_query *q)
{
        /* Parse a heap copy of exactly n bytes so ASan sees any over-read. */
        uint8_t *copy = malloc(m->n ? m->n : 1);
        memcpy(copy, m->b, m->n);
        enum dns_parse_status st = dns_query_parse(q, copy, m->n);
        free(copy);
        return st;
}

static void test_valid_query_parses_question_and_edns(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, DNS_FLAG_RD, 1, 0, 0, 1);
        question(&m);
        opt(&m, 4096, 0, NULL, 0);
        assert_int_equal(parse(&m, &q), DNS_PARSE_OK);
        assert_int_equal(q.id, 0x1234);
        assert_int_equal(q.qtype, DNS_TYPE_A);
        assert_int_equal(q.qclass, DNS_CLASS_IN);
        assert_int_equal(q.question_size, sizeof(QNAME) + 4);
        assert_true(q.edns);
        assert_int_equal(q.edns_payload, 4096);
        assert_int_equal(q.edns_flags, DNS_EDNS_DO);
        assert_int_equal(q.qname.nlabels, 2);
}

static void test_small_edns_payload_is_raised_to_512(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 1);
        question(&m);
        opt(&m, 100, 0, NULL, 0);
        assert_int_equal(parse(&m, &q), DNS_PARSE_OK);
        assert_int_equal(q.edns_payload, 512);
}

static void test_short_header_dropped(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 0);
        for (size_t n = 0; n < DNS_HEADER_SIZE; n++) {
                m.n = n;
                assert_int_equal(parse(&m, &q), DNS_PARSE_DROP);
        }
}

static void test_response_bit_dropped(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, DNS_FLAG_QR, 1, 0, 0, 0);
        question(&m);
        assert_int_equal(parse(&m, &q), DNS_PARSE_DROP);
}

static void test_qdcount_0_and_2_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 0, 0, 0, 0);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
        assert_int_equal(q.question_size, 0);
        header(&m, 0, 2, 0, 0, 0);
        question(&m);
        question(&m);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
}

static void test_answer_or_authority_records_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 1, 0, 0);
        question(&m);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
        assert_int_not_equal(q.question_size, 0); /* question copied back */
        header(&m, 0, 1, 0, 1, 0);
        question(&m);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
}

static void test_compression_pointer_in_qname_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 0);
        put_bytes(&m, "\3www\xc0\x0c", 6);
        put16(&m, DNS_TYPE_A);
        put16(&m, DNS_CLASS_IN);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
}

static void test_label_over_63_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 0);
        put8(&m, 64);
        for (int i = 0; i < 64; i++)
                put8(&m, 'a');
        put8(&m, 0);
        put16(&m, DNS_TYPE_A);
        put16(&m, DNS_CLASS_IN);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
}

static void test_name_over_255_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 0);
        for (int l = 0; l < 4; l++) { /* 4 * 64 + 1 = 257 bytes */
                put8(&m, 63);
                for (int i = 0; i < 63; i++)
                        put8(&m, 'a');
        }
        put8(&m, 0);
        put16(&m, DNS_TYPE_A);
        put16(&m, DNS_CLASS_IN);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
}

static void test_truncated_question_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 0);
        question(&m);
        size_t full = m.n;
        for (size_t n = DNS_HEADER_SIZE; n < full; n++) {
                m.n = n;
                assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
        }
}

static void test_two_opts_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 2);
        question(&m);
        opt(&m, 1232, 0, NULL, 0);
        opt(&m, 1232, 0, NULL, 0);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
}

static void test_opt_with_bad_option_lengths_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        const uint8_t overlong[] = {0, 10, 0, 8, 1, 2}; /* says 8, has 2 */
        header(&m, 0, 1, 0, 0, 1);
        question(&m);
        opt(&m, 1232, 0, overlong, sizeof(overlong));
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
        const uint8_t partial[] = {0, 10, 0}; /* option header cut short */
        header(&m, 0, 1, 0, 0, 1);
        question(&m);
        opt(&m, 1232, 0, partial, sizeof(partial));
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
        const uint8_t good[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
        header(&m, 0, 1, 0, 0, 1);
        question(&m);
        opt(&m, 1232, 0, good, sizeof(good));
        assert_int_equal(parse(&m, &q), DNS_PARSE_OK);
}

static void test_opt_rdlength_past_end_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 1);
        question(&m);
        opt(&m, 1232, 0, NULL, 0);
        wire_put16(m.b + m.n - 2, 4); /* RDLENGTH 4 with no data */
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
}

static void test_opt_owner_not_root_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 1);
        question(&m);
        put_bytes(&m, "\1a", 2);
        opt(&m, 1232, 0, NULL, 0);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
        /* An owner that is a pointer is not the root either. */
        header(&m, 0, 1, 0, 0, 1);
        question(&m);
        put_bytes(&m, "\xc0\x0c", 2);
        put16(&m, DNS_TYPE_OPT);
        put16(&m, 1232);
        put16(&m, 0);
        put16(&m, 0);
        put16(&m, 0);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
}

static void test_trailing_garbage_formerr(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 0);
        question(&m);
        put8(&m, 0);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
        header(&m, 0, 1, 0, 0, 1);
        question(&m);
        opt(&m, 1232, 0, NULL, 0);
        put_bytes(&m, "junk", 4);
        assert_int_equal(parse(&m, &q), DNS_PARSE_FORMERR);
}

static void test_other_additional_records_are_skipped(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 2);
        question(&m);
        put_bytes(&m, "\xc0\x0c", 2); /* compressed owner is fine here */
        put16(&m, DNS_TYPE_A);
        put16(&m, DNS_CLASS_IN);
        put16(&m, 0);
        put16(&m, 60);
        put16(&m, 4);
        put_bytes(&m, "\1\2\3\4", 4);
        opt(&m, 1232, 0, NULL, 0);
        assert_int_equal(parse(&m, &q), DNS_PARSE_OK);
        assert_true(q.edns);
}

static void test_edns_version_1_badvers(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, 0, 1, 0, 0, 1);
        question(&m);
        opt(&m, 1232, 1, NULL, 0);
        assert_int_equal(parse(&m, &q), DNS_PARSE_BADVERS);
        assert_true(q.edns);
        assert_int_equal(q.edns_version, 1);
}

static void test_notify_and_update_notimp(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, DNS_OPCODE_NOTIFY << 11, 1, 0, 0, 0);
        question(&m);
        assert_int_equal(parse(&m, &q), DNS_PARSE_NOTIMP);
        header(&m, DNS_OPCODE_UPDATE << 11, 1, 1, 1, 0); /* update has other counts */
        question(&m);
        assert_int_equal(parse(&m, &q), DNS_PARSE_NOTIMP);
        header(&m, DNS_OPCODE_UPDATE << 11, 0, 0, 0, 0);
        assert_int_equal(parse(&m, &q), DNS_PARSE_NOTIMP);
}

/* ---- writer ---------------------------------------------------------------- */

/* A blob with `n` NS records "nsK.example." (K = 0..n-1). */
static struct dns_rrsets *ns_set(unsigned n)
{
        struct dns_rrsets *sets = NULL;
        for (unsigned k = 0; k < n; k++) {
                uint8_t rd[32];
                rd[0] = 3;
                rd[1] = 'n';
                rd[2] = 's';
                rd[3] = (uint8_t)('a' + k % 26);
                memcpy(rd + 4, QNAME + 4, 9); /* example. */
                struct dns_rrsets *next;
                assert_true(dns_rrsets_add(sets, DNS_TYPE_NS, 0, 60, rd, 13, &next) >= 0);
                free(sets);
                sets = next;
        }
        return sets;
}

static void start(struct dns_writer *w, struct dns_query *q, uint8_t *buf, size_t limit)
{
        static struct msg m;
        header(&m, 0, 1, 0, 0, 0);
        question(&m);
        assert_int_equal(dns_query_parse(q, m.b, m.n), DNS_PARSE_OK);
        dns_writer_start(w, q, buf, limit);
}

static void test_writer_compresses_rdata_names(void **state)
{
        struct dns_writer w;
        struct dns_query q;
        uint8_t buf[512];
        start(&w, &q, buf, sizeof(buf));
        struct dns_rrsets *sets = ns_set(2);
        size_t before = w.len;
        assert_int_equal(dns_writer_rrset(&w, DNS_SECTION_AUTHORITY, DNS_HEADER_SIZE + 4,
                                          NULL, sets, &sets->set[0], 0),
                         0);
        /* Each record: owner pointer 2 + header 10 + "nsX" 4 + pointer 2. */
        assert_int_equal(w.len - before, 2 * 18);
        assert_int_equal(w.count[DNS_SECTION_AUTHORITY], 2);
        assert_int_equal(w.ntarget, 2);
        free(sets);
}

static void test_writer_rolls_back_a_set_that_does_not_fit(void **state)
{
        struct dns_writer w;
        struct dns_query q;
        uint8_t buf[512];
        start(&w, &q, buf, 12 + 17 + 18 * 3 + 5); /* room for 3 records of 4 */
        struct dns_rrsets *sets = ns_set(4);
        size_t before = w.len;
        assert_int_equal(dns_writer_rrset(&w, DNS_SECTION_ANSWER, DNS_HEADER_SIZE, NULL,
                                          sets, &sets->set[0], 0),
                         -1);
        assert_int_equal(w.len, before);
        assert_int_equal(w.count[DNS_SECTION_ANSWER], 0);
        assert_int_equal(w.ntarget, 0);
        assert_true(w.truncated);
        /* In the additional section a set that does not fit is not truncation. */
        start(&w, &q, buf, 12 + 17 + 18 * 3 + 5);
        assert_int_equal(dns_writer_rrset(&w, DNS_SECTION_ADDITIONAL, DNS_HEADER_SIZE,
                                          NULL, sets, &sets->set[0], 0),
                         -1);
        assert_false(w.truncated);
        size_t len = dns_writer_finish(&w, &q, 0, 0);
        assert_int_equal(len, 12 + 17);
        assert_int_equal(wire_get16(buf + 2) & DNS_FLAG_TC, 0);
        free(sets);
}

static void test_writer_finish_appends_opt_with_extended_rcode(void **state)
{
        struct msg m;
        struct dns_query q;
        header(&m, DNS_FLAG_RD | DNS_FLAG_CD, 1, 0, 0, 1);
        question(&m);
        opt(&m, 4096, 0, NULL, 0);
        assert_int_equal(dns_query_parse(&q, m.b, m.n), DNS_PARSE_OK);
        struct dns_writer w;
        uint8_t buf[512];
        dns_writer_start(&w, &q, buf, sizeof(buf));
        assert_int_equal(w.limit, sizeof(buf) - DNS_OPT_RR_SIZE);
        size_t len = dns_writer_finish(&w, &q, DNS_FLAG_AA, DNS_RCODE_BADVERS);
        assert_int_equal(len, 12 + 17 + 11);
        uint16_t flags = wire_get16(buf + 2);
        assert_true(flags & DNS_FLAG_QR);
        assert_true(flags & DNS_FLAG_AA);
        assert_true(flags & DNS_FLAG_RD);
        assert_true(flags & DNS_FLAG_CD);
        assert_int_equal(flags & 0xf, DNS_RCODE_BADVERS & 0xf);
        assert_int_equal(wire_get16(buf + 10), 1);
        const uint8_t *o = buf + 12 + 17;
        assert_int_equal(o[0], 0);
        assert_int_equal(wire_get16(o + 1), DNS_TYPE_OPT);
        assert_int_equal(o[5], DNS_RCODE_BADVERS >> 4);
        assert_int_equal(wire_get16(o + 7), DNS_EDNS_DO);
}

/* wire_copy() copies exactly n bytes for every length, between buffers of
 * exactly that size (ASan sees any byte read or written outside them). */
static void test_wire_copy_every_length(void **state)
{
        (void)state;
        for (size_t n = 0; n <= 300; n++) {
                uint8_t *src = malloc(n + 1), *dst = malloc(n + 1);
                for (size_t i = 0; i < n; i++)
                        src[i] = (uint8_t)(i * 7 + n);
                memset(dst, 0xee, n + 1);
                wire_copy(dst, src, n);
                assert_memory_equal(dst, src, n);
                assert_int_equal(dst[n], 0xee); /* nothing past n */
                uint8_t *exact_src = malloc(n ? n : 1), *exact_dst = malloc(n ? n : 1);
                memcpy(exact_src, src, n);
                wire_copy(exact_dst, exact_src, n);
                assert_memory_equal(exact_dst, src, n);
                free(exact_src);
                free(exact_dst);
                free(src);
                free(dst);
        }
}

/* wire_equal() for every length, in buffers of exactly that size: equal
 * copies match, and a difference in any one byte is seen. */
static void test_wire_equal_every_length(void **state)
{
        (void)state;
        for (size_t n = 0; n <= 300; n++) {
                uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
                for (size_t i = 0; i < n; i++)
                        a[i] = b[i] = (uint8_t)(i * 13 + n);
                assert_true(wire_equal(a, b, n));
                for (size_t i = 0; i < n; i++) {
                        b[i] ^= (uint8_t)(1u << (i % 8));
                        assert_false(wire_equal(a, b, n));
                        b[i] = a[i];
                }
                free(a);
                free(b);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid_query_parses_question_and_edns),
            cmocka_unit_test(test_small_edns_payload_is_raised_to_512),
            cmocka_unit_test(test_short_header_dropped),
            cmocka_unit_test(test_response_bit_dropped),
            cmocka_unit_test(test_qdcount_0_and_2_formerr),
            cmocka_unit_test(test_answer_or_authority_records_formerr),
            cmocka_unit_test(test_compression_pointer_in_qname_formerr),
            cmocka_unit_test(test_label_over_63_formerr),
            cmocka_unit_test(test_name_over_255_formerr),
            cmocka_unit_test(test_truncated_question_formerr),
            cmocka_unit_test(test_two_opts_formerr),
            cmocka_unit_test(test_opt_with_bad_option_lengths_formerr),
            cmocka_unit_test(test_opt_rdlength_past_end_formerr),
            cmocka_unit_test(test_opt_owner_not_root_formerr),
            cmocka_unit_test(test_trailing_garbage_formerr),
            cmocka_unit_test(test_other_additional_records_are_skipped),
            cmocka_unit_test(test_edns_version_1_badvers),
            cmocka_unit_test(test_notify_and_update_notimp),
            cmocka_unit_test(test_writer_compresses_rdata_names),
            cmocka_unit_test(test_writer_rolls_back_a_set_that_does_not_fit),
            cmocka_unit_test(test_writer_finish_appends_opt_with_extended_rcode),
            cmocka_unit_test(test_wire_copy_every_length),
            cmocka_unit_test(test_wire_equal_every_length),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
