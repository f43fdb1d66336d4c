/*
 * route.c — routing-policy selection and health versions (see route.h).
 *
 * A query at a routed name comes here with the name's blob and the query
 * type.  select_group() applies the policy of the group (the sets of that
 * type, side by side in the blob); a chosen alias is followed with
 * follow(), which finds the target's blob in the catalog and selects in the
 * target's group in turn.  Health of a set is its check's status in the
 * catalog's health version and, for an alias with evaluate_target_health,
 * whether its target group has a healthy set (evaluated the same way).
 * Every alias hop, in selection or in health evaluation, spends one unit of
 * a per-query budget and one level of depth, so loops end.  When asked
 * (dns_route_select_why), select_group() writes down each group's choice
 * after making it (dns_sel_why_group in route_why.c: health, the policy's
 * measure, fail open); the choosing code itself is the same either way.
 */
#include "dns/route.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/lpm.h"
#include "dns/latency.h"
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

/* The sets of `type` in a blob: returns how many, from index *first. */
static unsigned group_of(const struct dns_rrsets *sets, uint16_t type, unsigned *first)
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
        unsigned first, n = group_of(target, info->type, &first);
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

/* weight / sum of the healthy weights; weight 0 only when no non-zero
 * weight is healthy; nothing healthy: every set counts (fail open). */
/* Whether health can rule out a set of the group: some set has a check
 * (and a health version exists) or evaluates an alias's target.  If not,
 * every set is healthy and health need not be looked at. */
static bool group_checked(const struct dns_sel *s, const struct dns_rrset_info *set,
                          unsigned n)
{
        uint32_t checks = 0;
        unsigned evaluate = 0;
        for (unsigned k = 0; k < n; k++) {
                checks |= dns_rrset_health(&set[k]);
                evaluate |= dns_rrset_route_flags(&set[k]) & DNS_ROUTE_EVALUATE;
        }
        return evaluate != 0 || (checks != 0 && s->health != NULL);
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

static unsigned choose_weighted(struct dns_sel *s, const struct dns_rrsets *sets,
                                unsigned first, unsigned n, unsigned depth)
{
        if (!group_checked(s, &sets->set[first], n))
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

/* The client's location keys, looked up once per query. */
static void locate(struct dns_sel *s)
{
        if (s->located)
                return;
        s->located = true;
        s->keys[3] = DNS_GEO_DEFAULT;
        const struct dns_geo *geo = s->cat->geo;
        const struct dns_location *loc = s->loc;
        if (geo == NULL || loc == NULL || loc->net.family == 0 || loc->net.prefix == 0)
                return; /* unknown: only "*" holds, whatever the address */
        struct dns_geo_place p;
        if (geo->lookup(geo, &loc->net, &p) != 0)
                return;
        s->prefix = p.prefix;
        s->placed = true;
        if (s->why != NULL) {
                s->why->placed = true;
                s->why->place = p;
        }
        if (p.has_coordinates) {
                /* The point costs four trigonometric calls: only for the
                 * policies that measure distances (dns_sel_locate_point()). */
                s->lat_rad = p.latitude * (3.14159265358979323846 / 180.0);
                s->lon_rad = p.longitude * (3.14159265358979323846 / 180.0);
                s->point_due = true;
        }
        s->keys[0] = dns_geo_key(DNS_GEO_SUBDIVISION, p.country, p.subdivision);
        s->keys[1] = dns_geo_key(DNS_GEO_COUNTRY, p.country, "");
        s->keys[2] = dns_geo_key(DNS_GEO_CONTINENT, p.continent, "");
}

/* locate(), and the client's point on the unit sphere when it has
 * coordinates. */
void dns_sel_locate_point(struct dns_sel *s)
{
        locate(s);
        if (!s->point_due)
                return;
        s->point_due = false;
        s->point[0] = cos(s->lat_rad) * cos(s->lon_rad);
        s->point[1] = cos(s->lat_rad) * sin(s->lon_rad);
        s->point[2] = sin(s->lat_rad);
        s->has_point = true;
}

/* The group's choice depended on the client's network, as the database's
 * network of `prefix` bits places it: the answer's ECS scope is at least
 * that (RFC 7871 §7.2.1). */
static void scope_raise(struct dns_sel *s, uint8_t prefix)
{
        if (s->scope != NULL && prefix > *s->scope)
                *s->scope = prefix;
        s->by_location = true;
        s->by_prefix = prefix;
}

/* How specifically a set's location holds the client: 4 (subdivision) to
 * 1 ("*"), 0: not at all. */
unsigned dns_sel_geo_rank(const struct dns_sel *s, uint32_t location)
{
        for (unsigned l = 0; l < 4; l++)
                if (s->keys[l] != 0 && s->keys[l] == location)
                        return 4 - l;
        return 0;
}

/* The most specific set that holds the client, healthy first (a matching
 * set that is down gives way to a less specific healthy one; when every
 * matching set is down, the most specific answers: fail open).  -1: none
 * holds the client (NODATA). */
static int choose_geo(struct dns_sel *s, const struct dns_rrsets *sets, unsigned first,
                      unsigned n, unsigned depth)
{
        locate(s);
        const struct dns_rrset_info *set = &sets->set[first];
        bool checked = group_checked(s, set, n);
        int best = -1, best_ok = -1;
        unsigned rank = 0, rank_ok = 0;
        bool depends = false;
        for (unsigned k = 0; k < n; k++) {
                uint32_t location = set[k].location;
                if (location != DNS_GEO_DEFAULT)
                        depends = true; /* the answer differs by where clients are */
                unsigned r = dns_sel_geo_rank(s, location);
                if (r == 0)
                        continue;
                if (r > rank) {
                        rank = r;
                        best = (int)k;
                }
                if (r > rank_ok &&
                    (!checked || dns_sel_set_healthy(s, sets, &set[k], depth))) {
                        rank_ok = r;
                        best_ok = (int)k;
                }
        }
        if (depends)
                scope_raise(s, s->prefix);
        return best_ok >= 0 ? best_ok : best;
}

/* The effective distance of a geoproximity set from the client: the great
 * circle angle (from the chord, well conditioned for near points) times the
 * set's bias factor; 0 when the client has no coordinates. */
double dns_sel_prox_distance(const struct dns_sel *s, const struct dns_rrsets *sets,
                             const struct dns_rrset_info *info)
{
        if (!s->has_point)
                return 0.0;
        struct dns_prox p = dns_rrset_prox(sets, info);
        double dx = s->point[0] - p.x, dy = s->point[1] - p.y, dz = s->point[2] - p.z;
        double half = sqrt(dx * dx + dy * dy + dz * dz) / 2.0;
        return 2.0 * asin(half < 1.0 ? half : 1.0) * p.factor;
}

/* Whether set a comes before set b at equal distances: by their records'
 * bytes, the same on every node (set ids are numbered per node). */
static bool prox_before(const struct dns_rrsets *sets, const struct dns_rrset_info *a,
                        const struct dns_rrset_info *b)
{
        const uint8_t *data = dns_rrsets_data(sets);
        uint32_t n = a->size < b->size ? a->size : b->size;
        int c = memcmp(data + a->offset, data + b->offset, n);
        return c != 0 ? c < 0 : a->size < b->size;
}

/* The set nearest the client by effective distance, healthy first (every
 * set down: the nearest of all, fail open); ties go to the set whose
 * records sort first.  A client with no coordinates is at distance 0 from
 * every set, so it gets the first healthy set in that order. */
static unsigned choose_prox(struct dns_sel *s, const struct dns_rrsets *sets,
                            unsigned first, unsigned n, unsigned depth)
{
        dns_sel_locate_point(s);
        const struct dns_rrset_info *set = &sets->set[first];
        bool checked = group_checked(s, set, n);
        int best = -1, best_ok = -1;
        double d_best = 0.0, d_ok = 0.0;
        for (unsigned k = 0; k < n; k++) {
                double d = dns_sel_prox_distance(s, sets, &set[k]);
                if (best < 0 || d < d_best ||
                    (d == d_best && prox_before(sets, &set[k], &set[best]))) {
                        best = (int)k;
                        d_best = d;
                }
                if ((best_ok < 0 || d < d_ok ||
                     (d == d_ok && prox_before(sets, &set[k], &set[best_ok]))) &&
                    (!checked || dns_sel_set_healthy(s, sets, &set[k], depth))) {
                        best_ok = (int)k;
                        d_ok = d;
                }
        }
        /* The answer depends on the client's network once the database was
         * asked (with or without coordinates there). */
        if (n > 1 && s->placed)
                scope_raise(s, s->prefix);
        return (unsigned)(best_ok >= 0 ? best_ok : best);
}

/* The client's prefix in the latency map, looked up once per query. */
void dns_sel_latency_locate(struct dns_sel *s)
{
        if (s->lat_looked)
                return;
        s->lat_looked = true;
        if (s->cat->latency != NULL && s->loc != NULL && s->loc->net.family != 0)
                s->lat_found = dns_latency_lookup(s->cat->latency, &s->loc->net, &s->lat);
}

/* Whether set a ranks before set b: a known RTT before none, then lower
 * RTTs, then (neither known) shorter distances, ties by records. */
static bool latency_before(const struct dns_rrsets *sets, const struct dns_rrset_info *a,
                           uint32_t rtt_a, double d_a, const struct dns_rrset_info *b,
                           uint32_t rtt_b, double d_b)
{
        if ((rtt_a != 0) != (rtt_b != 0))
                return rtt_a != 0;
        if (rtt_a != rtt_b)
                return rtt_a < rtt_b;
        if (rtt_a == 0 && d_a != d_b)
                return d_a < d_b;
        return prox_before(sets, a, b);
}

/*
 * The set whose region has the lowest RTT to the client in the latency
 * map, healthy first (every set down: the best of all, fail open); sets
 * whose region has no RTT for the client come after, nearest region first
 * by the client's GeoIP coordinates (as geoproximity ranks).  The answer
 * depends on the client's network as far as the map's range (and, when
 * coordinates ranked, the GeoIP network) reaches: that is the scope.
 */
static unsigned choose_latency(struct dns_sel *s, const struct dns_rrsets *sets,
                               unsigned first, unsigned n, unsigned depth)
{
        dns_sel_latency_locate(s);
        const struct dns_rrset_info *set = &sets->set[first];
        bool checked = group_checked(s, set, n), by_place = false;
        int best = -1, best_ok = -1;
        uint32_t r_best = 0, r_ok = 0;
        double d_best = 0.0, d_ok = 0.0;
        for (unsigned k = 0; k < n; k++) {
                uint64_t region = dns_rrset_prox(sets, &set[k]).region;
                uint32_t rtt = s->lat_found ? dns_latency_rtt_of(&s->lat, region) : 0;
                double d = 0.0;
                if (rtt == 0) {
                        dns_sel_locate_point(s);
                        by_place = true;
                        d = dns_sel_prox_distance(s, sets, &set[k]);
                }
                if (best < 0 ||
                    latency_before(sets, &set[k], rtt, d, &set[best], r_best, d_best)) {
                        best = (int)k;
                        r_best = rtt;
                        d_best = d;
                }
                if ((best_ok < 0 ||
                     latency_before(sets, &set[k], rtt, d, &set[best_ok], r_ok, d_ok)) &&
                    (!checked || dns_sel_set_healthy(s, sets, &set[k], depth))) {
                        best_ok = (int)k;
                        r_ok = rtt;
                        d_ok = d;
                }
        }
        if (n > 1) {
                uint8_t scope = s->lat_found ? s->lat.scope : 0;
                if (by_place && s->placed && s->prefix > scope)
                        scope = s->prefix;
                scope_raise(s, scope);
        }
        return (unsigned)(best_ok >= 0 ? best_ok : best);
}

/* The trie of a collection in the published version, or NULL. */
static const struct lpm *cidr_trie(const struct dns_cidr *cidr, uint32_t collection)
{
        uint32_t lo = 0, hi = cidr ? cidr->count : 0;
        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (cidr->table[mid].collection == collection)
                        return cidr->table[mid].trie;
                if (cidr->table[mid].collection < collection)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* The client's longest prefix in a collection, looked up once per
 * collection and query.  A client without a location matches nothing. */
const struct lpm_match *dns_sel_cidr_match(struct dns_sel *s, uint32_t collection)
{
        if (s->cidr_collection == collection)
                return &s->cidr;
        s->cidr_collection = collection;
        const struct dns_location *loc = s->loc;
        if (loc == NULL || (loc->net.family != AF_INET && loc->net.family != AF_INET6)) {
                memset(&s->cidr, 0, sizeof(s->cidr));
                return &s->cidr;
        }
        lpm_lookup(cidr_trie(s->cat->cidr, collection),
                   loc->net.family == AF_INET ? LPM_IPV4 : LPM_IPV6, loc->net.bytes,
                   loc->net.prefix, &s->cidr);
        return &s->cidr;
}

void dns_route_warm_sets(const struct dns_rrsets *sets)
{
        if (sets == NULL)
                return;
        /* A group's infos and records span several cache lines: ask for
         * them together rather than one miss at a time. */
        const char *p = (const char *)sets + 64;
        const char *end = (const char *)dns_rrsets_data(sets) + sets->data_size;
        for (unsigned line = 0; p < end && line < 8; line++, p += 64)
                __builtin_prefetch(p);
}

bool dns_route_warm_begin(struct dns_route_warm *w, const struct dns_catalog *catalog,
                          const struct dns_rrsets *sets, uint16_t type,
                          const struct dns_location *loc)
{
        if (loc == NULL || loc->net.prefix == 0 ||
            (loc->net.family != AF_INET && loc->net.family != AF_INET6))
                return false;
        unsigned first, n = group_of(sets, type, &first);
        if (n == 0)
                return false;
        /* A group's sets share their policy: the first tells which. */
        const struct dns_rrset_info *info = &sets->set[first];
        unsigned level = info->location & 7;
        w->cat = catalog;
        w->loc = loc;
        if (level == DNS_GEO_CIDR) {
                w->trie = cidr_trie(catalog->cidr, dns_rrset_cidr(sets, info).collection);
                return lpm_warm_begin(w->trie,
                                      loc->net.family == AF_INET ? LPM_IPV4 : LPM_IPV6,
                                      loc->net.bytes, loc->net.prefix, &w->u.lpm);
        }
        const struct dns_geo *geo = catalog->geo;
        if (info->location == 0 || level > DNS_GEO_LATENCY || geo == NULL ||
            geo->warm == NULL)
                return false;
        w->trie = NULL;
        w->u.geo.at = NULL;
        return geo->warm(geo, &loc->net, &w->u.geo);
}

bool dns_route_warm_step(struct dns_route_warm *w)
{
        if (w->trie != NULL)
                return lpm_warm_step(w->trie, &w->u.lpm);
        return w->cat->geo->warm(w->cat->geo, &w->loc->net, &w->u.geo);
}

/* The set of the location holding the client (the longest prefix), else
 * the "*" set; healthy first: a matching set that is down gives way to a
 * healthy "*", and when both are down the matching one answers (fail
 * open).  Sets naming the same location: the first healthy one.  -1: no
 * set holds the client and there is no "*" (NODATA). */
static int choose_cidr(struct dns_sel *s, const struct dns_rrsets *sets, unsigned first,
                       unsigned n, unsigned depth)
{
        const struct dns_rrset_info *set = &sets->set[first];
        bool checked = group_checked(s, set, n);
        int match = -1, match_ok = -1, dflt = -1, dflt_ok = -1;
        unsigned best_len = 0;
        uint8_t scope = 0;
        bool located = false; /* a set names a location: the client's mattered */
        for (unsigned k = 0; k < n; k++) {
                struct dns_cidr_ref ref = dns_rrset_cidr(sets, &set[k]);
                bool ok;
                if (ref.location == DNS_CIDR_DEFAULT) {
                        if (dflt_ok >= 0)
                                continue;
                        ok = !checked || dns_sel_set_healthy(s, sets, &set[k], depth);
                        if (dflt < 0)
                                dflt = (int)k;
                        if (ok)
                                dflt_ok = (int)k;
                        continue;
                }
                const struct lpm_match *m = dns_sel_cidr_match(s, ref.collection);
                located = true;
                if (m->scope > scope)
                        scope = m->scope;
                if (!m->found || m->value != ref.location)
                        continue;
                if (match >= 0 && m->len < best_len)
                        continue;
                if (match < 0 || m->len > best_len) { /* another collection's longer */
                        match = match_ok = -1;
                        best_len = m->len;
                }
                if (match_ok >= 0)
                        continue;
                ok = !checked || dns_sel_set_healthy(s, sets, &set[k], depth);
                if (match < 0)
                        match = (int)k;
                if (ok)
                        match_ok = (int)k;
        }
        if (located)
                scope_raise(s, scope);
        if (match_ok >= 0)
                return match_ok;
        if (dflt_ok >= 0)
                return dflt_ok;
        return match >= 0 ? match : dflt;
}

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
        unsigned first, n = group_of(target, alias->type, &first);
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
                chosen[0] = choose_prox(s, sets, first, n, depth);
        } else if (sets->set[first].location == DNS_GEO_LATENCY) {
                chosen[0] = choose_latency(s, sets, first, n, depth);
        } else if (sets->set[first].location == DNS_GEO_CIDR) {
                int k = choose_cidr(s, sets, first, n, depth);
                if (k < 0)
                        return 0;
                chosen[0] = (unsigned)k;
        } else if (sets->set[first].location != 0) {
                int k = choose_geo(s, sets, first, n, depth);
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
                locate(&s);
        }
        dns_route_warm_sets(sets);
        unsigned first, n = group_of(sets, type, &first);
        if (n == 0)
                return 0;
        return select_group(&s, sets, first, n, out, DNS_PICK_MAX, 0);
}
