/*
 * fuzz_answer.c — libFuzzer target: any bytes as a query to dns_answer().
 *
 * A small but rich zone (CNAME chains and a loop, wildcard, empty
 * non-terminals, a delegation with glue, DS, MX/NS/SRV targets, a large
 * TXT set, a child zone) is built once through dns_zonefile_load(); each
 * input is then answered over UDP and over TCP, and the response is checked
 * to stay inside its size limit; the UDP server's batch path (parse, warm
 * the cache, answer the parsed query) must give the same bytes.  A query
 * with a COOKIE then goes through the cookie checks twice: as sent, and
 * with the server cookie replaced by the one the server made for it (so
 * the valid-cookie path is reached), answered with the reply cookie (and,
 * for the first, the HINFO policy for ANY) inside the size limits, and its
 * response charged to RRL accounts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/answer.h"
#include "dns/cookie.h"
#include "dns/db.h"
#include "dns/rrl.h"
#include "dns/wire.h"
#include "dns/zonefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ZONE[] =
    "$ORIGIN example.com.\n"
    "$TTL 3600\n"
    "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "@ NS ns1\n@ NS ns2.example.net.\n"
    "@ MX 10 mail\n@ A 192.0.2.1\n@ AAAA 2001:db8::1\n"
    "ns1 A 192.0.2.53\nmail A 192.0.2.25\nmail AAAA 2001:db8::25\n"
    "www CNAME web\nweb A 192.0.2.80\n"
    "l1 CNAME l2\nl2 CNAME l1\next CNAME www.example.net.\n"
    "*.wild TXT \"w\"\n*.wild MX 5 mail\na.b.ent A 192.0.2.9\n"
    "sub NS ns.sub\nns.sub A 192.0.2.99\nns.sub AAAA 2001:db8::99\n"
    "sub DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n"
    "_sip._tcp SRV 0 5 5060 sip\nsip A 192.0.2.60\n"
    "p PTR www\nc CAA 0 issue \"ca.example.net\"\n"
    "h HTTPS 1 . alpn=h2\nx TYPE65280 \\# 2 abcd\n";

static const char CHILD[] = "$ORIGIN child.example.com.\n"
                            "@ 60 SOA ns hm 1 2 3 4 3600\n@ NS ns\nns A 192.0.2.7\n";

static struct dns_db db;
static struct dns_rrl rrl;

static void quiet(void *ctx, const char *file, unsigned line, const char *message)
{
        fprintf(stderr, "%s:%u: %s\n", file, line, message);
}

static void load(struct dns_txn *txn, const char *text)
{
        char path[] = "/tmp/qdns-fuzz-zone-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
                abort();
        close(fd);
        int rc = dns_zonefile_load(txn, path, NULL, NULL, quiet, NULL, NULL);
        unlink(path);
        if (rc != 0)
                abort();
}

static void build_once(void)
{
        static int done;
        if (done)
                return;
        done = 1;
        struct dns_txn txn;
        if (dns_db_init(&db) != 0 || dns_txn_begin(&db, &txn) != 0)
                abort();
        load(&txn, ZONE);
        load(&txn, CHILD);
        uint8_t origin[256], owner[256], rdata[201];
        dns_name_from_text("example.com.", origin);
        dns_name_from_text("big.example.com.", owner);
        for (int i = 0; i < 30; i++) {
                rdata[0] = 200;
                memset(rdata + 1, 'a' + i, 200);
                dns_txn_rr_add(&txn, origin, owner, 16 /* TXT */, 0, 60, rdata,
                               sizeof(rdata));
        }
        if (dns_txn_commit(&txn) != 0)
                abort();
        struct dns_rrl_config cfg;
        dns_rrl_config_default(&cfg);
        cfg.table_size = 1024;
        cfg.rate = 3;
        if (dns_rrl_init(&rrl, &cfg) != 0)
                abort();
}

/* Answers q over UDP with its reply cookie; charges the response to RRL. */
static void answer_with_cookie(const struct dns_catalog *cat, struct dns_query *q,
                               enum dns_parse_status st, uint32_t now)
{
        static uint8_t out[DNS_TCP_MAX];
        static unsigned slip;
        size_t n = dns_answer_parsed(cat, q, st, DNS_TRANSPORT_UDP, out, 0, NULL);
        if (n > DNS_EDNS_OUR_PAYLOAD)
                abort();
        if (n >= DNS_HEADER_SIZE) {
                struct dns_client_addr a = {
                    .family = AF_INET, .len = 4, .bytes = {192, 0, 2}};
                dns_rrl_check(&rrl, &a, (enum dns_rrl_kind)(out[3] & 3), q->qname.hash[0],
                              now, &slip);
        }
}

static void cookies(const struct dns_catalog *cat, uint8_t *query, size_t size)
{
        static struct dns_cookie_keys keys = {
            .count = 2,
            .key = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {42}},
        };
        struct dns_client_addr a = {.family = AF_INET6, .len = 16, .bytes = {0x20, 0x01}};
        struct dns_query q;
        enum dns_parse_status st = dns_query_parse(&q, query, size);
        if (q.cookie == NULL || (st != DNS_PARSE_OK && st != DNS_PARSE_NOQUESTION))
                return;
        uint32_t now = size > 8 ? wire_get32(query + size - 4) : 0;
        dns_cookie_answer(&keys, &q, &a, now);
        q.any_hinfo = size & 1;
        answer_with_cookie(cat, &q, st, now);
        if (q.cookie_len == 24) {
                /* The same query returning the cookie it was given. */
                memcpy((uint8_t *)q.cookie + 8, q.cookie_reply + 8, 16);
                st = dns_query_parse(&q, query, size);
                if (dns_cookie_answer(&keys, &q, &a, now + 10) != DNS_COOKIE_VALID)
                        abort();
                answer_with_cookie(cat, &q, st, now + 10);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static uint8_t out[DNS_TCP_MAX];
        build_once();
        /* A heap copy of exactly `size` bytes so ASan sees any over-read. */
        uint8_t *query = malloc(size ? size : 1);
        if (size)
                memcpy(query, data, size);
        const struct dns_catalog *cat = dns_db_current(&db);
        size_t n = dns_answer(cat, query, size, DNS_TRANSPORT_UDP, out, size, NULL);
        if (n > DNS_EDNS_OUR_PAYLOAD)
                abort();
        n = dns_answer(cat, query, size, DNS_TRANSPORT_TCP, out, 0, NULL);
        if (n > DNS_TCP_MAX)
                abort();
        /* The UDP server's batch path: parse, warm the cache, answer. */
        static uint8_t again[DNS_TCP_MAX];
        struct dns_query parsed[2];
        enum dns_parse_status st[2];
        st[0] = dns_query_parse(&parsed[0], query, size);
        st[1] = dns_query_parse(&parsed[1], query, size);
        dns_answer_warm(cat, parsed, st, 2);
        if (dns_answer_parsed(cat, &parsed[1], st[1], DNS_TRANSPORT_TCP, again, 0,
                              NULL) != n ||
            memcmp(again, out, n) != 0)
                abort();
        cookies(cat, query, size);
        free(query);
        return 0;
}
