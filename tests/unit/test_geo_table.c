/*
 * test_geo_table.c — geo/table.c: the compiled table answers exactly what
 * libmaxminddb answers.
 *
 * Each test writes a database of a few thousand random networks (nested
 * and overlapping, IPv4 and IPv6, lengths 1..32 and 1..128, places drawn
 * from a small pool so many networks share a record, some with coordinates,
 * some without data) with tests/data/make_mmdb.pl (Debian's
 * libmaxmind-db-writer-perl), compiles it with geo_table_build() and looks
 * up 100,000 addresses both ways — geo_table_lookup() and geo_db_lookup()
 * — comparing found, continent, country, subdivision, coordinates and the
 * network's length (and walks the batch path's prefetch,
 * geo_table_warm_*, over the same entries).  The addresses: uniformly random, inside a
 * random network of the database (so the deep ones are reached), next to its edges, and
 * for IPv6 also IPv4 addresses behind ::/96, ::ffff:0:0/96 and 2002::/16.  Databases:
 * IPv6 with MaxMind's aliases, IPv6 without them, IPv4 only, the flat schema; then
 * databases of one network, and the IPv6 look-up refused by an IPv4 table.  QDNS_SEED
 * fixes the seed (printed on failure).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "geo/geo.h"
#include "geo/table.h"
#include "mmdb_written.h"

#define NETWORKS 3000
#define LOOKUPS  100000

static unsigned seed;
static uint64_t rng;

static uint64_t next(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

struct net {
        int family;
        uint8_t addr[16];
        unsigned len;
};

static struct net nets[NETWORKS];
static size_t nnets;

static void random_net(struct net *n, int family)
{
        n->family = family;
        unsigned width = family == AF_INET ? 32 : 128;
        /* Mostly long prefixes, some short ones covering them. */
        n->len = (unsigned)(next() % 4 == 0 ? 1 + next() % (width / 2)
                                            : width / 2 + next() % (width / 2 + 1));
        for (unsigned i = 0; i < 16; i++)
                n->addr[i] = (uint8_t)next();
        if (family == AF_INET6 && next() % 2)
                memcpy(n->addr, "\x20\x01\x0d\xb8", 4); /* clustered */
        if (family == AF_INET && next() % 2)
                n->addr[0] = 81; /* clustered */
        if (family == AF_INET6 && (n->addr[0] == 0 || n->addr[0] == 0x20))
                n->addr[0] = 0x30; /* not over ::/96 or the aliases */
        for (unsigned b = n->len; b < width; b++)
                n->addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
}

static const char *const COUNTRY[] = {"GB", "US", "FR", "DE", "JP", "BR", "XX"};
static const char *const CONTINENT[] = {"EU", "NA", "EU", "EU", "AS", "SA", "ZZ"};
static const char *const SUB[] = {"ENG", "CA", "IDF", "", "13", "", "SCT"};

/* The JSON description of a random database: *out (malloc'd). */
static char *describe(int ip_version, bool alias, const char *schema)
{
        size_t cap = 512 + NETWORKS * 200, len = 0;
        char *s = malloc(cap);
        assert_non_null(s);
        len += (size_t)snprintf(s + len, cap - len,
                                "{\"schema\":\"%s\",\"ip_version\":%d,"
                                "\"alias_ipv6_to_ipv4\":%s,\"networks\":[",
                                schema, ip_version, alias ? "true" : "false");
        nnets = 0;
        for (size_t i = 0; i < NETWORKS; i++) {
                struct net *n = &nets[nnets++];
                random_net(n, ip_version == 4 || next() % 3 ? AF_INET : AF_INET6);
                char text[64];
                inet_ntop(n->family, n->addr, text, sizeof(text));
                unsigned p = (unsigned)(next() % 7);
                len += (size_t)snprintf(s + len, cap - len, "%s{\"network\":\"%s/%u\"",
                                        i ? "," : "", text, n->len);
                if (p < 6 || next() % 2)
                        len +=
                            (size_t)snprintf(s + len, cap - len,
                                             ",\"country\":\"%s\",\"continent\":\"%s\"",
                                             COUNTRY[p], CONTINENT[p]);
                if (SUB[p][0] != '\0' && next() % 2)
                        len += (size_t)snprintf(s + len, cap - len,
                                                ",\"subdivision\":\"%s\"", SUB[p]);
                if (next() % 2)
                        len += (size_t)snprintf(
                            s + len, cap - len, ",\"latitude\":%.4f,\"longitude\":%.4f",
                            (double)(next() % 1800) / 10.0 - 90.0 + (double)p,
                            (double)(next() % 3600) / 10.0 - 180.0);
                len += (size_t)snprintf(s + len, cap - len, "}");
        }
        snprintf(s + len, cap - len, "]}");
        return s;
}

static struct geo_db *open_written(const char *json)
{
        char path[64];
        mmdb_write(path, sizeof(path), "geo-table", json);
        struct geo_db *db = NULL;
        char err[256];
        int rc = geo_db_open(path, NULL, &db, err, sizeof(err));
        unlink(path);
        if (rc != 0)
                fail_msg("open: %s", err);
        return db;
}

static void same(const struct geo_db *db, const struct geo_table *t, int family,
                 const uint8_t *addr)
{
        struct geo_place a, b;
        memset(&a, 0x55, sizeof(a));
        memset(&b, 0xaa, sizeof(b));
        /* The batch's prefetch walks the same entries and ends (the
         * sanitizer build checks that it reads nothing else). */
        struct geo_table_warm w;
        unsigned steps = 0;
        if (geo_table_warm_begin(t, family, addr, &w))
                while (geo_table_warm_step(t, addr, &w))
                        assert_true(++steps <= 28);
        int ra = geo_db_lookup(db, family, addr, &a);
        int rb = geo_table_lookup(t, family, addr, &b);
        char text[64];
        inet_ntop(family, addr, text, sizeof(text));
        if (ra != rb)
                fail_msg("%s (seed %u): libmaxminddb %d, table %d", text, seed, ra, rb);
        if (ra != 0)
                return;
        if (a.found != b.found || a.prefix != b.prefix ||
            strcmp(a.continent, b.continent) != 0 || strcmp(a.country, b.country) != 0 ||
            strcmp(a.subdivision, b.subdivision) != 0 ||
            a.has_coordinates != b.has_coordinates ||
            (a.has_coordinates &&
             (a.latitude != b.latitude || a.longitude != b.longitude)))
                fail_msg("%s (seed %u): libmaxminddb %d /%u %s %s %s %d %.4f %.4f, "
                         "table %d /%u %s %s %s %d %.4f %.4f",
                         text, seed, a.found, a.prefix, a.continent, a.country,
                         a.subdivision, a.has_coordinates, a.latitude, a.longitude,
                         b.found, b.prefix, b.continent, b.country, b.subdivision,
                         b.has_coordinates, b.latitude, b.longitude);
}

static void compare(const struct geo_db *db, const struct geo_table *t, int ip_version)
{
        for (unsigned i = 0; i < LOOKUPS; i++) {
                uint8_t a[16];
                for (unsigned k = 0; k < 16; k++)
                        a[k] = (uint8_t)next();
                int family = ip_version == 4 || i % 2 ? AF_INET : AF_INET6;
                unsigned how = (unsigned)(next() % 8);
                if (how < 4 && nnets > 0) {
                        /* Inside a network (its first, last or any address). */
                        const struct net *n = &nets[next() % nnets];
                        if (n->family == family) {
                                unsigned width = family == AF_INET ? 32 : 128;
                                for (unsigned b = 0; b < n->len; b++) {
                                        uint8_t m = (uint8_t)(0x80u >> (b % 8));
                                        a[b / 8] = (uint8_t)((a[b / 8] & ~m) |
                                                             (n->addr[b / 8] & m));
                                }
                                for (unsigned b = n->len; how < 2 && b < width; b++) {
                                        uint8_t m = (uint8_t)(0x80u >> (b % 8));
                                        a[b / 8] = how == 0 ? (uint8_t)(a[b / 8] & ~m)
                                                            : (uint8_t)(a[b / 8] | m);
                                }
                        }
                } else if (how >= 5 && family == AF_INET6) {
                        /* IPv4 behind ::/96, ::ffff:0:0/96, 2002::/16. */
                        uint8_t v4[4];
                        const struct net *n = nnets ? &nets[next() % nnets] : NULL;
                        for (unsigned k = 0; k < 4; k++)
                                v4[k] = n && n->family == AF_INET ? n->addr[k]
                                                                  : (uint8_t)next();
                        memset(a, 0, 16);
                        if (how == 5) {
                                memcpy(a + 12, v4, 4);
                        } else if (how == 6) {
                                a[10] = a[11] = 0xff;
                                memcpy(a + 12, v4, 4);
                        } else {
                                a[0] = 0x20;
                                a[1] = 0x02;
                                memcpy(a + 2, v4, 4);
                                for (unsigned k = 6; k < 16; k++)
                                        a[k] = (uint8_t)next();
                        }
                }
                same(db, t, family, a);
        }
}

static void check_random(int ip_version, bool alias, const char *schema)
{
        char *json = describe(ip_version, alias, schema);
        struct geo_db *db = open_written(json);
        free(json);
        struct geo_table *t = NULL;
        char err[256];
        int rc = geo_table_build(db, &t, err, sizeof(err));
        if (rc != 0)
                fail_msg("build: %d %s", rc, err);
        struct geo_table_stats st;
        geo_table_stats(t, &st);
        assert_true(st.networks >= 2);
        assert_true(st.places >= 1 && st.places < 7 * 2 * 4 * 2000);
        assert_true(st.bytes > 0);
        compare(db, t, ip_version);
        geo_table_free(t);
        geo_db_close(db);
}

static void test_ipv6_with_aliases(void **state)
{
        (void)state;
        check_random(6, true, "geoip2");
}

static void test_ipv6_without_aliases(void **state)
{
        (void)state;
        check_random(6, false, "geoip2");
}

static void test_ipv4_only(void **state)
{
        (void)state;
        check_random(4, false, "geoip2");
}

static void test_flat_schema(void **state)
{
        (void)state;
        check_random(6, true, "flat");
}

static struct geo_table *build_small(const char *json, struct geo_db **db)
{
        *db = open_written(json);
        struct geo_table *t = NULL;
        char err[256];
        assert_int_equal(geo_table_build(*db, &t, err, sizeof(err)), 0);
        return t;
}

static void test_small_databases(void **state)
{
        (void)state;
        nnets = 0;
        struct geo_db *db;
        struct geo_table *t = build_small(
            "{\"ip_version\":6,\"networks\":[{\"network\":\"81.2.69.0/24\","
            "\"continent\":\"EU\",\"country\":\"GB\",\"subdivision\":\"ENG\"}]}",
            &db);
        struct geo_place p;
        uint8_t a[16] = {81, 2, 69, 160};
        assert_int_equal(geo_table_lookup(t, AF_INET, a, &p), 0);
        assert_true(p.found);
        assert_int_equal(p.prefix, 24);
        assert_string_equal(p.country, "GB");
        assert_string_equal(p.subdivision, "ENG");
        a[2] = 70;
        assert_int_equal(geo_table_lookup(t, AF_INET, a, &p), 0);
        assert_false(p.found);
        assert_int_equal(p.prefix, 23);
        compare(db, t, 6);
        geo_table_free(t);
        geo_db_close(db);

        t = build_small("{\"ip_version\":6,\"networks\":[{\"network\":"
                        "\"2001:db8::/127\",\"country\":\"FR\"}]}",
                        &db);
        compare(db, t, 6);
        geo_table_free(t);
        geo_db_close(db);

        t = build_small("{\"ip_version\":4,\"networks\":[{\"network\":\"0.0.0.0/1\","
                        "\"country\":\"JP\"},{\"network\":\"128.0.0.0/2\","
                        "\"country\":\"US\"}]}",
                        &db);
        memset(a, 0, sizeof(a));
        assert_int_equal(geo_table_lookup(t, AF_INET, a, &p), 0);
        assert_true(p.found);
        assert_int_equal(p.prefix, 1);
        assert_string_equal(p.continent, "AS");
        assert_int_equal(geo_table_lookup(t, AF_INET6, a, &p), -EINVAL);
        assert_int_equal(geo_table_lookup(t, 99, a, &p), -EINVAL);
        compare(db, t, 4);
        geo_table_free(t);
        geo_db_close(db);
}

int main(void)
{
        const char *env = getenv("QDNS_SEED");
        seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
        rng = 0x9e3779b97f4a7c15ull ^ seed;
        if (rng == 0)
                rng = 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_ipv6_with_aliases),
            cmocka_unit_test(test_ipv6_without_aliases),
            cmocka_unit_test(test_ipv4_only),
            cmocka_unit_test(test_flat_schema),
            cmocka_unit_test(test_small_databases),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
