/*
 * rrl.c — Response Rate Limiting (see rrl.h).
 *
 * An account is one 64-bit word: a 20-bit tag of its key, the second it was
 * last charged (20 bits, modulo about 12 days) and its balance (a signed
 * 24-bit number of responses).  Charging a response credits `rate` per
 * second elapsed (up to `rate`), takes one, and floors the balance at
 * -rate * window; a negative balance means the response is over the limit.
 * The key (client network, kind, name) is hashed with a random per-process
 * key; its top bits choose the set of eight words, its low 20 bits are the
 * tag.
 */
#include "dns/rrl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SET_WAYS     8 /* as in dns_rrl_prefetch() */
#define TAG_BITS     20
#define TIME_BITS    20
#define BALANCE_BITS 24
#define TAG_MASK     ((1u << TAG_BITS) - 1)
#define TIME_MASK    ((1u << TIME_BITS) - 1)
#define BALANCE_MAX  ((1 << (BALANCE_BITS - 1)) - 1)

static inline uint64_t pack(uint32_t tag, uint32_t time, int32_t balance)
{
        return (uint64_t)tag << 44 | (uint64_t)(time & TIME_MASK) << 24 |
               ((uint32_t)balance & ((1u << BALANCE_BITS) - 1));
}

static inline uint32_t word_tag(uint64_t w)
{
        return (uint32_t)(w >> 44);
}

static inline uint32_t word_time(uint64_t w)
{
        return (uint32_t)(w >> 24) & TIME_MASK;
}

static inline int32_t word_balance(uint64_t w)
{
        int32_t b = (int32_t)(w & ((1u << BALANCE_BITS) - 1));
        return b >= (1 << (BALANCE_BITS - 1)) ? b - (1 << BALANCE_BITS) : b;
}

void dns_rrl_config_default(struct dns_rrl_config *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        cfg->enabled = true;
        cfg->rate = 20;
        cfg->window = 15;
        cfg->slip = 2;
        cfg->ipv4_prefix = 24;
        cfg->ipv6_prefix = 56;
        cfg->table_size = 65536;
        dns_net_parse("127.0.0.0/8", &cfg->exempt[cfg->exempt_count++]);
        dns_net_parse("::1/128", &cfg->exempt[cfg->exempt_count++]);
}

static void mask_bytes(uint8_t *bytes, unsigned len, unsigned prefix)
{
        for (unsigned i = 0; i < len; i++) {
                unsigned bits = prefix > 8 * i ? prefix - 8 * i : 0;
                if (bits < 8)
                        bytes[i] &= (uint8_t)(0xff00u >> bits);
        }
}

int dns_net_parse(const char *text, struct dns_net *out)
{
        char host[64];
        const char *slash = strchr(text, '/');
        size_t hl = slash ? (size_t)(slash - text) : strlen(text);
        if (hl == 0 || hl >= sizeof(host))
                return -EINVAL;
        memcpy(host, text, hl);
        host[hl] = '\0';
        memset(out, 0, sizeof(*out));
        unsigned max;
        if (inet_pton(AF_INET, host, out->bytes) == 1) {
                out->family = AF_INET;
                max = 32;
        } else if (inet_pton(AF_INET6, host, out->bytes) == 1) {
                out->family = AF_INET6;
                max = 128;
        } else {
                return -EINVAL;
        }
        unsigned long prefix = max;
        if (slash != NULL) {
                char *end;
                if (slash[1] < '0' || slash[1] > '9')
                        return -EINVAL;
                prefix = strtoul(slash + 1, &end, 10);
                if (*end != '\0' || prefix > max)
                        return -EINVAL;
        }
        out->prefix = (uint8_t)prefix;
        mask_bytes(out->bytes, max / 8, out->prefix);
        return 0;
}

bool dns_net_contains(const struct dns_net *net, const struct dns_client_addr *a)
{
        if (net->family != a->family)
                return false;
        unsigned whole = net->prefix / 8, rest = net->prefix % 8;
        if (memcmp(net->bytes, a->bytes, whole) != 0)
                return false;
        return rest == 0 ||
               ((a->bytes[whole] ^ net->bytes[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}

int dns_rrl_init(struct dns_rrl *rrl, const struct dns_rrl_config *cfg)
{
        memset(rrl, 0, sizeof(*rrl));
        rrl->cfg = *cfg;
        if (!cfg->enabled)
                return 0;
        uint32_t sets = 1;
        while (sets * SET_WAYS < cfg->table_size && sets < (1u << 26) / SET_WAYS)
                sets <<= 1;
        rrl->sets = sets;
        for (int v6 = 0; v6 < 2; v6++) {
                uint8_t bytes[16];
                memset(bytes, 0xff, sizeof(bytes));
                mask_bytes(bytes, 16, v6 ? cfg->ipv6_prefix : cfg->ipv4_prefix);
                memcpy(rrl->mask[v6], bytes, sizeof(bytes));
        }
        if (getrandom(rrl->key, sizeof(rrl->key), 0) != sizeof(rrl->key))
                return -EIO;
        rrl->table = aligned_alloc(64, (size_t)sets * SET_WAYS * sizeof(uint64_t));
        if (rrl->table == NULL)
                return -ENOMEM;
        for (size_t i = 0; i < (size_t)sets * SET_WAYS; i++)
                atomic_init(&rrl->table[i], 0);
        return 0;
}

void dns_rrl_fini(struct dns_rrl *rrl)
{
        free(rrl->table);
        rrl->table = NULL;
}

bool dns_rrl_exempt(const struct dns_rrl *rrl, const struct dns_client_addr *a)
{
        for (unsigned i = 0; i < rrl->cfg.exempt_count; i++)
                if (dns_net_contains(&rrl->cfg.exempt[i], a))
                        return true;
        return false;
}

static inline uint64_t mix(uint64_t h, uint64_t v)
{
        h ^= v;
        h *= 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ULL;
        return h ^ (h >> 32);
}

/* The client's network, keyed: the part of an account that a batch's
 * responses to one client share. */
uint64_t dns_rrl_network(const struct dns_rrl *rrl, const struct dns_client_addr *a)
{
        const uint64_t *mask = rrl->mask[a->family != AF_INET];
        uint64_t w0, w1;
        memcpy(&w0, a->bytes, 8);
        memcpy(&w1, a->bytes + 8, 8);
        w0 &= mask[0];
        w1 &= mask[1];
        return mix(mix(rrl->key[0], w0), w1 ^ (uint64_t)a->family << 8);
}

/* The account key: the network's, the kind and the name. */
uint64_t dns_rrl_account_of(const struct dns_rrl *rrl, uint64_t network,
                            enum dns_rrl_kind kind, uint64_t name)
{
        return mix(network ^ rrl->key[1] ^ (uint64_t)kind * 0x9e3779b97f4a7c15ULL, name);
}

uint64_t dns_rrl_account(const struct dns_rrl *rrl, const struct dns_client_addr *a,
                         enum dns_rrl_kind kind, uint64_t name)
{
        return dns_rrl_account_of(rrl, dns_rrl_network(rrl, a), kind, name);
}

enum dns_rrl_verdict dns_rrl_check(struct dns_rrl *rrl, const struct dns_client_addr *a,
                                   enum dns_rrl_kind kind, uint64_t name, uint32_t now,
                                   unsigned *slip_count)
{
        return dns_rrl_charge(rrl, dns_rrl_account(rrl, a, kind, name), now, slip_count);
}

enum dns_rrl_verdict dns_rrl_charge(struct dns_rrl *rrl, uint64_t h, uint32_t now,
                                    unsigned *slip_count)
{
        uint32_t tag = (uint32_t)h & TAG_MASK;
        _Atomic uint64_t *set = &rrl->table[((h >> 32) & (rrl->sets - 1)) * SET_WAYS];
        int32_t rate = (int32_t)rrl->cfg.rate;
        int64_t debt = (int64_t)rrl->cfg.rate * rrl->cfg.window;
        int32_t floor = debt > BALANCE_MAX ? -BALANCE_MAX : -(int32_t)debt;
        int32_t balance = 0;
        for (unsigned attempt = 0; attempt < 4; attempt++) {
                /* The account's word (the first whose tag matches), or the
                 * set's stalest to take over.  The ways are compared
                 * without a branch: where the account sits differs from
                 * one response to the next, and a search that stops there
                 * is mispredicted. */
                uint64_t words[SET_WAYS];
                unsigned match = 0;
                for (unsigned i = 0; i < SET_WAYS; i++) {
                        words[i] = atomic_load_explicit(&set[i], memory_order_relaxed);
                        match |= (unsigned)((words[i] != 0) & (word_tag(words[i]) == tag))
                                 << i;
                }
                unsigned way;
                uint64_t w;
                bool found = match != 0;
                if (!found) {
                        unsigned stalest = 0;
                        uint32_t stalest_age = 0;
                        for (unsigned i = 0; i < SET_WAYS; i++) {
                                uint32_t age =
                                    words[i] == 0
                                        ? TIME_MASK + 1
                                        : (now - word_time(words[i])) & TIME_MASK;
                                if (age >= stalest_age) {
                                        stalest_age = age;
                                        stalest = i;
                                }
                        }
                        way = stalest;
                        w = atomic_load_explicit(&set[way], memory_order_relaxed);
                        balance = rate;
                } else {
                        way = (unsigned)__builtin_ctz(match);
                        w = words[way];
                        uint32_t elapsed = (now - word_time(w)) & TIME_MASK;
                        int64_t b = word_balance(w) + (int64_t)elapsed * rate;
                        balance = b > rate ? rate : (int32_t)b;
                }
                balance -= 1;
                if (balance < floor)
                        balance = floor;
                /* A zero word is an empty slot: an account that packs to zero
                 * is only taken for empty later, and starts afresh. */
                if (atomic_compare_exchange_weak_explicit(
                        &set[way], &w, pack(tag, now, balance), memory_order_relaxed,
                        memory_order_relaxed))
                        break;
        }
        if (balance >= 0)
                return DNS_RRL_PASS;
        unsigned slip = rrl->cfg.slip;
        if (slip == 0)
                return DNS_RRL_DROP;
        if (++*slip_count >= slip) {
                *slip_count = 0;
                return DNS_RRL_SLIP;
        }
        return DNS_RRL_DROP;
}
