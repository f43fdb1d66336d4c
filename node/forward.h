/*
 * forward.h — relaying a write from a follower to the leader's API.
 *
 * libraft does not forward proposals, so a follower sends the client's
 * request as it came (method, path and query, token, idempotency key, body)
 * to the leader's HTTP API and relays the answer.  A small HTTP/1.1 client
 * on the node's loop: one connection per request ("Connection: close"),
 * or a pool of keep-alive side channels per peer (node_forward_pooled); a
 * deadline, and the response read to the end.
 */
#ifndef NODE_FORWARD_H
#define NODE_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

/* An exchange in flight (see node_forward_request.call). */
struct node_forward_call;

/*
 * The exchanges one owner started (node_forward_request.group), so that its
 * closer ends all of them at once (node_forward_group_cancel).  Zeroed is
 * ready to use.
 */
struct node_forward_group {
        struct node_forward_call *first; /* running: may still be answered */
        unsigned pending;                /* whose callback has not run yet */
        bool cancelled;                  /* no new exchange is started */
        void (*drained_cb)(struct node_forward_group *g);
};

struct node_forward_request {
        const char *method;
        const char *target;          /* path and query */
        const char *authorization;   /* may be NULL */
        const char *idempotency_key; /* may be NULL */
        const char *content_type;    /* may be NULL */
        const char *body;
        size_t body_len;
        unsigned timeout_ms;
        bool relayed; /* a client's request relayed to the leader: not relayed again */
        /* Optional: set to the exchange while it runs, so that its owner can
         * cancel it; set to NULL again just before cb runs. */
        struct node_forward_call **call;
        /* Optional: the exchange belongs to this group until its callback
         * ran (or its owner cancelled it). */
        struct node_forward_group *group;
};

/*
 * status: the leader's HTTP status, or a negative error (cannot connect,
 * timeout, malformed answer).  body/len: the answer's body (borrowed for
 * the duration of the callback).
 */
typedef void (*node_forward_cb)(void *ctx, int status, const char *content_type,
                                const char *body, size_t len);

/*
 * Talk TLS to every peer from now on, trusting the certificates in
 * trust_file (PEM; the nodes' certificate or its CA).  0 or -EINVAL.
 */
int node_forward_use_tls(const char *trust_file, char *err, size_t err_size);

/*
 * Returns 0 (cb will be called exactly once) or a negative error (never):
 * -ESHUTDOWN once req->group was cancelled.  The one exception: when something else
 * closed the exchange's handles (the node's final sweep of its loop), the loop is ending
 * and cb is not called.
 */
int node_forward(uv_loop_t *loop, const struct sockaddr *leader_api,
                 const struct node_forward_request *req, node_forward_cb cb, void *ctx);

/*
 * Abandons an exchange in flight: its connection is closed and its callback
 * is never called.  What the peer does with a request already sent is
 * unknown to the caller (a relayed write is retried with the same
 * idempotency key).
 */
void node_forward_cancel(struct node_forward_call *call);

/*
 * Ends every exchange of g still running, as libuv cancels requests: each
 * callback runs once, later on the loop (never from within this call), with
 * -ECANCELED; and no exchange is started in g any more (-ESHUTDOWN).
 * Returns how many callbacks are still to run: when more than 0,
 * drained_cb(g) runs once after the last of them, else never.  What a
 * peer does with a request already sent is unknown to the caller.
 */
unsigned node_forward_group_cancel(struct node_forward_group *g,
                                   void (*drained_cb)(struct node_forward_group *g));

/*
 * The same exchange, in plain HTTP, over a stream that `connect` opens: a
 * side channel to another node, authenticated and encrypted by the raft
 * transport.  connect(connect_ctx, done, arg) returns 0 and later calls
 * done(arg, 0, fd) with a connected descriptor (taken) or done(arg,
 * -errno, -1); or it returns a negative error and never calls done.  cb
 * runs exactly once.
 */
typedef int (*node_forward_connect_fn)(void *connect_ctx,
                                       void (*done)(void *arg, int status, int fd),
                                       void *arg);
int node_forward_via(uv_loop_t *loop, node_forward_connect_fn connect, void *connect_ctx,
                     const struct node_forward_request *req, node_forward_cb cb,
                     void *ctx);

/*
 * A pool of keep-alive side channels to one peer: exchanges reuse its idle
 * channels (HTTP/1.1 keep-alive) instead of opening one each, which over
 * the authenticated transport costs a TLS handshake on both nodes.  At most
 * NODE_FORWARD_POOL_IDLE are kept idle, none longer than idle_ms (see
 * node_forward_pool_idle_ms); `connect` (as for node_forward_via, with
 * connect_ctx) opens new ones.  NULL when out of memory.
 */
#define NODE_FORWARD_POOL_IDLE    8
#define NODE_FORWARD_POOL_IDLE_MS 20000
struct node_forward_pool;
struct node_forward_pool *node_forward_pool_new(uv_loop_t *loop,
                                                node_forward_connect_fn connect,
                                                void *connect_ctx, unsigned idle_ms);

/*
 * How long a pool may keep a channel idle when the peers' API closes a
 * connection idle for api_idle_ms (api-request-timeout, which all members
 * share): two thirds of it, so that a request rarely meets a channel its
 * peer is closing, and never more than NODE_FORWARD_POOL_IDLE_MS.
 */
unsigned node_forward_pool_idle_ms(unsigned api_idle_ms);

/*
 * node_forward_via over a channel of pool p: 0 (cb runs exactly once) or a
 * negative error (it never runs): -ESHUTDOWN once req->group was cancelled
 * or p is closing.  A request that is safe to send twice (an idempotency
 * key, or GET/HEAD) and meets a reused channel its peer has closed is sent
 * again on a new channel, once.
 */
int node_forward_pooled(struct node_forward_pool *p,
                        const struct node_forward_request *req, node_forward_cb cb,
                        void *ctx);

/* How many channels p holds idle (for tests). */
unsigned node_forward_pool_idle(const struct node_forward_pool *p);

/*
 * Closes p: its idle channels now, those in use when their exchange ends
 * (exchanges in flight run on; cancel them through their group).  Returns
 * 0 when p is freed already (closed_cb never runs), else closed_cb(arg)
 * runs once, later on the loop, after p is freed and each of its channels
 * closed and freed.  No exchange may be started on p afterwards.
 */
unsigned node_forward_pool_close(struct node_forward_pool *p,
                                 void (*closed_cb)(void *arg), void *arg);

#endif
