/*
 * closing.c — counting the node's closers (see closing.h).
 *
 * Flow: the node holds the count while it asks every module to close; each
 * handle closed through node_closing_handle and each module held with
 * node_closing_hold counts one, given back by its close callback; the last
 * one gone calls done_cb and stops the safety net.  The net and the end
 * check walk the loop only to report what no owner closed: the walk is the
 * exception that is logged, never the way the loop ends.  The net closes
 * nothing (the handles may belong to a library that still closes them); it
 * ends the loop, and the node exits without closing it.
 */
#include "node/closing.h"

#include "common/log.h"

void node_closing_init(struct node_closing *g, uv_loop_t *loop,
                       void (*done_cb)(struct node_closing *g))
{
        *g = (struct node_closing){.loop = loop, .done_cb = done_cb};
}

static void on_net_closed(uv_handle_t *h)
{
        (void)h;
}

void node_closing_hold(struct node_closing *g)
{
        g->open++;
}

void node_closing_release(struct node_closing *g)
{
        if (--g->open > 0)
                return;
        if (g->watching) {
                g->watching = false;
                uv_close((uv_handle_t *)&g->net, on_net_closed);
        }
        if (g->done_cb != NULL)
                g->done_cb(g);
}

static void on_handle_closed(uv_handle_t *h)
{
        node_closing_release(h->data);
}

void node_closing_handle(struct node_closing *g, uv_handle_t *h)
{
        if (uv_is_closing(h))
                return;
        node_closing_hold(g);
        h->data = g;
        uv_close(h, on_handle_closed);
}

static void on_straggler_closed(uv_handle_t *h)
{
        (void)h;
}

static void log_straggler(uv_handle_t *h)
{
        LOG_WARN("still open at shutdown: a %s handle (%s, %s); its owner has no "
                 "closer for it",
                 uv_handle_type_name(uv_handle_get_type(h)),
                 uv_is_active(h) ? "active" : "inactive",
                 uv_has_ref(h) ? "referenced" : "unreferenced");
}

/* The bound passed: logs what is still open, without closing it (its owner,
 * h2o, raft or libcurl, may still close it itself, and a second uv_close
 * aborts), and ends the loop: the node exits without waiting for them.
 * True if h was one. */
static bool report_straggler(struct node_closing *g, uv_handle_t *h)
{
        if (h == (uv_handle_t *)&g->net || uv_is_closing(h))
                return false;
        log_straggler(h);
        g->stragglers++;
        return true;
}

static void on_walk_report(uv_handle_t *h, void *arg)
{
        report_straggler(arg, h);
}

/* After uv_run: logs and closes a handle nobody closed.  The loop has ended,
 * so no owner can close it again. */
static void on_walk_close(uv_handle_t *h, void *arg)
{
        if (report_straggler(arg, h))
                uv_close(h, on_straggler_closed);
}

static void on_net(uv_timer_t *t)
{
        struct node_closing *g = t->data;
        uv_walk(g->loop, on_walk_report, g);
        g->watching = false;
        uv_close((uv_handle_t *)&g->net, on_net_closed);
        g->expired = true;
        uv_stop(g->loop);
}

void node_closing_watch(struct node_closing *g, uint64_t ms)
{
        if (g->watching || g->open == 0)
                return;
        uv_timer_init(g->loop, &g->net);
        g->net.data = g;
        uv_timer_start(&g->net, on_net, ms, 0);
        uv_unref((uv_handle_t *)&g->net);
        g->watching = true;
}

unsigned node_closing_finish(struct node_closing *g)
{
        if (g->expired)
                return g->stragglers; /* the loop is left as it is */
        if (g->watching) {
                g->watching = false;
                uv_close((uv_handle_t *)&g->net, on_net_closed);
        }
        uv_walk(g->loop, on_walk_close, g);
        uv_run(g->loop, UV_RUN_DEFAULT);
        if (g->open > 0)
                LOG_WARN("shutdown: %u closer%s never reported the end", g->open,
                         g->open == 1 ? "" : "s");
        return g->stragglers;
}
