/*
 * test_dns_geo.c — the geolocation policy on the query path.
 *
 * A database written by tests/data/make_mmdb.pl is opened and published
 * with node/geoip.c (the node's own code); geolocation sets are put with
 * dns_txn_rrset_put_route() and queries with ECS options answered by
 * dns_answer(): the most specific location wins, a matching set that is
 * down gives way to a less specific healthy one, all matching sets down
 * answer the most specific (fail open), nothing matching is NODATA, no
 * database leaves only "*", an alias follows its target's geolocation, and
 * the echoed scope is the database network's length.
 *
 * Geoproximity sets (placed with their coordinates and bias) answer the
 * client nearest by biased distance: a positive bias draws clients from
 * farther, a negative one pushes them away, a set that is down gives way to
 * the next nearest, all down answer the nearest (fail open), equal
 * distances go to the set whose records sort first, and a client the
 * database has no coordinates for gets the first healthy set in that order.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch_path.h"
#include "dns/answer.h"
#include "dns/db.h"
#include "dns/route.h"
#include "dns/wire.h"
#include "dns/zonefile.h"
#include "mmdb_written.h"
#include "node/geoip.h"
#include "zone_text.h"

static const char ZONE[] = "$ORIGIN example.com.\n"
                           "$TTL 3600\n"
                           "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                           "@ NS ns1\n"
                           "ns1 A 192.0.2.53\n";

static const char DB[] =
    "{\"schema\":\"geoip2\",\"networks\":["
    "{\"network\":\"81.2.69.0/24\",\"continent\":\"EU\",\"country\":\"GB\","
    "\"subdivision\":\"ENG\",\"latitude\":51.5,\"longitude\":-0.12},"
    "{\"network\":\"192.0.2.0/25\",\"continent\":\"EU\",\"country\":\"FR\","
    "\"latitude\":48.86,\"longitude\":2.35},"
    "{\"network\":\"198.51.100.0/22\",\"continent\":\"NA\",\"country\":\"US\","
    "\"latitude\":40.71,\"longitude\":-74.0},"
    "{\"network\":\"203.0.113.0/24\",\"country\":\"JP\"}]}";

enum {
        HC_ENG = 1,
        HC_GB = 2,
        HC_EU = 3,
        HC_ANY = 4,
        HC_LONDON = 5,
        HC_NEWYORK = 6,
        HC_B_LONDON = 7,
        HC_B_NEWYORK = 8
};

/* Places, in millionths of a degree. */
#define LONDON    51500000, -120000
#define FRANKFURT 50110000, 8680000
#define NEWYORK   40710000, -74000000
#define TOKYO     35680000, 139690000

static struct dns_db db;
static struct node_geoip geoip;
static uint32_t next_set_id = 1;

static void put_geo(struct dns_txn *txn, const char *owner, uint8_t last,
                    uint32_t location, uint32_t health)
{
        uint8_t origin[256], name[256], ip[4] = {192, 0, 2, last};
        assert_int_equal(dns_name_from_text("example.com.", origin), 0);
        assert_int_equal(dns_name_from_text(owner, name), 0);
        const uint8_t *rdata = ip;
        uint16_t rdlen = 4;
        struct dns_route route = {.health = health, .location = location};
        if (dns_txn_rrset_put_route(txn, origin, name, DNS_TYPE_A, next_set_id++, 60,
                                    &rdata, &rdlen, 1, &route) != 0)
                fail_msg("put %s: %s", owner, txn->error);
}

static void put_prox(struct dns_txn *txn, const char *owner, uint8_t last, int32_t lat,
                     int32_t lon, int32_t bias, uint32_t health)
{
        uint8_t origin[256], name[256], ip[4] = {192, 0, 2, last};
        assert_int_equal(dns_name_from_text("example.com.", origin), 0);
        assert_int_equal(dns_name_from_text(owner, name), 0);
        const uint8_t *rdata = ip;
        uint16_t rdlen = 4;
        struct dns_route route = {.health = health,
                                  .location = DNS_GEO_PROXIMITY,
                                  .prox_latitude = lat,
                                  .prox_longitude = lon,
                                  .prox_bias = bias};
        if (dns_txn_rrset_put_route(txn, origin, name, DNS_TYPE_A, next_set_id++, 60,
                                    &rdata, &rdlen, 1, &route) != 0)
                fail_msg("put %s: %s", owner, txn->error);
}

static void put_alias(struct dns_txn *txn, const char *owner, const char *target)
{
        uint8_t origin[256], name[256], to[256];
        assert_int_equal(dns_name_from_text("example.com.", origin), 0);
        assert_int_equal(dns_name_from_text(owner, name), 0);
        assert_int_equal(dns_name_from_text(target, to), 0);
        const uint8_t *rdata = to;
        uint16_t rdlen = (uint16_t)dns_name_wire_len(to, sizeof(to));
        struct dns_route route = {.flags = DNS_ROUTE_ALIAS};
        assert_int_equal(dns_txn_rrset_put_route(txn, origin, name, DNS_TYPE_A,
                                                 next_set_id++, 60, &rdata, &rdlen, 1,
                                                 &route),
                         0);
}

static int setup(void **state)
{
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        zone_text_load(&txn, ZONE);
        uint32_t eng = dns_geo_key(DNS_GEO_SUBDIVISION, "GB", "ENG");
        uint32_t gb = dns_geo_key(DNS_GEO_COUNTRY, "GB", "");
        uint32_t eu = dns_geo_key(DNS_GEO_CONTINENT, "EU", "");
        uint32_t any = dns_geo_key(DNS_GEO_DEFAULT, "", "");
        put_geo(&txn, "www.example.com.", 1, eng, HC_ENG);
        put_geo(&txn, "www.example.com.", 2, gb, HC_GB);
        put_geo(&txn, "www.example.com.", 3, eu, HC_EU);
        put_geo(&txn, "www.example.com.", 9, any, HC_ANY);
        put_geo(&txn, "nodef.example.com.", 20, gb, 0);
        put_alias(&txn, "alias.example.com.", "www.example.com.");
        /* Tokyo first: the set id order is not the answer's order. */
        put_prox(&txn, "near.example.com.", 13, TOKYO, 0, 0);
        put_prox(&txn, "near.example.com.", 12, NEWYORK, 0, HC_NEWYORK);
        put_prox(&txn, "near.example.com.", 11, LONDON, 0, HC_LONDON);
        put_prox(&txn, "plain.example.com.", 22, FRANKFURT, 0, 0);
        put_prox(&txn, "plain.example.com.", 21, LONDON, 0, 0);
        put_prox(&txn, "pos.example.com.", 22, FRANKFURT, 40, 0);
        put_prox(&txn, "pos.example.com.", 21, LONDON, 0, 0);
        put_prox(&txn, "neg.example.com.", 22, FRANKFURT, 0, 0);
        put_prox(&txn, "neg.example.com.", 21, LONDON, -50, 0);
        put_prox(&txn, "tie.example.com.", 31, FRANKFURT, 10, 0);
        put_prox(&txn, "tie.example.com.", 30, FRANKFURT, 10, 0);
        put_prox(&txn, "one.example.com.", 40, TOKYO, 0, 0);
        put_prox(&txn, "both.example.com.", 52, NEWYORK, 0, HC_B_NEWYORK);
        put_prox(&txn, "both.example.com.", 51, LONDON, 0, HC_B_LONDON);
        assert_int_equal(dns_txn_commit(&txn), 0);

        char path[64];
        mmdb_write(path, sizeof(path), "dns-geo", DB);
        int rc = node_geoip_start(&geoip, NULL, &db, path);
        unlink(path);
        if (rc != 0)
                fail_msg("geoip: %s", geoip.error);
        return 0;
}

static int teardown(void **state)
{
        dns_db_fini(&db);
        return 0;
}

/* Health: the listed checks down, the others up. */
static void health(const uint32_t *down, unsigned n)
{
        struct dns_health *h = dns_health_new(1, 8);
        assert_non_null(h);
        for (unsigned i = 0; i < n; i++)
                h->status[down[i] - 1] = DNS_HEALTH_UNHEALTHY;
        assert_int_equal(dns_db_health_publish(&db, h), 0);
}

/* Asks qname A with ECS addr/source; returns the one answer's last octet (0:
 * none) and the scope echoed. */
/* Writes into q the query qname A with an ECS option for the IPv4 addr
 * (source bits); returns q's length. */
static size_t make_query(uint8_t *q, const char *qname, const char *addr, uint8_t source)
{
        size_t n = 12;
        memset(q, 0, 12);
        q[0] = 0x42;
        q[5] = 1;  /* QDCOUNT */
        q[11] = 1; /* ARCOUNT */
        assert_int_equal(dns_name_from_text(qname, q + n), 0);
        n += dns_name_wire_len(q + n, 256);
        wire_put16(q + n, DNS_TYPE_A);
        wire_put16(q + n + 2, 1);
        n += 4;
        uint8_t a[4];
        assert_int_equal(inet_pton(AF_INET, addr, a), 1);
        unsigned alen = (source + 7u) / 8u;
        static const uint8_t opt[] = {0, 0, 41, 4, 208, 0, 0, 0, 0};
        memcpy(q + n, opt, sizeof(opt));
        n += sizeof(opt);
        wire_put16(q + n, (uint16_t)(8 + alen));
        wire_put16(q + n + 2, 8);
        wire_put16(q + n + 4, (uint16_t)(4 + alen));
        wire_put16(q + n + 6, 1);
        q[n + 8] = source;
        q[n + 9] = 0;
        memcpy(q + n + 10, a, alen);
        n += 10 + alen;
        return n;
}

static unsigned ask(const char *qname, const char *addr, uint8_t source, uint8_t *scope)
{
        uint8_t q[512], out[2048];
        size_t n = make_query(q, qname, addr, source);
        unsigned alen = (source + 7u) / 8u;
        size_t r = dns_answer(dns_db_current(&db), q, n, DNS_TRANSPORT_UDP, out, 0, NULL);
        assert_true(r > 12);
        assert_int_equal(out[3] & 0xf, 0);
        /* The option is last: family, source, scope, address. */
        *scope = out[r - alen - 1];
        assert_int_equal(out[r - alen - 2], source);
        unsigned ancount = wire_get16(out + 6);
        if (ancount == 0)
                return 0;
        assert_int_equal(ancount, 1);
        /* The answer: a pointer to the question's name, A, IN, TTL, 4 bytes. */
        for (size_t i = 12; i + 14 <= r; i++)
                if (out[i] == 0xc0 && out[i + 2] == 0 && out[i + 3] == 1 &&
                    out[i + 11] == 4 && out[i + 12] == 192)
                        return out[i + 15];
        fail_msg("no A record in the answer");
        return 0;
}

static void test_most_specific_location_wins(void **state)
{
        health(NULL, 0);
        uint8_t scope;
        assert_int_equal(ask("www.example.com.", "81.2.69.160", 32, &scope), 1);
        assert_int_equal(scope, 24);
        assert_int_equal(ask("www.example.com.", "192.0.2.7", 24, &scope), 3);
        assert_int_equal(scope, 25);
        assert_int_equal(ask("www.example.com.", "198.51.100.1", 24, &scope), 9);
        assert_int_equal(scope, 22);
        assert_int_equal(ask("www.example.com.", "0.0.0.0", 0, &scope), 9);
        assert_int_equal(scope, 0);
}

static void test_a_matching_set_down_gives_way_to_a_less_specific_one(void **state)
{
        uint8_t scope;
        health((const uint32_t[]){HC_ENG}, 1);
        assert_int_equal(ask("www.example.com.", "81.2.69.160", 24, &scope), 2);
        health((const uint32_t[]){HC_ENG, HC_GB}, 2);
        assert_int_equal(ask("www.example.com.", "81.2.69.160", 24, &scope), 3);
        health((const uint32_t[]){HC_ENG, HC_GB, HC_EU}, 3);
        assert_int_equal(ask("www.example.com.", "81.2.69.160", 24, &scope), 9);
        assert_int_equal(scope, 24);
        /* Every set down: fail open, the most specific answers. */
        health((const uint32_t[]){HC_ENG, HC_GB, HC_EU, HC_ANY}, 4);
        assert_int_equal(ask("www.example.com.", "81.2.69.160", 24, &scope), 1);
        health(NULL, 0);
}

static void test_no_matching_set_is_nodata(void **state)
{
        uint8_t scope;
        assert_int_equal(ask("nodef.example.com.", "198.51.100.1", 24, &scope), 0);
        assert_int_equal(scope, 22);
        assert_int_equal(ask("nodef.example.com.", "81.2.69.1", 24, &scope), 20);
}

static void test_alias_follows_its_targets_geolocation(void **state)
{
        uint8_t scope;
        assert_int_equal(ask("alias.example.com.", "81.2.69.160", 24, &scope), 1);
        assert_int_equal(scope, 24);
        assert_int_equal(ask("alias.example.com.", "198.51.100.1", 24, &scope), 9);
}

/* Paris is 344 km from London and 479 km from Frankfurt. */
static void test_geoproximity_answers_the_nearest_set(void **state)
{
        health(NULL, 0);
        uint8_t scope;
        assert_int_equal(ask("near.example.com.", "81.2.69.160", 24, &scope), 11);
        assert_int_equal(scope, 24);
        assert_int_equal(ask("near.example.com.", "192.0.2.7", 24, &scope), 11);
        assert_int_equal(scope, 25);
        assert_int_equal(ask("near.example.com.", "198.51.100.1", 24, &scope), 12);
        assert_int_equal(scope, 22);
        assert_int_equal(ask("plain.example.com.", "192.0.2.7", 24, &scope), 21);
        /* One set: the answer does not depend on the client. */
        assert_int_equal(ask("one.example.com.", "192.0.2.7", 24, &scope), 40);
        assert_int_equal(scope, 0);
}

static void test_geoproximity_bias_moves_the_boundary(void **state)
{
        uint8_t scope;
        /* Frankfurt +40: 479 x 0.6 = 287 km < 344 km. */
        assert_int_equal(ask("pos.example.com.", "192.0.2.7", 24, &scope), 22);
        assert_int_equal(scope, 25);
        assert_int_equal(ask("pos.example.com.", "81.2.69.1", 24, &scope), 21);
        /* London -50: 344 / 0.5 = 688 km > 479 km. */
        assert_int_equal(ask("neg.example.com.", "192.0.2.7", 24, &scope), 22);
        assert_int_equal(ask("neg.example.com.", "81.2.69.1", 24, &scope), 21);
        /* Equal distances: the set whose records sort first, every time. */
        for (int i = 0; i < 4; i++)
                assert_int_equal(ask("tie.example.com.", "192.0.2.7", 24, &scope), 30);
}

static void test_geoproximity_health_and_fail_open(void **state)
{
        uint8_t scope;
        health((const uint32_t[]){HC_LONDON}, 1);
        assert_int_equal(ask("near.example.com.", "81.2.69.160", 24, &scope), 12);
        assert_int_equal(scope, 24);
        health((const uint32_t[]){HC_LONDON, HC_NEWYORK}, 2);
        assert_int_equal(ask("near.example.com.", "81.2.69.160", 24, &scope), 13);
        /* Every set with a check down, the one without is up: Tokyo. */
        assert_int_equal(ask("near.example.com.", "198.51.100.1", 24, &scope), 13);
        /* Every set down: fail open, the nearest of all answers. */
        health((const uint32_t[]){HC_B_LONDON}, 1);
        assert_int_equal(ask("both.example.com.", "81.2.69.1", 24, &scope), 52);
        health((const uint32_t[]){HC_B_LONDON, HC_B_NEWYORK}, 2);
        assert_int_equal(ask("both.example.com.", "81.2.69.1", 24, &scope), 51);
        assert_int_equal(scope, 24);
        assert_int_equal(ask("both.example.com.", "198.51.100.1", 24, &scope), 52);
        health(NULL, 0);
}

static void test_geoproximity_client_without_coordinates(void **state)
{
        uint8_t scope;
        /* In the database without coordinates: the first set by its
         * records, scope the network's (another network may differ). */
        assert_int_equal(ask("near.example.com.", "203.0.113.9", 24, &scope), 11);
        assert_int_equal(scope, 24);
        health((const uint32_t[]){HC_LONDON}, 1);
        assert_int_equal(ask("near.example.com.", "203.0.113.9", 24, &scope), 12);
        health(NULL, 0);
        /* No ECS address at all. */
        assert_int_equal(ask("near.example.com.", "0.0.0.0", 0, &scope), 11);
        assert_int_equal(scope, 0);
}

/* The UDP batch path — dns_answer_warm() prefetching every query's entries
 * of the compiled table and its place side by side, then
 * dns_answer_parsed() — gives the bytes dns_answer() gives, for geolocation
 * and geoproximity names, an alias, a plain name, and clients inside and
 * outside the database's networks. */
static void test_batch_path_gives_the_same_bytes(void **state)
{
        static const struct {
                const char *name, *addr;
                uint8_t source;
        } qs[] = {
            {"www.example.com.", "81.2.69.160", 32},
            {"www.example.com.", "192.0.2.7", 24},
            {"www.example.com.", "198.51.100.1", 24},
            {"www.example.com.", "0.0.0.0", 0},
            {"www.example.com.", "203.0.113.9", 24},
            {"www.example.com.", "8.8.8.0", 24},
            {"nodef.example.com.", "81.2.69.0", 24},
            {"nodef.example.com.", "8.8.8.0", 24},
            {"alias.example.com.", "81.2.69.0", 24},
            {"near.example.com.", "198.51.100.1", 24},
            {"pos.example.com.", "192.0.2.0", 25},
            {"ns1.example.com.", "81.2.69.0", 24},
            {"www.example.com.", "81.2.0.0", 16},
            {"both.example.com.", "203.0.113.0", 24},
        };
        enum { N = sizeof(qs) / sizeof(qs[0]) };
        static uint8_t q[N][512];
        size_t len[N];
        health(NULL, 0);
        for (unsigned i = 0; i < N; i++)
                len[i] = make_query(q[i], qs[i].name, qs[i].addr, qs[i].source);
        assert_batch_path_same(dns_db_current(&db), (const uint8_t(*)[512])q, len, N);
}

static void test_without_a_database_only_the_default_holds(void **state)
{
        assert_int_equal(dns_db_geo_publish(&db, NULL), 0);
        uint8_t scope;
        assert_int_equal(ask("www.example.com.", "81.2.69.160", 24, &scope), 9);
        assert_int_equal(scope, 0);
        assert_int_equal(ask("nodef.example.com.", "81.2.69.160", 24, &scope), 0);
        /* Geoproximity without a database: the first set, scope 0. */
        assert_int_equal(ask("near.example.com.", "198.51.100.1", 24, &scope), 11);
        assert_int_equal(scope, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_most_specific_location_wins),
            cmocka_unit_test(test_a_matching_set_down_gives_way_to_a_less_specific_one),
            cmocka_unit_test(test_no_matching_set_is_nodata),
            cmocka_unit_test(test_alias_follows_its_targets_geolocation),
            cmocka_unit_test(test_geoproximity_answers_the_nearest_set),
            cmocka_unit_test(test_geoproximity_bias_moves_the_boundary),
            cmocka_unit_test(test_geoproximity_health_and_fail_open),
            cmocka_unit_test(test_geoproximity_client_without_coordinates),
            cmocka_unit_test(test_batch_path_gives_the_same_bytes),
            cmocka_unit_test(test_without_a_database_only_the_default_holds),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
