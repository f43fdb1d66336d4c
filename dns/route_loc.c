/*
 * route_loc.c — the location policies of routing (see route.h): where the
 * client is, and the choice of geolocation, geoproximity, latency and
 * IP-based (CIDR) groups.
 *
 * route.c's select_group() hands a group here by its first set's location
 * level.  The client's location (the EDNS Client Subnet or the source
 * address, struct dns_location) is looked up at most once per query and
 * kept in the selection state (struct dns_sel, route_priv.h): the GeoIP
 * place (dns_sel_locate), its point on the sphere (only for the policies
 * that measure distances), the latency map's prefix, the longest prefix in
 * a CIDR collection.  Each choice raises the answer's ECS scope to the
 * prefix it depended on (scope_raise).  dns_route_warm_* prefetch what a
 * batch of queries will read before it is answered.
 */
#include <math.h>
#include <string.h>
#include <sys/socket.h>

#include "common/lpm.h"
#include "dns/latency.h"
#include "dns/route.h"
#include "dns/route_priv.h"
#include "dns/zone.h"

/* The client's location keys, looked up once per query. */
void dns_sel_locate(struct dns_sel *s)
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

/* dns_sel_locate(), and the client's point on the unit sphere when it has
 * coordinates. */
void dns_sel_locate_point(struct dns_sel *s)
{
        dns_sel_locate(s);
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

/* The most specific set that holds the client, healthy first (a matching
 * set that is down gives way to a less specific healthy one; when every
 * matching set is down, the most specific answers: fail open).  -1: none
 * holds the client (NODATA). */
int dns_sel_geo_choose(struct dns_sel *s, const struct dns_rrsets *sets, unsigned first,
                       unsigned n, unsigned depth)
{
        dns_sel_locate(s);
        const struct dns_rrset_info *set = &sets->set[first];
        bool checked = dns_sel_group_checked(s, set, n);
        int best = -1, best_ok = -1;
        unsigned rank = 0, rank_ok = 0;
        bool depends = false;
        for (unsigned k = 0; k < n; k++) {
                uint32_t location = set[k].location;
                if (location != DNS_GEO_DEFAULT)
                        depends = true; /* the answer differs by where clients are */
                /* Which set ranks best is where the client is: a branch
                 * here is mispredicted as often as not, a select is not. */
                unsigned r = dns_sel_geo_rank(s, location);
                bool better = r > rank;
                best = better ? (int)k : best;
                rank = better ? r : rank;
                if (checked && r > rank_ok &&
                    dns_sel_set_healthy(s, sets, &set[k], depth)) {
                        rank_ok = r;
                        best_ok = (int)k;
                }
        }
        if (!checked)
                best_ok = best; /* every set is healthy */
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
unsigned dns_sel_prox_choose(struct dns_sel *s, const struct dns_rrsets *sets,
                             unsigned first, unsigned n, unsigned depth)
{
        dns_sel_locate_point(s);
        const struct dns_rrset_info *set = &sets->set[first];
        bool checked = dns_sel_group_checked(s, set, n);
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
unsigned dns_sel_latency_choose(struct dns_sel *s, const struct dns_rrsets *sets,
                                unsigned first, unsigned n, unsigned depth)
{
        dns_sel_latency_locate(s);
        const struct dns_rrset_info *set = &sets->set[first];
        bool checked = dns_sel_group_checked(s, set, n), by_place = false;
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
        unsigned first, n = dns_sel_group_of(sets, type, &first);
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
int dns_sel_cidr_choose(struct dns_sel *s, const struct dns_rrsets *sets, unsigned first,
                        unsigned n, unsigned depth)
{
        const struct dns_rrset_info *set = &sets->set[first];
        bool checked = dns_sel_group_checked(s, set, n);
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
