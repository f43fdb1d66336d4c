/*
 * closing.h — the node's shut-down as a count of what is still closing.
 *
 * Each module closes its own handles with close callbacks (the libuv
 * contract).  What the node closes is counted here: one handle
 * (node_closing_handle) or a whole module that reports its end later
 * (node_closing_hold, then node_closing_release from its callback).  done()
 * runs once, when the count reaches zero; by then nothing of the node is
 * open and uv_run returns.  A safety net (node_closing_watch) logs every
 * handle still open after a bound, by type, and ends the loop without
 * closing them (a library may still close its own): a module without a
 * closer shows up in the log and in the tests instead of being hidden.
 */
#ifndef NODE_CLOSING_H
#define NODE_CLOSING_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* The safety net's bound: a clean stop takes well under a second. */
#define NODE_CLOSING_NET_MS 5000

struct node_closing {
        uv_loop_t *loop;
        unsigned open; /* handles and modules still closing */
        void (*done_cb)(struct node_closing *g);
        uv_timer_t net; /* the safety net, while it runs */
        bool watching;
        unsigned stragglers; /* handles the net reported (or the end check closed) */
        bool expired;        /* the net ended the loop: do not close it */
};

void node_closing_init(struct node_closing *g, uv_loop_t *loop,
                       void (*done_cb)(struct node_closing *g));
/* One more closer to wait for / that closer has finished. */
void node_closing_hold(struct node_closing *g);
void node_closing_release(struct node_closing *g);
/* Closes h (not closing yet) and counts it until its close callback; h->data
 * is the count's from now on. */
void node_closing_handle(struct node_closing *g, uv_handle_t *h);
/* Starts the safety net: after ms, every handle still open is logged and
 * the loop stopped (node_closing_expired is then true).  It never keeps the
 * loop alive. */
void node_closing_watch(struct node_closing *g, uint64_t ms);
/* After uv_run: logs and closes what was never closed (inactive handles do
 * not keep a loop running), runs the loop until those are gone; then the
 * loop can be closed.  Returns how many handles had to be closed by the net
 * or by this check (0 after a clean stop). */
unsigned node_closing_finish(struct node_closing *g);
/* The net ended the loop with handles open: the loop must not be closed or
 * what their owners hold freed; the node exits. */
static inline bool node_closing_expired(const struct node_closing *g)
{
        return g->expired;
}

#endif
