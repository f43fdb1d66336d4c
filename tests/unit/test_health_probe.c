/*
 * test_health_probe.c — the probe engine against real endpoints on loopback.
 *
 * Each test starts the endpoint it needs (health_target.h: an HTTP server
 * on the test's loop, or an HTTPS server in a python3 subprocess with a
 * certificate made by openssl at test time), runs one probe through the
 * libcurl-multi-on-libuv engine, and checks the verdict, the reason, the
 * latencies and what the endpoint saw (requests, Host header, SNI, the
 * peer's source address).  Broken endpoints are real: a closed listener
 * (refused), a 500, an answer later than the 2 s limit, a body without the
 * search string, a listener whose accept queue is full (connect timeout),
 * a certificate that does not verify.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "health/probe.h"
#include "health_target.h"

struct fix {
        uv_loop_t loop;
        struct health_prober prober;
        struct health_probe probe;
        struct target target;
        struct health_check_config cfg;
        struct health_result result;
        unsigned results;
        unsigned closed;
};

static void on_result(struct health_probe *probe, const struct health_result *r)
{
        struct fix *f = probe->data;
        f->result = *r;
        f->results++;
}

static void on_probe_closed(struct health_probe *probe)
{
        struct fix *f = probe->data;
        f->closed++;
}

static void on_prober_closed(struct health_prober *prober)
{
        struct fix *f = prober->data;
        f->closed++;
}

static void fix_start(struct fix *f, const char *source)
{
        memset(f, 0, sizeof(*f));
        assert_int_equal(uv_loop_init(&f->loop), 0);
        assert_int_equal(health_prober_init(&f->prober, &f->loop, source), 0);
        f->prober.data = f;
        assert_int_equal(health_probe_init(&f->prober, &f->probe), 0);
        f->probe.data = f;
        assert_int_equal(target_start(&f->target, &f->loop, "127.0.0.1"), 0);
        health_check_config_init(&f->cfg, HEALTH_CHECK_HTTP);
        health_check_config_set_string(&f->cfg.ip_address, "127.0.0.1");
        f->cfg.port = (uint16_t)f->target.port;
}

static void fix_stop(struct fix *f)
{
        health_probe_close(&f->probe, on_probe_closed);
        health_prober_close(&f->prober, on_prober_closed);
        target_close(&f->target);
        while (f->closed < 2)
                uv_run(&f->loop, UV_RUN_ONCE);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&f->loop), 0);
        health_check_config_free(&f->cfg);
}

static bool have_result(void *arg)
{
        return ((struct fix *)arg)->results > 0;
}

/* Runs one probe of f->cfg to its verdict. */
static void probe_once(struct fix *f)
{
        f->results = 0;
        assert_int_equal(health_probe_start(&f->probe, &f->cfg, on_result), 0);
        assert_true(health_probe_active(&f->probe));
        assert_true(wait_until(&f->loop, have_result, f, 15000));
        assert_int_equal(f->results, 1);
        assert_false(health_probe_active(&f->probe));
        assert_int_equal(health_prober_active(&f->prober), 0);
}

static void test_http_ok_has_latencies(void **state)
{
        struct fix f;
        fix_start(&f, NULL);
        probe_once(&f);
        assert_true(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_NONE);
        assert_int_equal(f.result.status, 200);
        assert_true(f.result.connect_us > 0);
        assert_true(f.result.first_byte_us >= f.result.connect_us);
        assert_int_equal(f.target.requests, 1);
        /* Again: the engine reuses its easy handle, and the target sees a new request. */
        probe_once(&f);
        assert_true(f.result.ok);
        assert_int_equal(f.target.requests, 2);
        assert_int_equal(f.target.connections, 2);
        fix_stop(&f);
}

static void test_http_status_outside_range_fails(void **state)
{
        struct fix f;
        fix_start(&f, NULL);
        f.target.mode = TARGET_STATUS;
        f.target.status = 500;
        probe_once(&f);
        assert_false(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_STATUS);
        assert_int_equal(f.result.status, 500);
        assert_string_equal(f.result.text, "status 500");
        /* 3xx is healthy by default; a range can make 500 the expected status. */
        f.target.status = 302;
        probe_once(&f);
        assert_true(f.result.ok);
        f.target.status = 500;
        f.cfg.status_min = f.cfg.status_max = 500;
        probe_once(&f);
        assert_true(f.result.ok);
        fix_stop(&f);
}

static void test_http_stopped_is_refused(void **state)
{
        struct fix f;
        fix_start(&f, NULL);
        target_stop(&f.target);
        probe_once(&f);
        assert_false(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_CONNECT_REFUSED);
        assert_true(f.result.connect_us < 0);
        /* Healed: listening again on the same port. */
        assert_int_equal(target_listen(&f.target), 0);
        probe_once(&f);
        assert_true(f.result.ok);
        fix_stop(&f);
}

static void test_http_slow_answer_times_out_two_seconds_after_connect(void **state)
{
        struct fix f;
        fix_start(&f, NULL);
        f.target.mode = TARGET_SLOW;
        f.target.delay_ms = 4000;
        uint64_t t0 = uv_hrtime();
        probe_once(&f);
        uint64_t ms = (uv_hrtime() - t0) / 1000000;
        assert_false(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_RESPONSE_TIMEOUT);
        assert_true(f.result.connect_us > 0);
        assert_true(ms >= HEALTH_RESPONSE_TIMEOUT_MS - 50);
        assert_true(ms < 3000 * timing_slack());
        /* Under the limit is fine. */
        f.target.delay_ms = 300;
        probe_once(&f);
        assert_true(f.result.ok);
        assert_true(f.result.first_byte_us >= 290000);
        fix_stop(&f);
}

static void test_string_match(void **state)
{
        struct fix f;
        fix_start(&f, NULL);
        f.cfg.type = HEALTH_CHECK_HTTP_STR_MATCH;
        health_check_config_set_string(&f.cfg.search_string, "ready: yes");
        snprintf(f.target.body, sizeof(f.target.body), "status\nready: yes\n");
        probe_once(&f);
        assert_true(f.result.ok);
        /* Wrong body. */
        snprintf(f.target.body, sizeof(f.target.body), "status\nready: no\n");
        probe_once(&f);
        assert_false(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_STRING_NOT_FOUND);
        /* Case-sensitive. */
        snprintf(f.target.body, sizeof(f.target.body), "READY: YES");
        probe_once(&f);
        assert_int_equal(f.result.reason, HEALTH_REASON_STRING_NOT_FOUND);
        /* Within the first 5,120 bytes: the string ends at byte 5,120 exactly. */
        size_t n = HEALTH_SEARCH_WINDOW - strlen("ready: yes");
        memset(f.target.body, 'x', n);
        snprintf(f.target.body + n, sizeof(f.target.body) - n, "ready: yes and more");
        probe_once(&f);
        assert_true(f.result.ok);
        /* One byte later it is outside the window. */
        memset(f.target.body, 'x', n + 1);
        snprintf(f.target.body + n + 1, sizeof(f.target.body) - n - 1, "ready: yes");
        probe_once(&f);
        assert_false(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_STRING_NOT_FOUND);
        /* A bad status fails before the body is looked at. */
        f.target.mode = TARGET_STATUS;
        f.target.status = 503;
        snprintf(f.target.body, sizeof(f.target.body), "ready: yes");
        probe_once(&f);
        assert_int_equal(f.result.reason, HEALTH_REASON_STATUS);
        fix_stop(&f);
}

static void test_host_header_and_path(void **state)
{
        struct fix f;
        fix_start(&f, NULL);
        health_check_config_set_string(&f.cfg.fqdn, "www.example.test");
        health_check_config_set_string(&f.cfg.resource_path, "/healthz?deep=1");
        probe_once(&f);
        assert_true(f.result.ok);
        char want[64];
        snprintf(want, sizeof(want), "www.example.test:%d", f.target.port);
        assert_string_equal(f.target.last_host, want);
        assert_string_equal(f.target.last_path, "/healthz?deep=1");
        fix_stop(&f);
}

/* A check with a name and no address: the name is resolved (/etc/hosts). */
static void test_name_without_address(void **state)
{
        struct fix f;
        fix_start(&f, NULL);
        health_check_config_set_string(&f.cfg.ip_address, NULL);
        health_check_config_set_string(&f.cfg.fqdn, "localhost");
        probe_once(&f);
        assert_true(f.result.ok);
        char want[64];
        snprintf(want, sizeof(want), "localhost:%d", f.target.port);
        assert_string_equal(f.target.last_host, want);
        f.cfg.type = HEALTH_CHECK_TCP;
        unsigned conns = f.target.connections;
        probe_once(&f);
        assert_true(f.result.ok);
        assert_int_equal(f.target.connections, conns + 1);
        fix_stop(&f);
}

static void test_tcp_connect(void **state)
{
        struct fix f;
        fix_start(&f, NULL);
        f.cfg.type = HEALTH_CHECK_TCP;
        probe_once(&f);
        assert_true(f.result.ok);
        assert_true(f.result.connect_us > 0);
        assert_int_equal(f.target.connections, 1);
        assert_int_equal(f.target.requests, 0); /* nothing is sent */
        target_stop(&f.target);
        probe_once(&f);
        assert_false(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_CONNECT_REFUSED);
        fix_stop(&f);
}

static void test_probes_leave_from_the_source_address(void **state)
{
        struct fix f;
        fix_start(&f, "127.0.0.2");
        probe_once(&f);
        assert_true(f.result.ok);
        assert_string_equal(f.target.last_peer, "127.0.0.2");
        f.cfg.type = HEALTH_CHECK_TCP;
        strcpy(f.target.last_peer, "?");
        probe_once(&f);
        assert_true(f.result.ok);
        assert_string_equal(f.target.last_peer, "127.0.0.2");
        fix_stop(&f);
        /* A source that is not a local address: the probe fails, it does not hang. */
        fix_start(&f, "192.0.2.1");
        probe_once(&f);
        assert_false(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_CONNECT_FAILED);
        f.cfg.type = HEALTH_CHECK_TCP;
        probe_once(&f);
        assert_false(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_CONNECT_FAILED);
        fix_stop(&f);
}

/* A listener that never accepts, with its queue full: SYNs are dropped. */
static void test_connect_timeout(void **state)
{
        struct fix f;
        fix_start(&f, NULL);
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(lfd, 0), 0);
        socklen_t len = sizeof(sa);
        getsockname(lfd, (struct sockaddr *)&sa, &len);
        int fill[4];
        for (int i = 0; i < 4; i++) {
                fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
                connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
        }
        usleep(100000);
        f.cfg.port = ntohs(sa.sin_port);
        uint64_t t0 = uv_hrtime();
        probe_once(&f);
        uint64_t ms = (uv_hrtime() - t0) / 1000000;
        assert_false(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_CONNECT_TIMEOUT);
        assert_true(ms >= HEALTH_CONNECT_TIMEOUT_MS - 50);
        for (int i = 0; i < 4; i++)
                close(fill[i]);
        close(lfd);
        fix_stop(&f);
}

static void test_cancel_calls_nothing(void **state)
{
        struct fix f;
        fix_start(&f, NULL);
        f.target.mode = TARGET_SLOW;
        f.target.delay_ms = 500;
        assert_int_equal(health_probe_start(&f.probe, &f.cfg, on_result), 0);
        assert_int_equal(health_probe_start(&f.probe, &f.cfg, on_result), -EBUSY);
        run_for(&f.loop, 100);
        health_probe_cancel(&f.probe);
        assert_false(health_probe_active(&f.probe));
        run_for(&f.loop, 800);
        assert_int_equal(f.results, 0);
        /* Bad input is refused without a callback. */
        f.cfg.type = HEALTH_CHECK_MANUAL;
        assert_int_equal(health_probe_start(&f.probe, &f.cfg, on_result), -EINVAL);
        f.cfg.type = HEALTH_CHECK_HTTP_STR_MATCH; /* no search string */
        assert_int_equal(health_probe_start(&f.probe, &f.cfg, on_result), -EINVAL);
        run_for(&f.loop, 50);
        assert_int_equal(f.results, 0);
        /* Closing the engine with a probe in flight. */
        f.cfg.type = HEALTH_CHECK_HTTP;
        assert_int_equal(health_probe_start(&f.probe, &f.cfg, on_result), 0);
        run_for(&f.loop, 50);
        fix_stop(&f);
        assert_int_equal(f.results, 0);
}

/* The HTTPS server is stopped by the teardown even if the test fails. */
static struct https_target https_server;

static int https_setup(void **state)
{
        return https_start(&https_server, "www.example.test");
}

static int https_teardown(void **state)
{
        https_stop(&https_server);
        return 0;
}

static void test_https(void **state)
{
        struct https_target h = https_server;
        struct fix f;
        fix_start(&f, NULL);
        f.cfg.type = HEALTH_CHECK_HTTPS_STR_MATCH;
        f.cfg.port = (uint16_t)h.port;
        health_check_config_set_string(&f.cfg.fqdn, "www.example.test");
        f.cfg.enable_sni = true;
        char want[128];
        snprintf(want, sizeof(want), "sni=www.example.test host=www.example.test:%d",
                 h.port);
        health_check_config_set_string(&f.cfg.search_string, want);
        probe_once(&f);
        assert_true(f.result.ok);
        assert_true(f.result.connect_us > 0);
        assert_true(f.result.first_byte_us > f.result.connect_us);
        /* Without SNI: no name in the handshake, the Host header still set. */
        f.cfg.enable_sni = false;
        health_check_config_set_string(&f.cfg.search_string,
                                       "sni=None host=www.example.test");
        probe_once(&f);
        assert_true(f.result.ok);
        /* Plain HTTPS; then the failing path answers 500. */
        f.cfg.type = HEALTH_CHECK_HTTPS;
        f.cfg.enable_sni = true;
        health_check_config_set_string(&f.cfg.search_string, NULL);
        probe_once(&f);
        assert_true(f.result.ok);
        health_check_config_set_string(&f.cfg.resource_path, "/fail");
        probe_once(&f);
        assert_int_equal(f.result.reason, HEALTH_REASON_STATUS);
        /* Certificate checking on: self-signed does not verify. */
        health_check_config_set_string(&f.cfg.resource_path, NULL);
        f.cfg.verify_certificate = true;
        probe_once(&f);
        assert_false(f.result.ok);
        assert_int_equal(f.result.reason, HEALTH_REASON_TLS);
        /* HTTP spoken to the HTTPS port, HTTPS to the HTTP port: failures, not hangs. */
        f.cfg.verify_certificate = false;
        f.cfg.port = (uint16_t)f.target.port;
        probe_once(&f);
        assert_int_equal(f.result.reason, HEALTH_REASON_TLS);
        fix_stop(&f);
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_http_ok_has_latencies),
            cmocka_unit_test(test_http_status_outside_range_fails),
            cmocka_unit_test(test_http_stopped_is_refused),
            cmocka_unit_test(test_http_slow_answer_times_out_two_seconds_after_connect),
            cmocka_unit_test(test_string_match),
            cmocka_unit_test(test_host_header_and_path),
            cmocka_unit_test(test_name_without_address),
            cmocka_unit_test(test_tcp_connect),
            cmocka_unit_test(test_probes_leave_from_the_source_address),
            cmocka_unit_test(test_connect_timeout),
            cmocka_unit_test(test_cancel_calls_nothing),
            cmocka_unit_test_setup_teardown(test_https, https_setup, https_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
