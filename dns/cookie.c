/*
 * cookie.c — DNS cookies (see cookie.h).
 *
 * Checking a returned server cookie costs one SipHash per accepted secret
 * at most (usually one), over at most 32 bytes; a valid cookie that is
 * less than half an hour old is echoed, so most answers to a client that
 * keeps its cookie need no second hash.
 */
#include "dns/cookie.h"

#include <string.h>

#include "dns/wire.h"

void dns_cookie_secrets_store(struct dns_cookie_secrets *s,
                              const struct dns_cookie_keys *k)
{
        unsigned seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
        atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        for (unsigned i = 0; i < DNS_COOKIE_KEYS_MAX; i++) {
                uint64_t w[2] = {0, 0};
                if (i < k->count)
                        memcpy(w, k->key[i], sizeof(w));
                atomic_store_explicit(&s->words[i][0], w[0], memory_order_relaxed);
                atomic_store_explicit(&s->words[i][1], w[1], memory_order_relaxed);
        }
        atomic_store_explicit(&s->count, k->count, memory_order_relaxed);
        atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

void dns_cookie_secrets_load(struct dns_cookie_secrets *s, struct dns_cookie_keys *out)
{
        for (;;) {
                unsigned seq = atomic_load_explicit(&s->seq, memory_order_acquire);
                if (seq & 1)
                        continue;
                out->count = atomic_load_explicit(&s->count, memory_order_relaxed);
                for (unsigned i = 0; i < DNS_COOKIE_KEYS_MAX; i++) {
                        uint64_t w[2] = {
                            atomic_load_explicit(&s->words[i][0], memory_order_relaxed),
                            atomic_load_explicit(&s->words[i][1], memory_order_relaxed),
                        };
                        memcpy(out->key[i], w, sizeof(w));
                }
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&s->seq, memory_order_relaxed) == seq)
                        return;
        }
}

/* SipHash input: client cookie | version | reserved | timestamp | address. */
static uint64_t cookie_hash(const uint8_t key[DNS_SIPHASH_KEY_SIZE],
                            const uint8_t client[8], const uint8_t head[8],
                            const struct dns_client_addr *a)
{
        uint8_t msg[8 + 8 + 16];
        memcpy(msg, client, 8);
        memcpy(msg + 8, head, 8);
        memcpy(msg + 16, a->bytes, a->len);
        return dns_siphash24(key, msg, 16 + (size_t)a->len);
}

static void put_le64(uint8_t *p, uint64_t v)
{
        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

void dns_cookie_make(const uint8_t key[DNS_SIPHASH_KEY_SIZE], const uint8_t client[8],
                     uint32_t now, const struct dns_client_addr *a, uint8_t out[16])
{
        out[0] = 1; /* version */
        out[1] = out[2] = out[3] = 0;
        wire_put32(out + 4, now);
        put_le64(out + 8, cookie_hash(key, client, out, a));
}

enum dns_cookie_verdict dns_cookie_answer(const struct dns_cookie_keys *keys,
                                          struct dns_query *q,
                                          const struct dns_client_addr *a, uint32_t now)
{
        if (q->cookie == NULL || keys->count == 0)
                return DNS_COOKIE_ABSENT;
        const uint8_t *client = q->cookie, *server = q->cookie + 8;
        memcpy(q->cookie_reply, client, 8);
        q->cookie_reply_len = 24;
        enum dns_cookie_verdict verdict = DNS_COOKIE_CLIENT_ONLY;
        if (q->cookie_len == 24 && server[0] == 1) {
                int32_t age = (int32_t)(now - wire_get32(server + 4));
                verdict = DNS_COOKIE_BAD;
                if (age >= -DNS_COOKIE_FUTURE && age <= DNS_COOKIE_LIFETIME) {
                        uint8_t want[8];
                        for (unsigned i = 0; i < keys->count; i++) {
                                put_le64(want,
                                         cookie_hash(keys->key[i], client, server, a));
                                if (memcmp(want, server + 8, 8) != 0)
                                        continue;
                                verdict = DNS_COOKIE_VALID;
                                if (i == 0 && age < DNS_COOKIE_RENEW) {
                                        memcpy(q->cookie_reply + 8, server, 16);
                                        return verdict;
                                }
                                break;
                        }
                }
        } else if (q->cookie_len > 8) {
                verdict = DNS_COOKIE_BAD; /* another server's format */
        }
        dns_cookie_make(keys->key[0], client, now, a, q->cookie_reply + 8);
        return verdict;
}

static int hex_value(char ch)
{
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

static bool blank(char ch)
{
        return ch == ' ' || ch == '\t' || ch == '\r';
}

int dns_cookie_keys_parse(const char *text, size_t len, struct dns_cookie_keys *keys,
                          unsigned *bad_line, const char **why)
{
        keys->count = 0;
        unsigned line = 0;
        for (size_t pos = 0; pos < len;) {
                line++;
                size_t end = pos;
                while (end < len && text[end] != '\n')
                        end++;
                size_t stop = pos;
                while (stop < end && text[stop] != '#')
                        stop++;
                while (pos < stop && blank(text[pos]))
                        pos++;
                while (stop > pos && blank(text[stop - 1]))
                        stop--;
                size_t n = stop - pos;
                if (n > 0) {
                        *bad_line = line;
                        *why = "a secret is 32 hexadecimal digits (16 bytes)";
                        if (n != 2 * DNS_SIPHASH_KEY_SIZE)
                                return -1;
                        if (keys->count == DNS_COOKIE_KEYS_MAX - 1) {
                                *why = "too many secrets (at most 3)";
                                return -1;
                        }
                        uint8_t *key = keys->key[keys->count];
                        for (unsigned i = 0; i < DNS_SIPHASH_KEY_SIZE; i++) {
                                int hi = hex_value(text[pos + 2 * i]);
                                int lo = hex_value(text[pos + 2 * i + 1]);
                                if (hi < 0 || lo < 0)
                                        return -1;
                                key[i] = (uint8_t)(hi << 4 | lo);
                        }
                        keys->count++;
                }
                pos = end + 1;
        }
        if (keys->count == 0) {
                *bad_line = 0;
                *why = "no secret in the file";
                return -1;
        }
        return 0;
}
