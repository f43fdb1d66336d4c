/*
 * fuzz_route.c — libFuzzer target: random routing-policy groups and health
 * states, answered by dns_answer().
 *
 * The input describes up to 8 groups of A sets at g0..g7.route.example.
 * (each set: policy, failover role, alias flag and target group,
 * evaluate_target_health, weight, health check number) and a health version
 * of 32 checks.  Each input builds a fresh db through
 * dns_txn_rrset_put_route() — what the node does for replicated sets — and
 * publishes the health version, then asks every group's name for A (UDP and
 * TCP), CNAME and ANY.  Checked for every answer: it parses and fits its
 * limit; records are under the name asked; the batch path (parse, warm,
 * answer) gives the same bytes as dns_answer() with the same seed.  For
 * groups of one policy without aliases, the policy's invariants: never an
 * empty answer (a group always answers, failing open); weighted answers one
 * set, healthy with a non-zero weight whenever one is; failover answers the
 * primary when it is healthy, a healthy secondary otherwise if there is one;
 * multivalue answers at most 8 distinct sets, all healthy when any is, and
 * min(8, healthy) of them.  Geolocation groups (locations among "*", EU,
 * NA, GB, US, FR, GB-ENG, US-CA) are asked with an ECS option from one of
 * five clients, located by the seed database tests/fuzz/corpus/fuzz_geo/
 * geoip2_v6_coords.mmdb opened with node/geoip.c as the node does: a set that
 * holds the client always answers (never an empty answer while one does),
 * the answer is the most specific healthy one that holds the client (the
 * most specific when none is healthy), nothing holding it is NODATA.
 * Geoproximity groups (sets at one of seven cities, bias -99..99) answer
 * exactly one set, healthy when any is, whose biased distance to the
 * client's coordinates (from the same database, which has them) is the
 * smallest within a rounding margin; a client without coordinates gets the
 * first eligible set (records sort as the set numbers do).  Latency groups
 * (sets in one of four regions at the first four cities) are asked with a
 * latency map published for the input (81.2.69.0/24: r0 20 ms, r1 5 ms,
 * with a /26 inside it for r2 that the clients' /24 never reaches;
 * 2001:db8::/32: r3 2 ms): exactly one set, healthy when any is, of the
 * lowest RTT among the eligible sets whose region has one; when none has,
 * the nearest region by the client's coordinates (the first eligible set
 * for a client without them).
 *
 * The health states vary within one input: after the first version (32
 * checks), bytes left publish up to 3 more versions on the same db (a
 * check count 0..32 — checks past it are healthy — and which are down);
 * after each, the catalog answered from must hold the version just
 * published and every answer and invariant above is checked again under
 * it (a stale or mixed version breaks "never an empty answer while a
 * healthy record exists").
 *
 * Every TCP query is also answered by dns_answer_explain() with the same
 * seed: the same bytes, and a why that holds together (check_why).
 *
 * Record 10.<group>.<set>.1 identifies the set that answered.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/answer.h"
#include "dns/db.h"
#include "dns/latency.h"
#include "dns/packet.h"
#include "dns/route.h"
#include "dns/wire.h"
#include "dns/zonefile.h"
#include "node/geoip.h"

#ifndef QDNS_SOURCE_DIR
#define QDNS_SOURCE_DIR "."
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GROUPS        8
#define SETS          12
#define FZ_GEO        4 /* a geolocation group (the sets' policy is NONE) */
#define FZ_PROX       5 /* a geoproximity group (the sets' policy is NONE) */
#define FZ_LAT        6 /* a latency group (the sets' policy is NONE) */
#define N_LAT_REGIONS 4

/* Where geoproximity sets are (degrees). */
static const double places[][2] = {{51.5, -0.12},  {55.95, -3.19},  {37.77, -122.42},
                                   {40.71, -74.0}, {35.68, 139.69}, {-33.87, 151.21},
                                   {48.86, 2.35}};
#define N_PLACES (sizeof(places) / sizeof(places[0]))

/* The locations sets take, and what each client is (from the seed
 * database: 81.2.69.0/24 GB-ENG, 81.2.69.192/28 GB-SCT, 2001:db8::/32
 * US-CA with its continent derived). */
static const char *const locations[][3] = {
    {"*", "", ""},  {"EU", "", ""}, {"NA", "", ""},    {"", "GB", ""},
    {"", "US", ""}, {"", "FR", ""}, {"", "GB", "ENG"}, {"", "US", "CA"}};
struct client {
        int family;
        uint8_t addr[16];
        uint8_t source;
        const char *continent, *country, *subdivision;
        bool has_point;
        double lat, lon;
};
static const struct client clients[] = {
    {AF_INET, {81, 2, 69, 160}, 24, "EU", "GB", "ENG", true, 51.5, -0.12},
    /* /32 is cut to /24: 81.2.69.0, England, not the /28 of Scotland. */
    {AF_INET, {81, 2, 69, 200}, 32, "EU", "GB", "ENG", true, 51.5, -0.12},
    {AF_INET, {192, 0, 2, 1}, 24, "", "", "", false, 0, 0},
    {AF_INET6,
     {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
     56,
     "NA",
     "US",
     "CA",
     true,
     37.77,
     -122.42},
    {0, {0}, 0, "", "", "", false, 0, 0}, /* no ECS */
};

static uint32_t location_key(unsigned i)
{
        const char *const *l = locations[i];
        if (strcmp(l[0], "*") == 0)
                return dns_geo_key(DNS_GEO_DEFAULT, "", "");
        if (l[0][0] != '\0')
                return dns_geo_key(DNS_GEO_CONTINENT, l[0], "");
        if (l[2][0] != '\0')
                return dns_geo_key(DNS_GEO_SUBDIVISION, l[1], l[2]);
        return dns_geo_key(DNS_GEO_COUNTRY, l[1], "");
}

/* How specifically location i holds client c: 4..1, 0 not at all. */
static unsigned location_rank(unsigned i, const struct client *c)
{
        const char *const *l = locations[i];
        if (strcmp(l[0], "*") == 0)
                return 1;
        if (l[0][0] != '\0')
                return strcmp(l[0], c->continent) == 0 ? 2 : 0;
        if (strcmp(l[1], c->country) != 0)
                return 0;
        if (l[2][0] == '\0')
                return 3;
        return strcmp(l[2], c->subdivision) == 0 ? 4 : 0;
}

struct fset {
        uint8_t policy, flags, weight, target;
        uint8_t location; /* index in locations (geolocation groups) */
        uint32_t health;
};

struct fgroup {
        unsigned n;
        bool mixed, aliases;
        uint8_t policy;
        struct fset set[SETS];
};

struct input {
        const uint8_t *p;
        size_t left;
};

static uint8_t take(struct input *in)
{
        if (in->left == 0)
                return 0;
        in->left--;
        return *in->p++;
}

static void group_name(unsigned g, uint8_t *wire)
{
        char text[64];
        snprintf(text, sizeof(text), "g%u.route.example.", g);
        if (dns_name_from_text(text, wire) != 0)
                abort();
}

static bool healthy(const struct dns_health *h, const struct fset *s)
{
        return dns_health_ok(h, s->health);
}

/* The (group, set) of each A record in the answer section; -1 on a bad
 * message.  owner_ok: every answer record is under the question's name. */
static int answer_sets(const uint8_t *msg, size_t len, uint8_t *sets, int max,
                       bool *owner_ok)
{
        if (len < DNS_HEADER_SIZE)
                return -1;
        unsigned qd = wire_get16(msg + 4), an = wire_get16(msg + 6);
        size_t off = DNS_HEADER_SIZE;
        if (qd != 1)
                return -1;
        int n = dns_name_wire_len(msg + off, len - off);
        if (n < 0 || off + (size_t)n + 4 > len)
                return -1;
        off += (size_t)n + 4;
        int got = 0;
        *owner_ok = true;
        for (unsigned i = 0; i < an; i++) {
                if (off + 12 > len)
                        return -1;
                /* Owners are pointers: to the question for routed answers. */
                if (msg[off] != 0xc0 || msg[off + 1] != DNS_HEADER_SIZE)
                        *owner_ok = false;
                if ((msg[off] & 0xc0) != 0xc0)
                        return -1;
                uint16_t type = wire_get16(msg + off + 2);
                uint16_t rdlen = wire_get16(msg + off + 10);
                if (off + 12 + rdlen > len)
                        return -1;
                if (type == DNS_TYPE_A && rdlen == 4 && got < max)
                        sets[got++] = msg[off + 12 + 2];
                off += 12 + rdlen;
        }
        return got;
}

static size_t make_query(uint8_t *q, const uint8_t *name, uint16_t type,
                         const struct client *c)
{
        int nlen = dns_name_wire_len(name, 256);
        memset(q, 0, DNS_HEADER_SIZE);
        wire_put16(q, 0x4242);
        wire_put16(q + 4, 1);
        memcpy(q + DNS_HEADER_SIZE, name, (size_t)nlen);
        wire_put16(q + DNS_HEADER_SIZE + nlen, type);
        wire_put16(q + DNS_HEADER_SIZE + nlen + 2, DNS_CLASS_IN);
        size_t n = DNS_HEADER_SIZE + (size_t)nlen + 4;
        if (c->family == 0)
                return n;
        /* OPT with ECS: FAMILY, SOURCE, SCOPE 0, the prefix's bytes. */
        unsigned alen = (c->source + 7u) / 8u;
        static const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0};
        wire_put16(q + 10, 1);
        memcpy(q + n, opt, sizeof(opt));
        n += sizeof(opt);
        wire_put16(q + n, (uint16_t)(8 + alen));
        wire_put16(q + n + 2, 8);
        wire_put16(q + n + 4, (uint16_t)(4 + alen));
        wire_put16(q + n + 6, c->family == AF_INET ? 1 : 2);
        q[n + 8] = c->source;
        q[n + 9] = 0;
        memcpy(q + n + 10, c->addr, alen);
        return n + 10 + alen;
}

/* The bias of a geoproximity set, from its target byte. */
static int prox_bias(const struct fset *s)
{
        return (int)(s->target % 199) - 99;
}

/* Great-circle distance (haversine, radians) from the client to place i. */
static double distance(unsigned i, const struct client *c)
{
        if (!c->has_point)
                return 0.0;
        const double r = 3.14159265358979323846 / 180.0;
        double la1 = c->lat * r, la2 = places[i % N_PLACES][0] * r;
        double dla = la2 - la1, dlo = (places[i % N_PLACES][1] - c->lon) * r;
        double a = sin(dla / 2) * sin(dla / 2) +
                   cos(la1) * cos(la2) * sin(dlo / 2) * sin(dlo / 2);
        return 2 * atan2(sqrt(a), sqrt(1 - a));
}

/* Biased great-circle distance from the client. */
static double prox_effective(const struct fset *s, const struct client *c)
{
        double d = distance(s->location, c);
        int b = prox_bias(s);
        return b >= 0 ? d * (1 - b / 100.0) : d / (1 + b / 100.0);
}

/* Geoproximity: one set, eligible (healthy when any is), nearest within a
 * margin for float rounding; no coordinates: the first eligible set. */
static void check_prox(const struct fgroup *g, const struct dns_health *h,
                       const struct client *c, const uint8_t *sets, int n)
{
        if (n != 1 || sets[0] >= g->n)
                abort(); /* never an empty answer */
        unsigned n_ok = 0;
        for (unsigned k = 0; k < g->n; k++)
                n_ok += healthy(h, &g->set[k]);
        const struct fset *s = &g->set[sets[0]];
        if (n_ok > 0 && !healthy(h, s))
                abort();
        double d = prox_effective(s, c);
        for (unsigned k = 0; k < g->n; k++) {
                if (n_ok > 0 && !healthy(h, &g->set[k]))
                        continue;
                if (prox_effective(&g->set[k], c) < d - 1e-4)
                        abort(); /* a nearer eligible set */
                if (!c->has_point) {
                        if (k != sets[0])
                                abort(); /* the first eligible one */
                        break;
                }
        }
}

static const char *const lat_regions[N_LAT_REGIONS] = {"r0", "r1", "r2", "r3"};

/* The map's RTT (us) of a latency set's region for the client, 0: none. */
static uint32_t lat_rtt(const struct fset *s, const struct client *c)
{
        unsigned r = s->location % N_LAT_REGIONS;
        if (c->family == AF_INET && c->addr[0] == 81)
                return r == 0 ? 20000 : r == 1 ? 5000 : 0;
        if (c->family == AF_INET6)
                return r == 3 ? 2000 : 0;
        return 0;
}

/* Latency: one eligible set (healthy when any is), the lowest RTT among
 * the eligible ones with an RTT, else the nearest region (the first
 * eligible set without coordinates). */
static void check_lat(const struct fgroup *g, const struct dns_health *h,
                      const struct client *c, const uint8_t *sets, int n)
{
        if (n != 1 || sets[0] >= g->n)
                abort(); /* never an empty answer */
        unsigned n_ok = 0;
        uint32_t best = 0;
        for (unsigned k = 0; k < g->n; k++)
                n_ok += healthy(h, &g->set[k]);
        for (unsigned k = 0; k < g->n; k++) {
                uint32_t r = lat_rtt(&g->set[k], c);
                if ((n_ok == 0 || healthy(h, &g->set[k])) && r && (!best || r < best))
                        best = r;
        }
        const struct fset *s = &g->set[sets[0]];
        if (n_ok > 0 && !healthy(h, s))
                abort();
        if (best) {
                if (lat_rtt(s, c) != best)
                        abort(); /* not the lowest RTT */
                return;
        }
        double d = distance(s->location % N_LAT_REGIONS, c);
        for (unsigned k = 0; k < g->n; k++) {
                if (n_ok > 0 && !healthy(h, &g->set[k]))
                        continue;
                if (distance(g->set[k].location % N_LAT_REGIONS, c) < d - 1e-4)
                        abort(); /* a nearer eligible region */
                if (!c->has_point) {
                        if (k != sets[0])
                                abort(); /* the first eligible one */
                        break;
                }
        }
}

/* The input's latency map (see the top of the file), published on db. */
static void lat_publish(struct dns_db *db)
{
        struct dns_latency_item items[5];
        memset(items, 0, sizeof(items));
        static const struct {
                int family;
                uint8_t addr[16];
                uint8_t len, region;
                uint32_t rtt;
        } spec[5] = {{AF_INET, {81, 2, 69, 0}, 24, 0, 20000},
                     {AF_INET, {81, 2, 69, 0}, 24, 1, 5000},
                     {AF_INET, {81, 2, 69, 192}, 26, 2, 1000},
                     {AF_INET6, {0x20, 0x01, 0x0d, 0xb8}, 32, 3, 2000},
                     {AF_INET6,
                      {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                      128,
                      2,
                      1}}; /* finer than the client's /56: not used */
        for (int i = 0; i < 5; i++) {
                items[i].net.family = (uint8_t)spec[i].family;
                items[i].net.prefix = spec[i].len;
                memcpy(items[i].net.bytes, spec[i].addr, 16);
                items[i].region = dns_latency_region_key(lat_regions[spec[i].region]);
                items[i].rtt_us = spec[i].rtt;
        }
        struct dns_latency_map *m;
        if (dns_latency_compile(items, 5, &m) != 0 || dns_db_latency_publish(db, m) != 0)
                abort();
}

/* Geolocation: the most specific healthy set holding the client, else the
 * most specific holding it; none holding it: nothing. */
static void check_geo(const struct fgroup *g, const struct dns_health *h,
                      const struct client *c, const uint8_t *sets, int n)
{
        unsigned best = 0, best_ok = 0;
        for (unsigned k = 0; k < g->n; k++) {
                unsigned r = location_rank(g->set[k].location, c);
                if (r > best)
                        best = r;
                if (r > best_ok && healthy(h, &g->set[k]))
                        best_ok = r;
        }
        if (best == 0) {
                if (n != 0)
                        abort(); /* NODATA */
                return;
        }
        if (n != 1)
                abort(); /* a set holds the client: never an empty answer */
        const struct fset *s = &g->set[sets[0]];
        unsigned r = location_rank(s->location, c);
        if (best_ok > 0 ? r != best_ok || !healthy(h, s) : r != best)
                abort();
}

static void check_group(const struct fgroup *g, const struct dns_health *h,
                        const struct client *c, const uint8_t *sets, int n)
{
        if (g->mixed || g->aliases || g->n == 0)
                return;
        if (g->policy == FZ_GEO) {
                check_geo(g, h, c, sets, n);
                return;
        }
        if (g->policy == FZ_PROX) {
                check_prox(g, h, c, sets, n);
                return;
        }
        if (g->policy == FZ_LAT) {
                check_lat(g, h, c, sets, n);
                return;
        }
        if (n == 0)
                abort(); /* a group without aliases always answers */
        unsigned n_ok = 0, n_ok_weighted = 0;
        for (unsigned k = 0; k < g->n; k++) {
                n_ok += healthy(h, &g->set[k]);
                n_ok_weighted += healthy(h, &g->set[k]) && g->set[k].weight > 0;
        }
        switch (g->policy) {
        case DNS_POLICY_WEIGHTED: {
                if (n != 1)
                        abort();
                const struct fset *s = &g->set[sets[0]];
                if (n_ok_weighted > 0 && (!healthy(h, s) || s->weight == 0))
                        abort();
                if (n_ok > 0 && !healthy(h, s))
                        abort();
                break;
        }
        case DNS_POLICY_FAILOVER: {
                if (n != 1)
                        abort();
                int primary = -1, secondary = -1;
                for (unsigned k = 0; k < g->n; k++) {
                        if ((g->set[k].flags & DNS_ROUTE_PRIMARY) && primary < 0)
                                primary = (int)k;
                        else if ((g->set[k].flags & DNS_ROUTE_SECONDARY) && secondary < 0)
                                secondary = (int)k;
                }
                if (primary >= 0 && healthy(h, &g->set[primary]) && sets[0] != primary)
                        abort();
                if (primary >= 0 && !healthy(h, &g->set[primary]) && secondary >= 0 &&
                    healthy(h, &g->set[secondary]) && sets[0] != secondary)
                        abort();
                break;
        }
        case DNS_POLICY_MULTIVALUE: {
                unsigned want = n_ok > 0 ? n_ok : g->n;
                if ((unsigned)n != (want < 8 ? want : 8))
                        abort();
                for (int i = 0; i < n; i++) {
                        for (int j = 0; j < i; j++)
                                if (sets[i] == sets[j])
                                        abort();
                        if (n_ok > 0 && !healthy(h, &g->set[sets[i]]))
                                abort();
                }
                break;
        }
        default:
                if (n != 1)
                        abort(); /* a plain group answers its first set */
                break;
        }
}

static void build(struct dns_db *db, struct fgroup *groups, unsigned n_groups)
{
        uint8_t origin[256], owner[256], target[256], soa[128];
        struct dns_txn txn;
        dns_name_from_text("route.example.", origin);
        if (dns_txn_begin(db, &txn) != 0 || dns_txn_zone_create(&txn, origin, true) != 0)
                abort();
        int n = dns_name_from_text("ns.route.example.", soa) == 0
                    ? dns_name_wire_len(soa, sizeof(soa))
                    : 0;
        int m = dns_name_from_text("hm.route.example.", soa + n) == 0
                    ? dns_name_wire_len(soa + n, sizeof(soa) - (size_t)n)
                    : 0;
        size_t soa_len = (size_t)n + (size_t)m;
        for (int i = 0; i < 5; i++, soa_len += 4)
                wire_put32(soa + soa_len, (uint32_t)(i + 1) * 60);
        if (dns_txn_rr_add(&txn, origin, origin, DNS_TYPE_SOA, 0, 300, soa,
                           (uint16_t)soa_len) < 0)
                abort();
        for (unsigned g = 0; g < n_groups; g++) {
                group_name(g, owner);
                for (unsigned k = 0; k < groups[g].n; k++) {
                        const struct fset *s = &groups[g].set[k];
                        struct dns_route route = {.policy = s->policy,
                                                  .flags = s->flags,
                                                  .weight = s->weight,
                                                  .health = s->health,
                                                  .location =
                                                      groups[g].policy == FZ_GEO
                                                          ? location_key(s->location)
                                                          : 0};
                        if (groups[g].policy == FZ_LAT) {
                                unsigned r = s->location % N_LAT_REGIONS;
                                route.location = DNS_GEO_LATENCY;
                                route.prox_latitude = (int32_t)lround(places[r][0] * 1e6);
                                route.prox_longitude =
                                    (int32_t)lround(places[r][1] * 1e6);
                                route.latency_region =
                                    dns_latency_region_key(lat_regions[r]);
                        }
                        if (groups[g].policy == FZ_PROX) {
                                route.location = DNS_GEO_PROXIMITY;
                                route.prox_latitude = (int32_t)lround(
                                    places[s->location % N_PLACES][0] * 1e6);
                                route.prox_longitude = (int32_t)lround(
                                    places[s->location % N_PLACES][1] * 1e6);
                                route.prox_bias = prox_bias(s);
                        }
                        uint8_t ip[4] = {10, (uint8_t)g, (uint8_t)k, 1};
                        const uint8_t *rdata = ip;
                        uint16_t rdlen = 4;
                        if (s->flags & DNS_ROUTE_ALIAS) {
                                group_name(s->target % GROUPS, target);
                                rdata = target;
                                rdlen =
                                    (uint16_t)dns_name_wire_len(target, sizeof(target));
                        }
                        if (dns_txn_rrset_put_route(&txn, origin, owner, DNS_TYPE_A,
                                                    k + 1, 60, &rdata, &rdlen, 1,
                                                    &route) != 0)
                                abort();
                }
        }
        if (dns_txn_commit(&txn) != 0)
                abort();
}

/* A health version of `count` checks (those past it are healthy: a check
 * newer than the version), check i down when bit i of `down` is set. */
static struct dns_health *health_make(uint64_t version, uint32_t count, uint32_t down)
{
        struct dns_health *h = dns_health_new(version, count);
        if (h == NULL)
                abort();
        for (uint32_t i = 0; i < count; i++)
                h->status[i] =
                    (down >> i) & 1 ? DNS_HEALTH_UNHEALTHY : DNS_HEALTH_HEALTHY;
        return h;
}

/* Asks every group's name for A, CNAME and ANY over UDP and TCP in the
 * db's current catalog, checking each answer, and the policy invariants
 * under `h` (the health version just published). */
/* The same query through dns_answer_explain() with the same seed gives the
 * same bytes (writing down why changes no choice), and what it wrote down
 * holds together: chosen healthy sets unless the group failed open, and a
 * group fails open only when nothing it could choose from is healthy. */
static void check_why(const struct dns_catalog *cat, const uint8_t *q, size_t qlen,
                      uint64_t seed, const uint8_t *want, size_t want_len)
{
        static uint8_t out[DNS_TCP_MAX];
        static struct dns_route_why why;
        memset(&why, 0, sizeof(why));
        struct dns_query parsed;
        enum dns_parse_status st = dns_query_parse(&parsed, q, qlen);
        dns_route_seed(seed);
        size_t len = dns_answer_explain(cat, &parsed, st, out, &why);
        if (len != want_len || memcmp(out, want, len) != 0)
                abort();
        if (why.ngroups > DNS_WHY_GROUPS || why.ncand > DNS_WHY_CANDIDATES)
                abort();
        for (unsigned i = 0; i < why.ngroups; i++) {
                const struct dns_why_group *g = &why.group[i];
                if (g->first + g->count > why.ncand || g->policy >= DNS_WHY_POLICY_COUNT)
                        abort();
                bool any_ok = false, chosen_bad = false;
                unsigned chosen = 0;
                for (unsigned k = 0; k < g->count; k++) {
                        const struct dns_why_candidate *c = &why.cand[g->first + k];
                        bool ok =
                            c->health == DNS_WHY_NO_CHECK || c->health == DNS_WHY_HEALTHY;
                        bool eligible = g->policy != DNS_WHY_GEOLOCATION || c->value > 0;
                        any_ok |= ok && eligible;
                        chosen += c->chosen;
                        chosen_bad |= c->chosen && !ok;
                        if (c->chosen && !eligible)
                                abort(); /* a set that does not hold the client */
                }
                if (g->budget_spent)
                        continue; /* health as selection's last steps saw it */
                if (g->outcome == DNS_WHY_CHOSEN && chosen_bad)
                        abort();
                if (g->outcome == DNS_WHY_FAIL_OPEN &&
                    (!chosen_bad || (any_ok && g->policy != DNS_WHY_FAILOVER &&
                                     g->policy != DNS_WHY_SIMPLE && g->dropped == 0)))
                        abort();
                if (g->outcome == DNS_WHY_NODATA && (chosen != 0 || any_ok))
                        abort();
                if ((g->outcome == DNS_WHY_CHOSEN || g->outcome == DNS_WHY_FAIL_OPEN) &&
                    chosen == 0 && g->count > 0 && g->dropped == 0)
                        abort();
        }
}

static void ask_all(struct dns_db *db, const struct fgroup *groups, unsigned n_groups,
                    const struct dns_health *h, const struct client *client,
                    uint64_t salt)
{
        const struct dns_catalog *cat = dns_db_current(db);
        if (cat->health != h)
                abort(); /* the version just published is the one answered from */
        static uint8_t out[DNS_TCP_MAX], again[DNS_TCP_MAX];
        static const uint16_t types[] = {DNS_TYPE_A, DNS_TYPE_CNAME, DNS_TYPE_ANY};
        for (unsigned g = 0; g < GROUPS; g++) {
                uint8_t name[256], q[300];
                group_name(g, name);
                for (unsigned t = 0; t < 3; t++) {
                        size_t qlen = make_query(q, name, types[t], client);
                        for (int tcp = 0; tcp < 2; tcp++) {
                                enum dns_transport tr =
                                    tcp ? DNS_TRANSPORT_TCP : DNS_TRANSPORT_UDP;
                                uint64_t seed =
                                    ((uint64_t)g << 8) ^ (t << 4) ^ (unsigned)tcp ^ salt;
                                dns_route_seed(seed);
                                size_t len = dns_answer(cat, q, qlen, tr, out, g, NULL);
                                size_t udp = client->family ? DNS_EDNS_OUR_PAYLOAD
                                                            : DNS_UDP_MAX_NOEDNS;
                                if (len == 0 || len > (tcp ? DNS_TCP_MAX : udp))
                                        abort();
                                dns_route_seed(seed);
                                struct dns_query parsed;
                                enum dns_parse_status st =
                                    dns_query_parse(&parsed, q, qlen);
                                dns_answer_warm(cat, &parsed, &st, 1);
                                size_t len2 = dns_answer_parsed(cat, &parsed, st, tr,
                                                                again, g, NULL);
                                if (len2 != len || memcmp(out, again, len) != 0)
                                        abort();
                                if (tcp)
                                        check_why(cat, q, qlen, seed, out, len);
                                uint8_t sets[64];
                                bool owner_ok;
                                int n = answer_sets(out, len, sets, 64, &owner_ok);
                                if (n < 0 || !owner_ok)
                                        abort();
                                if (types[t] == DNS_TYPE_A && !tcp && g < n_groups)
                                        check_group(&groups[g], h, client, sets, n);
                        }
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct input in = {data, size};
        struct fgroup groups[GROUPS];
        memset(groups, 0, sizeof(groups));
        unsigned n_groups = take(&in) % GROUPS + 1;
        uint32_t down = 0;
        for (int i = 0; i < 4; i++)
                down |= (uint32_t)take(&in) << (8 * i);
        const struct client *client =
            &clients[take(&in) % (sizeof(clients) / sizeof(clients[0]))];
        bool geo = false;
        for (unsigned g = 0; g < n_groups; g++) {
                struct fgroup *gr = &groups[g];
                gr->policy = take(&in) % 7;
                bool located =
                    gr->policy == FZ_GEO || gr->policy == FZ_PROX || gr->policy == FZ_LAT;
                geo |= located;
                gr->n = take(&in) % SETS + 1;
                for (unsigned k = 0; k < gr->n; k++) {
                        struct fset *s = &gr->set[k];
                        uint8_t f = take(&in);
                        s->policy = located ? DNS_POLICY_NONE : gr->policy;
                        if (f & 0x80) { /* what validation would refuse */
                                s->policy = (uint8_t)((f >> 5) & 3);
                                gr->mixed |= s->policy != gr->policy;
                        }
                        bool geo_set = located && !(f & 0x80);
                        s->flags = f & (DNS_ROUTE_ALIAS | DNS_ROUTE_EVALUATE |
                                        DNS_ROUTE_PRIMARY | DNS_ROUTE_SECONDARY);
                        if (s->policy == DNS_POLICY_NONE && k > 0 && !geo_set)
                                gr->mixed = true; /* plain groups hold one set */
                        gr->aliases |= (s->flags & DNS_ROUTE_ALIAS) != 0;
                        s->weight = take(&in);
                        s->health = take(&in) % 33;
                        s->target = take(&in);
                        s->location = (uint8_t)(s->weight % (sizeof(locations) /
                                                             sizeof(locations[0])));
                        if (located && !geo_set)
                                gr->mixed = true; /* no location: another policy */
                }
        }
        struct dns_db db;
        if (dns_db_init(&db) != 0)
                abort();
        build(&db, groups, n_groups);
        lat_publish(&db);
        struct node_geoip geoip;
        if (geo &&
            node_geoip_start(&geoip, NULL, &db,
                             QDNS_SOURCE_DIR
                             "/tests/fuzz/corpus/fuzz_geo/geoip2_v6_coords.mmdb") != 0)
                abort();
        /*
         * The health states vary: a first version of 32 checks, then while
         * input is left up to 3 more versions (each: a check count 0..32
         * and which are down) published on the same db, every answer and
         * invariant checked again against the version just published.
         */
        struct dns_health *h = health_make(1, 32, down);
        for (uint64_t version = 1;; version++) {
                if (dns_db_health_publish(&db, h) != 0)
                        abort();
                ask_all(&db, groups, n_groups, h, client, size ^ (version << 40));
                if (version == 4 || in.left == 0)
                        break;
                uint32_t count = take(&in) % 33, next = 0;
                for (int i = 0; i < 4; i++)
                        next |= (uint32_t)take(&in) << (8 * i);
                h = health_make(version + 1, count, next);
        }
        dns_db_fini(&db);
        return 0;
}
