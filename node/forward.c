/*
 * forward.c — the follower-to-leader HTTP client (see forward.h).
 *
 * States: connect → write the whole request → read until the answer is
 * complete (framed as RFC 9112 section 6.3 says, or by the server's close)
 * → parse → callback → close.  A timer bounds the whole exchange.  Both
 * handles are closed before the state is freed.  When the cluster's API
 * runs over TLS, the same exchange runs through OpenSSL on memory BIOs,
 * trusting the chain in the node's own certificate file.  node_forward_via
 * runs the same plain-HTTP exchange on a side channel to another node
 * (consensus/transport.h) that a connector opens; the transport does the
 * TLS.  The exchange outlives its callback until the connector has
 * answered.
 *
 * node_forward_pooled runs it on a channel kept open between exchanges
 * (HTTP/1.1 keep-alive; the pools are forward_pool.c's): the most recently
 * used idle channel of its pool, or a new one; once answered in full (the
 * body framed, no "Connection: close", nothing sent after it), the channel
 * goes back to the pool.  A request that may be sent twice (an idempotency
 * key, or GET) and got no byte back on a reused channel is sent again once
 * on a new one.  Every other end (error, timeout, cancel, the pool
 * closing) closes the channel.
 */
#include "node/forward.h"
#include "node/forward_priv.h"
#include "node/http_response.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_RESPONSE (64u << 20)

struct tls_write {
        uv_write_t req;
        size_t len;
        char data[];
};

static SSL_CTX *client_tls; /* NULL: plain HTTP */

int node_forward_use_tls(const char *trust_file, char *err, size_t err_size)
{
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, trust_file, NULL) != 1) {
                char reason[256];
                ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
                snprintf(err, err_size, "TLS client: %s", reason);
                SSL_CTX_free(ctx);
                return -EINVAL;
        }
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_free(client_tls);
        client_tls = ctx;
        return 0;
}

static void free_exchange(struct exchange *x)
{
        struct node_forward_pool *p = x->pool;
        SSL_free(x->ssl); /* frees both BIOs */
        free(x->request);
        free(x->response);
        free(x);
        if (p != NULL)
                node_forward_pool_put(p);
}

/* Out of its group's list of running exchanges (it can no longer be
 * cancelled by the group). */
static void group_unlink(struct exchange *x)
{
        struct node_forward_group *g = x->group;
        if (g == NULL || (x->self.prev == NULL && g->first != &x->self))
                return;
        if (x->self.prev != NULL)
                x->self.prev->next = x->self.next;
        else
                g->first = x->self.next;
        if (x->self.next != NULL)
                x->self.next->prev = x->self.prev;
        x->self.prev = x->self.next = NULL;
}

/* Its callback ran, or its owner cancelled it: out of the group, whose
 * closer is told once the last one is out. */
static void group_leave(struct exchange *x)
{
        struct node_forward_group *g = x->group;
        if (g == NULL)
                return;
        group_unlink(x);
        x->group = NULL;
        if (--g->pending == 0 && g->cancelled && g->drained_cb != NULL) {
                void (*cb)(struct node_forward_group *) = g->drained_cb;
                g->drained_cb = NULL;
                cb(g);
        }
}

/* One of the exchange's handles (its timer, its connection) is closed. */
void node_forward_exchange_handle_gone(struct exchange *x)
{
        if (--x->open_handles > 0)
                return;
        if (x->cancelled) { /* by its group: the callback runs now, on the loop */
                x->cancelled = false;
                x->cb(x->ctx, -ECANCELED, NULL, NULL, 0);
                group_leave(x);
        }
        if (x->connecting)
                return; /* a side channel being opened frees it when it is */
        free_exchange(x);
}

static void handle_closed(uv_handle_t *handle)
{
        node_forward_exchange_handle_gone(handle->data);
}

/* The exchange lets go of its connection: closed, or (pooled, answered in
 * full) back to its pool. */
static void release_conn(struct exchange *x)
{
        if (x->pool == NULL) {
                uv_close((uv_handle_t *)x->conn, handle_closed);
                return;
        }
        struct channel *ch = x->ch;
        x->ch = NULL;
        if (ch == NULL)
                return;
        if (x->keep && !x->writing && !x->connecting && node_forward_channel_idle(ch)) {
                x->open_handles--; /* the timer's close is still to come */
                return;
        }
        node_forward_channel_close(ch, x);
}

/* Whether something other than this module closed the connection. */
static bool conn_closed_under(struct exchange *x)
{
        if (x->pool == NULL)
                return uv_is_closing((uv_handle_t *)x->conn);
        return x->ch != NULL && uv_is_closing((uv_handle_t *)&x->ch->pipe);
}

/* Marks the exchange over; false when its handles were closed under it. */
static bool end_exchange(struct exchange *x)
{
        x->done = 1;
        group_unlink(x);
        if (x->call != NULL)
                *x->call = NULL;
        /* Only finish(), node_forward_cancel() and a group's cancel close the
         * handles; closed by anyone else means the node's final sweep: the
         * loop is ending and the owner may be gone, so nothing is called
         * back or closed again. */
        return !conn_closed_under(x) && !uv_is_closing((uv_handle_t *)&x->timer);
}

static void finish(struct exchange *x, int status, const char *type, const char *body,
                   size_t len)
{
        if (x->done || !end_exchange(x))
                return;
        x->cb(x->ctx, status, type, body, len);
        group_leave(x);
        uv_close((uv_handle_t *)&x->timer, handle_closed);
        release_conn(x);
}

void node_forward_cancel(struct node_forward_call *call)
{
        struct exchange *x = call->x;
        if (x->done || !end_exchange(x))
                return;
        group_leave(x); /* its callback never runs */
        x->keep = false;
        uv_close((uv_handle_t *)&x->timer, handle_closed);
        release_conn(x);
}

unsigned node_forward_group_cancel(struct node_forward_group *g,
                                   void (*drained_cb)(struct node_forward_group *g))
{
        g->cancelled = true;
        g->drained_cb = NULL; /* set below: never called from within */
        while (g->first != NULL) {
                struct exchange *x = g->first->x;
                if (!end_exchange(x)) { /* the final sweep closed it */
                        group_leave(x);
                        continue;
                }
                x->cancelled = true;
                x->keep = false;
                uv_close((uv_handle_t *)&x->timer, handle_closed);
                release_conn(x);
        }
        if (g->pending > 0)
                g->drained_cb = drained_cb;
        return g->pending;
}

/* Parses the response once it is complete; returns false while more is needed. */
static bool try_parse(struct exchange *x, bool eof)
{
        struct node_http_response res;
        int rc = node_http_response_parse(x->response, x->len, eof, x->head, &res);
        if (rc == 0)
                return false;
        if (rc < 0) {
                finish(x, rc, NULL, NULL, 0);
        } else {
                x->keep = res.reusable && !eof;
                finish(x, res.status, res.content_type, res.body, res.body_len);
        }
        return true;
}

static void pooled_open(struct exchange *x);

/* The connection failed before the answer: a reused channel that its peer
 * closed meanwhile gets the request once more on a new one, when sending it
 * twice is safe. */
static void conn_failed(struct exchange *x, int status)
{
        if (x->done)
                return;
        if (x->pool != NULL && x->reused && x->may_retry && !x->retried && x->len == 0 &&
            !x->writing && !x->pool->closing) {
                x->retried = true;
                struct channel *ch = x->ch;
                x->ch = NULL;
                node_forward_channel_close(
                    ch, x); /* its close ends its count in open_handles */
                pooled_open(x);
                return;
        }
        finish(x, status, NULL, NULL, 0);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
        struct exchange *x = handle->data;
        if (x->cap - x->len < 65536 + 1) {
                size_t cap = x->cap ? x->cap * 2 : 131072;
                char *grown = cap <= MAX_RESPONSE ? realloc(x->response, cap) : NULL;
                if (grown == NULL) {
                        buf->base = NULL;
                        buf->len = 0;
                        return;
                }
                x->response = grown;
                x->cap = cap;
                x->response[x->len] = '\0';
        }
        buf->base = x->response + x->len;
        buf->len = x->cap - x->len - 1;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
        struct exchange *x = stream->data;
        if (nread == UV_ENOBUFS) {
                finish(x, -E2BIG, NULL, NULL, 0);
                return;
        }
        if (nread > 0) {
                x->len += (size_t)nread;
                x->response[x->len] = '\0';
                try_parse(x, false);
                return;
        }
        if (nread < 0 && x->len == 0)
                conn_failed(x, nread == UV_EOF ? -ECONNRESET : (int)nread);
        else if (nread < 0)
                try_parse(x, true);
}

static void on_written(uv_write_t *req, int status)
{
        struct exchange *x = req->data;
        x->writing = false;
        if (x->done)
                return;
        if (status < 0) {
                conn_failed(x, status);
                return;
        }
        uv_read_start(x->conn, on_alloc, on_read);
}

static void on_tls_written(uv_write_t *req, int status)
{
        free(req);
}

/* Sends what OpenSSL has queued for the peer. */
static int tls_flush(struct exchange *x)
{
        size_t pending;
        while ((pending = BIO_ctrl_pending(x->wbio)) > 0) {
                struct tls_write *w = malloc(sizeof(*w) + pending);
                if (w == NULL)
                        return -ENOMEM;
                int n = BIO_read(x->wbio, w->data, (int)pending);
                if (n <= 0) {
                        free(w);
                        return -EPROTO;
                }
                uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
                int rc = uv_write(&w->req, (uv_stream_t *)&x->tcp, &b, 1, on_tls_written);
                if (rc < 0) {
                        free(w);
                        return rc;
                }
        }
        return 0;
}

/* Drives the handshake, the request and the response through OpenSSL. */
static void tls_pump(struct exchange *x)
{
        if (!x->sent) {
                int rc = SSL_write(x->ssl, x->request, (int)x->request_len);
                if (rc > 0) {
                        x->sent = true;
                } else {
                        int e = SSL_get_error(x->ssl, rc);
                        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                                finish(x, -EPROTO, NULL, NULL, 0);
                                return;
                        }
                }
        }
        bool closed = false;
        while (x->sent && !closed) {
                if (x->cap - x->len < 16384 + 1) {
                        size_t cap = x->cap ? x->cap * 2 : 131072;
                        char *grown =
                            cap <= MAX_RESPONSE ? realloc(x->response, cap) : NULL;
                        if (grown == NULL) {
                                finish(x, -E2BIG, NULL, NULL, 0);
                                return;
                        }
                        x->response = grown;
                        x->cap = cap;
                }
                int n =
                    SSL_read(x->ssl, x->response + x->len, (int)(x->cap - x->len - 1));
                if (n > 0) {
                        x->len += (size_t)n;
                        x->response[x->len] = '\0';
                        continue;
                }
                int e = SSL_get_error(x->ssl, n);
                if (e == SSL_ERROR_ZERO_RETURN)
                        closed = true;
                else if (e == SSL_ERROR_WANT_READ)
                        break;
                else {
                        finish(x, -EPROTO, NULL, NULL, 0);
                        return;
                }
        }
        int rc = tls_flush(x);
        if (rc < 0) {
                finish(x, rc, NULL, NULL, 0);
                return;
        }
        if (closed || x->len > 0)
                try_parse(x, closed);
}

static void on_tls_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
        struct exchange *x = handle->data;
        buf->base = x->raw;
        buf->len = sizeof(x->raw);
}

static void on_tls_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
        struct exchange *x = stream->data;
        if (x->done)
                return;
        if (nread > 0) {
                BIO_write(x->rbio, buf->base, (int)nread);
                tls_pump(x);
        } else if (nread < 0) {
                try_parse(x, true);
        }
}

static void on_connected(uv_connect_t *req, int status)
{
        struct exchange *x = req->data;
        if (x->done)
                return;
        if (status < 0) {
                finish(x, status, NULL, NULL, 0);
                return;
        }
        if (client_tls != NULL && x->conn == (uv_stream_t *)&x->tcp) {
                x->ssl = SSL_new(client_tls);
                x->rbio = BIO_new(BIO_s_mem());
                x->wbio = BIO_new(BIO_s_mem());
                if (x->ssl == NULL || x->rbio == NULL || x->wbio == NULL) {
                        BIO_free(x->rbio);
                        BIO_free(x->wbio);
                        finish(x, -ENOMEM, NULL, NULL, 0);
                        return;
                }
                SSL_set_bio(x->ssl, x->rbio, x->wbio);
                SSL_set_connect_state(x->ssl);
                uv_read_start((uv_stream_t *)&x->tcp, on_tls_alloc, on_tls_read);
                tls_pump(x);
                return;
        }
        uv_buf_t b = uv_buf_init(x->request, (unsigned)x->request_len);
        x->write.data = x;
        int rc = uv_write(&x->write, x->conn, &b, 1, on_written);
        if (rc < 0)
                conn_failed(x, rc);
        else
                x->writing = true;
}

static void on_timeout(uv_timer_t *timer)
{
        finish(timer->data, -ETIMEDOUT, NULL, NULL, 0);
}

static struct exchange *exchange_new(const struct node_forward_request *req,
                                     node_forward_cb cb, void *ctx, bool keep_alive)
{
        struct exchange *x = calloc(1, sizeof(*x));
        if (x == NULL)
                return NULL;
        x->cb = cb;
        x->ctx = ctx;
        x->head = strcmp(req->method, "HEAD") == 0;
        size_t cap = 1024 + strlen(req->target) + req->body_len +
                     (req->authorization ? strlen(req->authorization) : 0) +
                     (req->idempotency_key ? strlen(req->idempotency_key) : 0);
        x->request = malloc(cap);
        if (x->request == NULL) {
                free(x);
                return NULL;
        }
        int n =
            snprintf(x->request, cap,
                     "%s %s HTTP/1.1\r\nHost: leader\r\n%s"
                     "Content-Length: %zu\r\n%s",
                     req->method, req->target, keep_alive ? "" : "Connection: close\r\n",
                     req->body_len, req->relayed ? "X-Quorumdns-Forwarded: 1\r\n" : "");
        if (req->authorization)
                n += snprintf(x->request + n, cap - (size_t)n, "Authorization: %s\r\n",
                              req->authorization);
        if (req->idempotency_key)
                n += snprintf(x->request + n, cap - (size_t)n, "Idempotency-Key: %s\r\n",
                              req->idempotency_key);
        if (req->content_type)
                n += snprintf(x->request + n, cap - (size_t)n, "Content-Type: %.100s\r\n",
                              req->content_type);
        n += snprintf(x->request + n, cap - (size_t)n, "\r\n");
        if (req->body_len > 0)
                memcpy(x->request + n, req->body, req->body_len);
        x->request_len = (size_t)n + req->body_len;
        x->self.x = x;
        x->call = req->call;
        if (x->call != NULL)
                *x->call = &x->self;
        struct node_forward_group *g = req->group;
        if (g != NULL) {
                x->group = g;
                g->pending++;
                x->self.next = g->first;
                if (g->first != NULL)
                        g->first->prev = &x->self;
                g->first = &x->self;
        }
        return x;
}

static void start_timer(uv_loop_t *loop, struct exchange *x, unsigned timeout_ms)
{
        uv_timer_init(loop, &x->timer);
        x->timer.data = x;
        x->open_handles = 2;
        uv_timer_start(&x->timer, on_timeout, timeout_ms ? timeout_ms : 10000, 0);
}

int node_forward(uv_loop_t *loop, const struct sockaddr *leader_api,
                 const struct node_forward_request *req, node_forward_cb cb, void *ctx)
{
        if (req->group != NULL && req->group->cancelled)
                return -ESHUTDOWN;
        struct exchange *x = exchange_new(req, cb, ctx, false);
        if (x == NULL)
                return -ENOMEM;
        uv_tcp_init(loop, &x->tcp);
        x->conn = (uv_stream_t *)&x->tcp;
        x->tcp.data = x->connect.data = x;
        start_timer(loop, x, req->timeout_ms);
        int rc = uv_tcp_connect(&x->connect, &x->tcp, leader_api, on_connected);
        if (rc < 0)
                finish(x, rc, NULL, NULL, 0); /* cb still runs exactly once */
        return 0;
}

static void via_connected(void *arg, int status, int fd)
{
        struct exchange *x = arg;
        x->connecting = false;
        if (x->done) { /* timed out meanwhile */
                if (fd >= 0)
                        close(fd);
                if (x->open_handles == 0)
                        free_exchange(x);
                return;
        }
        int rc = status;
        uv_pipe_t *pipe = x->pool != NULL ? &x->ch->pipe : &x->pipe;
        if (rc == 0 && (rc = uv_pipe_open(pipe, fd)) != 0)
                close(fd);
        if (rc != 0) {
                finish(x, rc, NULL, NULL, 0);
                return;
        }
        on_connected(&x->connect, 0);
}

int node_forward_via(uv_loop_t *loop, node_forward_connect_fn connect, void *connect_ctx,
                     const struct node_forward_request *req, node_forward_cb cb,
                     void *ctx)
{
        if (req->group != NULL && req->group->cancelled)
                return -ESHUTDOWN;
        struct exchange *x = exchange_new(req, cb, ctx, false);
        if (x == NULL)
                return -ENOMEM;
        uv_pipe_init(loop, &x->pipe, 0);
        x->conn = (uv_stream_t *)&x->pipe;
        x->pipe.data = x->connect.data = x;
        start_timer(loop, x, req->timeout_ms);
        x->connecting = true;
        int rc = connect(connect_ctx, via_connected, x);
        if (rc < 0) {
                x->connecting = false;
                finish(x, rc, NULL, NULL, 0); /* cb still runs exactly once */
        }
        return 0;
}

/* ---- pooled side channels ------------------------------------------------ */

/* The exchange holds ch from now on (counted in its open handles). */
static void attach(struct exchange *x, struct channel *ch)
{
        x->ch = ch;
        x->conn = (uv_stream_t *)&ch->pipe;
        ch->pipe.data = x;
        ch->x = NULL;
        x->open_handles++;
}

/* A new channel for x: the pool's connector opens it. */
static void pooled_open(struct exchange *x)
{
        struct node_forward_pool *p = x->pool;
        struct channel *ch = node_forward_channel_new(p);
        if (ch == NULL) {
                finish(x, -ENOMEM, NULL, NULL, 0);
                return;
        }
        attach(x, ch);
        x->reused = false;
        x->len = 0;
        x->connecting = true;
        int rc = p->connect(p->connect_ctx, via_connected, x);
        if (rc < 0) {
                x->connecting = false;
                finish(x, rc, NULL, NULL, 0);
        }
}

int node_forward_pooled(struct node_forward_pool *p,
                        const struct node_forward_request *req, node_forward_cb cb,
                        void *ctx)
{
        if ((req->group != NULL && req->group->cancelled) || p->closing)
                return -ESHUTDOWN;
        struct exchange *x = exchange_new(req, cb, ctx, true);
        if (x == NULL)
                return -ENOMEM;
        x->pool = p;
        x->connect.data = x;
        p->users++;
        x->may_retry = req->idempotency_key != NULL || strcmp(req->method, "GET") == 0 ||
                       strcmp(req->method, "HEAD") == 0;
        uv_timer_init(p->loop, &x->timer);
        x->timer.data = x;
        x->open_handles = 1; /* the timer; attach counts the channel */
        uv_timer_start(&x->timer, on_timeout, req->timeout_ms ? req->timeout_ms : 10000,
                       0);
        struct channel *ch = node_forward_channel_take(p);
        if (ch == NULL) {
                pooled_open(x); /* cb still runs exactly once */
                return 0;
        }
        attach(x, ch);
        x->reused = true;
        on_connected(&x->connect, 0);
        return 0;
}
