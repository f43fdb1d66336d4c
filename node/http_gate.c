/*
 * http_gate.c — the API's connections before h2o reads them (see http.h).
 *
 * Flow: uv_tcp accept → connection caps (total, per source address; over a
 * cap: 503 and close) → h2o_uv_socket_create → TLS handshake when the API
 * is TLS → the gate reads the first request head into the socket's input
 * (at most NODE_HTTP_MAX_HEAD bytes, within head_timeout_ms) and judges it
 * (node_http_head_parse): no valid token and a body over anon_body_max →
 * 401/413 at once; a valid token and a Content-Length over the route's
 * limit → 413 at once; else h2o_http1_accept takes the socket with the
 * head already read.  Each connection is a struct conn whose TCP handle h2o
 * closes; the counts are given back in that close callback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <h2o/http1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/http_head.h"
#include "node/http_priv.h"

static void addr_key(const struct sockaddr_storage *ss, unsigned char *out)
{
        memset(out, 0, 16);
        if (ss->ss_family == AF_INET)
                memcpy(out + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        else if (ss->ss_family == AF_INET6)
                memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
}

static struct peer_count *peer_find(struct node_http *http, const unsigned char *addr)
{
        for (size_t i = 0; i < http->npeers; i++)
                if (memcmp(http->peers[i].addr, addr, 16) == 0)
                        return &http->peers[i];
        return NULL;
}

/* Counts a new connection; false when a cap is reached (nothing counted). */
static bool conn_count(struct node_http *http, struct conn *c, const char **why)
{
        if (http->connections >= http->limits.max_connections) {
                *why = "the node serves its maximum of API connections";
                return false;
        }
        struct peer_count *p = peer_find(http, c->addr);
        if (p != NULL && p->count >= http->limits.max_connections_per_address) {
                *why = "this address has the maximum of API connections open";
                return false;
        }
        if (p == NULL) {
                /* At most max_connections entries: every entry counts one. */
                struct peer_count *grown =
                    realloc(http->peers, (http->npeers + 1) * sizeof(*grown));
                if (grown == NULL) {
                        *why = "out of memory";
                        return false;
                }
                http->peers = grown;
                p = &http->peers[http->npeers++];
                memcpy(p->addr, c->addr, 16);
                p->count = 0;
        }
        p->count++;
        http->connections++;
        c->counted = true;
        return true;
}

static void conn_uncount(struct node_http *http, struct conn *c)
{
        if (!c->counted)
                return;
        c->counted = false;
        http->connections--;
        struct peer_count *p = peer_find(http, c->addr);
        if (p != NULL && --p->count == 0)
                *p = http->peers[--http->npeers];
}

static void log_refusal(struct node_http *http, const char *why, const struct conn *c)
{
        uint64_t now = uv_now(http->context.loop);
        http->refused_since++;
        if (now - http->refused_at_ms < 1000 && http->refused_at_ms != 0)
                return;
        char text[INET6_ADDRSTRLEN] = "?";
        if (memcmp(c->addr, "\0\0\0\0\0\0\0\0\0\0\0\0", 12) == 0)
                inet_ntop(AF_INET, c->addr + 12, text, sizeof(text));
        else
                inet_ntop(AF_INET6, c->addr, text, sizeof(text));
        LOG_WARN("API: refused a connection or request from %s: %s (%u refused in the "
                 "last second)",
                 text, why, http->refused_since);
        http->refused_at_ms = now;
        http->refused_since = 0;
}

static void conn_link(struct node_http *http, struct conn *c)
{
        c->next = http->conns;
        if (c->next != NULL)
                c->next->prev = c;
        http->conns = c;
}

static void conn_unlink(struct node_http *http, struct conn *c)
{
        if (c->prev != NULL)
                c->prev->next = c->next;
        else if (http->conns == c)
                http->conns = c->next;
        if (c->next != NULL)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
}

/* Frees c once both handles are closed; a closing server learns of it. */
static void conn_release(struct conn *c)
{
        if (--c->open_handles > 0)
                return;
        struct node_http *http = c->http;
        free(c);
        node_http_check_closed(http);
}

static void conn_handle_closed(uv_handle_t *handle)
{
        conn_release(handle->data);
}

/* h2o's close callback for the TCP handle (its data is h2o's socket then). */
static void conn_tcp_closed(uv_handle_t *handle)
{
        struct conn *c = (struct conn *)handle; /* tcp is the first member */
        conn_uncount(c->http, c);
        conn_unlink(c->http, c);
        if (c->gated) {
                c->gated = false;
                uv_timer_stop(&c->timer);
                uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
        }
        conn_release(c);
}

static void gate_close(struct conn *c)
{
        if (c->sock != NULL) {
                h2o_socket_t *sock = c->sock;
                c->sock = NULL;
                h2o_socket_close(sock); /* closes the TCP handle: conn_tcp_closed */
        }
}

static void gate_on_timeout(uv_timer_t *timer)
{
        gate_close(timer->data);
}

static void gate_reply_sent(h2o_socket_t *sock, const char *err)
{
        gate_close(sock->data);
}

/* Answers the first request from the gate (or a refused connection) and closes. */
static void gate_reply(struct conn *c, int status, const char *code, const char *message)
{
        char body[300];
        int blen =
            snprintf(body, sizeof(body),
                     "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
        int n = snprintf(c->reply, sizeof(c->reply),
                         "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                         "Content-Length: %d\r\nConnection: close\r\n%s\r\n%s",
                         status, node_http_reason(status), blen,
                         status == 503 ? "Retry-After: 1\r\n" : "", body);
        h2o_socket_read_stop(c->sock);
        h2o_iovec_t buf = h2o_iovec_init(c->reply, (size_t)n);
        h2o_socket_write(c->sock, &buf, 1, gate_reply_sent);
}

/* Finds the route of a raw target (query excluded), or NULL. */
static const struct node_http_route *gate_route(struct node_http *http,
                                                const char *target, size_t len,
                                                const char *method, size_t method_len)
{
        char path[1024], *seg[16];
        size_t nseg = 0;
        const char *q = memchr(target, '?', len);
        if (q != NULL)
                len = (size_t)(q - target);
        if (len == 0 || len >= sizeof(path) || target[0] != '/')
                return NULL;
        memcpy(path, target, len);
        path[len] = '\0';
        for (char *save = NULL, *p = strtok_r(path, "/", &save); p != NULL;
             p = strtok_r(NULL, "/", &save)) {
                if (nseg == 16 || strcmp(p, ".") == 0 || strcmp(p, "..") == 0)
                        return NULL;
                seg[nseg++] = p;
        }
        struct node_http_request r = {0};
        for (size_t i = 0; i < http->cfg.route_count; i++) {
                const struct node_http_route *route = &http->cfg.routes[i];
                if (strlen(route->method) == method_len &&
                    memcmp(route->method, method, method_len) == 0 &&
                    node_http_route_match(route->pattern, seg, nseg, &r))
                        return route;
        }
        return NULL;
}

/* Judges a complete first head: true lets h2o take the connection. */
static bool gate_judge(struct conn *c, const struct node_http_head *head)
{
        struct node_http *http = c->http;
        const struct node_http_limits *l = &http->limits;
        int token;
        enum node_scope scope = node_http_scope_of(http, head->authorization,
                                                   head->authorization_len, &token);
        const struct node_http_route *route = gate_route(
            http, head->target, head->target_len, head->method, head->method_len);
        bool body = head->chunked || head->content_length > 0;
        if (head->ambiguous) {
                gate_reply(c, 400, "InvalidInput",
                           "give either one Content-Length or Transfer-Encoding");
                return false;
        }
        if (scope == NODE_SCOPE_NONE) {
                if (!body ||
                    (!head->chunked && (size_t)head->content_length <= l->anon_body_max))
                        return true; /* answered by on_req, then closed */
                log_refusal(http, "a request body without a valid token", c);
                if (route == NULL || route->scope != NODE_SCOPE_NONE)
                        gate_reply(c, 401, "Unauthorized",
                                   "a valid 'Authorization: Bearer TOKEN' header is "
                                   "needed; no body is read without one");
                else
                        gate_reply(c, 413, "PayloadTooLarge",
                                   "a request without a token may not carry a body");
                return false;
        }
        size_t limit =
            route != NULL && route->large_body ? l->body_max : l->small_body_max;
        if (!head->chunked && head->content_length > 0 &&
            (unsigned long long)head->content_length > limit) {
                char message[128];
                snprintf(message, sizeof(message),
                         "this request may carry at most %zu bytes", limit);
                gate_reply(c, 413, "PayloadTooLarge", message);
                return false;
        }
        return true;
}

static void gate_on_read(h2o_socket_t *sock, const char *err)
{
        struct conn *c = sock->data;
        if (err != NULL) {
                gate_close(c);
                return;
        }
        struct node_http_head head;
        int rc = node_http_head_parse(sock->input->bytes, sock->input->size,
                                      NODE_HTTP_MAX_HEAD, &head);
        if (rc == 0)
                return;
        if (rc < 0) {
                gate_reply(c, rc == -E2BIG ? 431 : 400, "InvalidInput",
                           rc == -E2BIG ? "the request head is too large"
                                        : "not an HTTP/1.1 request");
                return;
        }
        if (!gate_judge(c, &head))
                return;
        /* Let h2o read this request (its head is in sock->input) and the next. */
        c->gated = false;
        uv_timer_stop(&c->timer);
        uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
        c->sock = NULL;
        h2o_socket_read_stop(sock);
        h2o_http1_accept(&c->http->accept, sock,
                         *h2o_get_timestamp(&c->http->context, NULL, NULL));
}

static void gate_start(struct conn *c)
{
        c->sock->data = c;
        h2o_socket_read_start(c->sock, gate_on_read);
        /* The request may have come with the end of the TLS handshake. */
        if (c->sock->input->size != 0)
                gate_on_read(c->sock, NULL);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
        struct conn *c = sock->data;
        if (err != NULL) {
                gate_close(c);
                return;
        }
        gate_start(c);
}

void node_http_on_accept(uv_stream_t *listener, int status)
{
        struct node_http *http = listener->data;
        if (status != 0)
                return;
        struct conn *c = calloc(1, sizeof(*c));
        if (c == NULL)
                return;
        c->http = http;
        uv_tcp_init(listener->loop, &c->tcp);
        c->open_handles = 1;
        if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
                uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
                return;
        }
        struct sockaddr_storage peer;
        int plen = sizeof(peer);
        memset(&peer, 0, sizeof(peer));
        uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &plen);
        addr_key(&peer, c->addr);
        uv_timer_init(listener->loop, &c->timer);
        c->timer.data = c;
        c->open_handles = 2;
        c->gated = true;
        conn_link(http, c);
        c->sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, conn_tcp_closed);
        const char *why;
        if (!conn_count(http, c, &why)) {
                log_refusal(http, why, c);
                c->sock->data = c;
                if (http->ssl == NULL)
                        gate_reply(c, 503, "TooManyConnections", why);
                else
                        gate_close(c);
                return;
        }
        uv_timer_start(&c->timer, gate_on_timeout, http->limits.head_timeout_ms, 0);
        if (http->ssl != NULL) {
                c->sock->data = c;
                h2o_socket_ssl_handshake(c->sock, http->ssl, NULL, on_handshake);
        } else {
                gate_start(c);
        }
}

void node_http_gate_close_all(struct node_http *http)
{
        for (struct conn *c = http->conns; c != NULL; c = c->next)
                if (c->gated)
                        gate_close(c); /* the handles close later: the list stays */
}
