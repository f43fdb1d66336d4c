/*
 * fuzz_ecs.c — libFuzzer target: EDNS Client Subnet parsing and location.
 *
 * Byte 0 picks the settings (ECS on or off, the IPv4 and IPv6 maxima, a
 * trusted network or none, the sender's family); the rest is the option
 * data.  It goes to dns_ecs_parse() alone and inside a whole query (OPT with
 * the option) through dns_query_parse(), dns_query_locate() and
 * dns_answer_parsed(): the two parses must agree, an accepted option must
 * echo back byte for byte (scope 0), the location must never be longer than
 * the maximum nor carry bits past its prefix, and the response must stay
 * inside the UDP payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/answer.h"
#include "dns/db.h"
#include "dns/ecs.h"
#include "dns/rrl.h"
#include "dns/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dns_db db;
static bool ready;

static void check_location(const struct dns_location *loc, unsigned max)
{
        const struct dns_net *n = &loc->net;
        if (n->family == 0)
                return;
        unsigned bits = n->family == AF_INET ? 32 : 128;
        if (n->prefix > bits || (loc->from_ecs && n->prefix > max))
                abort();
        for (unsigned b = n->prefix; b < 128; b++)
                if (n->bytes[b / 8] >> (7 - b % 8) & 1)
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!ready) {
                if (dns_db_init(&db) != 0)
                        abort();
                ready = true;
        }
        if (size < 1 || size > 300)
                return 0;
        uint8_t mode = data[0];
        const uint8_t *opt = data + 1;
        uint16_t len = (uint16_t)(size - 1);

        struct dns_ecs_config cfg;
        dns_ecs_config_default(&cfg);
        cfg.enabled = (mode & 1) == 0;
        cfg.max_ipv4 = (uint8_t)(((mode >> 1) & 7) * 5);      /* 0..35 → capped below */
        cfg.max_ipv6 = (uint8_t)(((mode >> 4) & 3) * 40 + 8); /* 8..128 */
        if (cfg.max_ipv4 > 32)
                cfg.max_ipv4 = 32;
        if (mode & 0x40) {
                cfg.trusted_count = 1;
                dns_net_parse("192.0.2.0/25", &cfg.trusted[0]);
        }
        struct dns_client_addr peer = {
            .family = AF_INET, .len = 4, .bytes = {192, 0, 2, 1}};
        if (mode & 0x80)
                peer = (struct dns_client_addr){
                    .family = AF_INET6, .len = 16, .bytes = {0x20, 1}};

        struct dns_ecs ecs;
        int rc = dns_ecs_parse(opt, len, &ecs);
        if (rc == 0) {
                uint8_t echo[4 + 4 + 16];
                if (dns_ecs_echo_size(&ecs) != 4u + len)
                        abort();
                dns_ecs_echo_write(echo, &ecs, 0);
                if (memcmp(echo + 4, opt, len) != 0)
                        abort();
        }

        /* The same option inside a query for "a." A. */
        uint8_t q[512];
        static const uint8_t head[] = {0xab, 0xcd, 0, 0,   0, 1, 0, 0, 0, 0,
                                       0,    1,    1, 'a', 0, 0, 1, 0, 1};
        size_t n = sizeof(head);
        memcpy(q, head, n);
        static const uint8_t opt_rr[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0};
        memcpy(q + n, opt_rr, sizeof(opt_rr));
        n += sizeof(opt_rr);
        wire_put16(q + n, (uint16_t)(4 + len));
        wire_put16(q + n + 2, DNS_EDNS_ECS);
        wire_put16(q + n + 4, len);
        memcpy(q + n + 6, opt, len);
        n += 6 + len;
        struct dns_query parsed;
        enum dns_parse_status st = dns_query_parse(&parsed, q, n);
        if ((st == DNS_PARSE_OK) != (rc == 0))
                abort();
        if (st == DNS_PARSE_OK) {
                dns_query_locate(&parsed, &peer, &cfg);
                unsigned max =
                    ecs.family == DNS_ECS_FAMILY_IPV4 ? cfg.max_ipv4 : cfg.max_ipv6;
                check_location(&parsed.loc, max);
                if (parsed.loc.from_ecs && (!cfg.enabled || (mode & 0x80 && mode & 0x40)))
                        abort(); /* off, or an untrusted sender */
        }
        uint8_t out[DNS_EDNS_OUR_PAYLOAD];
        size_t r = dns_answer_parsed(dns_db_current(&db), &parsed, st, DNS_TRANSPORT_UDP,
                                     out, 0, NULL);
        if (r > sizeof(out))
                abort();
        return 0;
}
