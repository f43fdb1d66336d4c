/*
 * test_dns_server_tcp.c — the TCP server's start and close against real
 * sockets on loopback (dns/server_tcp.c).
 *
 * A start that fails half-way (its address already taken by another
 * listener) leaves nothing of the server in use: the caller takes the
 * server's memory back at once (made inaccessible with mprotect, so that
 * a use by libuv, which the sanitizer does not instrument, faults), the
 * loop runs the listener's close (in the server module's own memory) and
 * closes with no handle left; LeakSanitizer checks what the close frees.
 * A started server closes with its callback, once, after its listener's
 * close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <uv.h>

#include "dns/db.h"
#include "dns/server.h"

static unsigned closed_calls;

static void on_server_closed(struct dns_tcp_server *s)
{
        (void)s;
        closed_calls++;
}

static const struct dns_tcp_limits limits = {
    .idle_timeout_ms = 1000,
    .message_timeout_ms = 1000,
    .max_clients = 8,
    .max_per_source = 4,
};

/* Starts `s` on 127.0.0.1, port 0 (any), and returns the address taken. */
static struct sockaddr_in start_any(struct dns_tcp_server *s, uv_loop_t *loop,
                                    struct dns_db *db)
{
        struct sockaddr_in addr;
        char err[128];
        uv_ip4_addr("127.0.0.1", 0, &addr);
        assert_int_equal(dns_tcp_server_start(s, loop, (struct sockaddr *)&addr, db,
                                              &limits, err, sizeof(err)),
                         0);
        int len = sizeof(addr);
        assert_int_equal(uv_tcp_getsockname(s->listener, (struct sockaddr *)&addr, &len),
                         0);
        return addr;
}

static void test_failed_start_leaves_nothing_in_use(void **state)
{
        (void)state;
        uv_loop_t loop;
        struct dns_db db;
        assert_int_equal(uv_loop_init(&loop), 0);
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_tcp_server first;
        struct sockaddr_in taken = start_any(&first, &loop, &db);

        /* The second listener on the same address: the bind or the listen
         * fails after the listener handle exists. */
        /* The caller's memory on pages of its own, so that any later use of
         * it (by libuv, which the sanitizer does not see) faults. */
        size_t size = ((sizeof(struct dns_tcp_server) + 4095) / 4096) * 4096;
        struct dns_tcp_server *second =
            mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(second != MAP_FAILED);
        char err[128] = "";
        int rc = dns_tcp_server_start(second, &loop, (struct sockaddr *)&taken, &db,
                                      &limits, err, sizeof(err));
        assert_int_equal(rc, UV_EADDRINUSE);
        assert_non_null(strstr(err, "TCP: "));
        /* Allowed after an error: the caller takes its memory back. */
        assert_int_equal(mprotect(second, size, PROT_NONE), 0);

        closed_calls = 0;
        dns_tcp_server_close(&first, on_server_closed);
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(closed_calls, 1);
        assert_int_equal(uv_loop_close(&loop), 0); /* no handle left */
        munmap(second, size);
        dns_db_fini(&db);
}

static void test_started_server_closes_once(void **state)
{
        (void)state;
        uv_loop_t loop;
        struct dns_db db;
        assert_int_equal(uv_loop_init(&loop), 0);
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_tcp_server s;
        start_any(&s, &loop, &db);
        closed_calls = 0;
        dns_tcp_server_close(&s, on_server_closed);
        assert_int_equal(closed_calls, 0); /* never from within the close */
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(closed_calls, 1);
        assert_null(s.listener);
        assert_int_equal(uv_loop_close(&loop), 0);
        dns_db_fini(&db);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_failed_start_leaves_nothing_in_use),
            cmocka_unit_test(test_started_server_closes_once),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
