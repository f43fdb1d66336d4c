/*
 * test_node_closing.c — the node's count of closers (node/closing.c) on a
 * real libuv loop: done_cb runs once, when the last counted handle and the
 * last held module are closed, and never while one is left; the safety net
 * reports (and counts) a handle no owner closed, an active one that would
 * keep the loop running, ends the loop without closing it (its owner still
 * can), and says nothing after a clean stop; the end check
 * closes an inactive handle left behind so that the loop can be closed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <uv.h>

#include "node/closing.h"

static unsigned done_calls;

static void on_done(struct node_closing *g)
{
        (void)g;
        done_calls++;
}

static void on_tick(uv_timer_t *t)
{
        (void)t;
}

/* A module that reports its end a loop turn later. */
static void on_module_done(uv_timer_t *t)
{
        struct node_closing *g = t->data;
        uv_close((uv_handle_t *)t, NULL);
        node_closing_release(g);
}

static void clean_stop_reports_once(void **state)
{
        (void)state;
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        struct node_closing g;
        node_closing_init(&g, &loop, on_done);
        done_calls = 0;
        uv_timer_t a, b, module;
        uv_timer_init(&loop, &a);
        uv_timer_init(&loop, &b);
        uv_timer_start(&a, on_tick, 100000, 0); /* active: keeps the loop */
        uv_timer_init(&loop, &module);
        module.data = &g;

        node_closing_hold(&g); /* the stop in progress */
        node_closing_handle(&g, (uv_handle_t *)&a);
        node_closing_handle(&g, (uv_handle_t *)&b);
        node_closing_handle(&g, (uv_handle_t *)&b); /* already closing: not again */
        node_closing_hold(&g);
        uv_timer_start(&module, on_module_done, 1, 0);
        node_closing_watch(&g, 10000);
        node_closing_release(&g);
        assert_int_equal(done_calls, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(done_calls, 1);
        assert_int_equal(g.open, 0);
        assert_int_equal(node_closing_finish(&g), 0);
        assert_int_equal(uv_loop_close(&loop), 0);
}

/* The net reports and stops the loop but closes nothing: the owners (here the
 * test, in the node h2o, raft or libcurl) may still close their handles,
 * and a second uv_close would abort. */
static void safety_net_reports_and_ends_the_loop(void **state)
{
        (void)state;
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        struct node_closing g;
        node_closing_init(&g, &loop, on_done);
        done_calls = 0;
        uv_timer_t forgotten, inactive, module;
        uv_timer_init(&loop, &forgotten);
        uv_timer_start(&forgotten, on_tick, 60000, 60000); /* would run for a minute */
        uv_timer_init(&loop, &inactive);
        uv_timer_init(&loop, &module);
        node_closing_hold(&g);
        node_closing_handle(&g, (uv_handle_t *)&module);
        node_closing_hold(&g); /* a module that never reports */
        node_closing_watch(&g, 20);
        node_closing_release(&g);
        uint64_t t0 = uv_hrtime();
        uv_run(&loop, UV_RUN_DEFAULT);
        /* The net fired after its bound, not a minute later. */
        assert_true(uv_hrtime() - t0 < 5000000000ull);
        assert_true(node_closing_expired(&g));
        assert_int_equal(g.stragglers, 2); /* the active and the inactive timer */
        assert_int_equal(done_calls, 0);   /* one closer never reported */
        assert_int_equal(node_closing_finish(&g), 2);
        assert_false(uv_is_closing((uv_handle_t *)&forgotten)); /* left to its owner */
        assert_false(uv_is_closing((uv_handle_t *)&inactive));
        uv_close((uv_handle_t *)&forgotten, NULL);
        uv_close((uv_handle_t *)&inactive, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
}

static void end_check_closes_an_inactive_leftover(void **state)
{
        (void)state;
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        struct node_closing g;
        node_closing_init(&g, &loop, NULL);
        uv_timer_t inactive;
        uv_timer_init(&loop, &inactive); /* does not keep the loop running */
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), UV_EBUSY);
        assert_int_equal(node_closing_finish(&g), 1);
        assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(clean_stop_reports_once),
            cmocka_unit_test(safety_net_reports_and_ends_the_loop),
            cmocka_unit_test(end_check_closes_an_inactive_leftover),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
