/*
 * test_dns_cookie.c — DNS cookies (dns/cookie.c) and the COOKIE option in
 * the parser and the writer (dns/packet.c).
 *
 * The server cookies are checked byte for byte against RFC 9018 Appendix
 * A: learning a cookie (A.1), the same client renewing it (A.2), another
 * client (A.3) and an IPv6 client whose cookie was made with the previous
 * secret (A.4).  Then: which cookies are accepted (age, future, address,
 * secret, version), what is echoed and what is renewed, the secrets'
 * sequence-counted copy, option lengths the parser rejects (FORMERR), a
 * cookie-only query (RFC 7873 §5.4), the option in a response, and the
 * secrets file's text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "dns/cookie.h"
#include "dns/wire.h"

static void unhex(const char *hex, uint8_t *out)
{
        for (size_t i = 0; hex[2 * i] != '\0'; i++) {
                unsigned v;
                sscanf(hex + 2 * i, "%2x", &v);
                out[i] = (uint8_t)v;
        }
}

static struct dns_client_addr addr(const char *text)
{
        struct dns_client_addr a = {0};
        if (inet_pton(AF_INET, text, a.bytes) == 1) {
                a.family = AF_INET;
                a.len = 4;
        } else {
                assert_int_equal(inet_pton(AF_INET6, text, a.bytes), 1);
                a.family = AF_INET6;
                a.len = 16;
        }
        return a;
}

static struct dns_cookie_keys keys_of(const char *first, const char *second)
{
        struct dns_cookie_keys k = {.count = 1};
        unhex(first, k.key[0]);
        if (second != NULL) {
                unhex(second, k.key[1]);
                k.count = 2;
        }
        return k;
}

/* A query for example.com/A whose OPT holds `option` (code 10) of len bytes. */
static size_t query_with_cookie(uint8_t *buf, const uint8_t *option, size_t len)
{
        static const uint8_t head[] = {0xe0, 0x3e, 0,   0,   0,   1,   0,   0,   0,   0,
                                       0,    1,    7,   'e', 'x', 'a', 'm', 'p', 'l', 'e',
                                       3,    'c',  'o', 'm', 0,   0,   1,   0,   1};
        size_t n = sizeof(head);
        memcpy(buf, head, n);
        buf[n++] = 0; /* OPT owner: root */
        wire_put16(buf + n, DNS_TYPE_OPT);
        wire_put16(buf + n + 2, 4096);
        memset(buf + n + 4, 0, 4);
        wire_put16(buf + n + 8, (uint16_t)(4 + len));
        n += 10;
        wire_put16(buf + n, DNS_EDNS_COOKIE);
        wire_put16(buf + n + 2, (uint16_t)len);
        memcpy(buf + n + 4, option, len);
        return n + 4 + len;
}

/* The reply cookie for a query carrying `cookie_hex` from `client`. */
static enum dns_cookie_verdict answer(const struct dns_cookie_keys *k,
                                      const char *cookie_hex, const char *client,
                                      uint32_t now, char *reply_hex)
{
        uint8_t option[40], wire[512];
        size_t len = strlen(cookie_hex) / 2;
        unhex(cookie_hex, option);
        struct dns_query q;
        size_t n = query_with_cookie(wire, option, len);
        assert_int_equal(dns_query_parse(&q, wire, n), DNS_PARSE_OK);
        assert_int_equal(q.cookie_len, len);
        struct dns_client_addr a = addr(client);
        enum dns_cookie_verdict v = dns_cookie_answer(k, &q, &a, now);
        assert_int_equal(q.cookie_reply_len, 24);
        for (unsigned i = 0; i < 24; i++)
                sprintf(reply_hex + 2 * i, "%02x", q.cookie_reply[i]);
        return v;
}

#define SECRET1 "e5e973e5a6b2a43f48e7dc849e37bfcf"

static void test_rfc9018_a1_learning_a_cookie(void **state)
{
        struct dns_cookie_keys k = keys_of(SECRET1, NULL);
        char reply[64];
        assert_int_equal(
            answer(&k, "2464c4abcf10c957", "198.51.100.100", 1559731985, reply),
            DNS_COOKIE_CLIENT_ONLY);
        assert_string_equal(reply, "2464c4abcf10c957010000005cf79f111f8130c3eee29480");
}

static void test_rfc9018_a2_same_client_renewed(void **state)
{
        struct dns_cookie_keys k = keys_of(SECRET1, NULL);
        char reply[64];
        /* The A.1 cookie, 40 minutes later: valid, and older than half an
         * hour, so a fresh one is made. */
        assert_int_equal(answer(&k, "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
                                "198.51.100.100", 1559734385, reply),
                         DNS_COOKIE_VALID);
        assert_string_equal(reply, "2464c4abcf10c957010000005cf7a871d4a564a1442aca77");
}

static void test_rfc9018_a3_another_client(void **state)
{
        struct dns_cookie_keys k = keys_of(SECRET1, NULL);
        char reply[64];
        assert_int_equal(
            answer(&k, "fc93fc62807ddb86", "203.0.113.203", 1559734700, reply),
            DNS_COOKIE_CLIENT_ONLY);
        assert_string_equal(reply, "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e");
}

static void test_rfc9018_a4_ipv6_after_rotation(void **state)
{
        const char *client = "2001:db8:220:1:59de:d0f4:8769:82b8";
        /* The cookie the client holds, made with the previous secret. */
        struct dns_cookie_keys old = keys_of("dd3bdf9344b678b185a6f5cb60fca715", NULL);
        uint8_t cc[8], made[16];
        unhex("22681ab97d52c298", cc);
        struct dns_client_addr a = addr(client);
        dns_cookie_make(old.key[0], cc, 1559741817, &a, made);
        uint8_t want[16];
        unhex("010000005cf7c57926556bd0934c72f8", want);
        assert_memory_equal(made, want, 16);
        /* After the rotation the old secret is still accepted, and the new
         * one makes the reply. */
        struct dns_cookie_keys k = keys_of("445536bcd2513298075a5d379663c962",
                                           "dd3bdf9344b678b185a6f5cb60fca715");
        char reply[64];
        assert_int_equal(answer(&k, "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
                                client, 1559741961, reply),
                         DNS_COOKIE_VALID);
        assert_string_equal(reply, "22681ab97d52c298010000005cf7c609a6bb79d16625507a");
        /* Without the old secret, the same cookie is not ours. */
        struct dns_cookie_keys only_new =
            keys_of("445536bcd2513298075a5d379663c962", NULL);
        assert_int_equal(answer(&only_new,
                                "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
                                client, 1559741961, reply),
                         DNS_COOKIE_BAD);
}

static void test_validity_rules(void **state)
{
        struct dns_cookie_keys k = keys_of(SECRET1, NULL);
        const char *a1 = "2464c4abcf10c957010000005cf79f111f8130c3eee29480";
        char reply[64];
        uint32_t made = 1559731985;
        /* Recent: echoed unchanged. */
        assert_int_equal(answer(&k, a1, "198.51.100.100", made + 60, reply),
                         DNS_COOKIE_VALID);
        assert_string_equal(reply, a1);
        /* An hour old is the limit; a second more is too old. */
        assert_int_equal(answer(&k, a1, "198.51.100.100", made + 3600, reply),
                         DNS_COOKIE_VALID);
        assert_int_equal(answer(&k, a1, "198.51.100.100", made + 3601, reply),
                         DNS_COOKIE_BAD);
        /* Five minutes in the future is accepted, more is not. */
        assert_int_equal(answer(&k, a1, "198.51.100.100", made - 300, reply),
                         DNS_COOKIE_VALID);
        assert_int_equal(answer(&k, a1, "198.51.100.100", made - 301, reply),
                         DNS_COOKIE_BAD);
        /* From another address, or under another secret: not ours. */
        assert_int_equal(answer(&k, a1, "198.51.100.101", made + 60, reply),
                         DNS_COOKIE_BAD);
        struct dns_cookie_keys other = keys_of("00112233445566778899aabbccddeeff", NULL);
        assert_int_equal(answer(&other, a1, "198.51.100.100", made + 60, reply),
                         DNS_COOKIE_BAD);
        /* An expired cookie gets a fresh, valid one back. */
        assert_int_equal(answer(&k, a1, "198.51.100.100", made + 4000, reply),
                         DNS_COOKIE_BAD);
        assert_int_equal(answer(&k, reply, "198.51.100.100", made + 4001, reply),
                         DNS_COOKIE_VALID);
        /* Version 2, or another length: another server's format. */
        assert_int_equal(answer(&k, "2464c4abcf10c957020000005cf79f111f8130c3eee29480",
                                "198.51.100.100", made + 60, reply),
                         DNS_COOKIE_BAD);
        assert_int_equal(answer(&k, "2464c4abcf10c9570102030405060708", "198.51.100.100",
                                made + 60, reply),
                         DNS_COOKIE_BAD);
}

static void test_secrets_copy(void **state)
{
        struct dns_cookie_secrets s;
        memset(&s, 0, sizeof(s));
        struct dns_cookie_keys in = keys_of(SECRET1, "445536bcd2513298075a5d379663c962"),
                               out;
        dns_cookie_secrets_store(&s, &in);
        dns_cookie_secrets_load(&s, &out);
        assert_int_equal(out.count, 2);
        assert_memory_equal(out.key, in.key, 2 * DNS_SIPHASH_KEY_SIZE);
        assert_int_equal(atomic_load(&s.seq) % 2, 0);
}

static void test_parser_rejects_bad_cookie_options(void **state)
{
        uint8_t option[64] = {0}, wire[512];
        struct dns_query q;
        for (size_t len = 0; len <= 48; len++) {
                size_t n = query_with_cookie(wire, option, len);
                enum dns_parse_status want = len == 8 || (len >= 16 && len <= 40)
                                                 ? DNS_PARSE_OK
                                                 : DNS_PARSE_FORMERR;
                assert_int_equal(dns_query_parse(&q, wire, n), want);
        }
        /* Two COOKIE options in one OPT. */
        size_t n = query_with_cookie(wire, option, 8);
        wire_put16(wire + n, DNS_EDNS_COOKIE);
        wire_put16(wire + n + 2, 8);
        memset(wire + n + 4, 0, 8);
        n += 12;
        wire_put16(wire + n - 12 - 8 - 4 - 2, 24); /* OPT RDLEN */
        assert_int_equal(dns_query_parse(&q, wire, n), DNS_PARSE_FORMERR);
}

static void test_cookie_only_query(void **state)
{
        /* RFC 7873 §5.4: QDCOUNT 0 with a COOKIE asks for a server cookie. */
        uint8_t wire[512], option[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        size_t n = query_with_cookie(wire, option, 8);
        size_t question = 17; /* example.com A IN */
        memmove(wire + 12, wire + 12 + question, n - 12 - question);
        n -= question;
        wire_put16(wire + 4, 0);
        struct dns_query q;
        assert_int_equal(dns_query_parse(&q, wire, n), DNS_PARSE_NOQUESTION);
        /* Without a cookie it stays a malformed query. */
        static const uint8_t bare[12] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        assert_int_equal(dns_query_parse(&q, bare, sizeof(bare)), DNS_PARSE_FORMERR);
}

static void test_writer_appends_cookie(void **state)
{
        struct dns_cookie_keys k = keys_of(SECRET1, NULL);
        uint8_t option[8], wire[512], out[512];
        unhex("2464c4abcf10c957", option);
        size_t n = query_with_cookie(wire, option, 8);
        struct dns_query q;
        assert_int_equal(dns_query_parse(&q, wire, n), DNS_PARSE_OK);
        struct dns_client_addr a = addr("198.51.100.100");
        dns_cookie_answer(&k, &q, &a, 1559731985);
        struct dns_writer w;
        dns_writer_start(&w, &q, out, 512);
        assert_int_equal(w.limit, 512 - 11 - 28);
        size_t len = dns_writer_finish(&w, &q, 0, 0);
        /* header 12 + question 17 + OPT 11 + option 4 + 24 */
        assert_int_equal(len, 12 + 17 + 11 + 28);
        assert_int_equal(wire_get16(out + 12 + 17 + 9), 28); /* OPT RDLEN */
        uint8_t want[28];
        wire_put16(want, 10);
        wire_put16(want + 2, 24);
        unhex("2464c4abcf10c957010000005cf79f111f8130c3eee29480", want + 4);
        assert_memory_equal(out + 12 + 17 + 11, want, 28);
}

static void test_secrets_file_text(void **state)
{
        struct dns_cookie_keys k;
        unsigned line;
        const char *why;
        const char good[] = "# cluster secrets\n\n  " SECRET1 "  # current\r\n"
                            "445536BCD2513298075A5D379663C962\n";
        assert_int_equal(dns_cookie_keys_parse(good, strlen(good), &k, &line, &why), 0);
        assert_int_equal(k.count, 2);
        assert_int_equal(k.key[0][0], 0xe5);
        assert_int_equal(k.key[1][15], 0x62);
        const struct {
                const char *text;
                unsigned line;
        } bad[] = {
            {"", 0},
            {"# only a comment\n", 0},
            {"e5e973e5a6b2a43f48e7dc849e37bfc\n", 1},     /* 31 digits */
            {"\ne5e973e5a6b2a43f48e7dc849e37bfcf0\n", 2}, /* 33 */
            {"g5e973e5a6b2a43f48e7dc849e37bfcf\n", 1},
            {"e5e973e5a6b2a43f 48e7dc849e37bfcf\n", 1},
            {SECRET1 "\n" SECRET1 "\n" SECRET1 "\n" SECRET1 "\n", 4},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(dns_cookie_keys_parse(bad[i].text, strlen(bad[i].text),
                                                       &k, &line, &why),
                                 -1);
                assert_int_equal(line, bad[i].line);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rfc9018_a1_learning_a_cookie),
            cmocka_unit_test(test_rfc9018_a2_same_client_renewed),
            cmocka_unit_test(test_rfc9018_a3_another_client),
            cmocka_unit_test(test_rfc9018_a4_ipv6_after_rotation),
            cmocka_unit_test(test_validity_rules),
            cmocka_unit_test(test_secrets_copy),
            cmocka_unit_test(test_parser_rejects_bad_cookie_options),
            cmocka_unit_test(test_cookie_only_query),
            cmocka_unit_test(test_writer_appends_cookie),
            cmocka_unit_test(test_secrets_file_text),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
