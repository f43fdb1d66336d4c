/*
 * http.c — HTTP server on h2o (see http.h).
 *
 * Flow: a connection passes the gate (http_gate.c: caps, TLS, the first
 * request head judged before any body is read) → h2o_http1_accept →
 * on_req: split the normalized path into segments, match the route table,
 * check the token, the route's body limit and, for writes, the token's
 * write rate, and call the route.  A request without a valid token closes
 * its connection after the answer.  The request object is allocated with
 * h2o_mem_alloc_shared so its dispose callback tells us when h2o frees the
 * request (answered, or the client went away).  HTTP/1.1 only: no h2c
 * upgrade, no HTTP/2 by ALPN (h2o would buffer HTTP/2 bodies before the
 * gate could see a head).
 */
#include "node/http.h"

#include <errno.h>
#include <h2o.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/zalloc.h"

/* A side-channel connection from another node: the pipe h2o reads, and
 * who is on the other end. */
struct peer_conn {
        uv_pipe_t pipe; /* first: h2o's close callback frees the whole */
        struct node_http *http;
        h2o_socket_t *sock;
        uint64_t peer;
        struct peer_conn *next;
};

#include "node/http_priv.h"

void node_http_limits_default(struct node_http_limits *l)
{
        l->body_max = 64u << 20;
        l->small_body_max = 1u << 20;
        l->anon_body_max = 4096;
        l->max_connections = 128;
        l->max_connections_per_address = 32;
        l->head_timeout_ms = 10000;
        l->request_timeout_ms = 30000;
        l->write_rate = 200;
        l->write_burst = 400;
}

const char *node_http_reason(int status)
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
        if (req->conn->ctx->shutdown_requested)
                req->http1_is_persistent = 0; /* stopping: close after this answer */
        req->res.status = status;
        req->res.reason = node_http_reason(status);
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

json_t *node_http_json_object(const char *body, size_t len, char *err, size_t errlen)
{
        json_error_t error;
        if (len == 0) {
                snprintf(err, errlen, "a JSON body is needed");
                return NULL;
        }
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
        if (root == NULL) {
                snprintf(err, errlen, "body is not valid JSON: %s (line %d, column %d)",
                         error.text, error.line, error.column);
                return NULL;
        }
        if (!json_is_object(root)) {
                json_decref(root);
                snprintf(err, errlen, "body must be a JSON object");
                return NULL;
        }
        return root;
}

json_t *node_http_body_json(struct node_http_request *r)
{
        char err[320];
        json_t *root = node_http_json_object(r->body, r->body_len, err, sizeof(err));
        if (root == NULL)
                node_http_reply_error(r, 400, "InvalidInput", NULL, "%s", err);
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
enum node_scope node_http_scope_of(struct node_http *http, const char *value, size_t len,
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
        return node_http_scope_of(http, v.base, v.len, index);
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
bool node_http_route_match(const char *pattern, char **seg, size_t nseg,
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

/* What another node may call: a client's request it relays (it has
 * authorized that itself), and on its own account only registering or
 * adding itself (the route checks the id), being told to leave, and sending
 * its own health votes and measured RTTs (the routes check the id). */
static bool peer_may(const struct node_http_route *route, h2o_req_t *req)
{
        if (h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-quorumdns-forwarded"),
                                   -1) >= 0)
                return true;
        return strcmp(route->pattern, "/v1/cluster/members") == 0 ||
               strcmp(route->pattern, "/v1/cluster/leave") == 0 ||
               strcmp(route->pattern, "/v1/healthchecks/votes") == 0 ||
               strcmp(route->pattern, "/v1/latency-map/measured") == 0;
}

/* The node at the other end of a side-channel connection, or 0. */
static uint64_t peer_of(struct node_http *http, h2o_req_t *req)
{
        if (http->peer_conns == NULL || req->conn->callbacks->get_socket == NULL)
                return 0;
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        for (struct peer_conn *p = http->peer_conns; p != NULL; p = p->next)
                if (p->sock == sock)
                        return p->peer;
        return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
        struct node_http *http = ((struct handler *)self)->http;
        struct node_http_request *r = zalloc(1, sizeof(*r));
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
         * gate judged this connection's first head only.  A side channel
         * from another node, authenticated by its certificate, is kept too
         * (the nodes' calls reuse their channels: call.c). */
        int token;
        r->scope = token_scope(http, req, &token);
        if (r->scope == NODE_SCOPE_NONE && peer_of(http, req) == 0)
                req->http1_is_persistent = 0;
        char *method = r->method;
        size_t mlen = req->method.len < sizeof(r->method) - 1 ? req->method.len
                                                              : sizeof(r->method) - 1;
        memcpy(method, req->method.base, mlen);
        method[mlen] = '\0';
        bool path_known = false;
        for (size_t i = 0; i < http->cfg.route_count; i++) {
                const struct node_http_route *route = &http->cfg.routes[i];
                if (!node_http_route_match(route->pattern, seg, nseg, r))
                        continue;
                path_known = true;
                if (strcmp(route->method, method) != 0)
                        continue;
                r->peer_id = peer_of(http, req);
                if (route->scope != NODE_SCOPE_NONE && r->peer_id != 0) {
                        if (!peer_may(route, req)) {
                                node_http_reply_error(
                                    r, 403, "Forbidden", NULL,
                                    "a node may call this only to relay "
                                    "a client's request");
                                return 0;
                        }
                        r->scope = NODE_SCOPE_ADMIN; /* see node_http_accept_peer */
                } else if (route->scope != NODE_SCOPE_NONE) {
                        if (r->scope == NODE_SCOPE_NONE) {
                                bool sent =
                                    h2o_find_header(&req->headers,
                                                    H2O_TOKEN_AUTHORIZATION, -1) >= 0;
                                node_http_reply_error(
                                    r, 401, "Unauthorized", NULL, "%s",
                                    sent ? "the token in the Authorization header is "
                                           "not one of this node's (--api-token)"
                                         : "no token: send an 'Authorization: Bearer "
                                           "TOKEN' header");
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

static void on_peer_closed(uv_handle_t *handle)
{
        struct peer_conn *pc = (struct peer_conn *)handle;
        for (struct peer_conn **p = &pc->http->peer_conns; *p != NULL; p = &(*p)->next)
                if (*p == pc) {
                        *p = pc->next;
                        break;
                }
        struct node_http *http = pc->http;
        free(pc);
        node_http_check_closed(http);
}

void node_http_accept_peer(struct node_http *http, int fd, uint64_t peer)
{
        struct peer_conn *pc = calloc(1, sizeof(*pc));
        if (http == NULL || http->closing || pc == NULL) {
                free(pc);
                close(fd);
                return;
        }
        uv_pipe_init(http->context.loop, &pc->pipe, 0);
        if (uv_pipe_open(&pc->pipe, fd) != 0) {
                close(fd);
                uv_close((uv_handle_t *)&pc->pipe, (uv_close_cb)free);
                return;
        }
        pc->http = http;
        pc->peer = peer;
        pc->next = http->peer_conns;
        http->peer_conns = pc;
        pc->sock = h2o_uv_socket_create((uv_stream_t *)&pc->pipe, on_peer_closed);
        h2o_accept(&http->peer_accept, pc->sock);
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

static void dispose_h2o(struct node_http *http);

int node_http_start(struct node_http **out, uv_loop_t *loop,
                    const struct node_http_config *cfg, char *err, size_t err_size)
{
        struct node_http *http = calloc(1, sizeof(*http));
        if (http == NULL)
                return -ENOMEM;
        http->cfg = *cfg;
        http->loop = loop;
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
        http->peer_accept = http->accept;
        uv_timer_init(loop, &http->reap);
        http->reap.data = http;
        uv_tcp_init(loop, &http->listener);
        http->listener.data = http;
        http->listening = true;
        int rc = cfg->tls_cert != NULL ? setup_tls(http, err, err_size) : 0;
        bool told = rc != 0;
        if (rc == 0)
                rc = uv_tcp_bind(&http->listener, cfg->address, 0);
        if (rc == 0)
                rc = uv_listen((uv_stream_t *)&http->listener, 256, node_http_on_accept);
        if (rc != 0) {
                if (!told)
                        snprintf(err, err_size, "API: %s", uv_strerror(rc));
                /* At start-up, outside every loop callback: h2o's context is
                 * disposed now, its handles and ours close with callbacks,
                 * and the last close (the reap handle's, one loop turn after
                 * h2o's) frees http. */
                http->start_failed = true;
                node_http_close(http, NULL);
                dispose_h2o(http);
                return rc;
        }
        *out = http;
        return 0;
}

static void free_http(struct node_http *http)
{
        free(http->tokens);
        free(http->buckets);
        free(http->peers);
        free(http);
}

/* Disposes h2o's context: closes h2o's own handles (its timers; its queue's
 * async handle, with the callback that frees the queue).  Never from a loop
 * callback: some h2o versions run the loop inside h2o_context_dispose. */
static void dispose_h2o(struct node_http *http)
{
        http->disposed = true;
        h2o_context_dispose(&http->context);
        h2o_config_dispose(&http->config);
        if (http->ssl != NULL)
                SSL_CTX_free(http->ssl);
        http->ssl = NULL;
}

/* Every connection and the listener are closed: the node's count is told
 * (its loop may end); after a failed start, http is freed, h2o's handle
 * closes having run a loop turn before. */
static void on_reaped(uv_handle_t *handle)
{
        struct node_http *http = handle->data;
        struct node_closing *g = http->closed;
        http->closed = NULL;
        http->reaped = true;
        if (http->start_failed)
                free_http(http);
        if (g != NULL)
                node_closing_release(g);
}

static void on_listener_closed(uv_handle_t *handle)
{
        struct node_http *http = handle->data;
        http->listening = false;
        node_http_check_closed(http);
}

void node_http_check_closed(struct node_http *http)
{
        if (!http->closing || http->listening || http->drained || http->conns != NULL ||
            http->peer_conns != NULL)
                return;
        http->drained = true;
        uv_close((uv_handle_t *)&http->reap, on_reaped);
}

bool node_http_dispose(struct node_http *http)
{
        if (http == NULL || !http->reaped || http->disposed)
                return false; /* not closed (the safety net ended the loop) */
        dispose_h2o(http);
        /* h2o's handle closes complete here, outside every callback (the
         * loop has ended), before their memory's neighbour goes. */
        uv_run(http->loop, UV_RUN_NOWAIT);
        free_http(http);
        return true;
}

void node_http_close(struct node_http *http, struct node_closing *g)
{
        if (http == NULL || http->closing)
                return;
        http->closing = true;
        http->closed = g;
        if (g != NULL)
                node_closing_hold(g);
        /* New requests on open connections are answered "Connection: close";
         * answers given from now on close their connection.  The flag only:
         * h2o_context_request_shutdown would also arm HTTP/2's GOAWAY timer,
         * which this HTTP/1.1 server has no use for and which would still be
         * pending when the context is disposed. */
        http->context.shutdown_requested = 1;
        uv_close((uv_handle_t *)&http->listener, on_listener_closed);
        node_http_gate_close_all(http);
        /* Connections waiting for a request (idle keep-alive, or a request
         * still arriving) are those on the request-read timeout: expire it
         * now, so that h2o closes them its own way.  Those with a request in
         * flight close once it is answered. */
        h2o_timeout_run(http->context.loop, &http->context.http1.req_timeout, UINT64_MAX);
}
