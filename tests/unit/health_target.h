/*
 * health_target.h — real endpoints for the health tests, on loopback.
 *
 * target_*: an HTTP/1.1 server on the test's own libuv loop (the same loop
 * the probes run on, so no thread and no lock).  It counts connections and
 * requests, remembers the peer address of the last one, and can be broken
 * and healed while the test runs: stopped (listener closed, so connects are
 * refused), answering another status, answering late (beyond the probe
 * timeout), or with another body.  A TCP check probes the same listener.
 *
 * https_*: an HTTPS server in a python3 subprocess (ssl module) with a
 * self-signed certificate made by the openssl CLI at test time.  Its answer
 * body names the SNI and Host the client sent, so a string-match check can
 * verify both; /fail answers 500.
 *
 * wait_until() runs the loop until a condition holds or a time (scaled by
 * QDNS_TIMING_SLACK) passes.
 */
#ifndef TESTS_HEALTH_TARGET_H
#define TESTS_HEALTH_TARGET_H

#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

enum target_mode { TARGET_OK, TARGET_STATUS, TARGET_SLOW };

struct target;

struct target_conn {
        uv_tcp_t tcp;
        uv_timer_t delay;
        struct target *t;
        struct target_conn *next;
        unsigned open;
        size_t len;
        bool accepted;
        bool answered;
        char buf[4096];
};

struct target {
        uv_loop_t *loop;
        uv_tcp_t listener;
        bool listening;
        bool listener_closing;
        char addr[64];
        int port;
        enum target_mode mode;
        int status;        /* TARGET_STATUS */
        unsigned delay_ms; /* TARGET_SLOW */
        char body[8192];
        unsigned connections;
        unsigned open;     /* connections open now */
        unsigned max_open; /* the most open at once */
        unsigned requests;
        char last_peer[64];
        char last_host[128];
        char last_path[128];
        struct target_conn *conns;
};

static inline void target_conn_closed(uv_handle_t *h)
{
        struct target_conn *c = h->data;
        if (--c->open > 0)
                return;
        if (c->accepted)
                c->t->open--;
        struct target_conn **pp = &c->t->conns;
        while (*pp != c)
                pp = &(*pp)->next;
        *pp = c->next;
        free(c);
}

static inline void target_conn_close(struct target_conn *c)
{
        if (uv_is_closing((uv_handle_t *)&c->tcp))
                return;
        uv_close((uv_handle_t *)&c->delay, target_conn_closed);
        uv_close((uv_handle_t *)&c->tcp, target_conn_closed);
}

static inline void target_written(uv_write_t *req, int status)
{
        struct target_conn *c = req->data;
        free(req);
        target_conn_close(c);
}

static inline void target_respond(struct target_conn *c)
{
        struct target *t = c->t;
        int status = t->mode == TARGET_STATUS ? t->status : 200;
        size_t blen = strlen(t->body);
        size_t cap = blen + 256;
        uv_write_t *req = malloc(sizeof(*req) + cap);
        char *out = (char *)(req + 1);
        int n = snprintf(
            out, cap, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            status, blen);
        memcpy(out + n, t->body, blen);
        uv_buf_t buf = uv_buf_init(out, (unsigned)(n + blen));
        req->data = c;
        if (uv_write(req, (uv_stream_t *)&c->tcp, &buf, 1, target_written) != 0) {
                free(req);
                target_conn_close(c);
        }
}

static inline void target_delayed(uv_timer_t *timer)
{
        target_respond(timer->data);
}

static inline void target_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct target_conn *c = h->data;
        buf->base = c->buf + c->len;
        buf->len = sizeof(c->buf) - 1 - c->len;
}

static inline void target_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
        struct target_conn *c = s->data;
        if (nread < 0 || (nread == 0 && c->len == sizeof(c->buf) - 1)) {
                target_conn_close(c);
                return;
        }
        c->len += (size_t)nread;
        c->buf[c->len] = '\0';
        if (c->answered || !strstr(c->buf, "\r\n\r\n"))
                return;
        c->answered = true;
        struct target *t = c->t;
        t->requests++;
        const char *host = strcasestr(c->buf, "\r\nHost: ");
        t->last_host[0] = t->last_path[0] = '\0';
        sscanf(c->buf, "GET %127s", t->last_path);
        if (host)
                sscanf(host + 8, "%127[^\r]", t->last_host);
        if (t->mode == TARGET_SLOW)
                uv_timer_start(&c->delay, target_delayed, t->delay_ms, 0);
        else
                target_respond(c);
}

static inline void target_accept(uv_stream_t *server, int status)
{
        struct target *t = server->data;
        if (status < 0)
                return;
        struct target_conn *c = calloc(1, sizeof(*c));
        c->t = t;
        uv_tcp_init(t->loop, &c->tcp);
        uv_timer_init(t->loop, &c->delay);
        c->tcp.data = c->delay.data = c;
        c->open = 2;
        c->next = t->conns;
        t->conns = c;
        if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
                target_conn_close(c);
                return;
        }
        t->connections++;
        c->accepted = true;
        if (++t->open > t->max_open)
                t->max_open = t->open;
        struct sockaddr_storage peer;
        int len = sizeof(peer);
        if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &len) == 0)
                uv_ip4_name((struct sockaddr_in *)&peer, t->last_peer,
                            sizeof(t->last_peer));
        uv_read_start((uv_stream_t *)&c->tcp, target_alloc, target_read);
}

static inline void target_listener_closed(uv_handle_t *h)
{
        struct target *t = h->data;
        t->listener_closing = false;
}

/* Starts (or restarts, on the same port) listening; 0 or a libuv error. */
static inline int target_listen(struct target *t)
{
        while (t->listener_closing)
                uv_run(t->loop, UV_RUN_ONCE);
        struct sockaddr_in sa;
        uv_ip4_addr(t->addr, t->port, &sa);
        uv_tcp_init(t->loop, &t->listener);
        t->listener.data = t;
        int rc = uv_tcp_bind(&t->listener, (struct sockaddr *)&sa, 0);
        if (rc == 0)
                rc = uv_listen((uv_stream_t *)&t->listener, 1024, target_accept);
        if (rc == 0 && t->port == 0) {
                int len = sizeof(sa);
                uv_tcp_getsockname(&t->listener, (struct sockaddr *)&sa, &len);
                t->port = ntohs(sa.sin_port);
        }
        t->listening = true;
        if (rc != 0)
                fprintf(stderr, "target_listen %s:%d: %s\n", t->addr, t->port,
                        uv_strerror(rc));
        return rc;
}

static inline int target_start(struct target *t, uv_loop_t *loop, const char *addr)
{
        memset(t, 0, sizeof(*t));
        t->loop = loop;
        snprintf(t->addr, sizeof(t->addr), "%s", addr);
        snprintf(t->body, sizeof(t->body), "all good");
        return target_listen(t);
}

/* Stops listening (connects are then refused); open connections go on. */
static inline void target_stop(struct target *t)
{
        if (t->listening) {
                t->listener_closing = true;
                uv_close((uv_handle_t *)&t->listener, target_listener_closed);
        }
        t->listening = false;
}

/* Stops and closes every connection; run the loop afterwards to free them. */
static inline void target_close(struct target *t)
{
        target_stop(t);
        for (struct target_conn *c = t->conns; c; c = c->next)
                target_conn_close(c);
}

/* ------------------------------------------------------------ loop helpers */

static inline double timing_slack(void)
{
        const char *s = getenv("QDNS_TIMING_SLACK");
        double v = s ? atof(s) : 1.0;
        return v >= 1.0 ? v : 1.0;
}

static inline void wait_tick(uv_timer_t *t)
{
}

/* Runs loop until pred(arg) or ms (x slack) pass; returns pred's last value. */
static inline bool wait_until(uv_loop_t *loop, bool (*pred)(void *), void *arg,
                              uint64_t ms)
{
        uv_timer_t tick;
        uv_timer_init(loop, &tick);
        uv_timer_start(&tick, wait_tick, 10, 10);
        uint64_t end = uv_now(loop) + (uint64_t)(ms * timing_slack());
        bool ok;
        while (!(ok = pred(arg)) && uv_now(loop) < end)
                uv_run(loop, UV_RUN_ONCE);
        uv_close((uv_handle_t *)&tick, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
        return ok;
}

/* Runs loop for ms (not scaled): to observe that nothing happens. */
static inline void run_for(uv_loop_t *loop, uint64_t ms)
{
        uv_timer_t tick;
        uv_timer_init(loop, &tick);
        uv_timer_start(&tick, wait_tick, 10, 10);
        uint64_t end = uv_now(loop) + ms;
        while (uv_now(loop) < end)
                uv_run(loop, UV_RUN_ONCE);
        uv_close((uv_handle_t *)&tick, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
}

/* ------------------------------------------------------------ HTTPS (python) */

struct https_target {
        pid_t pid;
        int port;
        char dir[64];
};

static const char https_script[] =
    "import http.server, ssl, sys\n"
    "cert, key, port_file = sys.argv[1], sys.argv[2], sys.argv[3]\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        sni = getattr(self.connection, 'qdns_sni', None)\n"
    "        body = ('sni=%s host=%s' % (sni, self.headers.get('Host'))).encode()\n"
    "        self.send_response(500 if self.path == '/fail' else 200)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(cert, key)\n"
    "def on_sni(sock, name, c):\n"
    "    sock.qdns_sni = name\n"
    "ctx.sni_callback = on_sni\n"
    "srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
    "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
    "open(port_file + '.tmp', 'w').write(str(srv.server_address[1]))\n"
    "import os; os.rename(port_file + '.tmp', port_file)\n"
    "srv.serve_forever()\n";

/* Makes a certificate for name in a temp dir and starts the server. */
static inline void https_stop(struct https_target *h);

static inline int https_start(struct https_target *h, const char *name)
{
        memset(h, 0, sizeof(*h));
        snprintf(h->dir, sizeof(h->dir), "/tmp/qdns-health-XXXXXX");
        if (!mkdtemp(h->dir))
                return -1;
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                 "-nodes -keyout %s/key.pem -out %s/cert.pem -days 1 -subj /CN=%s "
                 "-addext subjectAltName=DNS:%s >/dev/null 2>&1",
                 h->dir, h->dir, name, name);
        if (system(cmd) != 0)
                goto fail;
        char script[128], cert[128], key[128], port_file[128];
        snprintf(script, sizeof(script), "%s/server.py", h->dir);
        snprintf(cert, sizeof(cert), "%s/cert.pem", h->dir);
        snprintf(key, sizeof(key), "%s/key.pem", h->dir);
        snprintf(port_file, sizeof(port_file), "%s/port", h->dir);
        FILE *f = fopen(script, "w");
        if (!f)
                goto fail;
        fputs(https_script, f);
        fclose(f);
        h->pid = fork();
        if (h->pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
                execlp("python3", "python3", script, cert, key, port_file, (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 1000; i++) {
                f = fopen(port_file, "r");
                if (f) {
                        int ok = fscanf(f, "%d", &h->port);
                        fclose(f);
                        if (ok == 1)
                                return 0;
                }
                usleep(10000);
        }
fail:
        https_stop(h);
        return -1;
}

static inline void https_stop(struct https_target *h)
{
        if (h->pid > 0) {
                kill(h->pid, SIGKILL);
                waitpid(h->pid, NULL, 0);
                h->pid = 0;
        }
        if (h->dir[0]) {
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", h->dir);
        }
}

#endif
