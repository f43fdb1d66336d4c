/*
 * route.h — routing policies on the query path: which record sets of a name
 * and type to answer, given the published health of their checks.
 *
 * The sets of one (name, type) that carry a policy form a group in the
 * name's blob (dns/rrset.h keeps them side by side).  dns_route_select()
 * picks from a group by its policy — weighted (share = weight / sum of the
 * healthy weights), failover (primary, else a healthy secondary, both down:
 * primary), multivalue (up to 8 healthy sets, a random subset when more) —
 * and follows aliases to their target's group, chosen by the target's own
 * policy.  When no set of a group is healthy every set counts as healthy
 * (fail open).  Alias chains are followed at most DNS_ALIAS_DEPTH deep and
 * health evaluation through aliases costs at most DNS_ROUTE_BUDGET steps, so
 * a loop or a wide tree bounds the work of one query.
 *
 * Health comes from a `struct dns_health`, an immutable array of check
 * statuses indexed by the small numbers the sets carry.  It hangs off the
 * published catalog (dns/db.h): dns_db_health_publish() installs a new
 * version with a catalog swap and frees the old one after the readers'
 * grace period, exactly as zone changes are published.  Selection reads
 * only published data, allocates nothing, takes no lock and makes no system
 * call; its randomness comes from a per-thread generator seeded once per
 * thread from the kernel (dns_route_seed() fixes it, for tests).
 */
#ifndef DNS_ROUTE_H
#define DNS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/lpm.h"
#include "dns/addr.h"
#include "dns/db.h"
#include "dns/ecs.h"
#include "dns/rrset.h"

#define DNS_PICK_MAX     8  /* multivalue answers at most 8 sets */
#define DNS_ALIAS_DEPTH  8  /* aliases followed in a row */
#define DNS_ROUTE_BUDGET 64 /* alias hops one query may spend */

enum dns_health_status { DNS_HEALTH_HEALTHY = 0, DNS_HEALTH_UNHEALTHY = 1 };

/* One published health version.  Checks past `count` are healthy (a new
 * check is healthy until data arrives). */
struct dns_health {
        uint64_t version;
        uint32_t count;
        uint8_t status[]; /* enum dns_health_status, by check index */
};

/* A version with `count` checks, all healthy; NULL when out of memory. */
struct dns_health *dns_health_new(uint64_t version, uint32_t count);

/* Whether the check a set carries (0: none) is healthy. */
static inline bool dns_health_ok(const struct dns_health *h, uint32_t check)
{
        if (check == 0 || h == NULL || check - 1 >= h->count)
                return true;
        return h->status[check - 1] == DNS_HEALTH_HEALTHY;
}

/*
 * Publishes `health` (taken on success; on failure the caller keeps it) as
 * the version readers see, with the same catalog swap and grace period as
 * a zone change.  On the db's writer thread.  0 or -ENOMEM.
 */
int dns_db_health_publish(struct dns_db *db, struct dns_health *health);

/* Where a client is, as a GeoIP database says (codes NUL-terminated, ""
 * when unknown), and the length of the network that holds for. */
struct dns_geo_place {
        char continent[3];
        char country[3];
        char subdivision[4]; /* ISO 3166-2, the part after the dash */
        uint8_t prefix;
        bool has_coordinates;       /* latitude/longitude are the network's */
        double latitude, longitude; /* degrees */
};

/* A GeoIP database as the query path sees it: node/ fills it from geo/.
 * lookup must not allocate, lock or call the kernel; release frees the
 * whole object after the readers' grace period. */
struct dns_geo_warm {
        const void *at;
        unsigned depth;
};
struct dns_geo {
        int (*lookup)(const struct dns_geo *geo, const struct dns_net *net,
                      struct dns_geo_place *out);
        /* Optional (NULL: none): stepwise prefetch of what lookup will read
         * for net, a hint with the contract of geo_table_warm_begin/_step
         * (begin when w->at is NULL); false: nothing left to prefetch. */
        bool (*warm)(const struct dns_geo *geo, const struct dns_net *net,
                     struct dns_geo_warm *w);
        void (*release)(void *geo);
        void *ctx;
};

/*
 * Publishes `geo` (taken on success; NULL: none) as the database readers
 * see, the old one released after the grace period, as zone changes are.
 * On the db's writer thread.  0 or -ENOMEM.
 */
int dns_db_geo_publish(struct dns_db *db, struct dns_geo *geo);

/* The tries of the CIDR collections (IP-based routing), by the number the
 * node gave each collection (sorted): a trie's values are the numbers of
 * the collection's locations (struct dns_cidr_ref).  Immutable once
 * published; a new version shares the tries that did not change. */
struct lpm;
struct dns_cidr_table {
        uint32_t collection;
        const struct lpm *trie;
};
struct dns_cidr {
        uint32_t count;
        struct dns_cidr_table table[];
};

/*
 * Publishes `cidr` (taken on success; NULL: none) as the version readers
 * see.  The old version's array, and `gone` (tries the new version no
 * longer holds, count n_gone; taken on success), are freed after the
 * readers' grace period.  On the db's writer thread.  0 or -ENOMEM.
 */
int dns_db_cidr_publish(struct dns_db *db, struct dns_cidr *cidr, struct lpm **gone,
                        size_t n_gone);

/*
 * Stepwise prefetch of what routing a query at `sets` for `type` will read
 * about the client at `loc` — the GeoIP table's entries and place, or the
 * CIDR collection's trie — so that a caller answering many queries (the
 * UDP batch, dns_answer_warm()) waits for their cache misses together.
 * _begin returns false when there is nothing to prefetch; each _step
 * prefetches one more read and returns false after the last.  Only a hint:
 * the choice is the same with or without it.
 */
struct dns_route_warm {
        const struct dns_catalog *cat;
        const struct dns_location *loc;
        const struct lpm *trie; /* IP-based; NULL: the GeoIP table */
        union {
                struct dns_geo_warm geo;
                struct lpm_warm lpm;
        } u;
};

/* Prefetches the lines of a node's routed sets past the first (the
 * first, which holds the count and size, is read), at most 8. */
void dns_route_warm_sets(const struct dns_rrsets *sets);
bool dns_route_warm_begin(struct dns_route_warm *w, const struct dns_catalog *catalog,
                          const struct dns_rrsets *sets, uint16_t type,
                          const struct dns_location *loc);
bool dns_route_warm_step(struct dns_route_warm *w);

/* A set chosen to answer with: records of `info` in `sets`, written from
 * record `start` on (DNS_PICK_ROTATE: the answer's own rotation).  `info`
 * may point at `merged`, several adjacent sets of a group seen as one. */
#define DNS_PICK_ROTATE UINT32_MAX
struct dns_pick {
        const struct dns_rrsets *sets;
        const struct dns_rrset_info *info;
        uint32_t start;
        struct dns_rrset_info merged;
};

/*
 * Chooses the sets that answer `type` at a name whose record sets are
 * `sets` (a DNS_NODE_POLICY node), following aliases through `catalog`.
 * Returns how many picks were written to out (at most DNS_PICK_MAX); 0 when
 * the name has no set of this type or an alias leads nowhere.
 */
unsigned dns_route_select(const struct dns_catalog *catalog,
                          const struct dns_rrsets *sets, uint16_t type,
                          struct dns_pick out[DNS_PICK_MAX]);

/*
 * The same for a client at `loc` (NULL: unknown): geolocation groups pick
 * the most specific location that holds the client (subdivision, country,
 * continent, then "*"), healthy first, NODATA when none does; geoproximity
 * groups pick the set with the smallest biased distance to the client's
 * coordinates (healthy first; ties and clients without coordinates: the
 * set whose records sort first); IP-based groups pick the set of the
 * location whose block is the longest prefix holding the client, else the
 * "*" set (a matching set that is down gives way to a healthy "*"; all
 * down: fail open), NODATA when neither exists.  When a choice depended on
 * the client's location, *scope is raised to the length of the network
 * that decided it (RFC 7871 SCOPE PREFIX-LENGTH): the database's network,
 * or for IP-based sets the matched prefix, lengthened to where the client
 * leaves any longer prefix of the collection (common/lpm.h).
 */
unsigned dns_route_select_at(const struct dns_catalog *catalog,
                             const struct dns_rrsets *sets, uint16_t type,
                             const struct dns_location *loc, uint8_t *scope,
                             struct dns_pick out[DNS_PICK_MAX]);

/*
 * Why a choice was made.  dns_route_select_why() is dns_route_select_at()
 * that also writes down what it decided and why, as it decides: for each
 * group it chose in (the queried group, then each alias's target group),
 * the policy, every set's health and standing by the policy's measure, the
 * sets chosen, whether the choice depended on where the client is, and
 * fail open.  The query path passes NULL and pays one predictable branch
 * per group; the API's explain (node/api_explain.c) passes a struct
 * dns_route_why and renders it.  Writing down changes no choice: it spends
 * no random number and gives back the alias budget its health look-ups
 * spend.
 *
 * A new policy plugs in with a value of enum dns_why_policy (why_policy()
 * in route.c says which group has it), and, when its sets stand by a
 * measure (a matched prefix, a round-trip time), a value of enum
 * dns_why_measure that why_measure() fills; the renderer names both.
 */
#define DNS_WHY_GROUPS     16  /* groups written down per query */
#define DNS_WHY_CANDIDATES 128 /* sets written down per query, over all groups */

enum dns_why_policy {
        DNS_WHY_SIMPLE = 0, /* a plain set or alias at a routed name */
        DNS_WHY_WEIGHTED,
        DNS_WHY_FAILOVER,
        DNS_WHY_MULTIVALUE,
        DNS_WHY_GEOLOCATION,
        DNS_WHY_GEOPROXIMITY,
        DNS_WHY_LATENCY,
        DNS_WHY_CIDR, /* IP-based */
        DNS_WHY_POLICY_COUNT
};

enum dns_why_health {
        DNS_WHY_NO_CHECK = 0,     /* no check, no target evaluated: healthy */
        DNS_WHY_HEALTHY,          /* its check (and target, if evaluated) healthy */
        DNS_WHY_UNHEALTHY,        /* its check is unhealthy */
        DNS_WHY_TARGET_UNHEALTHY, /* an alias whose target has no healthy set */
};

/* What a candidate's value and raw hold. */
enum dns_why_measure {
        DNS_WHY_NONE = 0,
        DNS_WHY_SHARE,    /* weighted: the chance of being chosen, 0..1 */
        DNS_WHY_ROLE,     /* failover: 1 primary, 2 secondary, 0 neither */
        DNS_WHY_MATCH,    /* geolocation: 4 subdivision, 3 country, 2
                           * continent, 1 "*", 0 does not hold the client */
        DNS_WHY_DISTANCE, /* geoproximity: km after bias; raw: before bias */
        DNS_WHY_RTT,      /* latency: the region's RTT to the client in ms (0:
                           * none known); raw: km to the region when places
                           * ranked (0: not ranked by place) */
        DNS_WHY_PREFIX,   /* IP-based: the matched block's length when the
                           * set's location holds the client, -1 when not;
                           * raw 1: the "*" set */
};

enum dns_why_outcome {
        DNS_WHY_CHOSEN = 0, /* healthy sets chosen */
        DNS_WHY_FAIL_OPEN,  /* nothing eligible healthy: an unhealthy set chosen */
        DNS_WHY_NODATA,     /* no set holds the client (geolocation) */
        DNS_WHY_DEAD_END,   /* an alias whose target has no set of the type */
        DNS_WHY_TOO_DEEP,   /* alias depth or the query's budget spent */
};

struct dns_why_candidate {
        const struct dns_rrset_info *info; /* in its group's sets */
        uint8_t health;                    /* enum dns_why_health */
        uint8_t measure;                   /* enum dns_why_measure */
        bool chosen;
        double value, raw;
};

struct dns_why_group {
        const struct dns_rrsets *sets; /* the blob of the name chosen at */
        uint16_t type;
        uint8_t depth;    /* alias hops from the name asked for */
        uint8_t policy;   /* enum dns_why_policy */
        uint8_t outcome;  /* enum dns_why_outcome */
        bool by_location; /* the choice depended on the client's network */
        uint8_t scope;    /* the ECS scope that dependence asks for */
        /* The query's alias budget ran out while the group chose: the
         * health of its evaluated aliases may be shown as selection's
         * last steps saw it, not as it saw them all. */
        bool budget_spent;
        unsigned first, count; /* its candidates: cand[first..first+count) */
        unsigned dropped;      /* candidates past DNS_WHY_CANDIDATES */
};

struct dns_route_why {
        /* Where this node's GeoIP database puts the client (once asked). */
        bool has_geo; /* the node has a database */
        bool located; /* it was asked */
        bool placed;  /* and knows the client's network */
        struct dns_geo_place place;
        unsigned ngroups, ncand;
        unsigned dropped; /* groups past DNS_WHY_GROUPS */
        struct dns_why_group group[DNS_WHY_GROUPS];
        struct dns_why_candidate cand[DNS_WHY_CANDIDATES];
};

/*
 * dns_route_select_at() writing down why into `why` (NULL: not asked; the
 * choice is the same either way).  `why` is zeroed by the caller and may
 * collect several selections of one query (CNAME, additional section).
 */
unsigned dns_route_select_why(const struct dns_catalog *catalog,
                              const struct dns_rrsets *sets, uint16_t type,
                              const struct dns_location *loc, uint8_t *scope,
                              struct dns_pick out[DNS_PICK_MAX],
                              struct dns_route_why *why);

/* A geolocation key as text: "*", "EU", "GB", "GB-ENG" ("" when invalid). */
void dns_geo_key_text(uint32_t key, char out[8]);

/* Seeds the calling thread's generator (tests; threads seed themselves). */
void dns_route_seed(uint64_t seed);

#endif
