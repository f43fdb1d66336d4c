/*
 * test_health_rule.c — check validation and the pure health rules.
 *
 * Validation: defaults per type, every problem of a definition reported
 * with its field name, fields that do not apply to a type refused, strings
 * that would reach an HTTP request kept free of spaces and line breaks.
 * Rules: the aggregation of node votes (more than percent% of the FRESH
 * votes; stale votes age out; no fresh vote keeps the last aggregate),
 * CALCULATED over children, HEARTBEAT by call-in times, and the final
 * status with disabled and inverted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "health/rule.h"

/* ------------------------------------------------------------ validation */

static bool has_problem(const struct health_problems *p, const char *field)
{
        for (size_t i = 0; i < p->count; i++) {
                if (strcmp(p->list[i].field, field) == 0)
                        return true;
        }
        return false;
}

static void test_defaults_are_route53s(void **state)
{
        struct health_check_config c;
        health_check_config_init(&c, HEALTH_CHECK_HTTPS);
        assert_int_equal(c.request_interval, 30);
        assert_int_equal(c.failure_threshold, 3);
        assert_int_equal(c.status_min, 200);
        assert_int_equal(c.status_max, 399);
        assert_int_equal(c.aggregation_percent, 18);
        assert_true(c.enable_sni);
        assert_false(c.verify_certificate);
        assert_int_equal(health_check_port(&c), 443);
        /* An address alone is fine: SNI is sent only when there is a name. */
        struct health_problems p;
        health_check_config_set_string(&c.ip_address, "192.0.2.10");
        assert_int_equal(health_check_validate(&c, 1, &p), 0);
        health_check_config_free(&c);
        health_check_config_init(&c, HEALTH_CHECK_HTTP);
        assert_false(c.enable_sni);
        assert_int_equal(health_check_port(&c), 80);
        health_check_config_set_string(&c.ip_address, "192.0.2.10");
        assert_int_equal(health_check_validate(&c, 1, &p), 0);
        health_check_config_free(&c);
}

static void test_type_names_round_trip(void **state)
{
        for (int t = 0; t < HEALTH_CHECK_TYPE_COUNT; t++) {
                enum health_check_type back;
                const char *name = health_check_type_name((enum health_check_type)t);
                assert_non_null(name);
                assert_int_equal(health_check_type_parse(name, &back), 0);
                assert_int_equal(back, t);
        }
        enum health_check_type out;
        assert_int_equal(health_check_type_parse("http", &out), -EINVAL);
        assert_int_equal(health_check_type_parse("CLOUDWATCH_METRIC", &out), -EINVAL);
        assert_null(health_check_type_name(HEALTH_CHECK_TYPE_COUNT));
}

static void test_every_problem_is_reported_by_field(void **state)
{
        struct health_check_config c;
        health_check_config_init(&c, HEALTH_CHECK_HTTP_STR_MATCH);
        health_check_config_set_string(&c.ip_address, "300.1.1.1");
        health_check_config_set_string(&c.resource_path, "no-slash");
        health_check_config_set_string(&c.fqdn, "bad host\r\nX-Injected: 1");
        c.request_interval = 0;
        c.failure_threshold = 11;
        c.status_min = 500;
        c.status_max = 200;
        c.aggregation_percent = 100;
        c.vote_freshness = 0;
        c.enable_sni = true;
        c.heartbeat_ttl = 5;
        struct health_problems p;
        size_t n = health_check_validate(&c, 1, &p);
        const char *fields[] = {
            "ip_address",          "resource_path",       "fully_qualified_domain_name",
            "search_string",       "request_interval",    "failure_threshold",
            "expected_status_min", "aggregation_percent", "vote_freshness",
            "enable_sni",          "heartbeat_ttl"};
        for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
                if (!has_problem(&p, fields[i]))
                        fail_msg("no problem reported for %s", fields[i]);
        }
        assert_int_equal(n, p.count);
        assert_true(n >= 11);
        for (size_t i = 0; i < n; i++)
                assert_true(strlen(p.list[i].message) > 0);
        health_check_config_free(&c);
}

static void test_limits(void **state)
{
        struct health_check_config c;
        struct health_problems p;
        health_check_config_init(&c, HEALTH_CHECK_HTTP_STR_MATCH);
        health_check_config_set_string(&c.ip_address, "2001:db8::1");
        char s[300];
        memset(s, 'a', 255);
        s[255] = '\0';
        health_check_config_set_string(&c.search_string, s);
        c.request_interval = 1;
        c.failure_threshold = 10;
        assert_int_equal(health_check_validate(&c, 1, &p), 0);
        c.request_interval = 300;
        c.failure_threshold = 1;
        assert_int_equal(health_check_validate(&c, 1, &p), 0);
        strcat(s, "a");
        health_check_config_set_string(&c.search_string, s);
        c.request_interval = 301;
        assert_int_equal(health_check_validate(&c, 1, &p), 2);
        assert_true(has_problem(&p, "search_string"));
        assert_true(has_problem(&p, "request_interval"));
        /* A path with a space or a line break would change the request. */
        health_check_config_set_string(&c.search_string, "ok");
        c.request_interval = 10;
        health_check_config_set_string(&c.resource_path, "/a b");
        assert_int_equal(health_check_validate(&c, 1, &p), 1);
        assert_true(has_problem(&p, "resource_path"));
        health_check_config_set_string(&c.resource_path, "/a\nb");
        assert_int_equal(health_check_validate(&c, 1, &p), 1);
        /* Neither address nor name. */
        health_check_config_set_string(&c.resource_path, NULL);
        health_check_config_set_string(&c.ip_address, NULL);
        assert_int_equal(health_check_validate(&c, 1, &p), 1);
        assert_true(has_problem(&p, "ip_address"));
        /* A name alone is fine; a bad label is not. */
        health_check_config_set_string(&c.fqdn, "www.example.com.");
        assert_int_equal(health_check_validate(&c, 1, &p), 0);
        health_check_config_set_string(&c.fqdn, "www..example.com");
        assert_int_equal(health_check_validate(&c, 1, &p), 1);
        /* TCP needs a port, has no path or search string. */
        health_check_config_free(&c);
        health_check_config_init(&c, HEALTH_CHECK_TCP);
        health_check_config_set_string(&c.ip_address, "192.0.2.1");
        health_check_config_set_string(&c.search_string, "x");
        c.verify_certificate = true;
        assert_int_equal(health_check_validate(&c, 1, &p), 3);
        assert_true(has_problem(&p, "port"));
        assert_true(has_problem(&p, "search_string"));
        assert_true(has_problem(&p, "verify_certificate"));
        c.type = (enum health_check_type)99;
        assert_int_equal(health_check_validate(&c, 1, &p), 1);
        assert_true(has_problem(&p, "type"));
        health_check_config_free(&c);
}

static void test_unprobed_types(void **state)
{
        struct health_check_config c;
        struct health_problems p;
        health_check_config_init(&c, HEALTH_CHECK_CALCULATED);
        uint64_t kids[] = {2, 3, 4};
        c.children = kids;
        c.child_count = 3;
        c.health_threshold = 2;
        assert_int_equal(health_check_validate(&c, 1, &p), 0);
        /* Its own child, twice the same child, an endpoint field. */
        uint64_t bad[] = {2, 1, 2};
        c.children = bad;
        c.port = 80;
        assert_int_equal(health_check_validate(&c, 1, &p), 3);
        assert_true(has_problem(&p, "child_health_checks"));
        assert_true(has_problem(&p, "port"));
        c.children = NULL;
        c.child_count = 0;
        c.port = 0;
        c.health_threshold = 257;
        assert_int_equal(health_check_validate(&c, 1, &p), 1);
        assert_true(has_problem(&p, "health_threshold"));

        health_check_config_init(&c, HEALTH_CHECK_HEARTBEAT);
        assert_int_equal(c.heartbeat_ttl, 60);
        assert_int_equal(health_check_validate(&c, 1, &p), 0);
        c.heartbeat_ttl = 0;
        assert_int_equal(health_check_validate(&c, 1, &p), 1);
        assert_true(has_problem(&p, "heartbeat_ttl"));

        health_check_config_init(&c, HEALTH_CHECK_MANUAL);
        assert_int_equal(health_check_validate(&c, 1, &p), 0);
        c.health_threshold = 1;
        char *who[] = {"eu-west"};
        c.checkers = who;
        c.checker_count = 1;
        assert_int_equal(health_check_validate(&c, 1, &p), 2);
        assert_true(has_problem(&p, "health_threshold"));
        assert_true(has_problem(&p, "regions"));
}

static void test_checkers(void **state)
{
        struct health_check_config c;
        struct health_problems p;
        health_check_config_init(&c, HEALTH_CHECK_TCP);
        health_check_config_set_string(&c.ip_address, "192.0.2.1");
        c.port = 22;
        assert_true(health_check_probed_by(&c, "1", NULL));
        char *list[] = {"3", "eu-west", "3"};
        c.checkers = list;
        c.checker_count = 2;
        assert_true(health_check_probed_by(&c, "3", NULL));
        assert_true(health_check_probed_by(&c, "1", "eu-west"));
        assert_false(health_check_probed_by(&c, "1", "us-east"));
        assert_false(health_check_probed_by(&c, "33", NULL));
        assert_int_equal(health_check_validate(&c, 1, &p), 0);
        c.checker_count = 3;
        assert_int_equal(health_check_validate(&c, 1, &p), 1);
        assert_true(has_problem(&p, "regions"));
        /* A deep copy owns its strings. */
        c.checker_count = 2;
        struct health_check_config copy;
        assert_int_equal(health_check_config_copy(&copy, &c), 0);
        assert_ptr_not_equal(copy.checkers[1], list[1]);
        assert_string_equal(copy.checkers[1], "eu-west");
        assert_string_equal(copy.ip_address, "192.0.2.1");
        assert_ptr_not_equal(copy.ip_address, c.ip_address);
        health_check_config_free(&copy);
        c.checkers = NULL;
        c.checker_count = 0;
        health_check_config_free(&c);
}

/* ------------------------------------------------------------ aggregation */

#define S 1000 /* ms */

static void test_aggregate_route53_18_percent(void **state)
{
        int64_t now = 100 * S, fresh = 30 * S;
        struct health_vote v[3] = {
            {true, true, now}, {true, false, now}, {true, false, now}};
        struct health_tally t;
        /* 1 of 3 healthy: 33% > 18%: healthy. */
        assert_true(health_rule_aggregate(v, 3, 18, fresh, now, false, &t));
        assert_int_equal(t.fresh, 3);
        assert_int_equal(t.healthy, 1);
        assert_true(t.decided);
        /* 0 of 3: unhealthy. */
        v[0].healthy = false;
        assert_false(health_rule_aggregate(v, 3, 18, fresh, now, true, &t));
        /* Exactly the percentage is not more than it: 1 of 2 at 50% is unhealthy. */
        v[0].healthy = true;
        assert_false(health_rule_aggregate(v, 2, 50, fresh, now, true, NULL));
        /* 2 of 3 at 50%: healthy; 1 of 3 at 50%: unhealthy. */
        v[1].healthy = true;
        assert_true(health_rule_aggregate(v, 3, 50, fresh, now, false, NULL));
        v[1].healthy = false;
        assert_false(health_rule_aggregate(v, 3, 50, fresh, now, true, NULL));
        /* 0%: one healthy vote is enough; none is not. */
        assert_true(health_rule_aggregate(v, 3, 0, fresh, now, false, NULL));
        v[0].healthy = false;
        assert_false(health_rule_aggregate(v, 3, 0, fresh, now, true, NULL));
}

static void test_aggregate_counts_only_fresh_votes(void **state)
{
        int64_t now = 1000 * S, fresh = 30 * S;
        /* Two nodes' unhealthy votes are stale (a dead node, a partition). */
        struct health_vote v[3] = {{true, true, now - 5 * S},
                                   {true, false, now - fresh - 1},
                                   {true, false, now - 100 * S}};
        struct health_tally t;
        assert_true(health_rule_aggregate(v, 3, 50, fresh, now, false, &t));
        assert_int_equal(t.fresh, 1);
        /* A vote exactly at the edge of the window still counts. */
        v[1].time_ms = now - fresh;
        assert_false(health_rule_aggregate(v, 3, 50, fresh, now, true, &t));
        assert_int_equal(t.fresh, 2);
        /* Absent votes are ignored. */
        v[1].present = false;
        assert_true(health_rule_aggregate(v, 3, 50, fresh, now, false, &t));
        assert_int_equal(t.fresh, 1);
        /* A vote stamped after now (a new leader's clock behind) is fresh. */
        v[2].time_ms = now + 10 * S;
        assert_false(health_rule_aggregate(v, 3, 50, fresh, now, true, &t));
        assert_int_equal(t.fresh, 2);
}

static void test_aggregate_without_fresh_votes_keeps_last(void **state)
{
        int64_t now = 1000 * S, fresh = 30 * S;
        struct health_vote v[3] = {{true, false, now - 60 * S}, {false}, {true, true, 0}};
        struct health_tally t;
        assert_true(health_rule_aggregate(v, 3, 18, fresh, now, true, &t));
        assert_false(t.decided);
        assert_int_equal(t.fresh, 0);
        assert_false(health_rule_aggregate(v, 3, 18, fresh, now, false, &t));
        assert_false(health_rule_aggregate(NULL, 0, 18, fresh, now, false, &t));
        assert_true(health_rule_aggregate(NULL, 0, 18, fresh, now, true, &t));
}

static void test_aggregate_ages_out_over_time(void **state)
{
        /* 3 nodes, 18%: the one healthy voter dies; its vote ages out. */
        struct health_check_config c;
        health_check_config_init(&c, HEALTH_CHECK_HTTP);
        c.request_interval = 10;
        c.vote_freshness = 3;
        int64_t fresh = health_rule_fresh_ms(&c);
        assert_int_equal(fresh, 30 * S);
        int64_t t0 = 500 * S;
        struct health_vote v[3] = {
            {true, true, t0}, {true, false, t0}, {true, false, t0}};
        bool agg = health_rule_aggregate(v, 3, 18, fresh, t0, true, NULL);
        assert_true(agg);
        int64_t expiry = health_rule_next_expiry(v, 3, fresh, t0);
        assert_int_equal(expiry, t0 + fresh + 1);
        /* The two live nodes refresh; the dead one does not. */
        int64_t now = t0;
        for (int i = 0; i < 6; i++) {
                now += 10 * S;
                v[1].time_ms = v[2].time_ms = now;
                agg = health_rule_aggregate(v, 3, 18, fresh, now, agg, NULL);
                assert_true(agg == (now - t0 <= fresh));
        }
        assert_false(agg);
        assert_int_equal(health_rule_next_expiry(v, 3, fresh, now), now + fresh + 1);
        struct health_vote none = {false};
        assert_int_equal(health_rule_next_expiry(&none, 1, fresh, now), INT64_MAX);
}

static void test_aggregate_is_deterministic(void **state)
{
        /* The same inputs in any order give the same result. */
        struct health_vote v[5] = {{true, true, 10 * S},
                                   {true, false, 11 * S},
                                   {true, true, 2 * S},
                                   {true, false, 12 * S},
                                   {true, false, 12 * S}};
        struct health_vote r[5];
        for (int i = 0; i < 5; i++)
                r[i] = v[4 - i];
        for (uint32_t pct = 0; pct <= 99; pct++) {
                for (int64_t now = 10 * S; now < 25 * S; now += S) {
                        struct health_tally a, b;
                        bool x =
                            health_rule_aggregate(v, 5, pct, 9 * S, now, pct & 1, &a);
                        bool y =
                            health_rule_aggregate(r, 5, pct, 9 * S, now, pct & 1, &b);
                        assert_true(x == y);
                        assert_int_equal(a.fresh, b.fresh);
                        assert_int_equal(a.healthy, b.healthy);
                }
        }
}

/* ------------------------------------------------------------ other rules */

static void test_calculated(void **state)
{
        bool kids[4] = {true, false, true, false};
        assert_true(health_rule_calculated(2, kids, 4));
        assert_false(health_rule_calculated(3, kids, 4));
        assert_true(health_rule_calculated(0, kids, 4)); /* N = 0: always */
        assert_true(health_rule_calculated(0, NULL, 0));
        assert_false(health_rule_calculated(5, kids, 4)); /* N > count: never */
        bool all[4] = {true, true, true, true};
        assert_false(health_rule_calculated(5, all, 4));
        assert_true(health_rule_calculated(4, all, 4));
}

static void test_heartbeat(void **state)
{
        int64_t created = 1000 * S;
        /* A new check is healthy for its first TTL. */
        assert_true(health_rule_heartbeat(created, -1, 60, created + 60 * S));
        assert_false(health_rule_heartbeat(created, -1, 60, created + 60 * S + 1));
        /* Each call-in renews it for one TTL. */
        int64_t beat = created + 50 * S;
        assert_true(health_rule_heartbeat(created, beat, 60, beat + 59 * S));
        assert_true(health_rule_heartbeat(created, beat, 60, beat + 60 * S));
        assert_false(health_rule_heartbeat(created, beat, 60, beat + 61 * S));
        assert_int_equal(health_rule_heartbeat_deadline(created, beat, 60),
                         beat + 60 * S);
        /* A call-in older than the creation (a re-created check) does not count. */
        assert_int_equal(health_rule_heartbeat_deadline(created, created - S, 60),
                         created + 60 * S);
}

static void test_final_status(void **state)
{
        struct health_check_config c;
        health_check_config_init(&c, HEALTH_CHECK_MANUAL);
        assert_true(health_rule_final(&c, true));
        assert_false(health_rule_final(&c, false));
        c.inverted = true;
        assert_false(health_rule_final(&c, true));
        assert_true(health_rule_final(&c, false));
        c.disabled = true;
        assert_true(health_rule_final(&c, true));
        assert_true(health_rule_final(&c, false));
        /* Probed checks' votes were inverted by each node already. */
        health_check_config_init(&c, HEALTH_CHECK_HTTP);
        c.inverted = true;
        assert_false(health_rule_final(&c, false));
        assert_true(health_rule_final(&c, true));
        c.disabled = true;
        assert_true(health_rule_final(&c, false));
        /* CALCULATED and HEARTBEAT invert their rule's result. */
        health_check_config_init(&c, HEALTH_CHECK_CALCULATED);
        c.inverted = true;
        bool kids[2] = {false, false};
        assert_true(health_rule_final(&c, health_rule_calculated(1, kids, 2)));
        health_check_config_init(&c, HEALTH_CHECK_HEARTBEAT);
        assert_false(health_rule_final(&c, health_rule_heartbeat(0, -1, 60, 61 * S)));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults_are_route53s),
            cmocka_unit_test(test_type_names_round_trip),
            cmocka_unit_test(test_every_problem_is_reported_by_field),
            cmocka_unit_test(test_limits),
            cmocka_unit_test(test_unprobed_types),
            cmocka_unit_test(test_checkers),
            cmocka_unit_test(test_aggregate_route53_18_percent),
            cmocka_unit_test(test_aggregate_counts_only_fresh_votes),
            cmocka_unit_test(test_aggregate_without_fresh_votes_keeps_last),
            cmocka_unit_test(test_aggregate_ages_out_over_time),
            cmocka_unit_test(test_aggregate_is_deterministic),
            cmocka_unit_test(test_calculated),
            cmocka_unit_test(test_heartbeat),
            cmocka_unit_test(test_final_status),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
