/*
 * rrl.h — Response Rate Limiting for DNS over UDP (BIND `rate-limit`, Knot
 * `mod-rrl`): a server that answers anyone must not become an amplifier of
 * spoofed floods.
 *
 * Responses are counted per client network (IPv4 /24 and IPv6 /56 by
 * default), per kind (answers, referrals and NODATA, NXDOMAIN, errors) and
 * per name (the question's for answers, referrals and NODATA; the zone's
 * for NXDOMAIN, so random names under a zone count together; none for
 * errors).  Each such account earns `rate` responses a second, may save up
 * at most `rate` of them, and may owe at most `window` seconds of them: a
 * network that floods stays limited until it has been quiet for up to
 * `window` seconds.  Over the limit a response is dropped, except every
 * `slip`-th one, which is sent empty with TC=1 so that a real client asks
 * again over TCP (slip 0: never, 1: always).  Exempt networks are never
 * limited.
 *
 * The accounts live in a fixed table of 64-bit words (`table_size`,
 * rounded up to a power of two), in sets of eight that fill one cache
 * line; a new account takes the set's stalest word.  Every update is one
 * compare-and-swap, so the UDP threads share the table without locks and
 * nothing is allocated per query.
 */
#ifndef DNS_RRL_H
#define DNS_RRL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dns/addr.h"

#define DNS_RRL_EXEMPT_MAX 32

enum dns_rrl_kind {
        DNS_RRL_ANSWER,
        DNS_RRL_NODATA, /* NODATA and referrals */
        DNS_RRL_NXDOMAIN,
        DNS_RRL_ERROR,
};

enum dns_rrl_verdict { DNS_RRL_PASS, DNS_RRL_DROP, DNS_RRL_SLIP };

struct dns_rrl_config {
        bool enabled;
        unsigned rate;        /* responses a second per account, 1..100000 */
        unsigned window;      /* seconds, 1..3600 */
        unsigned slip;        /* 0..10 */
        unsigned ipv4_prefix; /* 8..32 */
        unsigned ipv6_prefix; /* 16..128 */
        unsigned table_size;  /* accounts, 1024..(1 << 26) */
        unsigned exempt_count;
        struct dns_net exempt[DNS_RRL_EXEMPT_MAX];
};

struct dns_rrl {
        struct dns_rrl_config cfg;
        uint64_t key[2];     /* random: accounts cannot be made to collide */
        uint64_t mask[2][2]; /* client address to network: [0] IPv4, [1] IPv6 */
        uint32_t sets;       /* a power of two */
        _Atomic uint64_t *table;
};

/* The defaults: on, 20/s, window 15 s, slip 2, /24 and /56, 65,536
 * accounts, loopback exempt. */
void dns_rrl_config_default(struct dns_rrl_config *cfg);

/* Parses "192.0.2.0/24", "2001:db8::/32", "192.0.2.1" into a network. */
int dns_net_parse(const char *text, struct dns_net *out);
bool dns_net_contains(const struct dns_net *net, const struct dns_client_addr *a);

/* Allocates the table (once, at start).  Returns 0 or -ENOMEM. */
int dns_rrl_init(struct dns_rrl *rrl, const struct dns_rrl_config *cfg);
void dns_rrl_fini(struct dns_rrl *rrl);

bool dns_rrl_exempt(const struct dns_rrl *rrl, const struct dns_client_addr *a);

/* The account a response of `kind` about the name of hash `name` (0: none)
 * to client `a` is charged to. */
uint64_t dns_rrl_account(const struct dns_rrl *rrl, const struct dns_client_addr *a,
                         enum dns_rrl_kind kind, uint64_t name);

/* The same in two steps: the client's network (the same for every
 * response to one client, so a batch computes it once per client), then
 * the account within it: dns_rrl_account() is
 * dns_rrl_account_of(rrl, dns_rrl_network(rrl, a), kind, name). */
uint64_t dns_rrl_network(const struct dns_rrl *rrl, const struct dns_client_addr *a);
uint64_t dns_rrl_account_of(const struct dns_rrl *rrl, uint64_t network,
                            enum dns_rrl_kind kind, uint64_t name);

/* Brings an account's set into the cache, so that charging a batch of
 * responses waits for their cache misses side by side (a hint). */
static inline void dns_rrl_prefetch(const struct dns_rrl *rrl, uint64_t account)
{
        __builtin_prefetch(
            (const void *)&rrl->table[((account >> 32) & (rrl->sets - 1)) * 8], 1);
}

/*
 * Charges one response to `account` at `now` (seconds of a monotonic
 * clock).  *slip_count is the caller's own counter of limited responses
 * (per thread).
 */
enum dns_rrl_verdict dns_rrl_charge(struct dns_rrl *rrl, uint64_t account, uint32_t now,
                                    unsigned *slip_count);

/* dns_rrl_charge(dns_rrl_account(...)). */
enum dns_rrl_verdict dns_rrl_check(struct dns_rrl *rrl, const struct dns_client_addr *a,
                                   enum dns_rrl_kind kind, uint64_t name, uint32_t now,
                                   unsigned *slip_count);

#endif
