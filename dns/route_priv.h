/*
 * route_priv.h — what dns/route.c (choosing), dns/route_loc.c (the
 * location policies) and dns/route_why.c (writing down why, for the
 * explain API) share: one query's selection state and
 * the measures both read.  Not for other modules: route.h is the interface.
 */
#ifndef DNS_ROUTE_PRIV_H
#define DNS_ROUTE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "common/lpm.h"
#include "dns/latency.h"
#include "dns/route.h"
#include "dns/rrset.h"

/* One selection: the catalog it reads, the client's location as far as it
 * was needed, and (explain only) where the reasons go. */
struct dns_sel {
        const struct dns_catalog *cat;
        const struct dns_health *health;
        unsigned budget;                /* alias hops left */
        const struct dns_location *loc; /* NULL: unknown */
        uint8_t *scope;                 /* NULL: not asked */
        bool located;                   /* keys below are set */
        uint8_t prefix;                 /* of the database's network */
        uint32_t keys[4];               /* subdivision, country, continent, "*" */
        bool placed;                    /* the database was asked (prefix holds) */
        bool has_point;                 /* point below is the client's */
        bool point_due;                 /* has coordinates, point not yet made */
        double lat_rad, lon_rad;        /* the coordinates */
        double point[3];                /* on the unit sphere */
        bool lat_looked;                /* the latency map was asked */
        bool lat_found;                 /* lat holds the client's family */
        struct dns_latency_match lat;   /* the client's prefix in the map */
        uint32_t cidr_collection;       /* last collection looked up (0: none) */
        struct lpm_match cidr;          /* its answer */
        bool by_location;               /* the last group's choice used them */
        uint8_t by_prefix;              /* ... with this scope */
        struct dns_route_why *why;      /* NULL: not asked (the query path) */
        unsigned group_budget;          /* why: the budget as the group began */
};

/* The sets of `type` in a blob: returns how many, from index *first. */
static inline unsigned dns_sel_group_of(const struct dns_rrsets *sets, uint16_t type,
                                        unsigned *first)
{
        if (sets == NULL)
                return 0;
        unsigned i = 0;
        while (i < sets->count && sets->set[i].type < type)
                i++;
        *first = i;
        unsigned n = 0;
        while (i + n < sets->count && sets->set[i + n].type == type)
                n++;
        return n;
}

/* Whether health can rule out a set of the group: some set has a check
 * (and a health version exists) or evaluates an alias's target.  If not,
 * every set is healthy and health need not be looked at. */
static inline bool dns_sel_group_checked(const struct dns_sel *s,
                                         const struct dns_rrset_info *set, unsigned n)
{
        uint32_t checks = 0;
        unsigned evaluate = 0;
        for (unsigned k = 0; k < n; k++) {
                checks |= dns_rrset_health(&set[k]);
                evaluate |= dns_rrset_route_flags(&set[k]) & DNS_ROUTE_EVALUATE;
        }
        return evaluate != 0 || (checks != 0 && s->health != NULL);
}

/* Health of a set: its check, and for an alias that evaluates its target,
 * a healthy set in the target's group (depth: alias hops so far). */
bool dns_sel_set_healthy(struct dns_sel *s, const struct dns_rrsets *sets,
                         const struct dns_rrset_info *info, unsigned depth);
/* route_loc.c: the location policies.  The client's location keys, looked
 * up once per query. */
void dns_sel_locate(struct dns_sel *s);
/* The client's location keys, and its point on the unit sphere when it has
 * coordinates. */
void dns_sel_locate_point(struct dns_sel *s);
/* How specifically a set's location holds the client: 4 (subdivision) to
 * 1 ("*"), 0: not at all.  Keys not looked up are 0 and a set's location
 * never is.  The most specific key that matches wins (the last select):
 * no branch on which one, which depends on where the client is. */
static inline unsigned dns_sel_geo_rank(const struct dns_sel *s, uint32_t location)
{
        unsigned r = location == s->keys[3] ? 1u : 0u;
        r = location == s->keys[2] ? 2u : r;
        r = location == s->keys[1] ? 3u : r;
        r = location == s->keys[0] ? 4u : r;
        return location != 0 ? r : 0u;
}
/* A geoproximity set's distance from the client times its bias factor; 0
 * when the client has no coordinates. */
double dns_sel_prox_distance(const struct dns_sel *s, const struct dns_rrsets *sets,
                             const struct dns_rrset_info *info);
/* The client's prefix in the latency map, once per query. */
void dns_sel_latency_locate(struct dns_sel *s);
/* The client's longest prefix in a collection, looked up once per
 * collection and query; nothing for a client without a location. */
const struct lpm_match *dns_sel_cidr_match(struct dns_sel *s, uint32_t collection);

/* A group's choice, by its policy: the index of the chosen set in the
 * group; -1 (geolocation, IP-based): no set holds the client (NODATA). */
int dns_sel_geo_choose(struct dns_sel *s, const struct dns_rrsets *sets, unsigned first,
                       unsigned n, unsigned depth);
unsigned dns_sel_prox_choose(struct dns_sel *s, const struct dns_rrsets *sets,
                             unsigned first, unsigned n, unsigned depth);
unsigned dns_sel_latency_choose(struct dns_sel *s, const struct dns_rrsets *sets,
                                unsigned first, unsigned n, unsigned depth);
int dns_sel_cidr_choose(struct dns_sel *s, const struct dns_rrsets *sets, unsigned first,
                        unsigned n, unsigned depth);

/* route_why.c: writes down a group's choice, chosen[0..nc) of its n sets
 * (all of them when chosen is NULL), or none with outcome NODATA /
 * DEAD_END / TOO_DEEP. */
void dns_sel_why_group(struct dns_sel *s, const struct dns_rrsets *sets, unsigned first,
                       unsigned n, uint16_t type, const unsigned *chosen, unsigned nc,
                       enum dns_why_outcome outcome, unsigned depth);

#endif
