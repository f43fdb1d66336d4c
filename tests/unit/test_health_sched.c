/*
 * test_health_sched.c — the scheduler against real endpoints on loopback.
 *
 * Checks run at a 1 s interval against HTTP servers on the test's loop
 * (health_target.h), which are broken and healed while the scheduler runs.
 * The tests check the local status transitions and when they happen
 * (failure_threshold consecutive results, both ways), that the endpoint
 * sees one probe per interval and never two at once, that a deleted check
 * sends nothing more, that a changed check moves to its new endpoint and
 * interval within one interval, that probes leave from the source address,
 * and inverted, disabled, checkers, the unprobed types, the refresh hook and
 * the per-probe hook (every probe, with its elapsed time), and that a node
 * has a verdict (votes) only after failure_threshold results in a row.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "health/sched.h"
#include "health_target.h"

#define MAX_FLIPS 32

struct flip {
        uint64_t id;
        bool healthy;
        uint32_t successes, failures;
        uint64_t probes;
};

struct fix {
        uv_loop_t loop;
        struct health_sched sched;
        struct target target;
        struct health_check_config cfg;
        struct flip flips[MAX_FLIPS];
        unsigned flip_count;
        unsigned refreshes;
        uint64_t results;       /* on_result calls */
        int64_t max_elapsed_us; /* the longest probe on_result saw */
        bool closed;
};

static void on_state(struct health_sched *s, const struct health_local *l)
{
        struct fix *f = s->data;
        if (f->flip_count < MAX_FLIPS)
                f->flips[f->flip_count] = (struct flip){l->id, l->healthy, l->successes,
                                                        l->failures, l->probes};
        f->flip_count++;
}

static void on_result(struct health_sched *s, const struct health_local *l,
                      const struct health_result *r)
{
        struct fix *f = s->data;
        assert_non_null(l);
        assert_true(r->elapsed_us >= 0);
        assert_int_equal(r->ok, l->last.ok); /* after the local view took it */
        f->results++;
        if (r->elapsed_us > f->max_elapsed_us)
                f->max_elapsed_us = r->elapsed_us;
}

static void on_refresh(struct health_sched *s)
{
        struct fix *f = s->data;
        f->refreshes++;
}

static void on_closed(struct health_sched *s)
{
        ((struct fix *)s->data)->closed = true;
}

static void fix_start_opts(struct fix *f, const char *source, const char *region,
                           uint64_t refresh_ms)
{
        memset(f, 0, sizeof(*f));
        assert_int_equal(uv_loop_init(&f->loop), 0);
        struct health_sched_options o = {.source_ip = source,
                                         .node_name = "1",
                                         .region = region,
                                         .refresh_ms = refresh_ms,
                                         .on_state = on_state,
                                         .on_refresh = on_refresh,
                                         .on_result = on_result};
        assert_int_equal(health_sched_init(&f->sched, &f->loop, &o), 0);
        f->sched.data = f;
        assert_int_equal(target_start(&f->target, &f->loop, "127.0.0.1"), 0);
        health_check_config_init(&f->cfg, HEALTH_CHECK_HTTP);
        health_check_config_set_string(&f->cfg.ip_address, "127.0.0.1");
        f->cfg.port = (uint16_t)f->target.port;
        f->cfg.request_interval = 1;
        f->cfg.failure_threshold = 2;
}

static void fix_start(struct fix *f)
{
        fix_start_opts(f, NULL, NULL, 0);
}

static void fix_stop(struct fix *f)
{
        health_sched_close(&f->sched, on_closed);
        target_close(&f->target);
        while (!f->closed)
                uv_run(&f->loop, UV_RUN_ONCE);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&f->loop), 0);
        health_check_config_free(&f->cfg);
}

struct count_wait {
        unsigned *counter;
        unsigned want;
};

static bool counter_reached(void *arg)
{
        struct count_wait *w = arg;
        return *w->counter >= w->want;
}

/* Runs the loop until *counter >= want, at most ms (x slack). */
static bool wait_count(struct fix *f, unsigned *counter, unsigned want, uint64_t ms)
{
        struct count_wait w = {counter, want};
        return wait_until(&f->loop, counter_reached, &w, ms);
}

struct probes_wait {
        const struct health_sched *s;
        uint64_t id;
        uint64_t want;
};

static bool probes_reached(void *arg)
{
        struct probes_wait *w = arg;
        const struct health_local *l = health_sched_get(w->s, w->id);
        return l && l->probes >= w->want;
}

static bool wait_probes(struct fix *f, uint64_t id, uint64_t want, uint64_t ms)
{
        struct probes_wait w = {&f->sched, id, want};
        return wait_until(&f->loop, probes_reached, &w, ms);
}

static void test_hysteresis_both_ways(void **state)
{
        struct fix f;
        fix_start(&f);
        f.cfg.failure_threshold = 3;
        assert_int_equal(health_sched_put(&f.sched, 7, &f.cfg), 0);
        const struct health_local *l = health_sched_get(&f.sched, 7);
        assert_non_null(l);
        assert_true(l->probing);
        assert_true(l->healthy); /* healthy until data arrives */
        assert_true(wait_probes(&f, 7, 2, 3000));
        assert_true(l->healthy);
        assert_true(l->last.ok);
        assert_int_equal(f.flip_count, 0);

        /* One failure, then healed: below the threshold, no flip. */
        f.target.mode = TARGET_STATUS;
        f.target.status = 500;
        uint64_t p0 = l->probes;
        assert_true(wait_probes(&f, 7, p0 + 1, 3000));
        assert_int_equal(l->failures, 1);
        assert_int_equal(l->last.reason, HEALTH_REASON_STATUS);
        f.target.mode = TARGET_OK;
        assert_true(wait_probes(&f, 7, p0 + 3, 4000));
        assert_int_equal(f.flip_count, 0);
        assert_true(l->healthy);

        /* Broken for good: flips after exactly 3 consecutive failures. */
        f.target.mode = TARGET_STATUS;
        assert_true(wait_count(&f, &f.flip_count, 1, 6000));
        assert_false(f.flips[0].healthy);
        assert_int_equal(f.flips[0].id, 7);
        assert_int_equal(f.flips[0].failures, 3);
        assert_false(l->healthy);
        assert_int_not_equal(l->changed_ms, 0);

        /* Healed: back after exactly 3 consecutive successes. */
        f.target.mode = TARGET_OK;
        assert_true(wait_count(&f, &f.flip_count, 2, 6000));
        assert_true(f.flips[1].healthy);
        assert_int_equal(f.flips[1].successes, 3);
        assert_int_equal(f.flips[1].probes - f.flips[0].probes, 3);

        /* Stopped endpoint, then a slow one: other reasons, same rule. */
        target_stop(&f.target);
        assert_true(wait_count(&f, &f.flip_count, 3, 6000));
        assert_int_equal(l->last.reason, HEALTH_REASON_CONNECT_REFUSED);
        /* on_result saw every probe (GET /metrics counts them there). */
        assert_int_equal(f.results, l->probes);
        fix_stop(&f);
}

/* A node's verdict needs failure_threshold results in a row, either way:
 * before that it has none (and the node casts no vote), so its still
 * "healthy" local status after one failure is never a vote. */
static void test_verdict_after_threshold_results(void **state)
{
        struct fix f;
        fix_start(&f);
        f.cfg.failure_threshold = 3;
        f.target.mode = TARGET_STATUS;
        f.target.status = 500;
        assert_int_equal(health_sched_put(&f.sched, 9, &f.cfg), 0);
        const struct health_local *l = health_sched_get(&f.sched, 9);
        assert_false(l->decided);
        assert_true(wait_probes(&f, 9, 1, 3000));
        assert_true(l->healthy); /* one failure: still healthy here ... */
        if (l->probes < 3)
                assert_false(l->decided); /* ... but no verdict */
        assert_true(wait_count(&f, &f.flip_count, 1, 6000));
        assert_false(l->healthy);
        assert_true(l->decided);
        assert_int_equal(f.flips[0].failures, 3);

        /* A change that stops the probing here takes the verdict away. */
        f.cfg.disabled = true;
        assert_int_equal(health_sched_put(&f.sched, 9, &f.cfg), 0);
        assert_false(l->decided);
        assert_true(l->healthy);

        /* Healthy from the start: a verdict after 3 successes, no flip. */
        f.cfg.disabled = false;
        f.target.mode = TARGET_OK;
        unsigned flips = f.flip_count;
        assert_int_equal(health_sched_put(&f.sched, 9, &f.cfg), 0);
        uint64_t p0 = l->probes;
        assert_true(wait_probes(&f, 9, p0 + 1, 3000));
        if (l->probes < p0 + 3)
                assert_false(l->decided);
        assert_true(wait_probes(&f, 9, p0 + 3, 6000));
        assert_true(l->decided);
        assert_true(l->healthy);
        assert_int_equal(f.flip_count, flips);
        fix_stop(&f);
}

static void test_one_probe_per_interval_never_overlapping(void **state)
{
        struct fix f;
        fix_start(&f);
        assert_int_equal(health_sched_put(&f.sched, 1, &f.cfg), 0);
        /* The first probe lands within one interval. */
        assert_true(wait_count(&f, &f.target.requests, 1, 1100));
        unsigned first = f.target.requests;
        run_for(&f.loop, 5000);
        unsigned n = f.target.requests - first;
        assert_true(n <= 6); /* never more than one per interval */
        assert_true(n >= 3); /* and not fewer, give or take a stalled loop */
        assert_int_equal(f.target.max_open, 1);

        /* A probe that outlives the interval: the next window skips. */
        f.target.mode = TARGET_SLOW;
        f.target.delay_ms = 1500;
        unsigned before = f.target.requests;
        run_for(&f.loop, 4000);
        const struct health_local *l = health_sched_get(&f.sched, 1);
        assert_true(l->skipped >= 1);
        assert_int_equal(f.target.max_open, 1);
        assert_true(f.target.requests - before <= 3);
        /* A slow answer's probe time includes the wait for it. */
        assert_true(f.max_elapsed_us >= 1400 * 1000);
        fix_stop(&f);
}

static void test_deleted_check_sends_nothing_more(void **state)
{
        struct fix f;
        fix_start(&f);
        assert_int_equal(health_sched_put(&f.sched, 3, &f.cfg), 0);
        assert_true(wait_count(&f, &f.target.requests, 2, 3000));
        assert_int_equal(health_sched_delete(&f.sched, 3), 0);
        assert_null(health_sched_get(&f.sched, 3));
        assert_int_equal(health_sched_delete(&f.sched, 3), -ENOENT);
        unsigned requests = f.target.requests, conns = f.target.connections;
        run_for(&f.loop, 2500);
        assert_int_equal(f.target.requests, requests);
        assert_int_equal(f.target.connections, conns);

        /* Deleted while a probe is in flight: its connection is closed. */
        f.target.mode = TARGET_SLOW;
        f.target.delay_ms = 1500;
        assert_int_equal(health_sched_put(&f.sched, 3, &f.cfg), 0);
        assert_true(wait_count(&f, &f.target.requests, requests + 1, 2000));
        assert_int_equal(f.target.open, 1);
        assert_int_equal(health_sched_delete(&f.sched, 3), 0);
        run_for(&f.loop, 2500);
        assert_int_equal(f.target.open, 0);
        assert_int_equal(f.target.requests, requests + 1);
        assert_int_equal(f.flip_count, 0);
        fix_stop(&f);
}

static void test_change_moves_probes_within_one_interval(void **state)
{
        struct fix f;
        fix_start(&f);
        struct target other;
        assert_int_equal(target_start(&other, &f.loop, "127.0.0.1"), 0);
        f.cfg.request_interval = 300;
        assert_int_equal(health_sched_put(&f.sched, 5, &f.cfg), 0);
        /* Interval 300 s -> 1 s: the next probe comes within a second. */
        f.cfg.request_interval = 1;
        assert_int_equal(health_sched_put(&f.sched, 5, &f.cfg), 0);
        assert_true(wait_count(&f, &f.target.requests, 1, 1100));
        /* New port: the old endpoint hears nothing more, the new one does. */
        f.cfg.port = (uint16_t)other.port;
        assert_int_equal(health_sched_put(&f.sched, 5, &f.cfg), 0);
        unsigned old = f.target.requests;
        assert_true(wait_count(&f, &other.requests, 2, 2500));
        assert_int_equal(f.target.requests, old);
        /* An invalid change is refused and the check keeps running. */
        f.cfg.failure_threshold = 11;
        assert_int_equal(health_sched_put(&f.sched, 5, &f.cfg), -EINVAL);
        assert_true(wait_count(&f, &other.requests, 3, 1500));
        target_close(&other);
        fix_stop(&f);
}

static void test_probes_leave_from_the_source_address(void **state)
{
        struct fix f;
        fix_start_opts(&f, "127.0.0.2", NULL, 0);
        assert_int_equal(health_sched_put(&f.sched, 1, &f.cfg), 0);
        f.cfg.type = HEALTH_CHECK_TCP;
        assert_int_equal(health_sched_put(&f.sched, 2, &f.cfg), 0);
        assert_true(wait_count(&f, &f.target.connections, 4, 3000));
        assert_string_equal(f.target.last_peer, "127.0.0.2");
        assert_true(health_sched_get(&f.sched, 2)->last.ok);
        assert_true(health_sched_get(&f.sched, 1)->last.ok);
        fix_stop(&f);
}

static void test_inverted(void **state)
{
        struct fix f;
        fix_start(&f);
        f.cfg.inverted = true;
        assert_int_equal(health_sched_put(&f.sched, 1, &f.cfg), 0);
        /* The endpoint is up, so the inverted check goes unhealthy. */
        assert_true(wait_count(&f, &f.flip_count, 1, 4000));
        assert_false(f.flips[0].healthy);
        target_stop(&f.target);
        assert_true(wait_count(&f, &f.flip_count, 2, 4000));
        assert_true(f.flips[1].healthy);
        /* Turning inversion off flips the status at once. */
        f.cfg.inverted = false;
        assert_int_equal(health_sched_put(&f.sched, 1, &f.cfg), 0);
        assert_int_equal(f.flip_count, 3);
        assert_false(f.flips[2].healthy);
        fix_stop(&f);
}

static void test_disabled(void **state)
{
        struct fix f;
        fix_start(&f);
        target_stop(&f.target);
        assert_int_equal(health_sched_put(&f.sched, 1, &f.cfg), 0);
        assert_true(wait_count(&f, &f.flip_count, 1, 4000));
        assert_false(f.flips[0].healthy);
        /* Disabled: healthy at once, and no probe any more. */
        assert_int_equal(target_listen(&f.target), 0);
        f.cfg.disabled = true;
        assert_int_equal(health_sched_put(&f.sched, 1, &f.cfg), 0);
        assert_int_equal(f.flip_count, 2);
        assert_true(f.flips[1].healthy);
        const struct health_local *l = health_sched_get(&f.sched, 1);
        assert_false(l->probing);
        run_for(&f.loop, 2200);
        assert_int_equal(f.target.requests, 0);
        /* Enabled again: probing resumes. */
        f.cfg.disabled = false;
        assert_int_equal(health_sched_put(&f.sched, 1, &f.cfg), 0);
        assert_true(wait_count(&f, &f.target.requests, 1, 1100));
        fix_stop(&f);
}

static void test_checkers_and_unprobed_types(void **state)
{
        struct fix f;
        fix_start_opts(&f, NULL, "eu-west", 0);
        char *other_nodes[] = {"2", "us-east"};
        f.cfg.checkers = other_nodes;
        f.cfg.checker_count = 2;
        assert_int_equal(health_sched_put(&f.sched, 1, &f.cfg), 0);
        assert_false(health_sched_get(&f.sched, 1)->probing);
        char *by_region[] = {"us-east", "eu-west"};
        f.cfg.checkers = by_region;
        assert_int_equal(health_sched_put(&f.sched, 2, &f.cfg), 0);
        char *by_name[] = {"1"};
        f.cfg.checkers = by_name;
        f.cfg.checker_count = 1;
        assert_int_equal(health_sched_put(&f.sched, 3, &f.cfg), 0);
        f.cfg.checkers = NULL;
        f.cfg.checker_count = 0;

        struct health_check_config c;
        health_check_config_init(&c, HEALTH_CHECK_MANUAL);
        assert_int_equal(health_sched_put(&f.sched, 10, &c), 0);
        health_check_config_init(&c, HEALTH_CHECK_HEARTBEAT);
        assert_int_equal(health_sched_put(&f.sched, 11, &c), 0);
        health_check_config_init(&c, HEALTH_CHECK_CALCULATED);
        uint64_t children[] = {2, 3};
        c.children = children;
        c.child_count = 2;
        c.health_threshold = 1;
        assert_int_equal(health_sched_put(&f.sched, 12, &c), 0);
        assert_int_equal(health_sched_count(&f.sched), 6);
        for (uint64_t id = 10; id <= 12; id++) {
                assert_false(health_sched_get(&f.sched, id)->probing);
                assert_true(health_sched_get(&f.sched, id)->healthy);
        }
        /* Checks 2 and 3 probe (one request each per interval); 1 does not. */
        run_for(&f.loop, 3000);
        assert_true(health_sched_get(&f.sched, 2)->probes >= 2);
        assert_true(health_sched_get(&f.sched, 3)->probes >= 2);
        assert_int_equal(health_sched_get(&f.sched, 1)->probes, 0);
        assert_true(f.target.requests <= 2 * 4);
        fix_stop(&f);
}

static int count_local(const struct health_local *l, void *arg)
{
        (*(unsigned *)arg)++;
        return 0;
}

static void test_refresh_hook_and_many_checks(void **state)
{
        struct fix f;
        fix_start_opts(&f, NULL, NULL, 200);
        /* 300 checks on one endpoint: spread over the interval, all probed. */
        for (uint64_t id = 1; id <= 300; id++)
                assert_int_equal(health_sched_put(&f.sched, id, &f.cfg), 0);
        assert_true(wait_count(&f, &f.refreshes, 4, 1500));
        unsigned n = 0;
        assert_int_equal(health_sched_foreach(&f.sched, count_local, &n), 0);
        assert_int_equal(n, 300);
        assert_true(wait_count(&f, &f.target.requests, 600, 4000));
        for (uint64_t id = 1; id <= 300; id += 2)
                assert_int_equal(health_sched_delete(&f.sched, id), 0);
        assert_int_equal(health_sched_count(&f.sched), 150);
        assert_int_equal(f.target.max_open > 0, 1);
        assert_int_equal(f.flip_count, 0);
        fix_stop(&f);
}

/*
 * Checks added, changed and deleted at random while their probes run (some
 * endpoints slow, some stopped), then the scheduler closed with probes in
 * flight: under ASan this checks that every handle is closed before its
 * memory is freed, and that nothing leaks.
 */
static void test_churn_while_probing(void **state)
{
        struct fix f;
        fix_start(&f);
        struct target slow, stopped;
        assert_int_equal(target_start(&slow, &f.loop, "127.0.0.1"), 0);
        slow.mode = TARGET_SLOW;
        slow.delay_ms = 700;
        assert_int_equal(target_start(&stopped, &f.loop, "127.0.0.1"), 0);
        target_stop(&stopped);
        const int ports[3] = {f.target.port, slow.port, stopped.port};
        uint64_t rng = 88172645463325252ull;
        for (int round = 0; round < 60; round++) {
                for (int k = 0; k < 10; k++) {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        uint64_t id = rng % 40 + 1;
                        switch ((rng >> 8) % 4) {
                        case 0:
                                health_sched_delete(&f.sched, id);
                                break;
                        case 1:
                                f.cfg.type = HEALTH_CHECK_TCP;
                                f.cfg.port = (uint16_t)ports[(rng >> 16) % 3];
                                assert_int_equal(health_sched_put(&f.sched, id, &f.cfg),
                                                 0);
                                break;
                        default:
                                f.cfg.type = HEALTH_CHECK_HTTP;
                                f.cfg.port = (uint16_t)ports[(rng >> 16) % 3];
                                f.cfg.inverted = (rng >> 24) & 1;
                                f.cfg.disabled = ((rng >> 25) & 7) == 0;
                                assert_int_equal(health_sched_put(&f.sched, id, &f.cfg),
                                                 0);
                                break;
                        }
                }
                run_for(&f.loop, 50);
        }
        assert_true(slow.requests > 0);
        assert_true(f.target.requests > 0);
        assert_true(health_sched_count(&f.sched) > 0);
        target_close(&slow);
        target_close(&stopped);
        fix_stop(&f);
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_hysteresis_both_ways),
            cmocka_unit_test(test_verdict_after_threshold_results),
            cmocka_unit_test(test_one_probe_per_interval_never_overlapping),
            cmocka_unit_test(test_deleted_check_sends_nothing_more),
            cmocka_unit_test(test_change_moves_probes_within_one_interval),
            cmocka_unit_test(test_probes_leave_from_the_source_address),
            cmocka_unit_test(test_inverted),
            cmocka_unit_test(test_disabled),
            cmocka_unit_test(test_checkers_and_unprobed_types),
            cmocka_unit_test(test_refresh_hook_and_many_checks),
            cmocka_unit_test(test_churn_while_probing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
