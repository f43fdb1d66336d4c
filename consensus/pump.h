/*
 * pump.h — one connection of the authenticated raft transport, inside the
 * consensus module (transport.c accepts and connects; pump.c moves the
 * bytes).  Not a public interface.
 *
 * A connection owns a TCP handle to the peer, a handshake timer, the
 * channel session and, once the peer is authenticated, our end of a
 * socketpair whose other end raft (or a side channel's owner) has.  It
 * moves through
 *   CONN_SECURE   channel handshake (certificates),
 *   CONN_HELLO    accepting side only: reading raft_uv's handshake,
 *   CONN_OPEN     pumping bytes both ways,
 *   CONN_CLOSING  handles closing; freed when the last one has closed.
 */
#ifndef CONSENSUS_PUMP_H
#define CONSENSUS_PUMP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "consensus/transport.h"

#define MAX_HANDSHAKES          64 /* incoming connections not yet authenticated, at most */
#define MAX_HANDSHAKES_PER_HOST 8 /* of them from one address */

enum cs_conn_state { CONN_SECURE, CONN_HELLO, CONN_OPEN, CONN_CLOSING };

struct cs_transport;

struct cs_conn {
        struct cs_transport *t;
        struct cs_conn *prev, *next;
        uv_tcp_t tcp;
        uv_pipe_t pipe; /* our end of the socketpair, once CONN_OPEN */
        uv_timer_t timer;
        struct consensus_channel *ch;
        enum cs_conn_state state;
        bool accepting;
        bool pipe_open;
        bool tcp_paused, pipe_paused;
        bool draining;    /* one side ended: the other is flushed, then closed */
        unsigned handles; /* open handles */
        raft_id id;       /* connect: the node asked for; accept: the certificate's */
        char peer[64];
        struct sockaddr_storage peer_addr; /* accepting side */
        struct raft_uv_connect *req;       /* connect side, until its callback */
        raft_uv_connect_cb cb;
        bool side;                         /* a side channel, not raft */
        unsigned kind;                     /* of side channel */
        consensus_side_connect_cb side_cb; /* connect side, until called */
        void *side_ctx;
        unsigned char hello[24 + CONSENSUS_HELLO_ADDRESS_MAX];
        size_t hello_len;
        char *chunk; /* what both streams read into (READ_CHUNK), once one has read */
        uint64_t peer_took_ms; /* uv_now when a write to the peer last completed */
        uint64_t stall_due_ms; /* when the stall check is due (pump.c) */
};

struct cs_transport {
        struct raft_uv_transport *raft;
        uv_loop_t *loop;
        const struct consensus_channel_ops *ops;
        raft_id id;
        char address[CONSENSUS_HELLO_ADDRESS_MAX];
        struct sockaddr_storage self; /* our raft address (source of connects) */
        bool bind_source;
        uv_tcp_t listener;
        bool listening;
        raft_uv_accept_cb accept_cb;
        consensus_side_accept_cb side_accept;
        void *side_ctx;
        bool (*admit)(void *ctx, raft_id id); /* raft connections; NULL: all */
        void *admit_ctx;
        bool closing;
        raft_uv_transport_close_cb close_cb;
        struct cs_conn *conns;
        unsigned handshaking;
        uint64_t stalled;    /* connections closed for a peer that took nothing */
        uint64_t log_second; /* rate limit of refusal logs */
        unsigned logged, unlogged;
};

/* A connection of t, not yet connected or accepted; NULL: no memory. */
struct cs_conn *cs_conn_new(struct cs_transport *t, bool accepting);
/* Opens the channel session and starts reading; the deadline runs. */
int cs_conn_start(struct cs_conn *c);
/* Moves whatever can move (see pump.c). */
void cs_conn_pump(struct cs_conn *c);
/* Closes c; it is freed, and a pending connect callback fires, once its
 * handles have closed. */
void cs_conn_close(struct cs_conn *c);
/* Closes c and logs why (rate-limited), naming the peer. */
void cs_conn_refuse(struct cs_conn *c, const char *why);
/* "IP:PORT" of the peer of tcp. */
void cs_conn_peer_text(uv_tcp_t *tcp, char *out, size_t n);
/* Fires the transport's close callback once nothing is left open. */
void cs_transport_maybe_closed(struct cs_transport *t);

#endif
