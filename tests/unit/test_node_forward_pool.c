/*
 * test_node_forward_pool.c — keep-alive side channels (node/forward.c,
 * node_forward_pooled).
 *
 * The connector makes a socketpair: one end goes to a small HTTP/1.1
 * server on the test's own loop (a uv_pipe_t, as a peer's API serves a
 * side channel), the other to the pool, one loop turn later (as the raft
 * transport answers).  The server answers every request it reads with a
 * keep-alive answer, or, as told, closes the connection at the second
 * request of a connection (a peer closing an idle channel just as it is
 * reused), closes it right after answering, or never answers.  The tests
 * check that sequential exchanges share one channel, concurrent ones open
 * one each and all come back to the pool, a request safe to send twice
 * that meets a closed channel is sent again on a new one (and one that is
 * not safe fails), a channel the peer closes while idle leaves the pool,
 * an answer with "Connection: close" is not reused, answers without a body
 * (to HEAD, 204) end at their head, a channel idle past the pool's limit
 * (from the API's idle timeout) is not reused, and that a pool closed
 * with an exchange in flight (cancelled through its group: -ECANCELED)
 * frees everything: the loop ends with every handle closed, and
 * LeakSanitizer checks the memory in the ASan build.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/forward.h"

enum mode {
        ANSWER,          /* every request, keep-alive */
        CLOSE_ON_SECOND, /* the second request of a connection: closed unanswered */
        CLOSE_AFTER,     /* answered, then the connection is closed (no header) */
        ANSWER_CLOSE,    /* answered with "Connection: close" */
        SILENT,          /* never answered */
        BODYLESS,        /* HEAD: 200 with a length but no body; else 204 */
};

struct server {
        uv_loop_t *loop;
        enum mode mode;
        unsigned opened;   /* connections made */
        unsigned served;   /* requests answered */
        unsigned received; /* requests read */
        unsigned open;     /* server ends not yet closed */
};

struct srv_conn {
        uv_pipe_t pipe;
        struct server *s;
        char buf[8192];
        size_t len;
        unsigned requests;
};

struct pending {
        uv_timer_t timer;
        void (*done)(void *arg, int status, int fd);
        void *arg;
        int fd;
};

static void on_srv_conn_closed(uv_handle_t *h)
{
        struct srv_conn *sc = (struct srv_conn *)h;
        sc->s->open--;
        free(sc);
}

static void srv_close(struct srv_conn *sc)
{
        if (!uv_is_closing((uv_handle_t *)&sc->pipe))
                uv_close((uv_handle_t *)&sc->pipe, on_srv_conn_closed);
}

static void on_srv_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
        struct srv_conn *sc = h->data;
        *buf = uv_buf_init(sc->buf + sc->len, (unsigned)(sizeof(sc->buf) - sc->len));
}

static void on_srv_written(uv_write_t *w, int status)
{
        struct srv_conn *sc = w->data;
        free(w);
        if (sc->s->mode == CLOSE_AFTER || sc->s->mode == ANSWER_CLOSE)
                srv_close(sc);
}

static void srv_answer(struct srv_conn *sc, bool head)
{
        static const char keep[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Content-Length: 11\r\n\r\n{\"ok\":true}";
        static const char closing[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n"
                                      "Content-Length: 2\r\n\r\n{}";
        /* what a GET would get, less the body (RFC 9110 section 9.3.2) */
        static const char to_head[] =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Content-Length: 11\r\n\r\n";
        static const char no_content[] = "HTTP/1.1 204 No Content\r\n\r\n";
        const char *text = sc->s->mode == ANSWER_CLOSE ? closing : keep;
        if (sc->s->mode == BODYLESS)
                text = head ? to_head : no_content;
        uv_write_t *w = malloc(sizeof(*w));
        w->data = sc;
        uv_buf_t b = uv_buf_init((char *)text, (unsigned)strlen(text));
        assert_int_equal(uv_write(w, (uv_stream_t *)&sc->pipe, &b, 1, on_srv_written), 0);
        sc->s->served++;
}

/* Requests are small: a head with Content-Length, and that many bytes. */
static void on_srv_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
        struct srv_conn *sc = stream->data;
        if (nread < 0) {
                srv_close(sc);
                return;
        }
        sc->len += (size_t)nread;
        for (;;) {
                char *end = memmem(sc->buf, sc->len, "\r\n\r\n", 4);
                if (end == NULL)
                        return;
                size_t head = (size_t)(end - sc->buf) + 4;
                char *cl = memmem(sc->buf, head, "Content-Length: ", 16);
                assert_non_null(cl);
                size_t body = strtoul(cl + 16, NULL, 10);
                if (sc->len < head + body)
                        return;
                assert_null(memmem(sc->buf, head, "Connection: close", 17));
                bool is_head = strncmp(sc->buf, "HEAD ", 5) == 0;
                memmove(sc->buf, sc->buf + head + body, sc->len - head - body);
                sc->len -= head + body;
                sc->requests++;
                sc->s->received++;
                if (sc->s->mode == SILENT)
                        continue;
                if (sc->s->mode == CLOSE_ON_SECOND && sc->requests == 2) {
                        srv_close(sc);
                        return;
                }
                srv_answer(sc, is_head);
        }
}

static void on_pending(uv_timer_t *t)
{
        struct pending *p = t->data;
        p->done(p->arg, 0, p->fd);
        uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* The connector: a socketpair, one end served here, the other given to the
 * pool one loop turn later. */
static int pair_connect(void *ctx, void (*done)(void *arg, int status, int fd), void *arg)
{
        struct server *s = ctx;
        int fds[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        struct srv_conn *sc = calloc(1, sizeof(*sc));
        sc->s = s;
        uv_pipe_init(s->loop, &sc->pipe, 0);
        sc->pipe.data = sc;
        assert_int_equal(uv_pipe_open(&sc->pipe, fds[0]), 0);
        assert_int_equal(
            uv_read_start((uv_stream_t *)&sc->pipe, on_srv_alloc, on_srv_read), 0);
        s->opened++;
        s->open++;
        struct pending *p = calloc(1, sizeof(*p));
        p->done = done;
        p->arg = arg;
        p->fd = fds[1];
        uv_timer_init(s->loop, &p->timer);
        p->timer.data = p;
        uv_timer_start(&p->timer, on_pending, 0, 0);
        return 0;
}

struct client {
        int calls;
        int status;
        char body[64];
        struct node_forward_call *call;
};

static void on_answer(void *ctx, int status, const char *type, const char *body,
                      size_t len)
{
        struct client *c = ctx;
        c->calls++;
        c->status = status;
        snprintf(c->body, sizeof(c->body), "%.*s", (int)len, body ? body : "");
}

static void start_method(struct node_forward_pool *p, struct client *c,
                         const char *method, const char *key,
                         struct node_forward_group *g)
{
        struct node_forward_request req = {
            .method = method,
            .target = "/v1/zones/example.test./changes",
            .idempotency_key = key,
            .content_type = "application/json",
            .body = "{}",
            .body_len = 2,
            .timeout_ms = 5000,
            .relayed = true,
            .call = &c->call,
            .group = g,
        };
        assert_int_equal(node_forward_pooled(p, &req, on_answer, c), 0);
}

static void start(struct node_forward_pool *p, struct client *c, const char *key,
                  struct node_forward_group *g)
{
        start_method(p, c, "POST", key, g);
}

static void run_until(uv_loop_t *loop, struct client *c, int n)
{
        for (int i = 0; i < n; i++)
                while (c[i].calls == 0)
                        uv_run(loop, UV_RUN_ONCE);
}

static unsigned pool_closed;

static void on_pool_closed(void *arg)
{
        pool_closed++;
}

/* Closes the pool and runs the loop to its end: everything closed. */
static void finish(uv_loop_t *loop, struct node_forward_pool *p, struct server *s)
{
        pool_closed = 0;
        unsigned left = node_forward_pool_close(p, on_pool_closed, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        assert_int_equal(pool_closed, left > 0 ? 1 : 0);
        assert_int_equal(s->open, 0); /* the server saw every channel close */
        assert_int_equal(uv_loop_close(loop), 0);
}

static void test_sequential_exchanges_share_a_channel(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s = {.loop = &loop, .mode = ANSWER};
        struct node_forward_pool *p =
            node_forward_pool_new(&loop, pair_connect, &s, NODE_FORWARD_POOL_IDLE_MS);
        for (int i = 0; i < 3; i++) {
                struct client c = {0};
                start(p, &c, NULL, NULL);
                run_until(&loop, &c, 1);
                assert_int_equal(c.status, 200);
                assert_string_equal(c.body, "{\"ok\":true}");
                assert_null(c.call);
                assert_int_equal(node_forward_pool_idle(p), 1);
        }
        assert_int_equal(s.opened, 1);
        assert_int_equal(s.served, 3);
        finish(&loop, p, &s);
}

static void test_concurrent_exchanges_open_one_each(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s = {.loop = &loop, .mode = ANSWER};
        struct node_forward_pool *p =
            node_forward_pool_new(&loop, pair_connect, &s, NODE_FORWARD_POOL_IDLE_MS);
        struct client c[3] = {{0}, {0}, {0}};
        for (int i = 0; i < 3; i++)
                start(p, &c[i], NULL, NULL);
        run_until(&loop, c, 3);
        for (int i = 0; i < 3; i++)
                assert_int_equal(c[i].status, 200);
        assert_int_equal(s.opened, 3);
        assert_int_equal(node_forward_pool_idle(p), 3);
        /* the next three reuse them */
        memset(c, 0, sizeof(c));
        for (int i = 0; i < 3; i++)
                start(p, &c[i], NULL, NULL);
        run_until(&loop, c, 3);
        assert_int_equal(s.opened, 3);
        assert_int_equal(s.served, 6);
        finish(&loop, p, &s);
}

static void test_closed_channel_retried_when_safe(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s = {.loop = &loop, .mode = CLOSE_ON_SECOND};
        struct node_forward_pool *p =
            node_forward_pool_new(&loop, pair_connect, &s, NODE_FORWARD_POOL_IDLE_MS);
        struct client first = {0}, keyed = {0}, unkeyed = {0};
        start(p, &first, NULL, NULL);
        run_until(&loop, &first, 1);
        assert_int_equal(first.status, 200);
        /* With a key: the peer closes the reused channel, the request goes
         * again on a new one (where it is the first request: answered). */
        start(p, &keyed, "k-1", NULL);
        run_until(&loop, &keyed, 1);
        assert_int_equal(keyed.status, 200);
        assert_int_equal(s.opened, 2);
        assert_int_equal(s.received, 3);
        /* Without a key, a POST is not sent twice: the failure is reported. */
        start(p, &unkeyed, NULL, NULL);
        run_until(&loop, &unkeyed, 1);
        assert_int_equal(unkeyed.status, -ECONNRESET);
        assert_int_equal(s.opened, 2);
        assert_int_equal(node_forward_pool_idle(p), 0);
        finish(&loop, p, &s);
}

static void test_channel_closed_by_peer_leaves_the_pool(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s = {.loop = &loop, .mode = CLOSE_AFTER};
        struct node_forward_pool *p =
            node_forward_pool_new(&loop, pair_connect, &s, NODE_FORWARD_POOL_IDLE_MS);
        struct client c = {0};
        start(p, &c, NULL, NULL);
        run_until(&loop, &c, 1);
        assert_int_equal(c.status, 200);
        /* kept, until the idle channel reads the peer's close */
        while (node_forward_pool_idle(p) > 0)
                uv_run(&loop, UV_RUN_ONCE);
        struct client again = {0};
        start(p, &again, NULL, NULL);
        run_until(&loop, &again, 1);
        assert_int_equal(again.status, 200);
        assert_int_equal(s.opened, 2);
        finish(&loop, p, &s);
}

static void test_connection_close_answer_not_reused(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s = {.loop = &loop, .mode = ANSWER_CLOSE};
        struct node_forward_pool *p =
            node_forward_pool_new(&loop, pair_connect, &s, NODE_FORWARD_POOL_IDLE_MS);
        struct client c = {0};
        start(p, &c, NULL, NULL);
        run_until(&loop, &c, 1);
        assert_int_equal(c.status, 200);
        assert_int_equal(node_forward_pool_idle(p), 0);
        finish(&loop, p, &s);
}

/* Answers that have no body by definition (to HEAD, a 204) end at their
 * head: the exchange completes at once (not at its 5 s timeout) and the
 * channel serves the next one. */
static void test_bodyless_answers_end_at_their_head(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s = {.loop = &loop, .mode = BODYLESS};
        struct node_forward_pool *p =
            node_forward_pool_new(&loop, pair_connect, &s, NODE_FORWARD_POOL_IDLE_MS);
        const char *methods[] = {"HEAD", "POST", "HEAD"};
        for (int i = 0; i < 3; i++) {
                struct client c = {0};
                uv_update_time(&loop);
                uint64_t t0 = uv_now(&loop);
                start_method(p, &c, methods[i], NULL, NULL);
                run_until(&loop, &c, 1);
                assert_int_equal(c.status, i == 1 ? 204 : 200);
                assert_string_equal(c.body, "");
                assert_true(uv_now(&loop) - t0 < 1000);
                assert_int_equal(node_forward_pool_idle(p), 1);
        }
        assert_int_equal(s.opened, 1);
        assert_int_equal(s.served, 3);
        finish(&loop, p, &s);
}

static void on_slept(uv_timer_t *t)
{
        *(bool *)t->data = true;
}

static void sleep_on_loop(uv_loop_t *loop, unsigned ms)
{
        uv_timer_t t;
        bool done = false;
        uv_timer_init(loop, &t);
        t.data = &done;
        uv_timer_start(&t, on_slept, ms, 0);
        while (!done)
                uv_run(loop, UV_RUN_ONCE);
        uv_close((uv_handle_t *)&t, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
}

/* The pool keeps a channel idle for less than the peers' API keeps it
 * (api-request-timeout): two thirds of it, at most 20 s; a channel idle
 * longer is not reused but closed, and the next exchange opens one. */
static void test_idle_limit_follows_the_api_idle_timeout(void **state)
{
        assert_int_equal(node_forward_pool_idle_ms(30000), 20000);
        assert_int_equal(node_forward_pool_idle_ms(300000), NODE_FORWARD_POOL_IDLE_MS);
        assert_int_equal(node_forward_pool_idle_ms(3000), 2000);
        assert_int_equal(node_forward_pool_idle_ms(1000), 666);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s = {.loop = &loop, .mode = ANSWER};
        struct node_forward_pool *p = node_forward_pool_new(
            &loop, pair_connect, &s, node_forward_pool_idle_ms(1500));
        struct client c = {0};
        start(p, &c, NULL, NULL);
        run_until(&loop, &c, 1);
        sleep_on_loop(&loop, 10); /* well within the limit (1 s): reused */
        memset(&c, 0, sizeof(c));
        start(p, &c, NULL, NULL);
        run_until(&loop, &c, 1);
        assert_int_equal(s.opened, 1);
        sleep_on_loop(&loop, 1100); /* past it: closed, a new one */
        memset(&c, 0, sizeof(c));
        start(p, &c, NULL, NULL);
        run_until(&loop, &c, 1);
        assert_int_equal(c.status, 200);
        assert_int_equal(s.opened, 2);
        assert_int_equal(s.served, 3);
        finish(&loop, p, &s);
}

static unsigned drained;

static void on_drained(struct node_forward_group *g)
{
        drained++;
}

static void test_pool_closed_with_exchange_in_flight(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s = {.loop = &loop, .mode = ANSWER};
        struct node_forward_pool *p =
            node_forward_pool_new(&loop, pair_connect, &s, NODE_FORWARD_POOL_IDLE_MS);
        struct node_forward_group g = {0};
        struct client idle = {0}, stuck = {0};
        start(p, &idle, NULL, &g);
        run_until(&loop, &idle, 1); /* one channel idle */
        s.mode = SILENT;
        start(p, &stuck, "k-2", &g);
        while (s.received < 2)
                uv_run(&loop, UV_RUN_ONCE);
        /* The cluster's closer: its calls cancelled, then its pools closed. */
        drained = 0;
        assert_int_equal(node_forward_group_cancel(&g, on_drained), 1);
        pool_closed = 0;
        assert_true(node_forward_pool_close(p, on_pool_closed, NULL) > 0);
        assert_int_equal(stuck.calls, 0); /* never from within */
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(stuck.calls, 1);
        assert_int_equal(stuck.status, -ECANCELED);
        assert_int_equal(drained, 1);
        assert_int_equal(pool_closed, 1);
        assert_int_equal(s.open, 0);
        assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_pool_closed_while_connecting(void **state)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s = {.loop = &loop, .mode = ANSWER};
        struct node_forward_pool *p =
            node_forward_pool_new(&loop, pair_connect, &s, NODE_FORWARD_POOL_IDLE_MS);
        struct node_forward_group g = {0};
        struct client c = {0};
        start(p, &c, "k-3", &g); /* the connector answers a loop turn later */
        assert_int_equal(node_forward_group_cancel(&g, on_drained), 1);
        pool_closed = 0;
        assert_true(node_forward_pool_close(p, on_pool_closed, NULL) > 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(c.calls, 1);
        assert_int_equal(c.status, -ECANCELED);
        assert_int_equal(pool_closed, 1);
        assert_int_equal(uv_loop_close(&loop), 0); /* the late descriptor closed too */
        assert_int_equal(s.open, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sequential_exchanges_share_a_channel),
            cmocka_unit_test(test_concurrent_exchanges_open_one_each),
            cmocka_unit_test(test_closed_channel_retried_when_safe),
            cmocka_unit_test(test_channel_closed_by_peer_leaves_the_pool),
            cmocka_unit_test(test_connection_close_answer_not_reused),
            cmocka_unit_test(test_pool_closed_with_exchange_in_flight),
            cmocka_unit_test(test_pool_closed_while_connecting),
            cmocka_unit_test(test_bodyless_answers_end_at_their_head),
            cmocka_unit_test(test_idle_limit_follows_the_api_idle_timeout),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
