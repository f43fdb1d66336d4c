/*
 * test_node_http_close.c — the API server's close and h2o's dispose
 * (node/http.c) on a real listener on loopback.
 *
 * libuv's loop is not reentrant: nothing may run it from inside one of its
 * callbacks, and some h2o versions run it inside h2o_context_dispose.  The
 * test links with --wrap for uv_run and h2o_context_dispose: the wrappers
 * count how deep uv_run is and record every dispose made while it runs.
 * A server closed with an idle client connection reports its end to the
 * closing count from the loop, and its context is disposed only by
 * node_http_dispose after uv_run returned; a server whose start fails (its
 * address taken) disposes at once, outside the loop, and leaves nothing:
 * the loop closes with no handle and LeakSanitizer finds nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <h2o.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "node/closing.h"
#include "node/http.h"

int __real_uv_run(uv_loop_t *loop, uv_run_mode mode);
void __real_h2o_context_dispose(h2o_context_t *ctx);
int __wrap_uv_run(uv_loop_t *loop, uv_run_mode mode);
void __wrap_h2o_context_dispose(h2o_context_t *ctx);

static unsigned run_depth, disposes, disposes_in_loop;

int __wrap_uv_run(uv_loop_t *loop, uv_run_mode mode)
{
        run_depth++;
        int rc = __real_uv_run(loop, mode);
        run_depth--;
        return rc;
}

void __wrap_h2o_context_dispose(h2o_context_t *ctx)
{
        disposes++;
        if (run_depth > 0)
                disposes_in_loop++;
        __real_h2o_context_dispose(ctx);
}

/* A listening socket on 127.0.0.1 (any port): the port's owner. */
static int listen_any(struct sockaddr_in *addr)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        memset(addr, 0, sizeof(*addr));
        addr->sin_family = AF_INET;
        addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
        socklen_t len = sizeof(*addr);
        assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
        assert_int_equal(listen(fd, 8), 0);
        return fd;
}

static int start(uv_loop_t *loop, const struct sockaddr_in *addr, struct node_http **out)
{
        static const struct node_http_token token = {.scope = NODE_SCOPE_READ,
                                                     .secret = "test-read-token"};
        struct node_http_config cfg = {
            .address = (const struct sockaddr *)addr, .tokens = &token, .token_count = 1};
        char err[256] = "";
        return node_http_start(out, loop, &cfg, err, sizeof(err));
}

static bool connected;

static void on_connected(uv_connect_t *req, int status)
{
        assert_int_equal(status, 0);
        connected = true;
}

static void on_all_closed(struct node_closing *g)
{
        uv_stop(g->loop);
}

static void test_close_disposes_after_the_loop(void **state)
{
        (void)state;
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        /* A free port: taken, released, then served. */
        struct sockaddr_in addr;
        close(listen_any(&addr));
        struct node_http *http = NULL;
        assert_int_equal(start(&loop, &addr, &http), 0);

        /* A client holds an idle connection. */
        uv_tcp_t client;
        uv_connect_t req;
        uv_tcp_init(&loop, &client);
        connected = false;
        assert_int_equal(
            uv_tcp_connect(&req, &client, (struct sockaddr *)&addr, on_connected), 0);
        while (!connected)
                uv_run(&loop, UV_RUN_ONCE);
        for (int i = 0; i < 5; i++) /* the server accepts it */
                uv_run(&loop, UV_RUN_NOWAIT);

        struct node_closing g;
        node_closing_init(&g, &loop, on_all_closed);
        node_closing_hold(&g);
        disposes = disposes_in_loop = 0;
        node_http_close(http, &g);
        node_closing_release(&g);
        assert_int_equal(g.open, 1);   /* the server's own share, until it closed */
        uv_run(&loop, UV_RUN_DEFAULT); /* stopped by on_all_closed */
        assert_int_equal(g.open, 0);
        assert_int_equal(disposes, 0); /* not from within the loop */
        assert_true(node_http_dispose(http));
        assert_int_equal(disposes, 1);
        assert_int_equal(disposes_in_loop, 0);
        assert_false(node_http_dispose(NULL));

        uv_close((uv_handle_t *)&client, NULL);
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(disposes_in_loop, 0);
        assert_int_equal(uv_loop_close(&loop), 0); /* h2o's handles closed too */
}

static void test_failed_start_leaves_nothing(void **state)
{
        (void)state;
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        struct sockaddr_in addr;
        int taken = listen_any(&addr);
        struct node_http *http = NULL;
        disposes = disposes_in_loop = 0;
        assert_true(start(&loop, &addr, &http) < 0);
        assert_null(http);
        assert_int_equal(disposes, 1); /* at once, outside the loop */
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(disposes_in_loop, 0);
        assert_int_equal(uv_loop_close(&loop), 0);
        close(taken);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_close_disposes_after_the_loop),
            cmocka_unit_test(test_failed_start_leaves_nothing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
