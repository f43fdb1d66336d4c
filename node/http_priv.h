/*
 * http_priv.h — what http.c (requests, routes, tokens) and http_gate.c
 * (connections, caps, the first request head) share about the server.
 */
#ifndef NODE_HTTP_PRIV_H
#define NODE_HTTP_PRIV_H

#include <h2o.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "node/http.h"

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
        h2o_accept_ctx_t
            peer_accept; /* side channels: plain HTTP, the transport is the TLS */
        struct peer_conn *peer_conns; /* side-channel connections from other nodes */
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
        struct conn *conns; /* every accepted connection until its TCP handle closed */
        /* Closing (node_http_close): the listener, then every connection,
         * then the reap handle (drained: its close asked; reaped: done, and
         * `closed` released); h2o's context is disposed and http freed by
         * node_http_dispose after the loop ended (a failed start disposes at
         * once and frees http in on_reaped). */
        uv_loop_t *loop;
        bool closing, listening, drained, reaped, disposed, start_failed;
        uv_timer_t reap;
        struct node_closing *closed; /* released once reaped, or NULL */
};

/* One accepted connection: the socket h2o reads, and the gate's deadline. */
struct conn {
        uv_tcp_t tcp; /* handed to h2o, which closes it */
        uv_timer_t timer;
        struct node_http *http;
        h2o_socket_t *sock;
        unsigned char addr[16];
        unsigned open_handles;
        bool gated;               /* the gate still judges the first request */
        bool counted;             /* in the connection counts */
        struct conn *prev, *next; /* in http->conns */
        char reply[512];
};

struct handler {
        h2o_handler_t super;
        struct node_http *http;
};

/* The reason phrase of an HTTP status. */
const char *node_http_reason(int status);
/* The best scope a bearer header value grants; *index: the token's, or -1. */
enum node_scope node_http_scope_of(struct node_http *http, const char *value, size_t len,
                                   int *index);
/* Matches path segments against a route pattern; collects {} segments in r. */
bool node_http_route_match(const char *pattern, char **seg, size_t nseg,
                           struct node_http_request *r);
/* The listener's connection callback (http_gate.c). */
void node_http_on_accept(uv_stream_t *listener, int status);
/* Closes every connection still under the gate (node_http_close). */
void node_http_gate_close_all(struct node_http *http);
/* A connection or the listener has closed: when closing and none is left,
 * h2o's context is disposed and the server freed (http.c). */
void node_http_check_closed(struct node_http *http);

#endif
