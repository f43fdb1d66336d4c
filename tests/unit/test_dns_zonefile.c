/*
 * test_dns_zonefile.c — loading master files into a transaction.
 *
 * Each test writes zone files into a fresh temporary directory, loads one
 * with dns_zonefile_load() and inspects the transaction's zone or the
 * reported errors.  Covered: $ORIGIN, $TTL, $INCLUDE (relative path, with an
 * origin), relative names, escapes, parentheses across lines, quoted ';',
 * the RFC 3597 generic form, every type the server is expected to carry,
 * and errors reported at the right file:line (syntax, missing SOA, CNAME
 * beside other data, out-of-zone owner, unknown directive, bad include),
 * and a part sent by a client loaded from memory (dns_zonefile_load_part).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns/db.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "dns/zonefile.h"

struct fixture {
        char dir[64];
        struct dns_db db;
        struct dns_txn txn;
        char reports[16][1024];
        unsigned nreports;
        struct dns_zonefile_stats stats;
        uint8_t origin[256];
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        strcpy(f->dir, "/tmp/qdns-zonefile-XXXXXX");
        if (mkdtemp(f->dir) == NULL)
                return -1;
        if (dns_db_init(&f->db) != 0 || dns_txn_begin(&f->db, &f->txn) != 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        dns_txn_abort(&f->txn);
        dns_db_fini(&f->db);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
                return -1;
        free(f);
        return 0;
}

static void write_file(struct fixture *f, const char *name, const char *text)
{
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", f->dir, name);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
}

static void report_cb(void *ctx, const char *file, unsigned line, const char *message)
{
        struct fixture *f = ctx;
        const char *base = strrchr(file, '/');
        if (f->nreports < 16)
                snprintf(f->reports[f->nreports++], sizeof(f->reports[0]), "%s:%u: %s",
                         base ? base + 1 : file, line, message);
}

static int load(struct fixture *f, const char *name, const char *origin)
{
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", f->dir, name);
        uint8_t wire[256];
        if (origin != NULL)
                assert_int_equal(dns_name_from_text(origin, wire), 0);
        return dns_zonefile_load(&f->txn, path, origin ? wire : NULL, f->origin,
                                 report_cb, f, &f->stats);
}

static void expect_loaded(struct fixture *f, const char *name, const char *origin)
{
        int rc = load(f, name, origin);
        if (rc != 0)
                fail_msg("load failed (%d): %s", rc, f->nreports ? f->reports[0] : "");
}

/* The first report must contain `where` ("file:line:") and `what`. */
static void expect_error(struct fixture *f, const char *where, const char *what)
{
        for (unsigned i = 0; i < f->nreports; i++)
                if (strncmp(f->reports[i], where, strlen(where)) == 0 &&
                    strstr(f->reports[i], what) != NULL)
                        return;
        for (unsigned i = 0; i < f->nreports; i++)
                print_message("%s\n", f->reports[i]);
        fail_msg("no report '%s ... %s'; first: '%s'", where, what,
                 f->nreports ? f->reports[0] : "(none)");
}

static const struct dns_rrsets *sets_at(struct fixture *f, const char *name)
{
        const struct dns_zone *zone = dns_txn_zone(&f->txn, f->origin);
        assert_non_null(zone);
        uint8_t wire[256];
        assert_int_equal(dns_name_from_text(name, wire), 0);
        struct dns_lname n;
        assert_true(dns_lname_from_wire(&n, wire, sizeof(wire)) > 0);
        const struct dns_node *node = dns_zone_find(zone, &n);
        return node ? node->rrsets : NULL;
}

/* The first record of (name, type): its RDATA and TTL. */
static const uint8_t *rdata_of(struct fixture *f, const char *name, uint16_t type,
                               uint16_t *rdlen, uint32_t *ttl)
{
        const struct dns_rrsets *sets = sets_at(f, name);
        const struct dns_rrset_info *info = dns_rrsets_find(sets, type);
        if (info == NULL)
                fail_msg("no type %u at %s", type, name);
        const uint8_t *rr = dns_rrset_next(sets, info, NULL);
        if (rdlen)
                *rdlen = dns_rr_rdlen(rr);
        if (ttl)
                *ttl = info->ttl;
        return dns_rr_rdata(rr);
}

#define SOA_LINE "@ IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300\n"

static void test_origin_ttl_and_relative_names(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n"
                   "$TTL 1h\n" SOA_LINE "www A 192.0.2.1\n"
                   "      A 192.0.2.2 ; owner of the previous line\n"
                   "mail 60 IN A 192.0.2.3\n"
                   "$ORIGIN sub\n"
                   "x A 192.0.2.4\n");
        expect_loaded(f, "z", NULL);
        uint32_t ttl;
        uint16_t len;
        const uint8_t *rd = rdata_of(f, "www.example.com.", DNS_TYPE_A, &len, &ttl);
        assert_int_equal(ttl, 3600);
        assert_memory_equal(rd, "\xc0\x00\x02\x01", 4);
        assert_int_equal(
            dns_rrsets_find(sets_at(f, "www.example.com."), DNS_TYPE_A)->count, 2);
        rdata_of(f, "mail.example.com.", DNS_TYPE_A, NULL, &ttl);
        assert_int_equal(ttl, 60);
        rdata_of(f, "x.sub.example.com.", DNS_TYPE_A, NULL, NULL);
        /* SOA names are relative to the origin. */
        rd = rdata_of(f, "example.com.", DNS_TYPE_SOA, &len, &ttl);
        assert_memory_equal(rd, "\3ns1\7example\3com\0", 17);
        assert_int_equal(f->stats.records, 5);
}

/*
 * Plain A/AAAA records are parsed without ldns; every other record by ldns.
 * Mixing the two must keep owners (blank owner after either kind), TTL
 * rules, class/TTL order and case exactly as ldns alone would.
 */
static void test_fast_and_ldns_paths_agree(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n"
                   "$TTL 900\n" SOA_LINE "Host1 IN 120 A 192.0.2.1\n"
                   "      MX 10 mail\n"
                   "      AAAA 2001:db8::1\n"
                   "mail A 192.0.2.25\n"
                   "      TXT \"after a fast record\"\n"
                   "abs.example.com. 30 a 192.0.2.30\n"
                   "@ 60 IN AAAA 2001:db8::2\n"
                   "esc\\.dot A 192.0.2.40\n"
                   "units 1h A 192.0.2.41\n");
        expect_loaded(f, "z", NULL);
        uint32_t ttl;
        uint16_t len;
        const uint8_t *rd = rdata_of(f, "host1.example.com.", DNS_TYPE_A, &len, &ttl);
        assert_int_equal(ttl, 120);
        assert_memory_equal(rd, "\xc0\x00\x02\x01", 4);
        rdata_of(f, "host1.example.com.", DNS_TYPE_MX, NULL, &ttl);
        assert_int_equal(ttl, 900); /* $TTL, not the previous record's TTL */
        rd = rdata_of(f, "host1.example.com.", DNS_TYPE_AAAA, &len, NULL);
        assert_int_equal(len, 16);
        rdata_of(f, "mail.example.com.", DNS_TYPE_TXT, NULL, NULL);
        rdata_of(f, "abs.example.com.", DNS_TYPE_A, NULL, &ttl);
        assert_int_equal(ttl, 30);
        rdata_of(f, "example.com.", DNS_TYPE_AAAA, NULL, &ttl);
        assert_int_equal(ttl, 60);
        /* An escaped dot is part of a label: one label "esc.dot". */
        const struct dns_zone *zone = dns_txn_zone(&f->txn, f->origin);
        struct dns_lname n;
        assert_true(
            dns_lname_from_wire(&n, (const uint8_t *)"\7esc.dot\7example\3com", 32) > 0);
        assert_non_null(dns_zone_find(zone, &n));
        rdata_of(f, "units.example.com.", DNS_TYPE_A, NULL, &ttl);
        assert_int_equal(ttl, 3600);
        assert_int_equal(f->stats.records, 10);
}

static void test_ttl_without_directive_comes_from_previous_record(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "example.com. 500 IN SOA ns1.example.com. h.example.com. 1 2 3 4 "
                   "5\n"
                   "a.example.com. IN A 192.0.2.1\n");
        expect_loaded(f, "z", NULL);
        uint32_t ttl;
        rdata_of(f, "a.example.com.", DNS_TYPE_A, NULL, &ttl);
        assert_int_equal(ttl, 500);
}

static void test_include_relative_path_and_with_origin(void **state)
{
        struct fixture *f = *state;
        char sub[128];
        snprintf(sub, sizeof(sub), "%s/inc", f->dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        write_file(f, "inc/hosts", "h1 A 192.0.2.10\nh2 A 192.0.2.11\n");
        write_file(f, "z",
                   "$ORIGIN example.com.\n" SOA_LINE "$INCLUDE inc/hosts\n"
                   "$INCLUDE inc/hosts lab\n"
                   "after A 192.0.2.12 ; origin is restored after $INCLUDE\n");
        expect_loaded(f, "z", NULL);
        rdata_of(f, "h1.example.com.", DNS_TYPE_A, NULL, NULL);
        rdata_of(f, "h2.lab.example.com.", DNS_TYPE_A, NULL, NULL);
        rdata_of(f, "after.example.com.", DNS_TYPE_A, NULL, NULL);
}

static void test_escapes_parentheses_and_quoted_semicolons(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n"
                   "@ IN SOA ns1 hostmaster (\n"
                   "    2024010101 ; serial\n"
                   "    7200 3600\n"
                   "    1209600 300 )\n"
                   "txt TXT \"a;b\" \"c\\\"d\" ; real comment\n"
                   "multi TXT ( \"one\"\n"
                   "            \"two\" )\n"
                   "dot\\.ted A 192.0.2.1\n"
                   "q TXT \"(not a paren\"\n");
        expect_loaded(f, "z", NULL);
        uint16_t len;
        const uint8_t *rd = rdata_of(f, "txt.example.com.", DNS_TYPE_TXT, &len, NULL);
        assert_int_equal(len, 8);
        assert_memory_equal(rd, "\3a;b\3c\"d", 8);
        rd = rdata_of(f, "multi.example.com.", DNS_TYPE_TXT, &len, NULL);
        assert_memory_equal(rd, "\3one\3two", 8);
        rdata_of(f, "dot\\.ted.example.com.", DNS_TYPE_A, NULL, NULL);
        rd = rdata_of(f, "q.example.com.", DNS_TYPE_TXT, &len, NULL);
        assert_memory_equal(rd, "\14(not a paren", 13);
        rd = rdata_of(f, "example.com.", DNS_TYPE_SOA, &len, NULL);
        assert_int_equal(wire_get32(rd + len - 4), 300);
}

static void test_generic_rfc3597_form(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n" SOA_LINE "g TYPE65280 \\# 4 0a0b0c0d\n"
                   "e TYPE65281 \\# 0\n");
        expect_loaded(f, "z", NULL);
        uint16_t len;
        const uint8_t *rd = rdata_of(f, "g.example.com.", 65280, &len, NULL);
        assert_int_equal(len, 4);
        assert_memory_equal(rd, "\x0a\x0b\x0c\x0d", 4);
        rdata_of(f, "e.example.com.", 65281, &len, NULL);
        assert_int_equal(len, 0);
}

static void test_every_supported_type_loads(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n$TTL 300\n" SOA_LINE "@ NS ns1\n"
                   "ns1 A 192.0.2.53\n"
                   "ns1 AAAA 2001:db8::53\n"
                   "www CNAME ns1\n"
                   "@ MX 10 mail.example.net.\n"
                   "@ TXT \"v=spf1 -all\"\n"
                   "@ SPF \"v=spf1 -all\"\n"
                   "_sip._tcp SRV 0 5 5060 sip.example.com.\n"
                   "1.2 PTR host.example.com.\n"
                   "@ CAA 0 issue \"ca.example.net\"\n"
                   "n NAPTR 100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .\n"
                   "sub NS ns.sub\n"
                   "sub DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n"
                   "_443._tcp TLSA 3 1 1 "
                   "0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6\n"
                   "@ SSHFP 2 1 123456789abcdef67890123456789abcdef67890\n"
                   "svc SVCB 1 svc.example.net. alpn=h2\n"
                   "@ HTTPS 1 . alpn=h3,h2\n");
        expect_loaded(f, "z", NULL);
        const struct {
                const char *name;
                uint16_t type;
        } want[] = {
            {"example.com.", DNS_TYPE_SOA},
            {"example.com.", DNS_TYPE_NS},
            {"ns1.example.com.", DNS_TYPE_A},
            {"ns1.example.com.", DNS_TYPE_AAAA},
            {"www.example.com.", DNS_TYPE_CNAME},
            {"example.com.", DNS_TYPE_MX},
            {"example.com.", DNS_TYPE_TXT},
            {"example.com.", 99 /* SPF */},
            {"_sip._tcp.example.com.", DNS_TYPE_SRV},
            {"1.2.example.com.", DNS_TYPE_PTR},
            {"example.com.", 257 /* CAA */},
            {"n.example.com.", DNS_TYPE_NAPTR},
            {"sub.example.com.", DNS_TYPE_DS},
            {"_443._tcp.example.com.", 52 /* TLSA */},
            {"example.com.", 44 /* SSHFP */},
            {"svc.example.com.", DNS_TYPE_SVCB},
            {"example.com.", DNS_TYPE_HTTPS},
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                rdata_of(f, want[i].name, want[i].type, NULL, NULL);
        uint16_t len;
        const uint8_t *rd = rdata_of(f, "example.com.", DNS_TYPE_MX, &len, NULL);
        assert_memory_equal(rd, "\0\12\4mail\7example\3net\0", len);
        rd = rdata_of(f, "_sip._tcp.example.com.", DNS_TYPE_SRV, &len, NULL);
        assert_memory_equal(rd, "\0\0\0\5\x13\xc4", 6);
        assert_int_equal(f->stats.errors, 0);
}

static void test_origin_given_by_caller(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z", SOA_LINE "www A 192.0.2.1\n");
        expect_loaded(f, "z", "example.org.");
        rdata_of(f, "www.example.org.", DNS_TYPE_A, NULL, NULL);
        assert_memory_equal(f->origin, "\7example\3org\0", 13);
}

static void test_syntax_error_reported_at_file_line(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n" SOA_LINE "\n"
                   "www A 192.0.2.1\n"
                   "bad A not-an-address\n");
        assert_int_equal(load(f, "z", NULL), -EINVAL);
        expect_error(f, "z:5:", "");
        assert_int_equal(f->stats.errors, 1);
}

/* Found by fuzz_api_body: what ldns 1.8.3 lets through or leaks on. */
static void test_data_ldns_would_mishandle_is_refused(void **state)
{
        struct fixture *f = *state;
        write_file(
            f, "z",
            "$ORIGIN example.com.\n" SOA_LINE "a TYPE1 \\# 0\n"
            "b TYPE1x2 192.0.2.1\n"
            "c IPSECKEY 10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvg"
            "qt4AQ== extra\n"
            "e AAAA \\# 0\n"
            "f TYPE45 \\# 2 zz\n"
            "g TYPE45 \\#x 2 0a0b\n"
            "h IPSECKEY 10 3 2 gw.example.com. 200:\n"
            "i NONE IPSECKEY 10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvg"
            "qt4AQ== extra\n"
            "j CLASS1 TYPE16xyz \\# 0\n"
            "k\\ l IPSECKEY 10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvg"
            "qt4AQ== extra\n"
            "m \"n o\" IPSECKEY 10 1 2 192.0.2.38 x y\n"
            "_s._tcp SRV \\# 6 000100020003\n"
            "_t._tcp SRV \\# 8 ( 00010002 000300ff )\n"
            "ok IPSECKEY 10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGv"
            "gqt4AQ==\n");
        assert_int_equal(load(f, "z", NULL), -EINVAL);
        assert_int_equal(f->stats.errors, 13);
        expect_error(f, "z:3:", "an A record's data is 4 bytes");
        expect_error(f, "z:4:", "malformed record type 'TYPE1x2'");
        expect_error(f, "z:5:", "IPSECKEY data has five fields");
        expect_error(f, "z:6:", "an AAAA record's data is 16 bytes");
        expect_error(f, "z:7:", "\\# data is hexadecimal");
        expect_error(f, "z:8:", "IPSECKEY data is plain words");
        expect_error(f, "z:9:", "IPSECKEY public key is not base64");
        expect_error(f, "z:10:", "class must be IN");
        expect_error(f, "z:11:", "malformed record type 'TYPE16xyz'");
        expect_error(f, "z:12:", "IPSECKEY data has five fields");
        expect_error(f, "z:13:", "the record's type cannot be read");
        expect_error(f, "z:14:", "malformed domain name in the record data");
        expect_error(
            f, "z:15:", "the generic data gives 8 bytes but the type's fields take 7");
        uint16_t len;
        rdata_of(f, "ok.example.com.", 45, &len, NULL);
        assert_int_equal(len, 3 + 4 + 34); /* fields, gateway, key */
}

/* ldns reads record data into 65535 bytes and keeps what fits: longer
 * data is refused, not cut. */
static void test_data_ldns_would_cut_is_refused(void **state)
{
        struct fixture *f = *state;
        size_t n = 70000;
        char *text = malloc(n + 256);
        int at = snprintf(text, 256, "$ORIGIN example.com.\n" SOA_LINE "t TXT ");
        for (size_t i = 0; i < n / 8; i++)
                memcpy(text + at + i * 8, "\"abcde\" ", 8);
        strcpy(text + at + n / 8 * 8, "\n");
        write_file(f, "z", text);
        free(text);
        assert_int_equal(load(f, "z", NULL), -EINVAL);
        expect_error(f, "z:3:", "record data longer than 65000 characters");
}

static void test_syntax_error_after_multiline_record_has_right_line(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n"
                   "@ IN SOA ns1 hostmaster (\n1\n2\n3\n4\n5 )\n"
                   "bad MX x y\n");
        assert_int_equal(load(f, "z", NULL), -EINVAL);
        expect_error(f, "z:8:", "");
}

static void test_missing_soa_reported(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z", "$ORIGIN example.com.\nwww A 192.0.2.1\n");
        assert_int_equal(load(f, "z", "example.com."), -EINVAL);
        expect_error(f, "z:1:", "no SOA record at the zone apex example.com.");
        f->nreports = 0;
        write_file(f, "y", "$ORIGIN example.com.\nwww A 192.0.2.1\n");
        assert_int_equal(load(f, "y", NULL), -EINVAL);
        expect_error(f, "y:2:", "origin is unknown");
}

static void test_cname_beside_other_data_reported(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n" SOA_LINE "www A 192.0.2.1\n"
                   "www CNAME other\n");
        assert_int_equal(load(f, "z", NULL), -EINVAL);
        expect_error(f, "z:4:", "CNAME and other data at www.example.com.");
}

static void test_out_of_zone_record_reported(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n" SOA_LINE "www.example.net. A 192.0.2.1\n");
        assert_int_equal(load(f, "z", NULL), -EINVAL);
        expect_error(f, "z:3:", "outside the zone example.com.");
}

static void test_unknown_directive_reported(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n" SOA_LINE "$GENERATE 1-5 h$ A 1.2.3.$\n");
        assert_int_equal(load(f, "z", NULL), -EINVAL);
        expect_error(f, "z:3:", "unknown directive $GENERATE");
}

static void test_bad_include_reported_at_including_line(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z", "$ORIGIN example.com.\n" SOA_LINE "$INCLUDE missing.zone\n");
        assert_int_equal(load(f, "z", NULL), -EINVAL);
        expect_error(f, "z:3:", "cannot read");
        f->nreports = 0;
        write_file(f, "loop", "$ORIGIN example.com.\n" SOA_LINE "$INCLUDE loop\n");
        assert_int_equal(load(f, "loop", NULL), -EINVAL);
        expect_error(f, "loop:3:", "nested too deeply");
}

static void test_include_fan_out_is_bounded(void **state)
{
        struct fixture *f = *state;
        /* Three self-includes per file would mean 3^16 reads without a cap. */
        write_file(f, "fan",
                   "$ORIGIN example.com.\n" SOA_LINE "$INCLUDE fan\n"
                   "$INCLUDE fan\n$INCLUDE fan\n");
        assert_int_equal(load(f, "fan", NULL), -EINVAL);
        expect_error(f, "fan:", "$INCLUDE");
        assert_true(f->stats.errors < 5000);
}

static void test_trailing_escaped_blank_is_kept(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z",
                   "$ORIGIN example.com.\n" SOA_LINE "t TXT a\\ \n"
                   "c CAA 0 issue \"ca.example.net\"   ; trailing blanks\n");
        expect_loaded(f, "z", NULL);
        uint16_t len;
        const uint8_t *rd = rdata_of(f, "t.example.com.", DNS_TYPE_TXT, &len, NULL);
        assert_int_equal(len, 3);
        assert_memory_equal(rd, "\2a ", 3);
        rdata_of(f, "c.example.com.", 257, NULL, NULL);
}

static void test_error_inside_include_names_included_file(void **state)
{
        struct fixture *f = *state;
        write_file(f, "inc", "ok A 192.0.2.1\n\nbroken A 300.1.1.1\n");
        write_file(f, "z", "$ORIGIN example.com.\n" SOA_LINE "$INCLUDE inc\n");
        assert_int_equal(load(f, "z", NULL), -EINVAL);
        expect_error(f, "inc:3:", "");
}

static void test_unbalanced_parentheses_and_quotes_reported(void **state)
{
        struct fixture *f = *state;
        write_file(f, "z", "$ORIGIN example.com.\n" SOA_LINE "a TXT ( \"x\"\n");
        assert_int_equal(load(f, "z", NULL), -EINVAL);
        expect_error(f, "z:3:", "unbalanced parentheses");
        f->nreports = 0;
        write_file(f, "y", "$ORIGIN example.com.\n" SOA_LINE "a TXT \"x\n");
        assert_int_equal(load(f, "y", NULL), -EINVAL);
        expect_error(f, "y:3:", "unterminated quoted string");
        f->nreports = 0;
        write_file(f, "w", "$ORIGIN example.com.\n" SOA_LINE "a TXT x )\n");
        assert_int_equal(load(f, "w", NULL), -EINVAL);
        expect_error(f, "w:3:", "unbalanced parentheses");
}

static void test_missing_file_returns_errno(void **state)
{
        struct fixture *f = *state;
        assert_int_equal(load(f, "does-not-exist", NULL), -ENOENT);
}

/* A part sent by a client: read from memory (no file), $INCLUDE refused,
 * errors named by the caller's name and line, the last line without its
 * newline still read, and lines longer than the stream's buffer whole. */
static void test_part_from_memory(void **state)
{
        struct fixture *f = *state;
        uint8_t origin[256];
        assert_int_equal(dns_name_from_text("example.com.", origin), 0);
        assert_int_equal(dns_txn_zone_create(&f->txn, origin, true), 0);
        memcpy(f->origin, origin, sizeof(origin));
        size_t big = 20000;
        char *text = malloc(big + 256);
        assert_non_null(text);
        int n = snprintf(text, 256, "a A 192.0.2.1\n$INCLUDE /etc/hostname\nlong TXT ");
        for (size_t i = 0; i < big / 8; i++)
                n += snprintf(text + n, 16, "\"abcde\" ");
        n += snprintf(text + n, 64, "\nb A 192.0.2.2");
        assert_int_equal(dns_zonefile_load_part(&f->txn, text, (size_t)n, "body", origin,
                                                report_cb, f, &f->stats),
                         -EINVAL);
        expect_error(f, "body:2:", "$INCLUDE is not allowed here");
        assert_int_equal(f->stats.errors, 1);
        rdata_of(f, "a.example.com.", DNS_TYPE_A, NULL, NULL);
        uint16_t len;
        rdata_of(f, "long.example.com.", DNS_TYPE_TXT, &len, NULL);
        assert_int_equal(len, big / 8 * 6);
        const uint8_t *rd = rdata_of(f, "b.example.com.", DNS_TYPE_A, &len, NULL);
        assert_memory_equal(rd, "\xc0\x00\x02\x02", 4);
        /* Empty text: nothing to add, no error. */
        f->nreports = 0;
        assert_int_equal(dns_zonefile_load_part(&f->txn, "", 0, "body", origin, report_cb,
                                                f, &f->stats),
                         0);
        assert_int_equal(f->nreports, 0);
        free(text);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(test_origin_ttl_and_relative_names),
            T(test_ttl_without_directive_comes_from_previous_record),
            T(test_fast_and_ldns_paths_agree),
            T(test_include_relative_path_and_with_origin),
            T(test_escapes_parentheses_and_quoted_semicolons),
            T(test_generic_rfc3597_form),
            T(test_every_supported_type_loads),
            T(test_origin_given_by_caller),
            T(test_syntax_error_reported_at_file_line),
            T(test_syntax_error_after_multiline_record_has_right_line),
            T(test_data_ldns_would_mishandle_is_refused),
            T(test_data_ldns_would_cut_is_refused),
            T(test_missing_soa_reported),
            T(test_cname_beside_other_data_reported),
            T(test_out_of_zone_record_reported),
            T(test_unknown_directive_reported),
            T(test_bad_include_reported_at_including_line),
            T(test_include_fan_out_is_bounded),
            T(test_trailing_escaped_blank_is_kept),
            T(test_error_inside_include_names_included_file),
            T(test_unbalanced_parentheses_and_quotes_reported),
            T(test_missing_file_returns_errno),
            T(test_part_from_memory),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
