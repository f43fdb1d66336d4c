/*
 * cookie.h — DNS cookies (RFC 7873) with the interoperable server cookie
 * of RFC 9018.
 *
 * A client sends an 8-byte client cookie in the EDNS COOKIE option; the
 * server answers with it followed by a 16-byte server cookie: version 1,
 * three reserved bytes, a timestamp (seconds, wall clock), and
 * SipHash-2-4, keyed with the server secret, of the client cookie, those
 * eight bytes and the client's address.  A client that returns a server
 * cookie made for its address by this server (or by any server holding the
 * same secret: every node of a cluster) in the last hour has shown that it
 * receives what is sent to that address: it is not a spoofed source.
 *
 * The secrets: the first makes new cookies, every one (at most
 * DNS_COOKIE_KEYS_MAX) is accepted, so that a secret can be rotated while
 * cookies made with the previous one stay valid.  The node's loop stores
 * them; each UDP thread copies them once per batch under a sequence count,
 * without a lock.
 */
#ifndef DNS_COOKIE_H
#define DNS_COOKIE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dns/addr.h"
#include "dns/packet.h"
#include "dns/siphash.h"

#define DNS_COOKIE_KEYS_MAX 4
#define DNS_COOKIE_LIFETIME 3600 /* seconds a server cookie is accepted */
#define DNS_COOKIE_FUTURE   300  /* seconds a timestamp may be ahead */
#define DNS_COOKIE_RENEW    1800 /* a valid cookie older than this is replaced */

struct dns_cookie_keys {
        unsigned count;
        uint8_t key[DNS_COOKIE_KEYS_MAX][DNS_SIPHASH_KEY_SIZE];
};

/* The published secrets, shared between threads. */
struct dns_cookie_secrets {
        atomic_uint seq; /* odd while a store is in progress */
        atomic_uint count;
        _Atomic uint64_t words[DNS_COOKIE_KEYS_MAX][2];
};

/* Writer side (one thread at a time). */
void dns_cookie_secrets_store(struct dns_cookie_secrets *s,
                              const struct dns_cookie_keys *k);
/* Reader side: a consistent copy. */
void dns_cookie_secrets_load(struct dns_cookie_secrets *s, struct dns_cookie_keys *out);

/* The 16-byte server cookie for client cookie `client` from address a at
 * time `now` (seconds since the epoch, modulo 2^32). */
void dns_cookie_make(const uint8_t key[DNS_SIPHASH_KEY_SIZE], const uint8_t client[8],
                     uint32_t now, const struct dns_client_addr *a, uint8_t out[16]);

enum dns_cookie_verdict {
        DNS_COOKIE_ABSENT,      /* no COOKIE option */
        DNS_COOKIE_CLIENT_ONLY, /* a client cookie alone */
        DNS_COOKIE_BAD,         /* a server cookie that is not ours, or expired */
        DNS_COOKIE_VALID,       /* a server cookie we made for this client */
};

/*
 * Judges the COOKIE option of q (from address a, at `now`) and, when there
 * is one, puts the COOKIE of the response in q->cookie_reply: the client
 * cookie and a server cookie (the client's own when valid and recent, else
 * a new one made with the first key).
 */
enum dns_cookie_verdict dns_cookie_answer(const struct dns_cookie_keys *keys,
                                          struct dns_query *q,
                                          const struct dns_client_addr *a, uint32_t now);

/*
 * Parses a secrets file's text: one secret a line as 32 hexadecimal digits,
 * blank lines and '#' comments ignored, at most DNS_COOKIE_KEYS_MAX - 1
 * secrets (room for one retired by a rotation).  0, or -1 with the line
 * number in *bad_line (0: no secret at all) and a reason in *why.
 */
int dns_cookie_keys_parse(const char *text, size_t len, struct dns_cookie_keys *keys,
                          unsigned *bad_line, const char **why);

#endif
