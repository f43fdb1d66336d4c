/*
 * forward_priv.h — what node/forward.c (the exchanges) and
 * node/forward_pool.c (the pools of kept side channels) share: the
 * exchange, the channel and the pool, and the calls between the two files.
 * Not for other modules: their interface is forward.h.
 */
#ifndef NODE_FORWARD_PRIV_H
#define NODE_FORWARD_PRIV_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "node/forward.h"

struct exchange;

/* One side channel of a pool: in use by one exchange (pipe.data is the
 * exchange) or idle in its pool's list (pipe.data is the channel). */
struct channel {
        uv_pipe_t pipe; /* first: the close callback gets the channel */
        struct node_forward_pool *pool;
        struct exchange *x;   /* closed on behalf of this exchange, or NULL */
        struct channel *next; /* the pool's idle list */
        uint64_t idle_since;  /* uv_now */
        char spare[64];       /* what an idle channel reads (nothing, normally) */
};

struct node_forward_pool {
        uv_loop_t *loop;
        node_forward_connect_fn connect;
        void *connect_ctx;
        unsigned idle_ms;     /* none kept idle longer */
        struct channel *idle; /* most recently used first */
        unsigned n_idle;
        unsigned users; /* channels not yet closed + exchanges not yet freed */
        bool closing;
        void (*closed_cb)(void *arg);
        void *closed_arg;
};

/* What node_forward_request.call points to: the exchange, for cancelling;
 * also its links in its group's list of running exchanges. */
struct node_forward_call {
        struct exchange *x;
        struct node_forward_call *prev, *next;
};

struct exchange {
        uv_tcp_t tcp;
        uv_pipe_t pipe;    /* instead of tcp: a side channel to another node */
        uv_stream_t *conn; /* &tcp or &pipe */
        bool connecting;   /* node_forward_via: waiting for the connector */
        uv_timer_t timer;
        uv_connect_t connect;
        uv_write_t write;
        node_forward_cb cb;
        void *ctx;
        char *request;
        size_t request_len;
        char *response;
        size_t len, cap;
        unsigned open_handles;
        int done;
        bool cancelled; /* by its group: cb(-ECANCELED) once the handles closed */
        struct node_forward_group *group; /* until cb ran or the owner cancelled */
        struct node_forward_call self;
        struct node_forward_call **call; /* the owner's pointer to self, or NULL */
        /* Pooled (node_forward_pooled): the channel while the exchange holds
         * it (counted in open_handles), and what reusing one allows. */
        struct node_forward_pool *pool;
        struct channel *ch;
        bool reused;    /* ch served an exchange before */
        bool may_retry; /* safe to send twice: idempotency key or GET */
        bool head;      /* a HEAD request: the answer has no body */
        bool retried;
        bool writing; /* the request's write has not completed */
        bool keep;    /* answered in full, the channel can serve another */
        /* TLS (when the API is served over TLS): OpenSSL on memory BIOs, fed
         * with what uv reads into raw and flushed with uv_write. */
        SSL *ssl;
        BIO *rbio, *wbio;
        bool sent;
        char raw[16384];
};

/* forward.c: one of x's handles (its timer, its connection) is closed. */
void node_forward_exchange_handle_gone(struct exchange *x);

/* forward_pool.c */
/* One user of p less (a channel closed, an exchange freed); frees p when
 * it is closing and that was the last. */
void node_forward_pool_put(struct node_forward_pool *p);
/* A new channel of p (its pipe initialized, counted as a user), or NULL. */
struct channel *node_forward_channel_new(struct node_forward_pool *p);
/* Closes ch; x (or NULL): the exchange whose handle count the close ends. */
void node_forward_channel_close(struct channel *ch, struct exchange *x);
/* Back to its pool's idle list; false when the pool keeps enough (or
 * closes): the caller closes it. */
bool node_forward_channel_idle(struct channel *ch);
/* The most recently used idle channel that is young enough, or NULL. */
struct channel *node_forward_channel_take(struct node_forward_pool *p);

#endif
