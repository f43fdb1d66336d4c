/*
 * http.h — the node's HTTP server: h2o on the node's libuv loop.
 *
 * A gate sits in front of h2o: every connection is counted (in total and
 * per source address) and its first request head is read by the node
 * itself, so the bearer token and the route's body limit are checked before
 * any body is read — h2o 2.2 buffers a whole body before it calls a handler.
 * A connection whose request carries no valid token is closed after the
 * answer, so only connections that proved a token read further requests.
 *
 * One h2o handler receives every request and dispatches it through a route
 * table ("GET /v1/zones/{}/rrsets") after checking the bearer token's scope
 * and, for writes, the token's write rate (429 with Retry-After).
 * A route may answer at once or keep the request and answer later (a write
 * waiting for Raft): the request object lives in the h2o request's memory
 * pool and is marked gone when the client disconnects, so a late answer to
 * a vanished client is dropped instead of touching freed memory.
 *
 * Every error is JSON: {"error":{"code":…,"message":…,"field":…}}.
 */
#ifndef NODE_HTTP_H
#define NODE_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "node/closing.h"

#define NODE_HTTP_MAX_PARAMS 4
#define NODE_HTTP_MAX_HEAD   16384 /* request line and headers, at most */

enum node_scope { NODE_SCOPE_NONE = 0, NODE_SCOPE_READ = 1, NODE_SCOPE_ADMIN = 2 };

struct node_http;
struct node_http_request;

typedef void (*node_http_route_fn)(struct node_http_request *request, void *ctx);

struct node_http_route {
        const char *method;  /* "GET", "POST", ... */
        const char *pattern; /* "/v1/zones/{}/rrsets": {} matches one segment */
        enum node_scope scope;
        node_http_route_fn fn;
        bool large_body; /* may carry limits.body_max bytes (import, changes) */
};

/* What a client may make the node hold or do; see README "Security". */
struct node_http_limits {
        size_t body_max;       /* large_body routes */
        size_t small_body_max; /* other routes, with a valid token */
        size_t anon_body_max;  /* requests without a valid token */
        unsigned max_connections;
        unsigned max_connections_per_address;
        unsigned head_timeout_ms;    /* accept to complete first request head */
        unsigned request_timeout_ms; /* h2o: a request (body included), keep-alive idle */
        unsigned write_rate;         /* writes per second per token; 0: unlimited */
        unsigned write_burst;        /* writes a token may make at once */
};

void node_http_limits_default(struct node_http_limits *limits);

struct node_http_token {
        enum node_scope scope;
        char secret[128];
};

/*
 * One request.  The object outlives the h2o request while anyone holds it:
 * a route that answers later calls node_http_hold() before going
 * asynchronous and node_http_release() when done.  Everything pointing into
 * h2o's memory (param, body, query and header values) is valid only until
 * the route returns or the client goes away — copy what is needed later.
 */
struct node_http_request {
        void *h2o_req; /* h2o_req_t; NULL once answered or the client is gone */
        struct node_http *http;
        enum node_scope scope;
        unsigned refs;
        char method[16];
        char *target;                      /* path and query as received (malloc'd) */
        char *param[NODE_HTTP_MAX_PARAMS]; /* decoded {} segments */
        unsigned params;
        const char *body; /* request body (not NUL-terminated) */
        size_t body_len;
        /* A node of the cluster calling over the authenticated side channel
         * (node_http_accept_peer), authenticated by its certificate; 0: a
         * client of the API listener. */
        uint64_t peer_id;
};

void node_http_hold(struct node_http_request *r);
void node_http_release(struct node_http_request *r);

struct node_http_config {
        const struct sockaddr *address;
        const struct node_http_route *routes;
        size_t route_count;
        void *route_ctx;
        const struct node_http_token *tokens;
        size_t token_count;
        const char *tls_cert; /* NULL: plain HTTP */
        const char *tls_key;
        struct node_http_limits limits; /* all zero: node_http_limits_default() */
};

/* Starts serving; returns 0 or a negative error with a one-line reason.
 * Called at start-up, outside every loop callback (a failed start disposes
 * h2o's context at once; what it started closes with callbacks when the
 * loop runs, and nothing is left to the caller). */
int node_http_start(struct node_http **out, uv_loop_t *loop,
                    const struct node_http_config *config, char *err, size_t err_size);
/* Stops accepting, closes idle connections and answers on busy ones with
 * "Connection: close"; once every connection is closed, g (held meanwhile;
 * may be NULL) is released.  h2o's context stays until node_http_dispose:
 * its queue's handle is active, so the owner stops the loop itself (the
 * node does when its closing count reaches zero).  NULL http: nothing. */
void node_http_close(struct node_http *http, struct node_closing *g);
/* After uv_run has returned (outside every loop callback: h2o may run the
 * loop inside its dispose): disposes h2o's context, runs the loop once so
 * that its handles' closes complete, and frees http.  False (nothing done)
 * when http is NULL or its connections were not all closed (a safety net
 * ended the loop): it is then left as it is. */
bool node_http_dispose(struct node_http *http);

/*
 * Serves HTTP/1.1 on fd (taken), a side-channel connection from node `peer`
 * whose certificate the transport has verified (consensus/transport.h).
 * Its requests carry peer_id and need no token: a node relays only
 * requests it has itself authorized, and may register only itself.
 */
void node_http_accept_peer(struct node_http *http, int fd, uint64_t peer);

/* Query parameter `name` (decoded, from the request pool), or NULL. */
const char *node_http_query(struct node_http_request *r, const char *name);
/* Request header value (NUL-terminated copy), or NULL. */
const char *node_http_header(struct node_http_request *r, const char *name);

/* Answers; `body` is taken (json_decref'd). Nothing happens when the client is gone. */
void node_http_reply_json(struct node_http_request *r, int status, json_t *body);
void node_http_reply_text(struct node_http_request *r, int status,
                          const char *content_type, const char *body, size_t len);
void node_http_reply_error(struct node_http_request *r, int status, const char *code,
                           const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Parses the body as a JSON object; answers 400 itself and returns NULL on error. */
json_t *node_http_body_json(struct node_http_request *r);
/* The same parse of any text, on any thread: NULL with the 400's message in
 * err. */
json_t *node_http_json_object(const char *body, size_t len, char *err, size_t errlen);

#endif
