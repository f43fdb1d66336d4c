/*
 * test_dns_answer.c — authoritative answers, end to end in process.
 *
 * Loads zones through dns_zonefile_load() into a transaction, commits, then
 * sends crafted queries to dns_answer() and decodes each response with ldns
 * to check rcode, flags, section counts and the exact records: exact
 * matches, case preservation, CNAME chains and their loop limit, wildcards,
 * empty non-terminals, NXDOMAIN with the RFC 2308 SOA TTL, referrals with
 * glue, DS at a cut, ANY over UDP and TCP, truncation, the EDNS payload,
 * additional addresses for MX/NS/SRV targets, and REFUSED for other classes
 * and names outside our zones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dns/answer.h"
#include "dns/db.h"
#include "dns/wire.h"
#include "dns/zonefile.h"

#include "zone_text.h"

static const char ZONE[] =
    "$ORIGIN example.com.\n"
    "$TTL 3600\n"
    "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "@ NS ns1\n"
    "@ NS ns2\n"
    "@ MX 10 mail\n"
    "@ A 192.0.2.1\n"
    "ns1 A 192.0.2.53\n"
    "ns2 AAAA 2001:db8::53\n"
    "mail A 192.0.2.25\n"
    "mail AAAA 2001:db8::25\n"
    "www CNAME web\n"
    "web A 192.0.2.80\n"
    "loop1 CNAME loop2\n"
    "loop2 CNAME loop1\n"
    "ext CNAME www.example.net.\n"
    "tonx CNAME nothere\n"
    "*.wild TXT \"wildcard\"\n"
    "a.b.ent A 192.0.2.9\n"
    "sub NS ns.sub\n"
    "sub NS ns.elsewhere.net.\n"
    "ns.sub A 192.0.2.99\n"
    "sub DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n"
    "_sip._tcp SRV 0 5 5060 sip\n"
    "_xmpp._tcp SRV 10 0 5222 sip\n"
    "_xmpp._tcp SRV 20 0 5269 SIP\n"
    "upper MX 10 MAIL.Example.COM.\n"
    "sip A 192.0.2.60\n"
    "multi A 192.0.2.101\n"
    "multi A 192.0.2.102\n"
    "multi A 192.0.2.103\n"
    "multi TXT \"t\"\n"
    "c0 CNAME c1\nc1 CNAME c2\nc2 CNAME c3\nc3 CNAME c4\nc4 CNAME c5\n"
    "c5 CNAME c6\nc6 CNAME c7\nc7 CNAME c8\nc8 CNAME c9\nc9 CNAME c10\n"
    "c10 CNAME c11\nc11 CNAME c12\nc12 CNAME c13\nc13 CNAME c14\nc14 A 192.0.2.14\n";

/* SOA TTL below MINIMUM: negative answers use the SOA TTL. */
static const char OTHER[] = "$ORIGIN other.test.\n"
                            "@ 60 IN SOA ns hm 1 2 3 4 3600\n"
                            "@ 60 NS ns\n"
                            "ns 60 A 192.0.2.7\n";

/* A child zone we serve too, delegated from example.com. */
static const char CHILD[] = "$ORIGIN sub.example.com.\n"
                            "@ 300 IN SOA ns hm 1 2 3 4 300\n"
                            "@ NS ns\n"
                            "ns A 192.0.2.99\n";

static struct dns_db db;

/* The big TXT set: 40 records of 100 bytes, far over 512 and 1232. */
static void add_big(struct dns_txn *txn)
{
        uint8_t origin[256], owner[256], rdata[101];
        assert_int_equal(dns_name_from_text("example.com.", origin), 0);
        assert_int_equal(dns_name_from_text("big.example.com.", owner), 0);
        for (int i = 0; i < 40; i++) {
                rdata[0] = 100;
                memset(rdata + 1, 'a' + i % 26, 100);
                rdata[1] = (uint8_t)i;
                assert_true(dns_txn_rr_add(txn, origin, owner, DNS_TYPE_TXT, 0, 60, rdata,
                                           sizeof(rdata)) >= 0);
        }
}

static int setup(void **state)
{
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        zone_text_load(&txn, ZONE);
        zone_text_load(&txn, OTHER);
        zone_text_load(&txn, CHILD);
        add_big(&txn);
        assert_int_equal(dns_txn_commit(&txn), 0);
        return 0;
}

static int teardown(void **state)
{
        dns_db_fini(&db);
        return 0;
}

struct query_opts {
        uint16_t qclass;
        bool edns;
        uint16_t payload;
        uint8_t version;
        enum dns_transport transport;
};

static const struct query_opts UDP = {DNS_CLASS_IN, false, 0, 0, DNS_TRANSPORT_UDP};

/* Sends name/type and returns the decoded response (NULL: no response). */
static ldns_pkt *ask_with(const char *name, uint16_t type, struct query_opts o,
                          size_t *size_out)
{
        uint8_t q[512], wire[256];
        assert_int_equal(dns_name_from_text(name, wire), 0);
        int nlen = dns_name_wire_len(wire, sizeof(wire));
        size_t n = 0;
        wire_put16(q, 0xbeef);
        wire_put16(q + 2, DNS_FLAG_RD);
        wire_put16(q + 4, 1);
        wire_put16(q + 6, 0);
        wire_put16(q + 8, 0);
        wire_put16(q + 10, o.edns ? 1 : 0);
        n = 12;
        memcpy(q + n, wire, (size_t)nlen);
        n += (size_t)nlen;
        wire_put16(q + n, type);
        wire_put16(q + n + 2, o.qclass ? o.qclass : DNS_CLASS_IN);
        n += 4;
        if (o.edns) {
                q[n] = 0;
                wire_put16(q + n + 1, DNS_TYPE_OPT);
                wire_put16(q + n + 3, o.payload);
                q[n + 5] = 0;
                q[n + 6] = o.version;
                wire_put16(q + n + 7, 0);
                wire_put16(q + n + 9, 0);
                n += 11;
        }
        uint8_t *out = malloc(DNS_TCP_MAX);
        const struct dns_catalog *cat = dns_db_current(&db);
        size_t len = dns_answer(cat, q, n, o.transport, out, 0, NULL);
        /* The batch path of the UDP server (parse, warm, answer) gives the
         * same bytes. */
        struct dns_query parsed;
        enum dns_parse_status st = dns_query_parse(&parsed, q, n);
        dns_answer_warm(cat, &parsed, &st, 1);
        uint8_t *again = malloc(DNS_TCP_MAX);
        assert_int_equal(dns_answer_parsed(cat, &parsed, st, o.transport, again, 0, NULL),
                         len);
        assert_memory_equal(again, out, len);
        free(again);
        if (size_out)
                *size_out = len;
        ldns_pkt *pkt = NULL;
        if (len > 0 && ldns_wire2pkt(&pkt, out, len) != LDNS_STATUS_OK)
                fail_msg("response does not parse");
        free(out);
        return pkt;
}

static ldns_pkt *ask(const char *name, uint16_t type)
{
        return ask_with(name, type, UDP, NULL);
}

static void expect_header(ldns_pkt *p, ldns_pkt_rcode rcode, bool aa, size_t an,
                          size_t ns, size_t ar)
{
        assert_non_null(p);
        assert_int_equal(ldns_pkt_get_rcode(p), rcode);
        assert_int_equal(ldns_pkt_aa(p), aa);
        assert_true(ldns_pkt_qr(p));
        assert_true(ldns_pkt_rd(p));
        assert_int_equal(ldns_pkt_id(p), 0xbeef);
        assert_int_equal(ldns_pkt_ancount(p), an);
        assert_int_equal(ldns_pkt_nscount(p), ns);
        assert_int_equal(ldns_pkt_arcount(p), ar);
}

/* Does the section hold a record equal to `text` (presentation form)? */
static bool has_rr(const ldns_rr_list *list, const char *text)
{
        ldns_rr *want = NULL;
        if (ldns_rr_new_frm_str(&want, text, 0, NULL, NULL) != LDNS_STATUS_OK)
                fail_msg("bad expected record %s", text);
        bool found = false;
        for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
                ldns_rr *rr = ldns_rr_list_rr(list, i);
                if (ldns_rr_compare(rr, want) == 0 &&
                    ldns_rr_ttl(rr) == ldns_rr_ttl(want))
                        found = true;
        }
        ldns_rr_free(want);
        return found;
}

static void expect_rr(const ldns_rr_list *list, const char *text)
{
        if (!has_rr(list, text)) {
                char *s = ldns_rr_list2str(list);
                fail_msg("missing %s in:\n%s", text, s);
        }
}

static void test_exact_match_answers_with_aa(void **state)
{
        ldns_pkt *p = ask("web.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
        expect_rr(ldns_pkt_answer(p), "web.example.com. 3600 IN A 192.0.2.80");
        ldns_pkt_free(p);
        p = ask("multi.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, true, 3, 0, 0);
        expect_rr(ldns_pkt_answer(p), "multi.example.com. 3600 IN A 192.0.2.102");
        ldns_pkt_free(p);
}

static void test_owner_keeps_the_query_case(void **state)
{
        ldns_pkt *p = ask("WeB.ExAmPlE.cOm.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
        ldns_rdf *owner = ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_answer(p), 0));
        char *text = ldns_rdf2str(owner);
        assert_string_equal(text, "WeB.ExAmPlE.cOm.");
        free(text);
        ldns_pkt_free(p);
}

static void test_cname_chain_followed_inside_zone(void **state)
{
        ldns_pkt *p = ask("www.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, true, 2, 0, 0);
        expect_rr(ldns_pkt_answer(p), "www.example.com. 3600 IN CNAME web.example.com.");
        expect_rr(ldns_pkt_answer(p), "web.example.com. 3600 IN A 192.0.2.80");
        ldns_pkt_free(p);
        /* A CNAME query gets the CNAME only. */
        p = ask("www.example.com.", LDNS_RR_TYPE_CNAME);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
        ldns_pkt_free(p);
}

static void test_cname_out_of_zone_stops_the_chain(void **state)
{
        ldns_pkt *p = ask("ext.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
        expect_rr(ldns_pkt_answer(p), "ext.example.com. 3600 IN CNAME www.example.net.");
        ldns_pkt_free(p);
}

static void test_cname_to_missing_name_gives_nxdomain_with_chain(void **state)
{
        ldns_pkt *p = ask("tonx.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NXDOMAIN, true, 1, 1, 0);
        ldns_pkt_free(p);
}

static void test_cname_chain_stops_at_chain_limit(void **state)
{
        ldns_pkt *p = ask("c0.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, true, DNS_CNAME_CHAIN_MAX, 0, 0);
        expect_rr(ldns_pkt_answer(p), "c11.example.com. 3600 IN CNAME c12.example.com.");
        assert_false(has_rr(ldns_pkt_answer(p), "c14.example.com. 3600 IN A 192.0.2.14"));
        ldns_pkt_free(p);
        p = ask("c3.example.com.", LDNS_RR_TYPE_A); /* 11 links and the address */
        expect_header(p, LDNS_RCODE_NOERROR, true, 12, 0, 0);
        expect_rr(ldns_pkt_answer(p), "c14.example.com. 3600 IN A 192.0.2.14");
        ldns_pkt_free(p);
}

static void test_cname_loop_stops_once_every_link_is_in_the_answer(void **state)
{
        ldns_pkt *p = ask("loop1.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, true, 2, 0, 0);
        expect_rr(ldns_pkt_answer(p),
                  "loop1.example.com. 3600 IN CNAME loop2.example.com.");
        expect_rr(ldns_pkt_answer(p),
                  "loop2.example.com. 3600 IN CNAME loop1.example.com.");
        ldns_pkt_free(p);
}

static void test_wildcard_synthesises_the_query_name(void **state)
{
        ldns_pkt *p = ask("Anything.wild.example.com.", LDNS_RR_TYPE_TXT);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
        expect_rr(ldns_pkt_answer(p),
                  "anything.wild.example.com. 3600 IN TXT \"wildcard\"");
        ldns_pkt_free(p);
        p = ask("a.b.wild.example.com.", LDNS_RR_TYPE_TXT);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
        ldns_pkt_free(p);
        /* Wildcard NODATA: the name exists through the wildcard. */
        p = ask("x.wild.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, true, 0, 1, 0);
        ldns_pkt_free(p);
}

static void test_empty_non_terminal_gives_nodata(void **state)
{
        ldns_pkt *p = ask("b.ent.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, true, 0, 1, 0);
        expect_rr(ldns_pkt_authority(p),
                  "example.com. 300 IN SOA ns1.example.com. "
                  "hostmaster.example.com. 1 7200 3600 1209600 300");
        ldns_pkt_free(p);
        p = ask("ent.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, true, 0, 1, 0);
        ldns_pkt_free(p);
}

static void test_nxdomain_soa_ttl_is_min_of_ttl_and_minimum(void **state)
{
        ldns_pkt *p = ask("nope.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
        expect_rr(ldns_pkt_authority(p),
                  "example.com. 300 IN SOA ns1.example.com. "
                  "hostmaster.example.com. 1 7200 3600 1209600 300");
        ldns_pkt_free(p);
        p = ask("nope.other.test.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
        expect_rr(ldns_pkt_authority(p),
                  "other.test. 60 IN SOA ns.other.test. hm.other.test. 1 2 3 4 3600");
        ldns_pkt_free(p);
}

static void test_referral_without_aa_carries_glue(void **state)
{
        ldns_pkt *p = ask("www.sub.example.com.", LDNS_RR_TYPE_A);
        /* sub.example.com is served too, so it answers from the child zone. */
        expect_header(p, LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
        ldns_pkt_free(p);
        /* A name below the cut that the child zone does not hold either. */
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        uint8_t child[256];
        assert_int_equal(dns_name_from_text("sub.example.com.", child), 0);
        assert_int_equal(dns_txn_zone_delete(&txn, child), 0);
        assert_int_equal(dns_txn_commit(&txn), 0);
        p = ask("www.sub.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, false, 0, 2, 1);
        expect_rr(ldns_pkt_authority(p),
                  "sub.example.com. 3600 IN NS ns.sub.example.com.");
        expect_rr(ldns_pkt_authority(p), "sub.example.com. 3600 IN NS ns.elsewhere.net.");
        expect_rr(ldns_pkt_additional(p), "ns.sub.example.com. 3600 IN A 192.0.2.99");
        ldns_pkt_free(p);
        /* At the cut itself, too. */
        p = ask("sub.example.com.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_NOERROR, false, 0, 2, 1);
        ldns_pkt_free(p);
}

static void test_ds_at_cut_answered_from_parent(void **state)
{
        /* With the child zone loaded, DS still comes from the parent. */
        ldns_pkt *p = ask("sub.example.com.", LDNS_RR_TYPE_DS);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
        expect_rr(ldns_pkt_answer(p), "sub.example.com. 3600 IN DS 60485 5 1 "
                                      "2BB183AF5F22588179A53B0A98631FAD1A292118");
        ldns_pkt_free(p);
        /* The child's own data comes from the child zone. */
        p = ask("sub.example.com.", LDNS_RR_TYPE_SOA);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
        ldns_pkt_free(p);
}

static void test_any_over_udp_gives_one_rrset_and_tcp_all(void **state)
{
        ldns_pkt *p = ask("multi.example.com.", LDNS_RR_TYPE_ANY);
        assert_non_null(p);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
        /* One set: either the three A records or the TXT. */
        size_t an = ldns_pkt_ancount(p);
        assert_true(an == 3 || an == 1);
        ldns_rr_type t = ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(p), 0));
        for (size_t i = 0; i < an; i++)
                assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(p), i)),
                                 t);
        ldns_pkt_free(p);
        struct query_opts tcp = UDP;
        tcp.transport = DNS_TRANSPORT_TCP;
        p = ask_with("multi.example.com.", LDNS_RR_TYPE_ANY, tcp, NULL);
        expect_header(p, LDNS_RCODE_NOERROR, true, 4, 0, 0);
        ldns_pkt_free(p);
}

static void test_truncation_sets_tc_and_never_splits_a_set(void **state)
{
        size_t len;
        ldns_pkt *p = ask_with("big.example.com.", LDNS_RR_TYPE_TXT, UDP, &len);
        assert_non_null(p);
        assert_true(ldns_pkt_tc(p));
        assert_int_equal(ldns_pkt_ancount(p), 0);
        assert_true(len <= 512);
        ldns_pkt_free(p);
        struct query_opts tcp = UDP;
        tcp.transport = DNS_TRANSPORT_TCP;
        p = ask_with("big.example.com.", LDNS_RR_TYPE_TXT, tcp, &len);
        assert_false(ldns_pkt_tc(p));
        assert_int_equal(ldns_pkt_ancount(p), 40);
        ldns_pkt_free(p);
}

static void test_edns_payload_is_respected(void **state)
{
        /* 40 * 113 bytes = 4520: fits in 4096? no; in TCP yes; in 1232 no. */
        struct query_opts o = {DNS_CLASS_IN, true, 4096, 0, DNS_TRANSPORT_UDP};
        size_t len;
        ldns_pkt *p = ask_with("multi.example.com.", LDNS_RR_TYPE_A, o, &len);
        expect_header(p, LDNS_RCODE_NOERROR, true, 3, 0, 0); /* ldns takes OPT out */
        assert_true(ldns_pkt_edns(p));
        assert_int_equal(ldns_pkt_edns_udp_size(p), DNS_EDNS_OUR_PAYLOAD);
        ldns_pkt_free(p);
        p = ask_with("big.example.com.", LDNS_RR_TYPE_TXT, o, &len);
        assert_true(ldns_pkt_tc(p));
        assert_true(len <= DNS_EDNS_OUR_PAYLOAD); /* our payload caps theirs */
        ldns_pkt_free(p);
        /* A response that fits in 1232 but not in 512. */
        o.payload = 1232;
        p = ask_with("example.com.", LDNS_RR_TYPE_NS, o, &len);
        assert_false(ldns_pkt_tc(p));
        ldns_pkt_free(p);
        o.payload = 512;
        p = ask_with("example.com.", LDNS_RR_TYPE_MX, o, &len);
        assert_true(len <= 512);
        ldns_pkt_free(p);
}

static void test_edns_version_1_gets_badvers(void **state)
{
        struct query_opts o = {DNS_CLASS_IN, true, 1232, 1, DNS_TRANSPORT_UDP};
        ldns_pkt *p = ask_with("web.example.com.", LDNS_RR_TYPE_A, o, NULL);
        assert_non_null(p);
        assert_int_equal(ldns_pkt_ancount(p), 0);
        /* Extended rcode 16: upper bits in OPT, lower 4 bits 0 in header. */
        assert_int_equal(ldns_pkt_get_rcode(p), 0);
        assert_int_equal(ldns_pkt_edns_extended_rcode(p), 1);
        ldns_pkt_free(p);
}

static void test_additional_addresses_for_mx_ns_srv_targets(void **state)
{
        ldns_pkt *p = ask("example.com.", LDNS_RR_TYPE_MX);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 2);
        expect_rr(ldns_pkt_additional(p), "mail.example.com. 3600 IN A 192.0.2.25");
        expect_rr(ldns_pkt_additional(p), "mail.example.com. 3600 IN AAAA 2001:db8::25");
        ldns_pkt_free(p);
        p = ask("example.com.", LDNS_RR_TYPE_NS);
        expect_header(p, LDNS_RCODE_NOERROR, true, 2, 0, 2);
        expect_rr(ldns_pkt_additional(p), "ns1.example.com. 3600 IN A 192.0.2.53");
        expect_rr(ldns_pkt_additional(p), "ns2.example.com. 3600 IN AAAA 2001:db8::53");
        ldns_pkt_free(p);
        p = ask("_sip._tcp.example.com.", LDNS_RR_TYPE_SRV);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 1);
        expect_rr(ldns_pkt_additional(p), "sip.example.com. 3600 IN A 192.0.2.60");
        ldns_pkt_free(p);
}

/* Two SRV records naming one host (two ports, the name in two cases): its
 * address once in the additional section, not once per record. */
static void test_additional_address_once_per_target_name(void **state)
{
        ldns_pkt *p = ask("_xmpp._tcp.example.com.", LDNS_RR_TYPE_SRV);
        expect_header(p, LDNS_RCODE_NOERROR, true, 2, 0, 1);
        expect_rr(ldns_pkt_additional(p), "sip.example.com. 3600 IN A 192.0.2.60");
        ldns_pkt_free(p);
        /* A target written in another case is found all the same. */
        p = ask("upper.example.com.", LDNS_RR_TYPE_MX);
        expect_header(p, LDNS_RCODE_NOERROR, true, 1, 0, 2);
        expect_rr(ldns_pkt_additional(p), "mail.example.com. 3600 IN A 192.0.2.25");
        expect_rr(ldns_pkt_additional(p), "mail.example.com. 3600 IN AAAA 2001:db8::25");
        ldns_pkt_free(p);
}

static void test_other_class_and_outside_names_refused(void **state)
{
        struct query_opts ch = UDP;
        ch.qclass = DNS_CLASS_CH;
        ldns_pkt *p = ask_with("web.example.com.", LDNS_RR_TYPE_A, ch, NULL);
        expect_header(p, LDNS_RCODE_REFUSED, false, 0, 0, 0);
        ldns_pkt_free(p);
        p = ask("www.example.org.", LDNS_RR_TYPE_A);
        expect_header(p, LDNS_RCODE_REFUSED, false, 0, 0, 0);
        ldns_pkt_free(p);
        p = ask("example.com.", LDNS_RR_TYPE_AXFR);
        expect_header(p, LDNS_RCODE_REFUSED, false, 0, 0, 0);
        ldns_pkt_free(p);
}

static void test_malformed_query_gets_formerr_and_response_is_dropped(void **state)
{
        uint8_t out[DNS_EDNS_OUR_PAYLOAD];
        const uint8_t resp[12] = {0, 1, 0x80, 0, 0, 1};
        assert_int_equal(dns_answer(dns_db_current(&db), resp, sizeof(resp),
                                    DNS_TRANSPORT_UDP, out, 0, NULL),
                         0);
        const uint8_t noq[12] = {0, 1, 0, 0, 0, 0};
        size_t len = dns_answer(dns_db_current(&db), noq, sizeof(noq), DNS_TRANSPORT_UDP,
                                out, 0, NULL);
        assert_int_equal(len, 12);
        assert_int_equal(out[3] & 0xf, DNS_RCODE_FORMERR);
}

/*
 * Many NS records in a TCP referral, long enough to pass offset 0x4000 where
 * compression pointers end.  The owner's length varies so that, for one of
 * them, a target's second label lands just past 0x4000 while the next record
 * shares that label's suffix.
 */
static void test_large_tcp_answer_decodes_past_pointer_range(void **state)
{
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        uint8_t origin[256], owner[256], rdata[256];
        assert_int_equal(dns_name_from_text("example.com.", origin), 0);
        char text[160], name[64];
        for (int shift = 0; shift < 24; shift++) {
                snprintf(name, sizeof(name), "m%.*s.example.com.", shift,
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
                assert_int_equal(dns_name_from_text(name, owner), 0);
                for (int i = 0; i < 1400; i++) {
                        snprintf(text, sizeof(text),
                                 "%c.d%d.some-long-provider-name.net.", 'a' + i % 2,
                                 i / 2);
                        assert_int_equal(dns_name_from_text(text, rdata), 0);
                        assert_true(
                            dns_txn_rr_add(&txn, origin, owner, DNS_TYPE_NS, 0, 60, rdata,
                                           (uint16_t)dns_name_wire_len(rdata, 256)) >= 0);
                }
        }
        assert_int_equal(dns_txn_commit(&txn), 0);
        struct query_opts tcp = UDP;
        tcp.transport = DNS_TRANSPORT_TCP;
        for (int shift = 0; shift < 24; shift++) {
                snprintf(name, sizeof(name), "m%.*s.example.com.", shift,
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
                size_t len;
                ldns_pkt *p = ask_with(name, LDNS_RR_TYPE_NS, tcp, &len);
                assert_true(len > 0x4000);
                assert_int_equal(ldns_pkt_nscount(p), 1400);
                const ldns_rr_list *ns = ldns_pkt_authority(p);
                for (int i = 0; i < 1400; i++) {
                        snprintf(text, sizeof(text),
                                 "%c.d%d.some-long-provider-name.net.", 'a' + i % 2,
                                 i / 2);
                        char *got = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ns, i), 0));
                        if (strcmp(got, text) != 0)
                                fail_msg("shift %d record %d: got %s, want %s", shift, i,
                                         got, text);
                        free(got);
                }
                ldns_pkt_free(p);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_exact_match_answers_with_aa),
            cmocka_unit_test(test_owner_keeps_the_query_case),
            cmocka_unit_test(test_cname_chain_followed_inside_zone),
            cmocka_unit_test(test_cname_out_of_zone_stops_the_chain),
            cmocka_unit_test(test_cname_to_missing_name_gives_nxdomain_with_chain),
            cmocka_unit_test(test_cname_chain_stops_at_chain_limit),
            cmocka_unit_test(test_cname_loop_stops_once_every_link_is_in_the_answer),
            cmocka_unit_test(test_wildcard_synthesises_the_query_name),
            cmocka_unit_test(test_empty_non_terminal_gives_nodata),
            cmocka_unit_test(test_nxdomain_soa_ttl_is_min_of_ttl_and_minimum),
            cmocka_unit_test(test_ds_at_cut_answered_from_parent),
            cmocka_unit_test(test_any_over_udp_gives_one_rrset_and_tcp_all),
            cmocka_unit_test(test_truncation_sets_tc_and_never_splits_a_set),
            cmocka_unit_test(test_edns_payload_is_respected),
            cmocka_unit_test(test_edns_version_1_gets_badvers),
            cmocka_unit_test(test_additional_addresses_for_mx_ns_srv_targets),
            cmocka_unit_test(test_additional_address_once_per_target_name),
            cmocka_unit_test(test_other_class_and_outside_names_refused),
            cmocka_unit_test(test_malformed_query_gets_formerr_and_response_is_dropped),
            /* These two change the db: they run last. */
            cmocka_unit_test(test_referral_without_aa_carries_glue),
            cmocka_unit_test(test_large_tcp_answer_decodes_past_pointer_range),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
