/*
 * latency.h — the latency map as the query path reads it: client network
 * -> region -> RTT, compiled once per change of the replicated map.
 *
 * node/ hands dns_latency_compile() every (prefix, region, RTT) of the
 * replicated map (consensus/latency.h) and publishes the result with
 * dns_db_latency_publish(), a catalog swap like zone changes, the old map
 * freed after the readers' grace period.  Compiling does the work a query
 * must not:
 *
 *   - a prefix inherits, for each region it has no RTT for, the RTT of its
 *     nearest enclosing prefix that has one, so the longest match alone
 *     holds everything a decision needs;
 *   - the prefixes go into a longest-prefix-match table (common/lpm.h, a
 *     path-compressed trie), each naming its entry;
 *   - each prefix's RTTs are sorted by region key.
 *
 * dns_latency_lookup() then finds the longest prefix holding a client
 * network, no longer than the client's own prefix length (a resolver that
 * sends a /24 says nothing finer), and the scope that answer holds for
 * (RFC 7871): the leading bits of the client's address the outcome depended
 * on, so a more specific entry near the client inside the matched prefix
 * narrows the scope instead of being answered for (never past the client's
 * own prefix length: nothing finer is known).  Lookups
 * allocate nothing, take no lock and make no system call.
 *
 * Regions are keyed by dns_latency_region_key(), a 64-bit hash of the name,
 * computed the same way here and for the sets (dns/rrset.h), so that the
 * map and the zones are compiled independently.
 */
#ifndef DNS_LATENCY_H
#define DNS_LATENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/addr.h"

struct dns_db;

/* One RTT of the replicated map; net.family is AF_INET or AF_INET6. */
struct dns_latency_item {
        struct dns_net net;
        uint64_t region; /* dns_latency_region_key() */
        uint32_t rtt_us;
};

struct dns_latency_rtt {
        uint64_t region;
        uint32_t rtt_us;
};

/* What a lookup found. */
struct dns_latency_match {
        const struct dns_latency_rtt *rtt; /* sorted by region; NULL: no prefix */
        uint32_t n_rtt;
        uint8_t prefix; /* length of the matched prefix */
        uint8_t scope;  /* the answer holds for the client's address / scope */
};

struct dns_latency_map;

/* 64-bit key of a region name (never 0). */
uint64_t dns_latency_region_key(const char *name);

/* Compiles n items (any order; a (prefix, region) given twice keeps the
 * lowest RTT) into *out (free with dns_latency_free).  0 or -ENOMEM. */
int dns_latency_compile(const struct dns_latency_item *items, size_t n,
                        struct dns_latency_map **out);
void dns_latency_free(void *map);

/* Prefixes and RTTs held (for the API and tests). */
size_t dns_latency_prefix_count(const struct dns_latency_map *map);

/* The longest prefix holding the client network `net` (its bytes masked to
 * net->prefix).  Returns false when the family has no data at all. */
bool dns_latency_lookup(const struct dns_latency_map *map, const struct dns_net *net,
                        struct dns_latency_match *out);

/* The RTT of region in a match, or 0 when it has none. */
static inline uint32_t dns_latency_rtt_of(const struct dns_latency_match *m,
                                          uint64_t region)
{
        for (uint32_t i = 0; i < m->n_rtt; i++)
                if (m->rtt[i].region == region)
                        return m->rtt[i].rtt_us;
        return 0;
}

/*
 * Publishes `map` (taken on success; NULL: none) as the map readers see,
 * the old one freed after the grace period.  On the db's writer thread.
 * 0 or -ENOMEM.
 */
int dns_db_latency_publish(struct dns_db *db, struct dns_latency_map *map);

#endif
