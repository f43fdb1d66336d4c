/*
 * route.c — routing-policy selection and health versions (see route.h).
 *
 * A query at a routed name comes here with the name's blob and the query
 * type.  select_group() applies the policy of the group (the sets of that
 * type, side by side in the blob): weighted, failover and multivalue here,
 * the location policies (geolocation, geoproximity, latency, IP-based) in
 * route_loc.c, which locates the client once per query.  A chosen alias is
 * followed with follow(), which finds the target's blob in the catalog and
 * selects in the target's group in turn.  Health of a set is its check's
 * status in the catalog's health version and, for an alias with
 * evaluate_target_health, whether its target group has a healthy set
 * (evaluated the same way).  Every alias hop, in selection or in health
 * evaluation, spends one unit of a per-query budget and one level of
 * depth, so loops end.  When asked (dns_route_select_why), select_group()
 * writes down each group's choice after making it (dns_sel_why_group in
 * route_why.c: health, the policy's measure, fail open); the choosing code
 * itself is the same either way.
 */
#include "dns/route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/lpm.h"
#include "dns/name.h"
#include "dns/route_priv.h"
#include "dns/zone.h"

/* ---- the per-thread generator (splitmix64) --------------------------------------- */

static _Thread_local uint64_t rng_state; /* 0: not seeded yet */

void dns_route_seed(uint64_t seed)
{
        rng_state = seed ? seed : 1;
}

static uint64_t rng_next(void)
{
        if (__builtin_expect(rng_state == 0, 0)) {
                /* Once per thread: not on the path of every query. */
                uint64_t seed = 0;
                if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
                        struct timespec ts;
                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
                               (uint64_t)(uintptr_t)&rng_state;
                }
                dns_route_seed(seed);
        }
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0), by multiplication: no division per query. */
static uint64_t rng_below(uint64_t n)
{
        return (uint64_t)(((unsigned __int128)rng_next() * n) >> 64);
}

/* ---- health versions ------------------------------------------------------------- */

struct dns_health *dns_health_new(uint64_t version, uint32_t count)
{
        struct dns_health *h = calloc(1, sizeof(*h) + count);
        if (h != NULL) {
                h->version = version;
                h->count = count;
        }
        return h;
}

int dns_db_health_publish(struct dns_db *db, struct dns_health *health)
{
        struct dns_txn txn;
        int rc = dns_txn_begin(db, &txn);
        if (rc != 0)
                return rc;
        const struct dns_health *old = txn.catalog->health;
        if (old != NULL && reclaim_push(&txn.retired, free, (void *)old) != 0) {
                dns_txn_abort(&txn);
                return -ENOMEM;
        }
        txn.catalog->health = health;
        return dns_txn_commit(&txn);
}

int dns_db_geo_publish(struct dns_db *db, struct dns_geo *geo)
{
        struct dns_txn txn;
        int rc = dns_txn_begin(db, &txn);
        if (rc != 0)
                return rc;
        const struct dns_geo *old = txn.catalog->geo;
        if (old != NULL && reclaim_push(&txn.retired, old->release, (void *)old) != 0) {
                dns_txn_abort(&txn);
                return -ENOMEM;
        }
        txn.catalog->geo = geo;
        return dns_txn_commit(&txn);
}

static void lpm_free_item(void *trie)
{
        lpm_free(trie);
}

int dns_db_cidr_publish(struct dns_db *db, struct dns_cidr *cidr, struct lpm **gone,
                        size_t n_gone)
{
        struct dns_txn txn;
        int rc = dns_txn_begin(db, &txn);
        if (rc != 0)
                return rc;
        const struct dns_cidr *old = txn.catalog->cidr;
        if (old != NULL && reclaim_push(&txn.retired, free, (void *)old) != 0)
                goto nomem;
        for (size_t i = 0; i < n_gone; i++)
                if (gone[i] != NULL &&
                    reclaim_push(&txn.retired, lpm_free_item, gone[i]) != 0)
                        goto nomem;
        txn.catalog->cidr = cidr;
        return dns_txn_commit(&txn);
nomem:
        /* Nothing was published: the retired list only names, never frees,
         * what an aborted transaction pushed. */
        dns_txn_abort(&txn);
        return -ENOMEM;
}

/* ---- selection ------------------------------------------------------------------- */

/* The blob of an alias's target name, or NULL. */
static const struct dns_rrsets *alias_target(const struct dns_sel *s,
                                             const struct dns_rrsets *sets,
                                             const struct dns_rrset_info *alias)
{
        const uint8_t *rr = dns_rrset_next(sets, alias, NULL);
        struct dns_lname name;
        if (rr == NULL ||
            dns_lname_from_wire(&name, dns_rr_rdata(rr), dns_rr_rdlen(rr)) < 0)
                return NULL;
        const struct dns_zone *zone = dns_catalog_find(s->cat, &name);
        if (zone == NULL)
                return NULL;
        const struct dns_node *node = dns_zone_find(zone, &name);
        return node != NULL ? node->rrsets : NULL;
}

bool dns_sel_set_healthy(struct dns_sel *s, const struct dns_rrsets *sets,
                         const struct dns_rrset_info *info, unsigned depth)
{
        if (!dns_health_ok(s->health, dns_rrset_health(info)))
                return false;
        const uint8_t both = DNS_ROUTE_ALIAS | DNS_ROUTE_EVALUATE;
        if ((dns_rrset_route_flags(info) & both) != both)
                return true;
        if (depth >= DNS_ALIAS_DEPTH || s->budget == 0)
                return false; /* a loop, or too deep: no healthy target */
        s->budget--;
        const struct dns_rrsets *target = alias_target(s, sets, info);
        unsigned first, n = dns_sel_group_of(target, info->type, &first);
        for (unsigned k = 0; k < n; k++)
                if (dns_sel_set_healthy(s, target, &target->set[first + k], depth + 1))
                        return true;
        return false;
}

/* Health of the sets of a group, cached for the first 256. */
struct health_cache {
        uint64_t known[4], ok[4];
};

static bool healthy_at(struct dns_sel *s, struct health_cache *c,
                       const struct dns_rrsets *sets, unsigned first, unsigned k,
                       unsigned depth)
{
        if (k < 256 && (c->known[k / 64] >> (k % 64) & 1))
                return c->ok[k / 64] >> (k % 64) & 1;
        bool ok = dns_sel_set_healthy(s, sets, &sets->set[first + k], depth);
        if (k < 256) {
                c->known[k / 64] |= 1ull << (k % 64);
                if (ok)
                        c->ok[k / 64] |= 1ull << (k % 64);
        }
        return ok;
}

/* weight / sum of the weights, every set healthy: the common case. */
static unsigned pick_by_weight(const struct dns_rrset_info *set, unsigned n)
{
        uint64_t total = 0;
        for (unsigned k = 0; k < n; k++)
                total += dns_rrset_weight(&set[k]);
        if (total == 0)
                return (unsigned)rng_below(n);
        uint64_t r = rng_below(total);
        for (unsigned k = 0; k < n; k++) {
                unsigned w = dns_rrset_weight(&set[k]);
                if (r < w)
                        return k;
                r -= w;
        }
        return 0; /* not reached */
}

/* weight / sum of the healthy weights; weight 0 only when no non-zero
 * weight is healthy; nothing healthy: every set counts (fail open). */
static unsigned choose_weighted(struct dns_sel *s, const struct dns_rrsets *sets,
                                unsigned first, unsigned n, unsigned depth)
{
        if (!dns_sel_group_checked(s, &sets->set[first], n))
                return pick_by_weight(&sets->set[first], n);
        struct health_cache c;
        memset(&c, 0, sizeof(c));
        uint64_t sum_ok = 0, sum_all = 0;
        unsigned n_ok = 0;
        for (unsigned k = 0; k < n; k++) {
                unsigned w = dns_rrset_weight(&sets->set[first + k]);
                sum_all += w;
                if (healthy_at(s, &c, sets, first, k, depth)) {
                        n_ok++;
                        sum_ok += w;
                }
        }
        bool only_ok = n_ok > 0;
        uint64_t total = only_ok ? sum_ok : sum_all;
        if (total > 0) {
                uint64_t r = rng_below(total);
                for (unsigned k = 0; k < n; k++) {
                        unsigned w = dns_rrset_weight(&sets->set[first + k]);
                        if (w == 0 ||
                            (only_ok && !healthy_at(s, &c, sets, first, k, depth)))
                                continue;
                        if (r < w)
                                return k;
                        r -= w;
                }
                return 0; /* not reached */
        }
        uint64_t r = rng_below(only_ok ? n_ok : n); /* all weights 0: uniform */
        for (unsigned k = 0; k < n; k++) {
                if (only_ok && !healthy_at(s, &c, sets, first, k, depth))
                        continue;
                if (r-- == 0)
                        return k;
        }
        return 0;
}

/* Primary when healthy, else a healthy secondary, else the primary. */
static unsigned choose_failover(struct dns_sel *s, const struct dns_rrsets *sets,
                                unsigned first, unsigned n, unsigned depth)
{
        int primary = -1, secondary = -1;
        for (unsigned k = 0; k < n; k++) {
                unsigned route = dns_rrset_route_flags(&sets->set[first + k]);
                if ((route & DNS_ROUTE_PRIMARY) && primary < 0)
                        primary = (int)k;
                else if ((route & DNS_ROUTE_SECONDARY) && secondary < 0)
                        secondary = (int)k;
        }
        if (primary >= 0 &&
            dns_sel_set_healthy(s, sets, &sets->set[first + primary], depth))
                return (unsigned)primary;
        if (secondary >= 0 &&
            dns_sel_set_healthy(s, sets, &sets->set[first + secondary], depth))
                return (unsigned)secondary;
        return primary >= 0     ? (unsigned)primary
               : secondary >= 0 ? (unsigned)secondary
                                : 0;
}

/* Up to max healthy sets at random (all unhealthy: up to max of those). */
static unsigned choose_multivalue(struct dns_sel *s, const struct dns_rrsets *sets,
                                  unsigned first, unsigned n, unsigned depth,
                                  unsigned *chosen, unsigned max)
{
        struct health_cache c;
        memset(&c, 0, sizeof(c));
        unsigned n_ok = 0;
        for (unsigned k = 0; k < n; k++)
                n_ok += healthy_at(s, &c, sets, first, k, depth);
        bool only_ok = n_ok > 0;
        unsigned seen = 0, got = 0;
        for (unsigned k = 0; k < n; k++) {
                if (only_ok && !healthy_at(s, &c, sets, first, k, depth))
                        continue;
                if (got < max) { /* reservoir sampling of max among the candidates */
                        chosen[got++] = k;
                } else {
                        uint64_t r = rng_below(seen + 1);
                        if (r < max)
                                chosen[r] = k;
                }
                seen++;
        }
        for (unsigned i = got; i > 1; i--) { /* and in random order */
                unsigned j = (unsigned)rng_below(i);
                unsigned t = chosen[i - 1];
                chosen[i - 1] = chosen[j];
                chosen[j] = t;
        }
        return got;
}

static unsigned select_group(struct dns_sel *s, const struct dns_rrsets *sets,
                             unsigned first, unsigned n, struct dns_pick *out,
                             unsigned max, unsigned depth);

/*
 * Multivalue's common case: at most 8 sets, all healthy, none an alias —
 * every set is answered.  Sets of a group are adjacent in the blob and so
 * are their records, so one pick covers them all, written from a random
 * set on (as one set's records are rotated).  False when the case does not
 * apply.
 */
static bool multivalue_all(struct dns_sel *s, const struct dns_rrsets *sets,
                           unsigned first, unsigned n, struct dns_pick *out)
{
        const struct dns_rrset_info *set = &sets->set[first];
        unsigned records = set[0].count;
        uint32_t size = set[0].size, checks = 0, flags = 0, gaps = 0;
        /* One pass: aliases, checks, evaluation, and records not adjacent. */
        for (unsigned k = 0; k < n; k++) {
                uint32_t routing = set[k].routing;
                checks |= routing >> 14;
                flags |= routing;
                if (k > 0) {
                        gaps |= set[k].offset ^ (set[k - 1].offset + set[k - 1].size);
                        records += set[k].count;
                        size += set[k].size;
                }
        }
        unsigned route = (flags >> 2) & 0xf;
        if (gaps != 0 || (route & (DNS_ROUTE_ALIAS | DNS_ROUTE_EVALUATE)) != 0 ||
            (checks != 0 && s->health != NULL) || records > UINT16_MAX)
                return false;
        unsigned from = (unsigned)rng_below(n), start = 0;
        for (unsigned k = 0; k < from; k++)
                start += set[k].count;
        out->merged = set[0];
        out->merged.count = (uint16_t)records;
        out->merged.size = size;
        out->sets = sets;
        out->info = &out->merged;
        out->start = start;
        return true;
}

/* The answer of an alias: its target's group, chosen by its own policy. */
static unsigned follow(struct dns_sel *s, const struct dns_rrsets *sets,
                       const struct dns_rrset_info *alias, struct dns_pick *out,
                       unsigned max, unsigned depth)
{
        if (depth >= DNS_ALIAS_DEPTH || s->budget == 0) {
                if (__builtin_expect(s->why != NULL, 0))
                        dns_sel_why_group(s, NULL, 0, 0, alias->type, NULL, 0,
                                          DNS_WHY_TOO_DEEP, depth + 1);
                return 0;
        }
        s->budget--;
        const struct dns_rrsets *target = alias_target(s, sets, alias);
        unsigned first, n = dns_sel_group_of(target, alias->type, &first);
        if (n == 0) {
                if (__builtin_expect(s->why != NULL, 0))
                        dns_sel_why_group(s, target, 0, 0, alias->type, NULL, 0,
                                          DNS_WHY_DEAD_END, depth + 1);
                return 0;
        }
        return select_group(s, target, first, n, out, max, depth + 1);
}

static unsigned select_group(struct dns_sel *s, const struct dns_rrsets *sets,
                             unsigned first, unsigned n, struct dns_pick *out,
                             unsigned max, unsigned depth)
{
        unsigned chosen[DNS_PICK_MAX];
        unsigned nc = 1;
        chosen[0] = 0; /* plain sets: the first (the only one, when valid) */
        if (__builtin_expect(s->why != NULL, 0))
                s->group_budget = s->budget;
        if (sets->set[first].location == DNS_GEO_PROXIMITY) {
                chosen[0] = dns_sel_prox_choose(s, sets, first, n, depth);
        } else if (sets->set[first].location == DNS_GEO_LATENCY) {
                chosen[0] = dns_sel_latency_choose(s, sets, first, n, depth);
        } else if (sets->set[first].location == DNS_GEO_CIDR) {
                int k = dns_sel_cidr_choose(s, sets, first, n, depth);
                if (k < 0)
                        return 0;
                chosen[0] = (unsigned)k;
        } else if (sets->set[first].location != 0) {
                int k = dns_sel_geo_choose(s, sets, first, n, depth);
                if (k < 0) {
                        if (__builtin_expect(s->why != NULL, 0))
                                dns_sel_why_group(s, sets, first, n,
                                                  sets->set[first].type, chosen, 0,
                                                  DNS_WHY_NODATA, depth);
                        return 0;
                }
                chosen[0] = (unsigned)k;
        } else
                switch (dns_rrset_policy(&sets->set[first])) {
                case DNS_POLICY_WEIGHTED:
                        chosen[0] = choose_weighted(s, sets, first, n, depth);
                        break;
                case DNS_POLICY_FAILOVER:
                        chosen[0] = choose_failover(s, sets, first, n, depth);
                        break;
                case DNS_POLICY_MULTIVALUE:
                        if (n <= max && multivalue_all(s, sets, first, n, out)) {
                                if (__builtin_expect(s->why != NULL, 0))
                                        dns_sel_why_group(s, sets, first, n,
                                                          sets->set[first].type, NULL, 0,
                                                          DNS_WHY_CHOSEN, depth);
                                return 1;
                        }
                        nc = choose_multivalue(s, sets, first, n, depth, chosen, max);
                        break;
                default:
                        break;
                }
        if (__builtin_expect(s->why != NULL, 0))
                dns_sel_why_group(s, sets, first, n, sets->set[first].type, chosen, nc,
                                  DNS_WHY_CHOSEN, depth);
        unsigned np = 0;
        for (unsigned i = 0; i < nc && np < max; i++) {
                const struct dns_rrset_info *info = &sets->set[first + chosen[i]];
                if (dns_rrset_route_flags(info) & DNS_ROUTE_ALIAS) {
                        np += follow(s, sets, info, out + np, max - np, depth);
                } else {
                        out[np].sets = sets;
                        out[np].info = info;
                        out[np].start = DNS_PICK_ROTATE;
                        np++;
                }
        }
        return np;
}

unsigned dns_route_select(const struct dns_catalog *catalog,
                          const struct dns_rrsets *sets, uint16_t type,
                          struct dns_pick out[DNS_PICK_MAX])
{
        return dns_route_select_at(catalog, sets, type, NULL, NULL, out);
}

unsigned dns_route_select_at(const struct dns_catalog *catalog,
                             const struct dns_rrsets *sets, uint16_t type,
                             const struct dns_location *loc, uint8_t *scope,
                             struct dns_pick out[DNS_PICK_MAX])
{
        return dns_route_select_why(catalog, sets, type, loc, scope, out, NULL);
}

unsigned dns_route_select_why(const struct dns_catalog *catalog,
                              const struct dns_rrsets *sets, uint16_t type,
                              const struct dns_location *loc, uint8_t *scope,
                              struct dns_pick out[DNS_PICK_MAX],
                              struct dns_route_why *why)
{
        struct dns_sel s = {.cat = catalog,
                            .health = catalog->health,
                            .budget = DNS_ROUTE_BUDGET,
                            .loc = loc,
                            .scope = scope,
                            .why = why};
        if (__builtin_expect(why != NULL, 0)) {
                /* Where the client is, whether or not a policy asks. */
                why->has_geo = catalog->geo != NULL;
                why->located = true;
                dns_sel_locate(&s);
        }
        dns_route_warm_sets(sets);
        unsigned first, n = dns_sel_group_of(sets, type, &first);
        if (n == 0)
                return 0;
        return select_group(&s, sets, first, n, out, DNS_PICK_MAX, 0);
}
