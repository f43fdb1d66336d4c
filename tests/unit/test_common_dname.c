/*
 * test_common_dname.c — the wire-name library dns/ and consensus/ share.
 *
 * Lengths of valid names and of every way a name is malformed (pointer,
 * reserved label type, over 255 bytes, running past the buffer), equality
 * and zone membership ignoring ASCII case only, lowercasing in place, and
 * the presentation form with every escape a zone file needs, cut to fit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/dname.h"

#define N(s) ((const uint8_t *)(s))

static void test_len(void **state)
{
        (void)state;
        assert_int_equal(common_dname_len(N("\0"), 1), 1);
        assert_int_equal(common_dname_len(N("\3www\7example\3com\0"), 17), 17);
        assert_int_equal(common_dname_len(N("\3www\7example\3com\0"), 16),
                         -1);                                          /* past max */
        assert_int_equal(common_dname_len(N("\3www\xc0\x0c"), 6), -1); /* pointer */
        assert_int_equal(common_dname_len(N("\x40"), 1), -1); /* reserved label type */
        uint8_t big[300];
        for (size_t i = 0; i < 4; i++) { /* four labels of 63 and the root: 257 bytes */
                big[i * 64] = 63;
                memset(big + i * 64 + 1, 'a', 63);
        }
        big[256] = 0;
        assert_int_equal(common_dname_len(big, sizeof(big)), -1);
        big[192] = 61; /* three of 63, one of 61, the root: 255 bytes */
        big[254] = 0;
        assert_int_equal(common_dname_len(big, sizeof(big)), 255);
        assert_int_equal(common_dname_labels(N("\3www\7example\3com\0")), 3);
        assert_int_equal(common_dname_labels(N("\0")), 0);
}

static void test_compare(void **state)
{
        (void)state;
        assert_true(common_dname_equal(N("\3WwW\7Example\0"), N("\3www\7example\0")));
        assert_false(common_dname_equal(N("\3www\7example\0"), N("\3www\7exampld\0")));
        /* only ASCII letters fold: 0xC0 and 0xE0 differ */
        assert_false(common_dname_equal(N("\1\xc0\0"), N("\1\xe0\0")));
        assert_true(
            common_dname_in_zone(N("\3www\7Example\3com\0"), N("\7example\3COM\0")));
        assert_true(common_dname_in_zone(N("\7example\3com\0"), N("\7example\3com\0")));
        assert_true(common_dname_in_zone(N("\3www\0"), N("\0")));
        assert_false(common_dname_in_zone(N("\3com\0"), N("\7example\3com\0")));
        assert_false(
            common_dname_in_zone(N("\12badexample\3com\0"), N("\7example\3com\0")));
}

static void test_lower(void **state)
{
        (void)state;
        uint8_t name[] = "\3WwW\7EXAMPLE\1\xc0\0";
        common_dname_lower(name);
        assert_memory_equal(name, "\3www\7example\1\xc0\0", sizeof(name));
        assert_int_equal(common_dname_lower_table['Z'], 'z');
        assert_int_equal(common_dname_lower_table['['], '[');
}

static void test_text(void **state)
{
        (void)state;
        char buf[64];
        assert_string_equal(common_dname_text(N("\0"), buf, sizeof(buf)), ".");
        assert_string_equal(common_dname_text(N("\3www\7example\0"), buf, sizeof(buf)),
                            "www.example.");
        assert_string_equal(common_dname_text(N("\3a.b\2;$\1\x01\0"), buf, sizeof(buf)),
                            "a\\.b.\\;\\$.\\001.");
        /* cut to fit, always terminated */
        assert_true(strlen(common_dname_text(N("\7example\3com\0"), buf, 8)) < 8);
        assert_int_equal(strncmp(buf, "exa", 3), 0);
        assert_int_equal(strlen(common_dname_text(N("\7example\3com\0"), buf, 1)), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_len),
            cmocka_unit_test(test_compare),
            cmocka_unit_test(test_lower),
            cmocka_unit_test(test_text),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
