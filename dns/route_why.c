/*
 * route_why.c — writing down why a routed answer is what it is
 * (dns_route_select_why, for GET /v1/zones/{zone}/explain; never on the
 * query path).
 *
 * route.c's select_group() calls dns_sel_why_group() after each group's
 * choice when the selection was asked to explain itself.  Each group gets
 * its policy, every candidate's health and the policy's measure (weight,
 * geolocation match, distance, RTT, CIDR match), which were chosen, and
 * the outcome (answered, fail-open, NODATA, an alias's dead end or depth).
 * The measures are those route.c chose with (route_priv.h), so an
 * explanation cannot disagree with the answer.
 */
#include <string.h>

#include "dns/route_priv.h"
#include "dns/rrset.h"

/* The policy of a group, as select_group() dispatches on it. */
static enum dns_why_policy why_policy(const struct dns_rrset_info *first)
{
        if (first->location == DNS_GEO_PROXIMITY)
                return DNS_WHY_GEOPROXIMITY;
        if (first->location == DNS_GEO_LATENCY)
                return DNS_WHY_LATENCY;
        if (first->location == DNS_GEO_CIDR)
                return DNS_WHY_CIDR;
        if (first->location != 0)
                return DNS_WHY_GEOLOCATION;
        switch (dns_rrset_policy(first)) {
        case DNS_POLICY_WEIGHTED:
                return DNS_WHY_WEIGHTED;
        case DNS_POLICY_FAILOVER:
                return DNS_WHY_FAILOVER;
        case DNS_POLICY_MULTIVALUE:
                return DNS_WHY_MULTIVALUE;
        default:
                return DNS_WHY_SIMPLE;
        }
}

/* A set's health as selection sees it, told apart for the reader.  It must
 * not change the choice still to come: the alias budget it spends is given
 * back. */
static enum dns_why_health why_health(struct dns_sel *s, const struct dns_rrsets *sets,
                                      const struct dns_rrset_info *info, unsigned depth)
{
        uint32_t check = dns_rrset_health(info);
        if (!dns_health_ok(s->health, check))
                return DNS_WHY_UNHEALTHY;
        const uint8_t both = DNS_ROUTE_ALIAS | DNS_ROUTE_EVALUATE;
        bool evaluated = (dns_rrset_route_flags(info) & both) == both;
        if (evaluated) {
                /* With the budget selection had for the group: the same
                 * answer unless selection spent it all (budget_spent). */
                unsigned budget = s->budget;
                s->budget = s->group_budget;
                bool ok = dns_sel_set_healthy(s, sets, info, depth);
                s->budget = budget;
                if (!ok)
                        return DNS_WHY_TARGET_UNHEALTHY;
        }
        return check != 0 || evaluated ? DNS_WHY_HEALTHY : DNS_WHY_NO_CHECK;
}

static bool why_ok(const struct dns_why_candidate *c)
{
        return c->health == DNS_WHY_NO_CHECK || c->health == DNS_WHY_HEALTHY;
}

/* Each candidate's standing by its policy's measure (health already set). */
static void why_measure(struct dns_sel *s, const struct dns_rrsets *sets,
                        enum dns_why_policy policy, struct dns_why_candidate *c,
                        unsigned n)
{
        switch (policy) {
        case DNS_WHY_WEIGHTED: {
                /* The pool is the healthy sets (none: all, fail open); within
                 * it shares follow the weights (all 0: equal shares). */
                unsigned n_ok = 0, pool = 0;
                uint64_t total = 0;
                for (unsigned k = 0; k < n; k++)
                        n_ok += why_ok(&c[k]);
                for (unsigned k = 0; k < n; k++)
                        if (n_ok == 0 || why_ok(&c[k])) {
                                total += dns_rrset_weight(c[k].info);
                                pool++;
                        }
                for (unsigned k = 0; k < n; k++) {
                        bool in = n_ok == 0 || why_ok(&c[k]);
                        unsigned w = dns_rrset_weight(c[k].info);
                        c[k].measure = DNS_WHY_SHARE;
                        c[k].value = !in         ? 0.0
                                     : total > 0 ? (double)w / (double)total
                                                 : 1.0 / pool;
                        c[k].raw = w;
                }
                break;
        }
        case DNS_WHY_FAILOVER:
                for (unsigned k = 0; k < n; k++) {
                        unsigned route = dns_rrset_route_flags(c[k].info);
                        c[k].measure = DNS_WHY_ROLE;
                        c[k].value = route & DNS_ROUTE_PRIMARY     ? 1
                                     : route & DNS_ROUTE_SECONDARY ? 2
                                                                   : 0;
                }
                break;
        case DNS_WHY_GEOLOCATION:
                for (unsigned k = 0; k < n; k++) {
                        c[k].measure = DNS_WHY_MATCH;
                        c[k].value = dns_sel_geo_rank(s, c[k].info->location);
                }
                break;
        case DNS_WHY_GEOPROXIMITY:
                dns_sel_locate_point(s);
                if (!s->has_point)
                        break; /* no coordinates: every set at distance 0 */
                for (unsigned k = 0; k < n; k++) {
                        double angle = dns_sel_prox_distance(s, sets, c[k].info);
                        struct dns_prox p = dns_rrset_prox(sets, c[k].info);
                        c[k].measure = DNS_WHY_DISTANCE;
                        c[k].value = angle * 6371.0088; /* mean Earth radius, km */
                        c[k].raw = p.factor > 0 ? c[k].value / p.factor : 0.0;
                }
                break;
        case DNS_WHY_LATENCY:
                dns_sel_latency_locate(s);
                if (s->located)
                        dns_sel_locate_point(s);
                for (unsigned k = 0; k < n; k++) {
                        uint64_t region = dns_rrset_prox(sets, c[k].info).region;
                        uint32_t rtt =
                            s->lat_found ? dns_latency_rtt_of(&s->lat, region) : 0;
                        c[k].measure = DNS_WHY_RTT;
                        c[k].value = rtt / 1000.0;
                        c[k].raw =
                            rtt == 0 && s->has_point
                                ? dns_sel_prox_distance(s, sets, c[k].info) * 6371.0088
                                : 0.0;
                }
                break;
        case DNS_WHY_CIDR:
                for (unsigned k = 0; k < n; k++) {
                        struct dns_cidr_ref ref = dns_rrset_cidr(sets, c[k].info);
                        c[k].measure = DNS_WHY_PREFIX;
                        c[k].raw = ref.location == DNS_CIDR_DEFAULT;
                        c[k].value = -1;
                        if (ref.location == DNS_CIDR_DEFAULT)
                                continue;
                        const struct lpm_match *m = dns_sel_cidr_match(s, ref.collection);
                        if (m->found && m->value == ref.location)
                                c[k].value = m->len;
                }
                break;
        default:
                break;
        }
}

/* Writes down a group's choice: chosen[0..nc) of its n sets (all of them
 * when chosen is NULL), or none with outcome NODATA / DEAD_END / TOO_DEEP. */
void dns_sel_why_group(struct dns_sel *s, const struct dns_rrsets *sets, unsigned first,
                       unsigned n, uint16_t type, const unsigned *chosen, unsigned nc,
                       enum dns_why_outcome outcome, unsigned depth)
{
        struct dns_route_why *why = s->why;
        bool by_location = s->by_location;
        uint8_t by_prefix = s->by_prefix;
        s->by_location = false;
        s->by_prefix = 0;
        if (why->ngroups >= DNS_WHY_GROUPS) {
                why->dropped++;
                return;
        }
        struct dns_why_group *g = &why->group[why->ngroups++];
        memset(g, 0, sizeof(*g));
        g->sets = sets;
        g->type = type;
        g->depth = (uint8_t)depth;
        g->outcome = (uint8_t)outcome;
        g->by_location = by_location;
        g->scope = by_prefix;
        g->budget_spent = s->budget == 0;
        g->first = why->ncand;
        if (n == 0)
                return;
        g->policy = (uint8_t)why_policy(&sets->set[first]);
        unsigned room = DNS_WHY_CANDIDATES - why->ncand;
        g->count = n < room ? n : room;
        g->dropped = n - g->count;
        struct dns_why_candidate *c = &why->cand[g->first];
        why->ncand += g->count;
        for (unsigned k = 0; k < g->count; k++) {
                memset(&c[k], 0, sizeof(c[k]));
                c[k].info = &sets->set[first + k];
                c[k].health = (uint8_t)why_health(s, sets, c[k].info, depth);
                c[k].chosen = chosen == NULL;
        }
        for (unsigned i = 0; chosen != NULL && i < nc; i++)
                if (chosen[i] < g->count)
                        c[chosen[i]].chosen = true;
        why_measure(s, sets, (enum dns_why_policy)g->policy, c, g->count);
        if (outcome == DNS_WHY_CHOSEN)
                for (unsigned k = 0; k < g->count; k++)
                        if (c[k].chosen && !why_ok(&c[k]))
                                g->outcome = DNS_WHY_FAIL_OPEN;
}

void dns_geo_key_text(uint32_t key, char out[8])
{
        unsigned level = key & 7;
        out[0] = '\0';
        if (level == DNS_GEO_DEFAULT) {
                strcpy(out, "*");
                return;
        }
        if (level < DNS_GEO_CONTINENT || level > DNS_GEO_SUBDIVISION)
                return;
        out[0] = (char)('A' + ((key >> 3) & 31) - 1);
        out[1] = (char)('A' + ((key >> 8) & 31) - 1);
        out[2] = '\0';
        if (level != DNS_GEO_SUBDIVISION)
                return;
        unsigned n = 2;
        out[n++] = '-';
        for (unsigned i = 0; i < 3; i++) {
                unsigned c = (key >> (13 + 6 * i)) & 63;
                if (c == 0)
                        break;
                out[n++] = (char)(c <= 26 ? 'A' + c - 1 : '0' + c - 27);
        }
        out[n] = '\0';
}
