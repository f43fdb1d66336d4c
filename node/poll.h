/*
 * poll.h — how far each peer has applied the log, asked over one
 * long-lived authenticated side channel per peer.
 *
 * The leader needs every member's applied index (a change is INSYNC once
 * all have applied it) and asks every TICK.  A new TLS connection per
 * question cost ten times the CPU of an idle node; so each peer gets one
 * side channel (kind NODE_SIDE_POLL) that stays open.  The wire is as
 * small as it gets: the asker writes one byte, the peer answers with its
 * applied index as 8 bytes, little endian; one answer per read, whatever
 * was read.  Nothing else is ever sent, so nothing needs parsing.
 */
#ifndef NODE_POLL_H
#define NODE_POLL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "consensus/transport.h"

/* Side-channel kinds of this node (consensus_transport_side_connect). */
enum { NODE_SIDE_HTTP = 0, NODE_SIDE_POLL = 1 };

struct node_poller;

/* status 0: the peer answered `applied`; negative (-errno or a libuv code):
 * the channel could not be opened or ended (refused, reset, closed), so
 * the peer is down now (applied is 0). */
typedef void (*node_poll_cb)(void *ctx, uint64_t peer, uint64_t applied, int status);

/* A poller of node `peer` at raft address `raft` through transport t
 * (borrowed; it must stay open until node_poller_close).  NULL: no memory. */
struct node_poller *node_poller_new(uv_loop_t *loop, struct raft_uv_transport *t,
                                    uint64_t peer, const char *raft, node_poll_cb cb,
                                    void *ctx);

/* Asks once: cb(ctx, peer, applied, 0) when the answer comes.  Opens the
 * channel first if needed (at most once a second), and replaces one that
 * has not answered for 2 s. */
void node_poller_ask(struct node_poller *p);

/* The peer moved: ask at its new raft address from now on. */
void node_poller_set_address(struct node_poller *p, const char *raft);

/* Closes the channel; the poller is freed once it is closed (cb never runs
 * again). */
void node_poller_close(struct node_poller *p);

struct node_poll_server;

/* Answers the polls arriving on fd (taken), with applied(ctx); the answering
 * end is linked into *list (the owner's) until it closes. */
void node_poll_serve(uv_loop_t *loop, int fd, uint64_t (*applied)(void *ctx), void *ctx,
                     struct node_poll_server **list);
/* Closes every answering end in *list (each frees itself in its close
 * callback); applied() is not called again. */
void node_poll_serve_close_all(struct node_poll_server **list);

#endif
