/*
 * test_geo.c — geo/: lookups in small exact .mmdb files in both schemas.
 *
 * Each test writes its database with tests/data/make_mmdb.pl (Debian's
 * libmaxmind-db-writer-perl) from a JSON description, opens it with
 * geo_db_open() and checks continent, country, subdivision and the
 * record's network length for addresses inside, at the edge of and outside
 * its networks: MaxMind's GeoIP2 schema, the flat ip-location-db schema
 * (state1 by name, continent derived from the country), IPv4 in an IPv6
 * tree and in an IPv4 one, and files that are not databases.
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
#include <unistd.h>

#include <cmocka.h>

#include "geo/geo.h"
#include "mmdb_written.h"

static char path[64];

static void write_db(const char *json)
{
        mmdb_write(path, sizeof(path), "geo", json);
}

static struct geo_db *open_db(const char *json, const struct geo_names *names)
{
        write_db(json);
        struct geo_db *db = NULL;
        char err[256];
        int rc = geo_db_open(path, names, &db, err, sizeof(err));
        if (rc != 0)
                fail_msg("open: %s", err);
        unlink(path);
        return db;
}

static struct geo_place look(struct geo_db *db, const char *text)
{
        uint8_t a[16];
        int family = strchr(text, ':') ? AF_INET6 : AF_INET;
        assert_int_equal(inet_pton(family, text, a), 1);
        struct geo_place p;
        assert_int_equal(geo_db_lookup(db, family, a, &p), 0);
        return p;
}

static const char GEOIP2[] =
    "{\"schema\":\"geoip2\",\"type\":\"GeoLite2-City\",\"networks\":["
    "{\"network\":\"81.2.69.0/24\",\"continent\":\"EU\",\"country\":\"GB\","
    "\"subdivision\":\"ENG\",\"latitude\":51.4,\"longitude\":-0.76},"
    "{\"network\":\"81.2.69.192/28\",\"continent\":\"EU\",\"country\":\"GB\","
    "\"subdivision\":\"SCT\"},"
    "{\"network\":\"198.51.100.0/22\",\"continent\":\"NA\",\"country\":\"US\","
    "\"subdivision\":\"CA\"},"
    "{\"network\":\"203.0.113.0/24\",\"country\":\"JP\"},"
    "{\"network\":\"2001:db8:1::/48\",\"continent\":\"EU\",\"country\":\"DE\","
    "\"subdivision\":\"BY\"}]}";

static void test_geoip2_schema_gives_codes_and_network_length(void **state)
{
        struct geo_db *db = open_db(GEOIP2, NULL);
        struct geo_place p = look(db, "81.2.69.160");
        assert_true(p.found);
        assert_string_equal(p.continent, "EU");
        assert_string_equal(p.country, "GB");
        assert_string_equal(p.subdivision, "ENG");
        assert_int_equal(p.prefix, 26); /* .128/26: the /24 less .192/28 */
        p = look(db, "81.2.69.200");
        assert_string_equal(p.subdivision, "SCT");
        assert_int_equal(p.prefix, 28);
        p = look(db, "198.51.100.0");
        assert_string_equal(p.country, "US");
        assert_string_equal(p.subdivision, "CA");
        assert_int_equal(p.prefix, 22);
        p = look(db, "2001:db8:1:ffff::1");
        assert_string_equal(p.country, "DE");
        assert_string_equal(p.subdivision, "BY");
        assert_int_equal(p.prefix, 48);
        struct geo_info info;
        geo_db_info(db, &info);
        assert_string_equal(info.type, "GeoLite2-City");
        assert_int_equal(info.ip_version, 6);
        assert_true(info.build_epoch > 1600000000);
        geo_db_close(db);
}

static void test_missing_continent_is_derived_from_the_country(void **state)
{
        struct geo_db *db = open_db(GEOIP2, NULL);
        struct geo_place p = look(db, "203.0.113.77");
        assert_true(p.found);
        assert_string_equal(p.country, "JP");
        assert_string_equal(p.continent, "AS");
        assert_string_equal(p.subdivision, "");
        geo_db_close(db);
}

static void test_address_outside_every_network_is_not_found(void **state)
{
        struct geo_db *db = open_db(GEOIP2, NULL);
        struct geo_place p = look(db, "192.0.2.1");
        assert_false(p.found);
        assert_string_equal(p.country, "");
        assert_string_equal(p.continent, "");
        assert_true(p.prefix > 0 && p.prefix <= 32);
        geo_db_close(db);
}

static void test_flat_schema_maps_state_names_to_codes(void **state)
{
        struct geo_subdivision items[] = {{"US", "CA", "California"},
                                          {"GB", "ENG", "England"},
                                          {"GB", "SCT", "Scotland"}};
        struct geo_names names = {3, items};
        geo_names_sort(&names);
        struct geo_db *db = open_db(
            "{\"schema\":\"flat\",\"type\":\"geolite2-city-ipv4\",\"ip_version\":4,"
            "\"networks\":["
            "{\"network\":\"81.2.69.0/24\",\"country\":\"GB\",\"state1\":\"England\","
            "\"latitude\":51.4,\"longitude\":-0.76},"
            "{\"network\":\"198.51.100.0/"
            "24\",\"country\":\"US\",\"state1\":\"California\"},"
            "{\"network\":\"203.0.113.0/"
            "24\",\"country\":\"FR\",\"state1\":\"Nowhere\"}]}",
            &names);
        struct geo_place p = look(db, "81.2.69.160");
        assert_string_equal(p.country, "GB");
        assert_string_equal(p.continent, "EU");
        assert_string_equal(p.subdivision, "ENG");
        assert_int_equal(p.prefix, 24);
        p = look(db, "198.51.100.9");
        assert_string_equal(p.continent, "NA");
        assert_string_equal(p.subdivision, "CA");
        p = look(db, "203.0.113.9");
        assert_string_equal(p.country, "FR");
        assert_string_equal(p.subdivision, ""); /* a name not in the table */
        /* An IPv4 database cannot answer for IPv6. */
        uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8};
        struct geo_place q;
        assert_int_equal(geo_db_lookup(db, AF_INET6, a6, &q), -EINVAL);
        geo_db_close(db);
}

/* Coordinates: GeoIP2's location map, the flat schema's latitude and
 * longitude; none when the record has none or they are out of range. */
static void test_coordinates_come_with_the_place(void **state)
{
        (void)state;
        struct geo_db *db = open_db(GEOIP2, NULL);
        struct geo_place p = look(db, "81.2.69.10");
        assert_true(p.has_coordinates);
        assert_true(p.latitude == 51.4 && p.longitude == -0.76);
        p = look(db, "81.2.69.200"); /* the /28 has no location */
        assert_false(p.has_coordinates);
        p = look(db, "192.0.2.1");
        assert_false(p.has_coordinates);
        geo_db_close(db);
        db = open_db("{\"schema\":\"flat\",\"ip_version\":4,\"networks\":["
                     "{\"network\":\"10.0.0.0/8\",\"country\":\"AU\","
                     "\"latitude\":-33.87,\"longitude\":151.21},"
                     "{\"network\":\"11.0.0.0/8\",\"latitude\":95,\"longitude\":0},"
                     "{\"network\":\"12.0.0.0/8\",\"latitude\":1.5}]}",
                     NULL);
        p = look(db, "10.1.2.3");
        assert_true(p.has_coordinates);
        assert_true(p.latitude == -33.87 && p.longitude == 151.21);
        assert_string_equal(p.country, "AU");
        p = look(db, "11.0.0.1"); /* latitude out of range */
        assert_true(p.found);
        assert_false(p.has_coordinates);
        p = look(db, "12.0.0.1"); /* no longitude */
        assert_false(p.has_coordinates);
        geo_db_close(db);
}

static void test_files_that_are_not_databases_fail_to_open(void **state)
{
        snprintf(path, sizeof(path), "/tmp/qdns-geo-bad-%d.mmdb", (int)getpid());
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("not a database at all", f);
        fclose(f);
        struct geo_db *db = NULL;
        char err[256];
        assert_true(geo_db_open(path, NULL, &db, err, sizeof(err)) < 0);
        assert_non_null(strstr(err, path));
        unlink(path);
        assert_true(geo_db_open("/nonexistent/x.mmdb", NULL, &db, err, sizeof(err)) < 0);
}

static void test_country_and_continent_codes(void **state)
{
        assert_string_equal(geo_country_continent("GB"), "EU");
        assert_string_equal(geo_country_continent("US"), "NA");
        assert_string_equal(geo_country_continent("BR"), "SA");
        assert_string_equal(geo_country_continent("AU"), "OC");
        assert_string_equal(geo_country_continent("AQ"), "AN");
        assert_null(geo_country_continent("ZZ"));
        assert_null(geo_country_continent("gb"));
        assert_null(geo_country_continent("GBR"));
        assert_true(geo_continent_valid("AF"));
        assert_false(geo_continent_valid("XX"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_geoip2_schema_gives_codes_and_network_length),
            cmocka_unit_test(test_missing_continent_is_derived_from_the_country),
            cmocka_unit_test(test_address_outside_every_network_is_not_found),
            cmocka_unit_test(test_flat_schema_maps_state_names_to_codes),
            cmocka_unit_test(test_coordinates_come_with_the_place),
            cmocka_unit_test(test_files_that_are_not_databases_fail_to_open),
            cmocka_unit_test(test_country_and_continent_codes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
