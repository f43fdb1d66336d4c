/*
 * test_dns_name.c — wire-form names and lookup keys.
 *
 * Checks dns_lname_from_wire() (lowercasing, label offsets, suffix hashes
 * that chain label by label, and rejection of pointers, long labels, long
 * names and truncated input), and the helpers on uncompressed names:
 * length, label count, case-insensitive equality, zone membership,
 * lowercasing, presentation form, and dns_name_from_text().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/name.h"
#include "dns/zonefile.h"

static void wire_of(const char *text, uint8_t *wire)
{
        assert_int_equal(dns_name_from_text(text, wire), 0);
}

static void test_lname_lowercases_and_records_label_offsets(void **state)
{
        uint8_t wire[256];
        wire_of("WwW.Example.COM.", wire);
        struct dns_lname n;
        assert_int_equal(dns_lname_from_wire(&n, wire, sizeof(wire)), 17);
        assert_int_equal(n.len, 17);
        assert_int_equal(n.nlabels, 3);
        assert_memory_equal(n.wire, "\3www\7example\3com", 17);
        assert_int_equal(n.off[0], 0);
        assert_int_equal(n.off[1], 4);
        assert_int_equal(n.off[2], 12);
        assert_int_equal(n.off[3], 16);
        /* The original keeps its case. */
        assert_memory_equal(wire, "\3WwW", 4);
}

static void test_lname_suffix_hashes_chain_label_hashes(void **state)
{
        uint8_t wire[256];
        wire_of("a.b.c.", wire);
        struct dns_lname n;
        assert_true(dns_lname_from_wire(&n, wire, sizeof(wire)) > 0);
        assert_int_equal(n.hash[3], dns_name_root_hash());
        for (int i = 2; i >= 0; i--)
                assert_int_equal(n.hash[i],
                                 dns_name_label_hash(n.hash[i + 1], &n.wire[n.off[i]]));
        /* The suffix hash of a name equals the full hash of that suffix. */
        uint8_t suffix[256];
        wire_of("B.C.", suffix);
        struct dns_lname s;
        assert_true(dns_lname_from_wire(&s, suffix, sizeof(suffix)) > 0);
        assert_int_equal(s.hash[0], n.hash[1]);
}

static void test_star_hash_is_the_label_hash_of_star(void **state)
{
        (void)state;
        const uint8_t star[] = {1, '*'};
        uint8_t wire[256];
        wire_of("*.wild.example.", wire);
        struct dns_lname n;
        assert_true(dns_lname_from_wire(&n, wire, sizeof(wire)) > 0);
        assert_int_equal(dns_name_star_hash(n.hash[1]), n.hash[0]);
        for (uint64_t parent = 0; parent < 1000; parent++)
                assert_int_equal(
                    dns_name_star_hash(parent * 0x9e3779b97f4a7c15ULL),
                    dns_name_label_hash(parent * 0x9e3779b97f4a7c15ULL, star));
}

/* Every length up to past the word-at-a-time limit, in buffers of exactly
 * that size (ASan sees a read outside): equal whatever the case of the
 * first, unequal when any one byte differs after lowercasing. */
static void test_equal_lowered_agrees_with_the_table(void **state)
{
        (void)state;
        uint32_t seed = 777;
        for (size_t n = 0; n <= 80; n++) {
                uint8_t *any = malloc(n + (n == 0)), *lower = malloc(n + (n == 0));
                for (unsigned round = 0; round < 50; round++) {
                        for (size_t i = 0; i < n; i++) {
                                seed = seed * 1103515245u + 12345u;
                                any[i] = (uint8_t)(seed >> 16);
                                if (round % 2 == 0) /* mostly letters, either case */
                                        any[i] = (uint8_t)((seed >> 24) % 26 +
                                                           ((seed >> 8) & 1 ? 'a' : 'A'));
                                lower[i] = common_dname_lower_table[any[i]];
                        }
                        assert_true(dns_equal_lowered(any, lower, n));
                        for (size_t i = 0; i < n; i++) {
                                uint8_t saved = lower[i];
                                lower[i] = (uint8_t)(saved ^ (1u << (round % 8)));
                                assert_false(dns_equal_lowered(any, lower, n));
                                lower[i] = saved;
                        }
                }
                free(any);
                free(lower);
        }
}

static void test_label_hash_ignores_case(void **state)
{
        const uint8_t lower[] = {3, 'a', 'b', 'c'}, upper[] = {3, 'A', 'B', 'C'};
        assert_int_equal(dns_name_label_hash(1, lower), dns_name_label_hash(1, upper));
        assert_int_not_equal(dns_name_label_hash(1, lower),
                             dns_name_label_hash(2, lower));
}

/*
 * Every byte value in every position of labels of every length: the
 * word-at-a-time lowercasing must agree with the byte table, and names that
 * differ only in the case of ASCII letters must hash alike.
 */
static void test_lname_lowercases_every_byte_like_the_table(void **state)
{
        uint32_t seed = 12345;
        for (unsigned round = 0; round < 2000; round++) {
                uint8_t wire[256], upper[256];
                size_t pos = 0;
                unsigned labels = 1 + round % 5;
                for (unsigned l = 0; l < labels; l++) {
                        unsigned len = 1 + (round * 7 + l * 13) % 40;
                        wire[pos++] = (uint8_t)len;
                        for (unsigned i = 0; i < len; i++) {
                                seed = seed * 1103515245u + 12345u;
                                wire[pos++] = (uint8_t)(seed >> 16);
                        }
                }
                wire[pos++] = 0;
                memcpy(upper, wire, pos);
                for (size_t i = 0; i < pos; i++)
                        if (upper[i] >= 'a' && upper[i] <= 'z' && i > 0)
                                upper[i] = (uint8_t)(upper[i] - 32);
                /* keep the length bytes: redo the label structure */
                for (size_t i = 0; wire[i] != 0; i += 1 + wire[i])
                        upper[i] = wire[i];
                struct dns_lname a, b;
                assert_int_equal(dns_lname_from_wire(&a, wire, pos), (int)pos);
                assert_int_equal(dns_lname_from_wire(&b, upper, pos), (int)pos);
                for (size_t i = 0; i < pos; i++) {
                        int is_length = 0;
                        for (unsigned k = 0; k <= a.nlabels; k++)
                                is_length |= a.off[k] == i;
                        assert_int_equal(a.wire[i],
                                         is_length ? wire[i]
                                                   : common_dname_lower_table[wire[i]]);
                }
                assert_memory_equal(a.wire, b.wire, pos);
                for (unsigned k = 0; k <= a.nlabels; k++)
                        assert_int_equal(a.hash[k], b.hash[k]);
                for (int k = (int)a.nlabels - 1; k >= 0; k--)
                        assert_int_equal(a.hash[k], dns_name_label_hash(a.hash[k + 1],
                                                                        &wire[a.off[k]]));
        }
}

static void test_lname_root_name(void **state)
{
        const uint8_t root[] = {0};
        struct dns_lname n;
        assert_int_equal(dns_lname_from_wire(&n, root, 1), 1);
        assert_int_equal(n.nlabels, 0);
        assert_int_equal(n.len, 1);
}

static void test_lname_rejects_compression_pointer(void **state)
{
        const uint8_t wire[] = {1, 'a', 0xc0, 12};
        struct dns_lname n;
        assert_int_equal(dns_lname_from_wire(&n, wire, sizeof(wire)), -1);
}

static void test_lname_rejects_label_over_63(void **state)
{
        uint8_t wire[70] = {64};
        memset(wire + 1, 'a', 64);
        wire[65] = 0;
        struct dns_lname n;
        assert_int_equal(dns_lname_from_wire(&n, wire, sizeof(wire)), -1);
        wire[0] = 63;
        wire[64] = 0;
        assert_int_equal(dns_lname_from_wire(&n, wire, sizeof(wire)), 65);
}

/* A name of `total` wire bytes made of 63-byte labels and a shorter last one. */
static size_t long_name(uint8_t *wire, size_t total)
{
        size_t pos = 0;
        while (total - pos - 1 > 0) {
                size_t room = total - pos - 1; /* bytes before the root */
                size_t len = room - 1 > 63 ? 63 : room - 1;
                if (room - (len + 1) == 1)
                        len--; /* never leave a single byte: it cannot be a label */
                wire[pos] = (uint8_t)len;
                memset(wire + pos + 1, 'x', len);
                pos += 1 + len;
        }
        wire[pos] = 0;
        return pos + 1;
}

static void test_lname_accepts_255_and_rejects_256_bytes(void **state)
{
        uint8_t wire[300];
        struct dns_lname n;
        assert_int_equal(long_name(wire, 255), 255);
        assert_int_equal(dns_lname_from_wire(&n, wire, sizeof(wire)), 255);
        assert_int_equal(dns_name_wire_len(wire, sizeof(wire)), 255);
        assert_int_equal(long_name(wire, 256), 256);
        assert_int_equal(dns_lname_from_wire(&n, wire, sizeof(wire)), -1);
        assert_int_equal(dns_name_wire_len(wire, sizeof(wire)), -1);
}

static void test_lname_accepts_127_single_byte_labels(void **state)
{
        uint8_t wire[256];
        for (int i = 0; i < 127; i++) {
                wire[2 * i] = 1;
                wire[2 * i + 1] = 'a';
        }
        wire[254] = 0;
        struct dns_lname n;
        assert_int_equal(dns_lname_from_wire(&n, wire, sizeof(wire)), 255);
        assert_int_equal(n.nlabels, 127);
        assert_int_equal(dns_name_labels(wire), 127);
}

static void test_lname_rejects_truncated_input(void **state)
{
        const uint8_t wire[] = {3, 'w', 'w', 'w', 0};
        struct dns_lname n;
        for (size_t max = 0; max < sizeof(wire); max++)
                assert_int_equal(dns_lname_from_wire(&n, wire, max), -1);
        assert_int_equal(dns_lname_from_wire(&n, wire, sizeof(wire)), 5);
        assert_int_equal(dns_name_wire_len(wire, 4), -1);
        assert_int_equal(dns_name_wire_len(wire, 5), 5);
}

static void test_equal_is_case_insensitive_and_exact_on_length(void **state)
{
        uint8_t a[256], b[256], c[256];
        wire_of("Mail.Example.com.", a);
        wire_of("mail.EXAMPLE.COM.", b);
        wire_of("mail.example.co.", c);
        assert_true(dns_name_equal(a, b));
        assert_false(dns_name_equal(a, c));
}

static void test_in_zone_accepts_apex_and_below_only(void **state)
{
        uint8_t zone[256], apex[256], below[256], sibling[256], tricky[256],
            root[1] = {0};
        wire_of("example.com.", zone);
        wire_of("EXAMPLE.com.", apex);
        wire_of("a.b.example.com.", below);
        wire_of("example.net.", sibling);
        wire_of("xexample.com.", tricky);
        assert_true(dns_name_in_zone(apex, zone));
        assert_true(dns_name_in_zone(below, zone));
        assert_false(dns_name_in_zone(sibling, zone));
        assert_false(dns_name_in_zone(tricky, zone));
        assert_false(dns_name_in_zone(root, zone));
        assert_true(dns_name_in_zone(below, root));
}

static void test_lower_lowercases_in_place(void **state)
{
        uint8_t w[256];
        wire_of("AbC.DeF.", w);
        dns_name_lower(w);
        assert_memory_equal(w, "\3abc\3def", 9);
}

static void test_to_text_escapes_special_bytes(void **state)
{
        const uint8_t w[] = {5, 'a', '.', 'b', ' ', 0xff, 3, 'c', 'o', 'm', 0};
        char buf[64];
        assert_string_equal(dns_name_to_text(w, buf, sizeof(buf)),
                            "a\\.b\\032\\255.com.");
        const uint8_t root[] = {0};
        assert_string_equal(dns_name_to_text(root, buf, sizeof(buf)), ".");
        /* A small buffer truncates but stays terminated. */
        char small[6];
        dns_name_to_text(w, small, sizeof(small));
        assert_true(strlen(small) < sizeof(small));
}

static void test_name_from_text_parses_escapes(void **state)
{
        uint8_t w[256];
        assert_int_equal(dns_name_from_text("a\\.b.c.", w), 0);
        assert_memory_equal(w, "\3a.b\1c", 7);
        assert_int_equal(dns_name_from_text("\\065.", w), 0);
        assert_memory_equal(w, "\1A", 3);
        char bad[80];
        memset(bad, 'a', 64);
        strcpy(bad + 64, ".com.");
        assert_int_not_equal(dns_name_from_text(bad, w), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_lname_lowercases_and_records_label_offsets),
            cmocka_unit_test(test_lname_suffix_hashes_chain_label_hashes),
            cmocka_unit_test(test_star_hash_is_the_label_hash_of_star),
            cmocka_unit_test(test_equal_lowered_agrees_with_the_table),
            cmocka_unit_test(test_label_hash_ignores_case),
            cmocka_unit_test(test_lname_lowercases_every_byte_like_the_table),
            cmocka_unit_test(test_lname_root_name),
            cmocka_unit_test(test_lname_rejects_compression_pointer),
            cmocka_unit_test(test_lname_rejects_label_over_63),
            cmocka_unit_test(test_lname_accepts_255_and_rejects_256_bytes),
            cmocka_unit_test(test_lname_accepts_127_single_byte_labels),
            cmocka_unit_test(test_lname_rejects_truncated_input),
            cmocka_unit_test(test_equal_is_case_insensitive_and_exact_on_length),
            cmocka_unit_test(test_in_zone_accepts_apex_and_below_only),
            cmocka_unit_test(test_lower_lowercases_in_place),
            cmocka_unit_test(test_to_text_escapes_special_bytes),
            cmocka_unit_test(test_name_from_text_parses_escapes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
