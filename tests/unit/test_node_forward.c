/*
 * test_node_forward.c — the lifetime of a relayed exchange (node/forward.c).
 *
 * A small TCP server on 127.0.0.1 runs on the test's own loop: it accepts,
 * reads the request and then either stays silent (a leader that was cut
 * off) or sends a fixed answer.  The tests check that an exchange cancelled
 * while it connects or while it waits for the answer never calls back and
 * lets the loop end with every handle closed (LeakSanitizer checks the
 * memory in the ASan build), and that the owner's call pointer is cleared
 * before the callback of an exchange that ends by itself.  A group's cancel
 * (the cluster's closer ending every call to a peer that does not answer)
 * calls each callback once with -ECANCELED, from the loop and not from
 * within the cancel, then its drained callback; exchanges answered or
 * cancelled by their owner leave the group; a cancelled group starts no
 * new exchange; and a side channel still connecting is cancelled as well.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/forward.h"

#include "forward_client.h"

struct server {
        uv_tcp_t listener;
        uv_tcp_t conn;
        bool accepted;
        const char *answer; /* NULL: never answer */
        char buf[4096];
        struct sockaddr_in addr;
};

static void on_srv_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
        struct server *s = h->data;
        *buf = uv_buf_init(s->buf, sizeof(s->buf));
}

static void on_srv_written(uv_write_t *w, int status)
{
        free(w);
}

static void on_srv_shutdown(uv_shutdown_t *req, int status)
{
        if (!uv_is_closing((uv_handle_t *)req->handle))
                uv_close((uv_handle_t *)req->handle, NULL);
        free(req);
}

static void on_srv_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
        struct server *s = stream->data;
        if (nread <= 0 || s->answer == NULL)
                return;
        /* The request has arrived (it is small): answer and close. */
        uv_read_stop(stream);
        uv_write_t *w = malloc(sizeof(*w));
        uv_buf_t b = uv_buf_init((char *)s->answer, (unsigned)strlen(s->answer));
        assert_int_equal(uv_write(w, stream, &b, 1, on_srv_written), 0);
        uv_shutdown_t *sd = malloc(sizeof(*sd));
        assert_int_equal(uv_shutdown(sd, stream, on_srv_shutdown), 0);
}

static void on_srv_connection(uv_stream_t *listener, int status)
{
        struct server *s = listener->data;
        assert_int_equal(status, 0);
        uv_tcp_init(listener->loop, &s->conn);
        s->conn.data = s;
        assert_int_equal(uv_accept(listener, (uv_stream_t *)&s->conn), 0);
        s->accepted = true;
        uv_read_start((uv_stream_t *)&s->conn, on_srv_alloc, on_srv_read);
}

static void server_start(uv_loop_t *loop, struct server *s, const char *answer)
{
        memset(s, 0, sizeof(*s));
        s->answer = answer;
        uv_tcp_init(loop, &s->listener);
        s->listener.data = s;
        uv_ip4_addr("127.0.0.1", 0, &s->addr);
        assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&s->addr, 0), 0);
        int len = sizeof(s->addr);
        uv_tcp_getsockname(&s->listener, (struct sockaddr *)&s->addr, &len);
        assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 8, on_srv_connection), 0);
}

static void server_close(struct server *s)
{
        uv_close((uv_handle_t *)&s->listener, NULL);
        if (s->accepted && !uv_is_closing((uv_handle_t *)&s->conn))
                uv_close((uv_handle_t *)&s->conn, NULL);
}

static void start_forward(uv_loop_t *loop, struct server *s, struct forward_client *c)
{
        struct node_forward_request req = forward_client_write(c, "k-1", NULL);
        assert_int_equal(
            node_forward(loop, (struct sockaddr *)&s->addr, &req, forward_client_cb, c),
            0);
        assert_non_null(c->call);
}

/* Stops the loop's run once the server has the request and the exchange
 * waits for an answer that never comes, then cancels. */
struct waiter {
        uv_timer_t timer;
        struct server *s;
        struct forward_client *c;
};

static void on_wait(uv_timer_t *t)
{
        struct waiter *w = t->data;
        if (!w->s->accepted)
                return;
        node_forward_cancel(w->c->call);
        assert_null(w->c->call);
        uv_close((uv_handle_t *)t, NULL);
        server_close(w->s);
}

static void test_cancel_while_waiting_never_calls_back(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s;
        struct forward_client c = {0};
        server_start(&loop, &s, NULL);
        start_forward(&loop, &s, &c);
        struct waiter w = {.s = &s, .c = &c};
        uv_timer_init(&loop, &w.timer);
        w.timer.data = &w;
        uv_timer_start(&w.timer, on_wait, 10, 10);
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(c.calls, 0);
        assert_int_equal(uv_loop_close(&loop), 0); /* every handle closed */
}

static void test_cancel_while_connecting_never_calls_back(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s;
        struct forward_client c = {0};
        server_start(&loop, &s, NULL);
        start_forward(&loop, &s, &c);
        node_forward_cancel(c.call);
        assert_null(c.call);
        server_close(&s);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(c.calls, 0);
        assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_answer_clears_call_before_callback(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s;
        struct forward_client c = {0};
        server_start(&loop, &s,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}");
        start_forward(&loop, &s, &c);
        /* run until the exchange is over, then close the server */
        while (c.calls == 0)
                uv_run(&loop, UV_RUN_ONCE);
        server_close(&s);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(c.calls, 1);
        assert_int_equal(c.status, 200);
        assert_string_equal(c.body, "{\"ok\":true}");
        assert_true(c.call_cleared_in_cb);
        assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_refused_connection_calls_back_once(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s;
        struct forward_client c = {0};
        server_start(&loop, &s, NULL);
        server_close(&s); /* nothing listens on the port any more */
        uv_run(&loop, UV_RUN_DEFAULT);
        start_forward(&loop, &s, &c);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(c.calls, 1);
        assert_true(c.status < 0);
        assert_null(c.call);
        assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- groups ------------------------------------------------------------ */

static unsigned drained_calls;
static unsigned pending_when_drained;

static void on_drained(struct node_forward_group *g)
{
        drained_calls++;
        pending_when_drained = g->pending;
}

/* One of the nodes' own calls to a peer (30 s to answer), in group g. */
static struct node_forward_request
group_call(const char *target, struct forward_client *c, struct node_forward_group *g)
{
        return (struct node_forward_request){.method = "POST",
                                             .target = target,
                                             .body = "{}",
                                             .body_len = 2,
                                             .timeout_ms = 30000,
                                             .call = &c->call,
                                             .group = g};
}

static void start_in_group(uv_loop_t *loop, struct server *s, struct forward_client *c,
                           struct node_forward_group *g)
{
        struct node_forward_request req = group_call("/v1/healthchecks/votes", c, g);
        assert_int_equal(
            node_forward(loop, (struct sockaddr *)&s->addr, &req, forward_client_cb, c),
            0);
}

/* Cancels the group once each server holds a request it never answers. */
struct group_waiter {
        uv_timer_t timer;
        struct server *s; /* two, one exchange each */
        struct forward_client *c;
        struct node_forward_group *g;
        unsigned cancelled;
};

static void on_group_wait(uv_timer_t *t)
{
        struct group_waiter *w = t->data;
        if (!w->s[0].accepted || !w->s[1].accepted)
                return;
        w->cancelled = node_forward_group_cancel(w->g, on_drained);
        /* Never from within the cancel, as libuv's cancels. */
        assert_int_equal(w->c[0].calls, 0);
        assert_int_equal(w->c[1].calls, 0);
        assert_int_equal(drained_calls, 0);
        assert_null(w->c[0].call);
        assert_null(w->c[1].call);
        uv_close((uv_handle_t *)t, NULL);
        server_close(&w->s[0]);
        server_close(&w->s[1]);
}

static void test_group_cancel_calls_back_with_ecanceled(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s[2];
        struct forward_client c[2] = {{0}, {0}};
        struct node_forward_group g = {0};
        for (int i = 0; i < 2; i++) {
                server_start(&loop, &s[i], NULL); /* peers that never answer */
                start_in_group(&loop, &s[i], &c[i], &g);
        }
        assert_int_equal(g.pending, 2);
        drained_calls = 0;
        struct group_waiter w = {.s = s, .c = c, .g = &g};
        uv_timer_init(&loop, &w.timer);
        w.timer.data = &w;
        uv_timer_start(&w.timer, on_group_wait, 10, 10);
        uint64_t t0 = uv_hrtime();
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        /* Well before the 30 s the exchanges would have waited. */
        assert_true(uv_hrtime() - t0 < 5000000000ull);
        assert_int_equal(w.cancelled, 2);
        for (int i = 0; i < 2; i++) {
                assert_int_equal(c[i].calls, 1);
                assert_int_equal(c[i].status, -ECANCELED);
        }
        assert_int_equal(drained_calls, 1);
        assert_int_equal(pending_when_drained, 0);
        assert_null(g.first);
        /* A cancelled group starts nothing. */
        struct forward_client late = {0};
        struct node_forward_request req = {.method = "GET", .target = "/", .group = &g};
        assert_int_equal(node_forward(&loop, (struct sockaddr *)&s[0].addr, &req,
                                      forward_client_cb, &late),
                         -ESHUTDOWN);
        assert_int_equal(late.calls, 0);
        assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_group_members_leave_when_done(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s, silent;
        struct forward_client answered = {0}, dropped = {0};
        struct node_forward_group g = {0};
        server_start(&loop, &s,
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
                     "{}");
        server_start(&loop, &silent, NULL);
        start_in_group(&loop, &s, &answered, &g);
        start_in_group(&loop, &silent, &dropped, &g);
        node_forward_cancel(dropped.call); /* its owner's cancel: no callback */
        assert_int_equal(g.pending, 1);
        while (answered.calls == 0)
                uv_run(&loop, UV_RUN_ONCE);
        assert_int_equal(answered.status, 200);
        assert_int_equal(g.pending, 0);
        assert_null(g.first);
        drained_calls = 0;
        /* Nothing left: no callback to wait for, none called. */
        assert_int_equal(node_forward_group_cancel(&g, on_drained), 0);
        server_close(&s);
        server_close(&silent);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(drained_calls, 0);
        assert_int_equal(dropped.calls, 0);
        assert_int_equal(uv_loop_close(&loop), 0);
}

/* A side-channel connector that answers only when told to (the raft
 * transport of a stopped peer). */
struct slow_connector {
        void (*done)(void *arg, int status, int fd);
        void *arg;
};

static int slow_connect(void *ctx, void (*done)(void *arg, int status, int fd), void *arg)
{
        struct slow_connector *sc = ctx;
        sc->done = done;
        sc->arg = arg;
        return 0;
}

static void test_group_cancel_while_side_channel_connects(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct slow_connector sc = {0};
        struct forward_client c = {0};
        struct node_forward_group g = {0};
        struct node_forward_request req = group_call("/v1/latency-map/measured", &c, &g);
        assert_int_equal(
            node_forward_via(&loop, slow_connect, &sc, &req, forward_client_cb, &c), 0);
        assert_non_null(sc.done);
        drained_calls = 0;
        assert_int_equal(node_forward_group_cancel(&g, on_drained), 1);
        assert_int_equal(c.calls, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(c.calls, 1);
        assert_int_equal(c.status, -ECANCELED);
        assert_int_equal(drained_calls, 1);
        /* The transport gives up the connection later (it closes): the
         * exchange is freed then, without a second callback. */
        sc.done(sc.arg, -ECANCELED, -1);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(c.calls, 1);
        assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cancel_while_waiting_never_calls_back),
            cmocka_unit_test(test_cancel_while_connecting_never_calls_back),
            cmocka_unit_test(test_answer_clears_call_before_callback),
            cmocka_unit_test(test_refused_connection_calls_back_once),
            cmocka_unit_test(test_group_cancel_calls_back_with_ecanceled),
            cmocka_unit_test(test_group_members_leave_when_done),
            cmocka_unit_test(test_group_cancel_while_side_channel_connects),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
