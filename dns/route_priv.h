/*
 * route_priv.h — what dns/route.c (choosing) and dns/route_why.c (writing
 * down why, for the explain API) share: one query's selection state and
 * the measures both read.  Not for other modules: route.h is the interface.
 */
#ifndef DNS_ROUTE_PRIV_H
#define DNS_ROUTE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "common/lpm.h"
#include "dns/latency.h"
#include "dns/route.h"

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

/* Health of a set: its check, and for an alias that evaluates its target,
 * a healthy set in the target's group (depth: alias hops so far). */
bool dns_sel_set_healthy(struct dns_sel *s, const struct dns_rrsets *sets,
                         const struct dns_rrset_info *info, unsigned depth);
/* The client's location keys, and its point on the unit sphere when it has
 * coordinates. */
void dns_sel_locate_point(struct dns_sel *s);
/* How specifically a set's location holds the client: 4 (subdivision) to
 * 1 ("*"), 0: not at all. */
unsigned dns_sel_geo_rank(const struct dns_sel *s, uint32_t location);
/* A geoproximity set's distance from the client times its bias factor; 0
 * when the client has no coordinates. */
double dns_sel_prox_distance(const struct dns_sel *s, const struct dns_rrsets *sets,
                             const struct dns_rrset_info *info);
/* The client's prefix in the latency map, once per query. */
void dns_sel_latency_locate(struct dns_sel *s);
/* The client's longest prefix in a collection, looked up once per
 * collection and query; nothing for a client without a location. */
const struct lpm_match *dns_sel_cidr_match(struct dns_sel *s, uint32_t collection);

/* route_why.c: writes down a group's choice, chosen[0..nc) of its n sets
 * (all of them when chosen is NULL), or none with outcome NODATA /
 * DEAD_END / TOO_DEEP. */
void dns_sel_why_group(struct dns_sel *s, const struct dns_rrsets *sets, unsigned first,
                       unsigned n, uint16_t type, const unsigned *chosen, unsigned nc,
                       enum dns_why_outcome outcome, unsigned depth);

#endif
