/*
 * test_node_http_response.c — the relay's HTTP/1.1 response parser.
 *
 * Feeds node_http_response_parse() what a leader (or something posing as
 * one) can send: complete and partial Content-Length answers, chunked
 * bodies split anywhere, a chunk size near 2^64 that once overflowed the
 * pointer arithmetic (the parser must compare sizes and ask for more or
 * refuse), malformed heads, answers cut short by the close, and answers
 * without a body (to HEAD, 1xx, 204, 304: RFC 9112 section 6.3).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/http_response.h"

/* Parses a copy of text (so in-place decoding cannot touch the literal). */
static int parse(const char *text, size_t len, bool eof, struct node_http_response *out,
                 char **copy)
{
        *copy = malloc(len + 1);
        memcpy(*copy, text, len);
        (*copy)[len] = '\0';
        return node_http_response_parse(*copy, len, eof, false, out);
}

/* The same for the answer to a HEAD request. */
static int parse_head(const char *text, size_t len, bool eof,
                      struct node_http_response *out, char **copy)
{
        *copy = malloc(len + 1);
        memcpy(*copy, text, len);
        (*copy)[len] = '\0';
        return node_http_response_parse(*copy, len, eof, true, out);
}

#define PARSE(text, eof, out, copy) parse(text, sizeof(text) - 1, eof, out, copy)

static void test_content_length_answer_is_complete_when_all_bytes_arrived(void **state)
{
        static const char text[] =
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
            "Content-Length: 7\r\n\r\n{\"a\":1}";
        struct node_http_response res;
        char *copy;
        /* Every prefix asks for more; the whole answer is complete. */
        for (size_t n = 0; n < sizeof(text) - 1; n++) {
                assert_int_equal(parse(text, n, false, &res, &copy), 0);
                free(copy);
        }
        assert_int_equal(PARSE(text, false, &res, &copy), 1);
        assert_int_equal(res.status, 201);
        assert_string_equal(res.content_type, "application/json");
        assert_int_equal(res.body_len, 7);
        assert_memory_equal(res.body, "{\"a\":1}", 7);
        free(copy);
}

static void test_chunked_body_is_decoded_once_complete(void **state)
{
        static const char text[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\n";
        struct node_http_response res;
        char *copy;
        for (size_t n = 0; n < sizeof(text) - 1; n++) {
                assert_int_equal(parse(text, n, false, &res, &copy), 0);
                free(copy);
        }
        assert_int_equal(PARSE(text, false, &res, &copy), 1);
        assert_int_equal(res.status, 200);
        assert_int_equal(res.body_len, 9);
        assert_memory_equal(res.body, "Wikipedia", 9);
        free(copy);
}

/* The attack on the relay: a chunk size the buffer cannot hold.  The old
 * parser formed data + size (undefined, wrapping) and could read outside. */
static void test_huge_chunk_size_asks_for_more_or_is_refused(void **state)
{
        static const char wrap[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "fffffffffffffff0\r\nab\r\n0\r\n\r\n";
        static const char big[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "fffffffffffff\r\nab\r\n0\r\n\r\n";
        struct node_http_response res;
        char *copy;
        assert_int_equal(PARSE(wrap, false, &res, &copy), -EPROTO); /* > 15 digits */
        free(copy);
        assert_int_equal(PARSE(big, false, &res, &copy), 0); /* waits for the data */
        free(copy);
        assert_int_equal(PARSE(big, true, &res, &copy), -EPROTO); /* never comes */
        free(copy);
}

static void test_chunk_without_crlf_after_data_is_refused(void **state)
{
        static const char text[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "2\r\nabXY0\r\n\r\n";
        struct node_http_response res;
        char *copy;
        assert_int_equal(PARSE(text, false, &res, &copy), -EPROTO);
        free(copy);
}

static void test_malformed_heads_are_refused(void **state)
{
        static const char *const bad[] = {
            "HTTP/2 200 OK\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 099 Low\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "garbage\r\n\r\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct node_http_response res;
                char *copy;
                assert_int_equal(parse(bad[i], strlen(bad[i]), false, &res, &copy),
                                 -EPROTO);
                free(copy);
        }
}

static void test_close_decides_length_free_and_short_answers(void **state)
{
        static const char open_ended[] = "HTTP/1.0 503 Busy\r\n\r\nlater";
        static const char short_cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        struct node_http_response res;
        char *copy;
        assert_int_equal(PARSE(open_ended, false, &res, &copy), 0);
        free(copy);
        assert_int_equal(PARSE(open_ended, true, &res, &copy), 1);
        assert_int_equal(res.status, 503);
        assert_int_equal(res.body_len, 5);
        free(copy);
        assert_int_equal(PARSE(short_cl, true, &res, &copy), -EPROTO);
        free(copy);
        assert_int_equal(node_http_response_parse(NULL, 0, true, false, &res),
                         -ECONNRESET);
        assert_int_equal(node_http_response_parse(NULL, 0, false, false, &res), 0);
}

static void test_body_with_nul_bytes_is_kept_whole(void **state)
{
        static const char text[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na\0b";
        struct node_http_response res;
        char *copy;
        assert_int_equal(PARSE(text, false, &res, &copy), 1);
        assert_int_equal(res.body_len, 3);
        assert_memory_equal(res.body, "a\0b", 3);
        free(copy);
}

/* Whether the connection can carry another request (keep-alive). */
static void test_reusable_only_when_framed_and_not_closing(void **state)
{
        struct node_http_response res;
        char *copy;
        static const char length[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_int_equal(PARSE(length, false, &res, &copy), 1);
        assert_true(res.reusable);
        free(copy);
        static const char chunked[] =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "2\r\n{}\r\n0\r\n\r\n";
        assert_int_equal(PARSE(chunked, false, &res, &copy), 1);
        assert_true(res.reusable);
        free(copy);
        static const char closing[] =
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}";
        assert_int_equal(PARSE(closing, false, &res, &copy), 1);
        assert_false(res.reusable);
        free(copy);
        static const char old[] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_int_equal(PARSE(old, false, &res, &copy), 1);
        assert_false(res.reusable);
        free(copy);
        /* bytes after the answer: the stream is out of step */
        static const char extra[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}XY";
        assert_int_equal(PARSE(extra, false, &res, &copy), 1);
        assert_false(res.reusable);
        free(copy);
        static const char chunked_extra[] =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP";
        assert_int_equal(PARSE(chunked_extra, false, &res, &copy), 1);
        assert_false(res.reusable);
        free(copy);
        /* delimited by the close */
        static const char unframed[] = "HTTP/1.1 200 OK\r\n\r\n{}";
        assert_int_equal(PARSE(unframed, true, &res, &copy), 1);
        assert_false(res.reusable);
        free(copy);
}

/* RFC 9112 section 6.3: an answer to HEAD, a 204 and a 304 end at their
 * head whatever their header fields say, and are complete (and reusable)
 * before the close; an interim 1xx answer ends at its head and the final
 * one follows. */
static void test_answers_without_a_body_end_at_their_head(void **state)
{
        struct node_http_response res;
        char *copy;
        static const char to_head[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";
        assert_int_equal(parse_head(to_head, sizeof(to_head) - 1, false, &res, &copy), 1);
        assert_int_equal(res.status, 200);
        assert_int_equal(res.body_len, 0);
        assert_true(res.reusable);
        free(copy);
        static const char chunked_head[] =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_int_equal(
            parse_head(chunked_head, sizeof(chunked_head) - 1, false, &res, &copy), 1);
        assert_true(res.reusable);
        free(copy);
        static const char no_content[] = "HTTP/1.1 204 No Content\r\n\r\n";
        assert_int_equal(PARSE(no_content, false, &res, &copy), 1);
        assert_int_equal(res.status, 204);
        assert_int_equal(res.body_len, 0);
        assert_true(res.reusable);
        free(copy);
        static const char not_modified[] =
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n";
        assert_int_equal(PARSE(not_modified, false, &res, &copy), 1);
        assert_int_equal(res.status, 304);
        assert_int_equal(res.body_len, 0);
        assert_true(res.reusable);
        free(copy);
        /* bytes after a bodyless answer: out of step, not reusable */
        static const char extra[] = "HTTP/1.1 204 No Content\r\n\r\n{}";
        assert_int_equal(PARSE(extra, false, &res, &copy), 1);
        assert_false(res.reusable);
        free(copy);
        static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                      "HTTP/1.1 102 Processing\r\n\r\n"
                                      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_int_equal(PARSE(interim, false, &res, &copy), 1);
        assert_int_equal(res.status, 200);
        assert_int_equal(res.body_len, 2);
        assert_memory_equal(res.body, "{}", 2);
        assert_true(res.reusable);
        free(copy);
        static const char interim_only[] = "HTTP/1.1 100 Continue\r\n\r\n";
        assert_int_equal(PARSE(interim_only, false, &res, &copy), 0);
        free(copy);
        assert_int_equal(PARSE(interim_only, true, &res, &copy), -EPROTO);
        free(copy);
        static const char switching[] = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
        assert_int_equal(PARSE(switching, false, &res, &copy), -EPROTO);
        free(copy);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(
                test_content_length_answer_is_complete_when_all_bytes_arrived),
            cmocka_unit_test(test_chunked_body_is_decoded_once_complete),
            cmocka_unit_test(test_huge_chunk_size_asks_for_more_or_is_refused),
            cmocka_unit_test(test_chunk_without_crlf_after_data_is_refused),
            cmocka_unit_test(test_malformed_heads_are_refused),
            cmocka_unit_test(test_close_decides_length_free_and_short_answers),
            cmocka_unit_test(test_body_with_nul_bytes_is_kept_whole),
            cmocka_unit_test(test_reusable_only_when_framed_and_not_closing),
            cmocka_unit_test(test_answers_without_a_body_end_at_their_head),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
