/*
 * test_node_config.c — the node's settings from flags and from a file.
 *
 * Checks the defaults (the API limits among them), that every API limit is
 * read from a flag and from a file line with its range and size suffixes,
 * that a bad file line is reported as file:line, that flags override
 * the file, and that a long rrl-exempt list is read whole.
 */
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

#include "node/config.h"

static enum node_config_result parse(struct node_config *cfg, char *err, size_t n, ...)
{
        char *argv[32] = {"quorumdns"};
        int argc = 1;
        va_list ap;
        va_start(ap, n);
        for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
                argv[argc++] = a;
        va_end(ap);
        return node_config_parse(cfg, argc, argv, err, n);
}

static void write_file(const char *path, const char *text)
{
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
}

static void test_defaults_hold_safe_api_limits(void **state)
{
        struct node_config cfg;
        char err[512] = "";
        assert_int_equal(parse(&cfg, err, sizeof(err), NULL), NODE_CONFIG_OK);
        const struct node_http_limits *l = &cfg.api_limits;
        assert_int_equal(l->body_max, 64u << 20);
        assert_int_equal(l->anon_body_max, 4096);
        assert_int_equal(l->max_connections, 128);
        assert_int_equal(l->max_connections_per_address, 32);
        assert_int_equal(l->head_timeout_ms, 10000);
        assert_int_equal(l->write_rate, 200);
        assert_int_equal(l->write_burst, 400);
        /* What unauthenticated connections can make a node hold: a head each. */
        assert_true((size_t)l->max_connections * (NODE_HTTP_MAX_HEAD + l->anon_body_max) <
                    8u << 20);
        node_config_free(&cfg);
}

static void test_api_limits_from_flags(void **state)
{
        struct node_config cfg;
        char err[512] = "";
        assert_int_equal(parse(&cfg, err, sizeof(err), "--api-body-limit", "8M",
                               "--api-small-body-limit", "64k", "--api-anon-body-limit",
                               "0", "--api-max-connections", "10",
                               "--api-max-connections-per-address", "2",
                               "--api-head-timeout", "3", "--api-request-timeout", "7",
                               "--api-write-rate", "0", "--api-write-burst", "5", NULL),
                         NODE_CONFIG_OK);
        const struct node_http_limits *l = &cfg.api_limits;
        assert_int_equal(l->body_max, 8u << 20);
        assert_int_equal(l->small_body_max, 64u << 10);
        assert_int_equal(l->anon_body_max, 0);
        assert_int_equal(l->max_connections, 10);
        assert_int_equal(l->max_connections_per_address, 2);
        assert_int_equal(l->head_timeout_ms, 3000);
        assert_int_equal(l->request_timeout_ms, 7000);
        assert_int_equal(l->write_rate, 0);
        assert_int_equal(l->write_burst, 5);
        node_config_free(&cfg);
}

static void test_bad_api_limits_are_usage_errors(void **state)
{
        const char *bad[][2] = {
            {"--api-body-limit", "2G"},   {"--api-body-limit", "12Q"},
            {"--api-body-limit", "-1"},   {"--api-max-connections", "0"},
            {"--api-head-timeout", "0"},  {"--api-write-burst", "0"},
            {"--api-write-rate", "lots"}, {"--api-max-connections-per-address", ""},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct node_config cfg;
                char err[512] = "";
                assert_int_equal(
                    parse(&cfg, err, sizeof(err), bad[i][0], bad[i][1], NULL),
                    NODE_CONFIG_USAGE);
                assert_non_null(strstr(err, bad[i][0] + 2));
                node_config_free(&cfg);
        }
}

/* rrl-exempt at its most: 32 IPv6 networks written out in full (~1,400
 * characters) are all read, the last one with its own prefix (a copy cut
 * at 1,024 characters once read ".../112" as ".../1"); a 33rd is refused. */
static void test_long_rrl_exempt_list_read_whole(void **state)
{
        char list[2048] = "", item[64];
        for (int i = 0; i < DNS_RRL_EXEMPT_MAX; i++) {
                snprintf(item, sizeof(item),
                         "%s2001:0db8:0000:0000:0000:0000:%04x:0000/112", i ? "," : "",
                         i);
                strcat(list, item);
        }
        assert_true(strlen(list) > 1100);
        struct node_config cfg;
        char err[512] = "";
        assert_int_equal(parse(&cfg, err, sizeof(err), "--rrl-exempt", list, NULL),
                         NODE_CONFIG_OK);
        assert_int_equal(cfg.rrl.exempt_count, DNS_RRL_EXEMPT_MAX);
        assert_int_equal(cfg.rrl.exempt[DNS_RRL_EXEMPT_MAX - 1].prefix, 112);
        assert_int_equal(cfg.rrl.exempt[DNS_RRL_EXEMPT_MAX - 1].bytes[13], 31);
        node_config_free(&cfg);

        strcat(list, ",192.0.2.0/24");
        assert_int_equal(parse(&cfg, err, sizeof(err), "--rrl-exempt", list, NULL),
                         NODE_CONFIG_USAGE);
        assert_non_null(strstr(err, "rrl-exempt: '192.0.2.0/24'"));
        node_config_free(&cfg);
}

static void test_ecs_and_geoip_settings(void **state)
{
        struct node_config cfg;
        char err[512] = "";
        assert_int_equal(parse(&cfg, err, sizeof(err), "-l", "127.0.0.1:5353", NULL),
                         NODE_CONFIG_OK);
        assert_true(cfg.ecs.enabled);
        assert_int_equal(cfg.ecs.max_ipv4, 24);
        assert_int_equal(cfg.ecs.max_ipv6, 56);
        assert_int_equal(cfg.ecs.trusted_count, 0);
        assert_string_equal(cfg.geoip_db, "");
        node_config_free(&cfg);
        assert_int_equal(parse(&cfg, err, sizeof(err), "-l", "127.0.0.1:5353", "--ecs",
                               "off", "--ecs-max-ipv4-prefix", "20",
                               "--ecs-max-ipv6-prefix", "48", "--ecs-trusted",
                               "192.0.2.0/24,2001:db8::/32", "--geoip-db",
                               "/var/lib/geo/x.mmdb", NULL),
                         NODE_CONFIG_OK);
        assert_false(cfg.ecs.enabled);
        assert_int_equal(cfg.ecs.max_ipv4, 20);
        assert_int_equal(cfg.ecs.max_ipv6, 48);
        assert_int_equal(cfg.ecs.trusted_count, 2);
        assert_string_equal(cfg.geoip_db, "/var/lib/geo/x.mmdb");
        node_config_free(&cfg);
        /* Regions: a name given again takes its new place. */
        assert_int_equal(parse(&cfg, err, sizeof(err), "-l", "127.0.0.1:5353",
                               "--region-coordinates",
                               "eu-central=50.11,8.68;us_east=1,2",
                               "--region-coordinates", "us_east=40.71,-74", NULL),
                         NODE_CONFIG_OK);
        node_config_free(&cfg);
        int32_t lat, lon;
        assert_int_equal(node_region_find("eu-central", &lat, &lon), 0);
        assert_int_equal(lat, 50110000);
        assert_int_equal(lon, 8680000);
        assert_int_equal(node_region_find("us_east", &lat, &lon), 0);
        assert_int_equal(lon, -74000000);
        assert_int_equal(node_region_find("mars", &lat, &lon), -ENOENT);
        const char *bad[][2] = {
            {"--region-coordinates", "eu=91,0"},
            {"--region-coordinates", "eu=0,181"},
            {"--region-coordinates", "EU=1,2"},
            {"--region-coordinates", "=1,2"},
            {"--region-coordinates", "eu=1"},
            {"--region-coordinates", "eu=1,x"},
            {"--ecs", "maybe"},
            {"--ecs-max-ipv4-prefix", "33"},
            {"--ecs-max-ipv6-prefix", "129"},
            {"--ecs-max-ipv4-prefix", "-1"},
            {"--ecs-trusted", "192.0.2.0/33"},
            {"--ecs-trusted", ","},
            {"--geoip-db", ""},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                assert_int_not_equal(parse(&cfg, err, sizeof(err), "-l", "127.0.0.1:5353",
                                           bad[i][0], bad[i][1], NULL),
                                     NODE_CONFIG_OK);
                assert_non_null(strstr(err, bad[i][0] + 2));
                node_config_free(&cfg);
        }
}

static void test_file_lines_and_flag_override(void **state)
{
        char path[] = "/tmp/test_node_config-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        write_file(path, "# limits\napi-write-rate 7\napi-body-limit 1M # import\n");
        struct node_config cfg;
        char err[512] = "";
        assert_int_equal(parse(&cfg, err, sizeof(err), "--config", path,
                               "--api-write-rate", "9", NULL),
                         NODE_CONFIG_OK);
        assert_int_equal(cfg.api_limits.write_rate, 9);
        assert_int_equal(cfg.api_limits.body_max, 1u << 20);
        node_config_free(&cfg);

        write_file(path, "listen 127.0.0.1:5353\n\napi-max-connections many\n");
        assert_int_equal(parse(&cfg, err, sizeof(err), "--config", path, NULL),
                         NODE_CONFIG_ERROR);
        char want[128];
        snprintf(want, sizeof(want), "%s:3: api-max-connections", path);
        assert_non_null(strstr(err, want));
        node_config_free(&cfg);

        write_file(path, "no-such-setting 1\n");
        assert_int_equal(parse(&cfg, err, sizeof(err), "--config", path, NULL),
                         NODE_CONFIG_ERROR);
        assert_non_null(strstr(err, ":1: unknown setting 'no-such-setting'"));
        node_config_free(&cfg);
        unlink(path);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults_hold_safe_api_limits),
            cmocka_unit_test(test_api_limits_from_flags),
            cmocka_unit_test(test_bad_api_limits_are_usage_errors),
            cmocka_unit_test(test_file_lines_and_flag_override),
            cmocka_unit_test(test_ecs_and_geoip_settings),
            cmocka_unit_test(test_long_rrl_exempt_list_read_whole),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
