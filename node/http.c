/*
 * http.c — HTTP server on h2o (see http.h).
 *
 * Flow: uv_tcp accept → connection caps (total, per source address; over a
 * cap: 503 and close) → h2o_uv_socket_create → TLS handshake when the API
 * is TLS → the gate reads the first request head into the socket's input
 * (at most NODE_HTTP_MAX_HEAD bytes, within head_timeout_ms) and judges it:
 * no valid token and a body over anon_body_max → 401/413 at once; a valid
 * token and a Content-Length over the route's limit → 413 at once; else
 * h2o_http1_accept takes the socket with the head already read → on_req:
 * split the normalized path into segments, match the route table, check the
 * token, the route's body limit and the token's write rate, and call the
 * route.  The request object is allocated with h2o_mem_alloc_shared so its
 * dispose callback tells us when h2o frees the request (answered, or the
 * client went away).  HTTP/1.1 only: no h2c upgrade, no HTTP/2 by ALPN (h2o
 * would buffer HTTP/2 bodies before the gate could see a head).
 */
#include "node/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <h2o/http1.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/http_head.h"

/* Open connections from one source address. */
struct peer_count {
        unsigned char addr[16];
        unsigned count;
};

/* A token's write budget: a bucket refilled at limits.write_rate per second. */
struct bucket {
        double level;
        uint64_t at_ms;
};

struct node_http {
        h2o_globalconf_t config;
        h2o_context_t context;
        h2o_accept_ctx_t accept;
        uv_tcp_t listener;
        SSL_CTX *ssl;
        struct node_http_config cfg;
        struct node_http_limits limits;
        struct node_http_token *tokens;
        struct bucket *buckets; /* one per token */
        unsigned connections;
        struct peer_count *peers;
        size_t npeers;
        uint64_t refused_at_ms; /* last refusal logged (one line per second) */
        unsigned refused_since;
};

/* One accepted connection: the socket h2o reads, and the gate's deadline. */
struct conn {
        uv_tcp_t tcp; /* handed to h2o, which closes it */
        uv_timer_t timer;
        struct node_http *http;
        h2o_socket_t *sock;
        unsigned char addr[16];
        unsigned open_handles;
        bool gated;   /* the gate still judges the first request */
        bool counted; /* in the connection counts */
        char reply[512];
};

void node_http_limits_default(struct node_http_limits *l)
{
        l->body_max = 64u << 20;
        l->small_body_max = 1u << 20;
        l->anon_body_max = 4096;
        l->max_connections = 256;
        l->max_connections_per_address = 32;
        l->head_timeout_ms = 10000;
        l->request_timeout_ms = 30000;
        l->write_rate = 200;
        l->write_burst = 400;
}

struct handler {
        h2o_handler_t super;
        struct node_http *http;
};

static const char *reason_of(int status)
{
        switch (status) {
        case 200:
                return "OK";
        case 201:
                return "Created";
        case 202:
                return "Accepted";
        case 400:
                return "Bad Request";
        case 401:
                return "Unauthorized";
        case 403:
                return "Forbidden";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 409:
                return "Conflict";
        case 413:
                return "Payload Too Large";
        case 429:
                return "Too Many Requests";
        case 500:
                return "Internal Server Error";
        case 503:
                return "Service Unavailable";
        case 504:
                return "Gateway Timeout";
        default:
                return "Status";
        }
}

void node_http_reply_text(struct node_http_request *r, int status,
                          const char *content_type, const char *body, size_t len)
{
        h2o_req_t *req = r->h2o_req;
        if (req == NULL)
                return;
        r->h2o_req = NULL; /* answered: a second answer is a no-op */
        req->res.status = status;
        req->res.reason = reason_of(status);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       content_type, strlen(content_type));
        h2o_send_inline(req, body, len);
}

void node_http_reply_json(struct node_http_request *r, int status, json_t *body)
{
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL) {
                node_http_reply_text(
                    r, 500, "application/json",
                    "{\"error\":{\"code\":\"Internal\",\"message\":\"out of memory\"}}",
                    63);
                return;
        }
        size_t len = strlen(text);
        text[len] = '\0';
        node_http_reply_text(r, status, "application/json", text, len);
        free(text);
}

void node_http_reply_error(struct node_http_request *r, int status, const char *code,
                           const char *field, const char *fmt, ...)
{
        char message[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
        if (field != NULL)
                json_object_set_new(err, "field", json_string(field));
        node_http_reply_json(r, status, json_pack("{s:o}", "error", err));
}

json_t *node_http_body_json(struct node_http_request *r)
{
        json_error_t error;
        if (r->body_len == 0) {
                node_http_reply_error(r, 400, "InvalidInput", NULL,
                                      "a JSON body is needed");
                return NULL;
        }
        json_t *root = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &error);
        if (root == NULL) {
                node_http_reply_error(r, 400, "InvalidInput", NULL,
                                      "body is not valid JSON: %s (line %d, column %d)",
                                      error.text, error.line, error.column);
                return NULL;
        }
        if (!json_is_object(root)) {
                json_decref(root);
                node_http_reply_error(r, 400, "InvalidInput", NULL,
                                      "body must be a JSON object");
                return NULL;
        }
        return root;
}

static int hexval(int c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Percent-decodes src[0..len) into a NUL-terminated pool string. */
static char *decode(h2o_mem_pool_t *pool, const char *src, size_t len, bool plus_is_space)
{
        char *out = h2o_mem_alloc_pool(pool, len + 1);
        size_t n = 0;
        for (size_t i = 0; i < len; i++) {
                if (src[i] == '%' && i + 2 < len + 0 && hexval(src[i + 1]) >= 0 &&
                    hexval(src[i + 2]) >= 0) {
                        out[n++] = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
                        i += 2;
                } else if (src[i] == '+' && plus_is_space) {
                        out[n++] = ' ';
                } else {
                        out[n++] = src[i];
                }
        }
        out[n] = '\0';
        return out;
}

const char *node_http_query(struct node_http_request *r, const char *name)
{
        h2o_req_t *req = r->h2o_req;
        if (req == NULL || req->query_at == SIZE_MAX)
                return NULL;
        const char *q = req->path.base + req->query_at + 1;
        const char *end = req->path.base + req->path.len;
        size_t nlen = strlen(name);
        while (q < end) {
                const char *amp = memchr(q, '&', (size_t)(end - q));
                const char *stop = amp ? amp : end;
                const char *eq = memchr(q, '=', (size_t)(stop - q));
                const char *kend = eq ? eq : stop;
                if ((size_t)(kend - q) == nlen && memcmp(q, name, nlen) == 0)
                        return eq ? decode(&req->pool, eq + 1, (size_t)(stop - eq - 1),
                                           true)
                                  : "";
                q = stop + 1;
        }
        return NULL;
}

const char *node_http_header(struct node_http_request *r, const char *name)
{
        h2o_req_t *req = r->h2o_req;
        if (req == NULL)
                return NULL;
        ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
        if (i < 0)
                return NULL;
        h2o_iovec_t v = req->headers.entries[i].value;
        char *out = h2o_mem_alloc_pool(&req->pool, v.len + 1);
        memcpy(out, v.base, v.len);
        out[v.len] = '\0';
        return out;
}

static bool secret_equal(const char *a, const char *b, size_t blen)
{
        size_t alen = strlen(a);
        unsigned char diff = (unsigned char)(alen != blen);
        for (size_t i = 0; i < blen; i++)
                diff |= (unsigned char)(a[i % (alen ? alen : 1)] ^ b[i]);
        return diff == 0 && alen == blen;
}

/* The best scope a bearer value grants; *index: the token's (or -1). */
static enum node_scope scope_of(struct node_http *http, const char *value, size_t len,
                                int *index)
{
        *index = -1;
        if (value == NULL || len < 7 || strncasecmp(value, "Bearer ", 7) != 0)
                return NODE_SCOPE_NONE;
        const char *secret = value + 7;
        len -= 7;
        enum node_scope best = NODE_SCOPE_NONE;
        for (size_t t = 0; t < http->cfg.token_count; t++)
                if (secret_equal(http->tokens[t].secret, secret, len) &&
                    http->tokens[t].scope > best) {
                        best = http->tokens[t].scope;
                        *index = (int)t;
                }
        return best;
}

static enum node_scope token_scope(struct node_http *http, h2o_req_t *req, int *index)
{
        ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
        if (i < 0) {
                *index = -1;
                return NODE_SCOPE_NONE;
        }
        h2o_iovec_t v = req->headers.entries[i].value;
        return scope_of(http, v.base, v.len, index);
}

/*
 * Takes one write from the token's bucket; false when it is empty, with
 * the seconds until it holds one again.
 */
static bool write_allowed(struct node_http *http, int token, unsigned *retry_after)
{
        const struct node_http_limits *l = &http->limits;
        if (l->write_rate == 0 || token < 0)
                return true;
        struct bucket *b = &http->buckets[token];
        uint64_t now = uv_now(http->context.loop);
        b->level += (double)(now - b->at_ms) * l->write_rate / 1000.0;
        if (b->level > l->write_burst)
                b->level = l->write_burst;
        b->at_ms = now;
        if (b->level >= 1.0) {
                b->level -= 1.0;
                return true;
        }
        double wait = (1.0 - b->level) / l->write_rate;
        *retry_after = (unsigned)wait + 1;
        return false;
}

void node_http_hold(struct node_http_request *r)
{
        r->refs++;
}

void node_http_release(struct node_http_request *r)
{
        if (--r->refs > 0)
                return;
        free(r->target);
        free(r);
}

/* Lives in the h2o request's pool: h2o frees the pool when the request is
 * done or the client is gone, and then the request object forgets it. */
static void link_disposed(void *ptr)
{
        struct node_http_request *r = *(struct node_http_request **)ptr;
        r->h2o_req = NULL; /* any later answer is dropped */
        r->body = NULL;
        r->body_len = 0;
        node_http_release(r);
}

/* Matches path segments against a pattern; collects {} segments. */
static bool match(const char *pattern, char **seg, size_t nseg,
                  struct node_http_request *r)
{
        size_t i = 0;
        r->params = 0;
        const char *p = pattern;
        while (*p == '/') {
                p++;
                const char *end = strchr(p, '/');
                size_t plen = end ? (size_t)(end - p) : strlen(p);
                if (i >= nseg)
                        return false;
                if (plen == 2 && p[0] == '{' && p[1] == '}') {
                        if (r->params == NODE_HTTP_MAX_PARAMS)
                                return false;
                        r->param[r->params++] = seg[i];
                } else if (strlen(seg[i]) != plen || memcmp(seg[i], p, plen) != 0) {
                        return false;
                }
                i++;
                p += plen;
        }
        return i == nseg;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
        struct node_http *http = ((struct handler *)self)->http;
        struct node_http_request *r = calloc(1, sizeof(*r));
        if (r == NULL)
                return -1;
        struct node_http_request **link =
            h2o_mem_alloc_shared(&req->pool, sizeof(*link), link_disposed);
        *link = r;
        r->refs = 1; /* the link's */
        r->h2o_req = req;
        r->http = http;
        r->target = strndup(req->path.base, req->path.len);
        r->body = req->entity.base;
        r->body_len = req->entity.base ? req->entity.len : 0;
        /* Split the normalized path (query excluded) into decoded segments. */
        char *seg[16];
        size_t nseg = 0;
        const char *path = req->path_normalized.base;
        size_t plen = req->path_normalized.len;
        size_t start = 1;
        for (size_t i = 1; i <= plen && nseg < 16; i++) {
                if (i == plen || path[i] == '/') {
                        if (i > start)
                                seg[nseg++] =
                                    decode(&req->pool, path + start, i - start, false);
                        start = i + 1;
                }
        }
        /* Only a connection that proved a token reads a further request: the
         * gate judged this connection's first head only. */
        int token;
        r->scope = token_scope(http, req, &token);
        if (r->scope == NODE_SCOPE_NONE)
                req->http1_is_persistent = 0;
        char *method = r->method;
        size_t mlen = req->method.len < sizeof(r->method) - 1 ? req->method.len
                                                              : sizeof(r->method) - 1;
        memcpy(method, req->method.base, mlen);
        method[mlen] = '\0';
        bool path_known = false;
        for (size_t i = 0; i < http->cfg.route_count; i++) {
                const struct node_http_route *route = &http->cfg.routes[i];
                if (!match(route->pattern, seg, nseg, r))
                        continue;
                path_known = true;
                if (strcmp(route->method, method) != 0)
                        continue;
                if (route->scope != NODE_SCOPE_NONE) {
                        if (r->scope == NODE_SCOPE_NONE) {
                                node_http_reply_error(r, 401, "Unauthorized", NULL,
                                                      "a valid 'Authorization: Bearer "
                                                      "TOKEN' header is needed");
                                return 0;
                        }
                        if (r->scope < route->scope) {
                                node_http_reply_error(r, 403, "Forbidden", NULL,
                                                      "this token may only read");
                                return 0;
                        }
                }
                size_t limit = route->large_body ? http->limits.body_max
                                                 : http->limits.small_body_max;
                if (r->body_len > limit) {
                        node_http_reply_error(r, 413, "PayloadTooLarge", NULL,
                                              "this request may carry at most %zu bytes",
                                              limit);
                        return 0;
                }
                unsigned retry_after;
                if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
                    !write_allowed(http, token, &retry_after)) {
                        char value[16];
                        int n = snprintf(value, sizeof(value), "%u", retry_after);
                        h2o_add_header(
                            &req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                            h2o_strdup(&req->pool, value, (size_t)n).base, (size_t)n);
                        node_http_reply_error(r, 429, "TooManyRequests", NULL,
                                              "this token made more than %u writes a "
                                              "second; retry after %u s",
                                              http->limits.write_rate, retry_after);
                        return 0;
                }
                route->fn(r, http->cfg.route_ctx);
                return 0;
        }
        if (path_known)
                node_http_reply_error(r, 405, "MethodNotAllowed", NULL,
                                      "%s is not allowed here", method);
        else
                node_http_reply_error(r, 404, "NotFound", NULL, "no such resource");
        return 0;
}

/* ---- connections and the gate ------------------------------------------------------
 */

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

static void conn_handle_closed(uv_handle_t *handle)
{
        struct conn *c = handle->data;
        if (--c->open_handles == 0)
                free(c);
}

/* h2o's close callback for the TCP handle (its data is h2o's socket then). */
static void conn_tcp_closed(uv_handle_t *handle)
{
        struct conn *c = (struct conn *)handle; /* tcp is the first member */
        conn_uncount(c->http, c);
        if (c->gated) {
                c->gated = false;
                uv_timer_stop(&c->timer);
                uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
        }
        if (--c->open_handles == 0)
                free(c);
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
                         status, reason_of(status), blen,
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
                    match(route->pattern, seg, nseg, &r))
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
        enum node_scope scope =
            scope_of(http, head->authorization, head->authorization_len, &token);
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

static void on_accept(uv_stream_t *listener, int status)
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

static int setup_tls(struct node_http *http, char *err, size_t n)
{
        http->ssl = SSL_CTX_new(TLS_server_method());
        if (http->ssl == NULL ||
            SSL_CTX_use_certificate_chain_file(http->ssl, http->cfg.tls_cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(http->ssl, http->cfg.tls_key, SSL_FILETYPE_PEM) !=
                1) {
                char reason[256];
                ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
                snprintf(err, n, "TLS: %s", reason);
                return -EINVAL;
        }
        SSL_CTX_set_min_proto_version(http->ssl, TLS1_2_VERSION);
        /* No ALPN: HTTP/1.1 only (h2o would buffer HTTP/2 bodies unjudged). */
        return 0;
}

int node_http_start(struct node_http **out, uv_loop_t *loop,
                    const struct node_http_config *cfg, char *err, size_t err_size)
{
        struct node_http *http = calloc(1, sizeof(*http));
        if (http == NULL)
                return -ENOMEM;
        http->cfg = *cfg;
        http->limits = cfg->limits;
        if (http->limits.max_connections == 0)
                node_http_limits_default(&http->limits);
        size_t ntok = cfg->token_count ? cfg->token_count : 1;
        http->tokens = calloc(ntok, sizeof(*http->tokens));
        http->buckets = calloc(ntok, sizeof(*http->buckets));
        if (http->tokens == NULL || http->buckets == NULL) {
                free(http->tokens);
                free(http->buckets);
                free(http);
                return -ENOMEM;
        }
        memcpy(http->tokens, cfg->tokens, cfg->token_count * sizeof(*cfg->tokens));
        for (size_t i = 0; i < cfg->token_count; i++)
                http->buckets[i] =
                    (struct bucket){http->limits.write_burst, uv_now(loop)};
        h2o_config_init(&http->config);
        const struct node_http_limits *l = &http->limits;
        http->config.max_request_entity_size =
            l->body_max > l->small_body_max ? l->body_max : l->small_body_max;
        http->config.http1.upgrade_to_http2 = 0; /* no h2c, no prior-knowledge h2 */
        http->config.http1.req_timeout = l->request_timeout_ms;
        h2o_hostconf_t *host = h2o_config_register_host(
            &http->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
        h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
        struct handler *h = (struct handler *)h2o_create_handler(path, sizeof(*h));
        h->super.on_req = on_req;
        h->http = http;
        h2o_context_init(&http->context, loop, &http->config);
        http->accept.ctx = &http->context;
        http->accept.hosts = http->config.hosts;
        if (cfg->tls_cert != NULL && setup_tls(http, err, err_size) != 0)
                return -EINVAL;
        uv_tcp_init(loop, &http->listener);
        http->listener.data = http;
        int rc = uv_tcp_bind(&http->listener, cfg->address, 0);
        if (rc == 0)
                rc = uv_listen((uv_stream_t *)&http->listener, 256, on_accept);
        if (rc != 0) {
                snprintf(err, err_size, "API: %s", uv_strerror(rc));
                uv_close((uv_handle_t *)&http->listener, NULL);
                return rc;
        }
        *out = http;
        return 0;
}

void node_http_close(struct node_http *http)
{
        if (http == NULL)
                return;
        uv_close((uv_handle_t *)&http->listener, NULL);
}
