/*
 * test_tools_quorumctl_chunker.c — quorumctl's master-file chunker on tricky
 * files: parentheses over lines, quotes holding ';' and '(', relative
 * $ORIGIN, blank owners and TTL-less records at a chunk boundary, RRset runs,
 * CRLF, the byte limit, and syntax errors reported with their line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/quorumctl/chunker.h"

/* ---- chunker ---------------------------------------------------------- */

#define MAX_CHUNKS 16

struct chunks {
        size_t n;
        struct quorumctl_chunk c[MAX_CHUNKS];
};

/* Splits text; asserts success.  Free with free_chunks. */
static void split(const char *text, const char *zone, size_t max, struct chunks *out)
{
        struct quorumctl_chunker ch;
        memset(out, 0, sizeof(*out));
        assert_int_equal(quorumctl_chunker_init(&ch, text, strlen(text), zone, max, 0),
                         0);
        int rc;
        while ((rc = quorumctl_chunker_next(&ch, &out->c[out->n])) == 1) {
                out->n++;
                assert_true(out->n < MAX_CHUNKS);
        }
        if (rc != 0)
                fprintf(stderr, "chunker: line %u: %s\n", ch.error_line, ch.error);
        assert_int_equal(rc, 0);
        quorumctl_chunker_free(&ch);

        size_t counted = 0, sum = 0;
        unsigned line;
        char err[256];
        assert_int_equal(quorumctl_chunker_count(text, strlen(text), zone, &counted,
                                                 &line, err, sizeof(err)),
                         0);
        for (size_t i = 0; i < out->n; i++)
                sum += out->c[i].records;
        assert_int_equal(counted, sum);
}

static void free_chunks(struct chunks *c)
{
        for (size_t i = 0; i < c->n; i++)
                quorumctl_chunk_free(&c->c[i]);
}

/* Expects a syntax error at line. */
static void split_fails(const char *text, unsigned line, const char *what)
{
        struct quorumctl_chunker ch;
        struct quorumctl_chunk chunk;
        assert_int_equal(
            quorumctl_chunker_init(&ch, text, strlen(text), "example.com", 2, 0), 0);
        int rc;
        while ((rc = quorumctl_chunker_next(&ch, &chunk)) == 1)
                quorumctl_chunk_free(&chunk);
        assert_int_equal(rc, -EINVAL);
        assert_int_equal(ch.error_line, line);
        assert_non_null(strstr(ch.error, what));
        quorumctl_chunker_free(&ch);

        size_t records;
        unsigned eline = 0;
        char err[256];
        assert_int_equal(quorumctl_chunker_count(text, strlen(text), "example.com",
                                                 &records, &eline, err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(eline, line);
        assert_non_null(strstr(err, what));
}

static void chunker_splits_at_record_boundaries(void **state)
{
        struct chunks c;
        split(
            "a A 192.0.2.1\nb A 192.0.2.2\nc A 192.0.2.3\nd A 192.0.2.4\ne A 192.0.2.5\n",
            "example.com", 2, &c);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.c[0].records, 2);
        assert_int_equal(c.c[1].records, 2);
        assert_int_equal(c.c[2].records, 1);
        /* The first chunk is the file's own text: no header, same lines. */
        assert_string_equal(c.c[0].text, "a A 192.0.2.1\nb A 192.0.2.2\n");
        assert_int_equal(c.c[0].header_lines, 0);
        assert_string_equal(c.c[1].text,
                            "$ORIGIN example.com.\nc A 192.0.2.3\nd A 192.0.2.4\n");
        assert_int_equal(c.c[1].header_lines, 1);
        assert_int_equal(c.c[1].first_line, 3);
        assert_int_equal(c.c[1].last_line, 4);
        assert_string_equal(c.c[2].text, "$ORIGIN example.com.\ne A 192.0.2.5\n");
        assert_int_equal(c.c[2].first_line, 5);
        free_chunks(&c);
}

static void chunker_keeps_parenthesised_entries_whole(void **state)
{
        const char *text = "@ 3600 IN SOA ns1 hostmaster ( ; serial follows\n"
                           "    2024010101 ; serial ) with a paren in the comment\n"
                           "    7200 3600\n"
                           "    1209600 300 )\n"
                           "@ NS ns1\n"
                           "txt TXT \"a ; not a comment ( nor a paren\" \"x\\\"y\"\n"
                           "txt2 TXT ( \"multi\"\n"
                           "  \"line\" )\n";
        struct chunks c;
        split(text, "example.com.", 1, &c);
        assert_int_equal(c.n, 4);
        assert_int_equal(c.c[0].records, 1);
        assert_int_equal(c.c[0].first_line, 1);
        assert_int_equal(c.c[0].last_line, 4);
        assert_non_null(strstr(c.c[0].text, "1209600 300 )\n"));
        assert_null(strstr(c.c[0].text, "NS"));
        assert_string_equal(c.c[2].text,
                            "$ORIGIN example.com.\ntxt 3600 TXT \"a ; not a comment "
                            "( nor a paren\" \"x\\\"y\"\n");
        assert_string_equal(c.c[3].text,
                            "$ORIGIN example.com.\ntxt2 3600 TXT ( \"multi\"\n"
                            "  \"line\" )\n");
        assert_int_equal(c.c[3].first_line, 7);
        assert_int_equal(c.c[3].last_line, 8);
        free_chunks(&c);
}

static void chunker_repeats_origin_and_ttl(void **state)
{
        const char *text = "$TTL 1h\n"
                           "a A 192.0.2.1\n"
                           "$ORIGIN sub\n" /* relative: sub.example.com. */
                           "b A 192.0.2.2\n"
                           "$ORIGIN deeper\n"
                           "$TTL 300\n"
                           "c A 192.0.2.3\n";
        struct chunks c;
        split(text, "example.com", 1, &c);
        assert_int_equal(c.n, 3);
        assert_string_equal(c.c[0].text, "$TTL 1h\na A 192.0.2.1\n$ORIGIN sub\n");
        assert_string_equal(c.c[1].text,
                            "$ORIGIN sub.example.com.\n$TTL 1h\nb A 192.0.2.2\n"
                            "$ORIGIN deeper\n$TTL 300\n");
        assert_int_equal(c.c[1].header_lines, 2);
        assert_string_equal(c.c[2].text,
                            "$ORIGIN deeper.sub.example.com.\n$TTL 300\nc A 192.0.2.3\n");
        free_chunks(&c);
}

static void chunker_gives_blank_owner_the_previous_owner(void **state)
{
        const char *text = "www 300 IN A 192.0.2.1\n"
                           "$ORIGIN other.org.\n"
                           "    300 IN AAAA 2001:db8::1\n" /* still www.example.com. */
                           "\tIN TXT \"x\"\n";
        struct chunks c;
        split(text, "example.com", 1, &c);
        assert_int_equal(c.n, 3);
        assert_string_equal(c.c[1].text, "$ORIGIN other.org.\n"
                                         "www.example.com.    300 IN AAAA 2001:db8::1\n");
        /* Without $TTL, the TTL-less record gets the last explicit TTL. */
        assert_string_equal(c.c[2].text, "$ORIGIN other.org.\n"
                                         "www.example.com. 300\tIN TXT \"x\"\n");
        free_chunks(&c);
}

static void chunker_adds_last_ttl_only_without_ttl_directive(void **state)
{
        const char *text = "a 600 A 192.0.2.1\n"
                           "b A 192.0.2.2\n"
                           "$TTL 60\n"
                           "c A 192.0.2.3\n"
                           "d A 192.0.2.4\n";
        struct chunks c;
        split(text, "example.com", 1, &c);
        assert_int_equal(c.n, 4);
        assert_string_equal(c.c[1].text,
                            "$ORIGIN example.com.\nb 600 A 192.0.2.2\n$TTL 60\n");
        assert_string_equal(c.c[2].text,
                            "$ORIGIN example.com.\n$TTL 60\nc A 192.0.2.3\n");
        free_chunks(&c);
}

static void chunker_does_not_split_an_rrset_run(void **state)
{
        const char *text = "a A 192.0.2.1\n"
                           "a A 192.0.2.2\n"
                           "  A 192.0.2.3\n"
                           "A.example.com. A 192.0.2.4\n" /* same set, other spelling */
                           "a AAAA 2001:db8::1\n"
                           "b A 192.0.2.5\n";
        struct chunks c;
        split(text, "example.com", 2, &c);
        assert_int_equal(c.n, 2);
        assert_int_equal(c.c[0].records, 4); /* the A run goes past the limit of 2 */
        assert_int_equal(c.c[1].records, 2);
        free_chunks(&c);
}

static void chunker_handles_crlf_escapes_and_missing_final_newline(void **state)
{
        const char *text = "a\\. A 192.0.2.1\r\n"
                           "b IN 300 A 192.0.2.2\r\n"
                           "\r\n"
                           "; comment only\r\n"
                           "\t AAAA 2001:db8::1";
        struct chunks c;
        split(text, "example.com", 1, &c);
        assert_int_equal(c.n, 3);
        /* "a\." is relative: the escaped dot is part of the label. */
        assert_int_equal(c.c[1].first_line, 2);
        assert_int_equal(c.c[1].last_line, 4);
        /* "IN 300": a TTL after the class still counts as the last TTL. */
        assert_string_equal(c.c[2].text,
                            "$ORIGIN example.com.\nb.example.com. 300\t AAAA "
                            "2001:db8::1");
        assert_int_equal(c.c[2].first_line, 5);
        assert_int_equal(c.c[2].last_line, 5);
        free_chunks(&c);

        split("a\\. A 192.0.2.1\nb\\.c\\\\. A 192.0.2.2\n  TXT x\n", "example.com", 1,
              &c);
        assert_int_equal(c.n, 3);
        /* "b\.c\\." ends with an escaped backslash then a real dot: absolute. */
        assert_string_equal(c.c[2].text, "$ORIGIN example.com.\nb\\.c\\\\.  TXT x\n");
        free_chunks(&c);
}

static void chunker_puts_trailing_directives_in_the_last_chunk(void **state)
{
        struct chunks c;
        split("a A 192.0.2.1\nb A 192.0.2.2\n; the end\n$TTL 5\n\n", "example.com", 2,
              &c);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.c[0].records, 2);
        assert_string_equal(c.c[0].text,
                            "a A 192.0.2.1\nb A 192.0.2.2\n; the end\n$TTL 5\n\n");
        free_chunks(&c);
}

static void chunker_gives_one_chunk_for_a_file_without_records(void **state)
{
        struct chunks c;
        split("", "example.com", 2, &c);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.c[0].records, 0);
        assert_string_equal(c.c[0].text, "");
        free_chunks(&c);
        split("; nothing\n$TTL 300\n", "example.com", 2, &c);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.c[0].records, 0);
        free_chunks(&c);
}

static void chunker_respects_the_byte_limit(void **state)
{
        struct quorumctl_chunker ch;
        const char *text = "a A 192.0.2.1\nb A 192.0.2.2\nc A 192.0.2.3\n";
        struct quorumctl_chunk chunk;
        assert_int_equal(
            quorumctl_chunker_init(&ch, text, strlen(text), "example.com", 100, 20), 0);
        size_t n = 0;
        while (quorumctl_chunker_next(&ch, &chunk) == 1) {
                assert_int_equal(chunk.records, 1);
                quorumctl_chunk_free(&chunk);
                n++;
        }
        assert_int_equal(n, 3);
        quorumctl_chunker_free(&ch);
}

static void chunker_reports_syntax_errors_with_their_line(void **state)
{
        split_fails("a A 192.0.2.1\n@ SOA ns1 host (\n 1 2 3\n 4 5\n", 2,
                    "'(' without ')'");
        split_fails("a A 192.0.2.1\nb A 192.0.2.2 )\n", 2, "')' without '('");
        split_fails("a A 192.0.2.1\n\nt TXT \"open\nb A 192.0.2.2\n", 3, "closing quote");
        split_fails("a A 192.0.2.1\n$INCLUDE other.zone\n", 2, "$INCLUDE");
        split_fails("$ORIGIN\n", 1, "needs a value");
}

static void chunker_counts_generate_as_a_record(void **state)
{
        struct chunks c;
        split("$GENERATE 1-10 host$ A 192.0.2.$\nx A 192.0.2.1\n", "example.com", 1, &c);
        assert_int_equal(c.n, 2);
        assert_int_equal(c.c[0].records, 1);
        free_chunks(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(chunker_splits_at_record_boundaries),
            cmocka_unit_test(chunker_keeps_parenthesised_entries_whole),
            cmocka_unit_test(chunker_repeats_origin_and_ttl),
            cmocka_unit_test(chunker_gives_blank_owner_the_previous_owner),
            cmocka_unit_test(chunker_adds_last_ttl_only_without_ttl_directive),
            cmocka_unit_test(chunker_does_not_split_an_rrset_run),
            cmocka_unit_test(chunker_handles_crlf_escapes_and_missing_final_newline),
            cmocka_unit_test(chunker_puts_trailing_directives_in_the_last_chunk),
            cmocka_unit_test(chunker_gives_one_chunk_for_a_file_without_records),
            cmocka_unit_test(chunker_respects_the_byte_limit),
            cmocka_unit_test(chunker_reports_syntax_errors_with_their_line),
            cmocka_unit_test(chunker_counts_generate_as_a_record),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
