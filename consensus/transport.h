/*
 * transport.h — an authenticated raft transport: libraft's raft_uv_transport
 * over a secure channel (TLS with node certificates, supplied by the caller).
 *
 * raft_uv only reads and writes the stream a transport hands it.  This one
 * hands raft one end of a socketpair; the other end is pumped, on the node's
 * loop, through a channel session whose encrypted side is the TCP connection
 * to the peer:
 *
 *   raft ⇄ socketpair ⇄ channel (encrypt/decrypt) ⇄ TCP ⇄ peer
 *
 * Connecting: TCP from this node's own raft address (so per-node firewall
 * rules match), the channel handshake, which must prove that the server is
 * the node raft asked for, then raft_uv's handshake (protocol 1, our id, our
 * address) inside the channel, then the stream goes to raft.
 *
 * Accepting: the channel handshake, which must authenticate the client and
 * name its node id; then raft_uv's handshake is read from the channel and the
 * id it claims must be that id.  Until then nothing the peer sent reaches
 * raft: a connection that fails any step, or takes longer than
 * CONSENSUS_TRANSPORT_HANDSHAKE_MS, is closed and logged with the peer's
 * address.
 *
 * The channel is a function table (struct consensus_channel_ops), so this
 * module does not depend on a TLS library; node/identity.c implements it
 * with OpenSSL.
 */
#ifndef CONSENSUS_TRANSPORT_H
#define CONSENSUS_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "consensus/hello.h"

#define CONSENSUS_TRANSPORT_HANDSHAKE_MS 5000

struct consensus_channel; /* one session, the implementation's */

/* What the transport needs from a secure channel.  Sessions work on memory
 * buffers (no sockets, no blocking): bytes received are given to input(),
 * bytes to send are taken with output(). */
struct consensus_channel_ops {
        void *ctx;
        /* A new session; accepting: this side accepted the connection,
         * otherwise it connects and the server must prove to be node
         * expect_id.  NULL when out of memory. */
        struct consensus_channel *(*open)(void *ctx, bool accepting, raft_id expect_id);
        /* Takes bytes received from the peer: 0, or a negative error. */
        int (*input)(struct consensus_channel *ch, const void *buf, size_t len);
        /* Advances the handshake: 0 when done and the peer is authenticated
         * as node *peer_id; -EAGAIN when it needs more input; another
         * negative error when the peer is refused (reason in why). */
        int (*handshake)(struct consensus_channel *ch, raft_id *peer_id, char *why,
                         size_t why_size);
        /* Decrypted bytes: their number, -EAGAIN when none are ready, 0 when
         * the peer closed, another negative error when the session failed. */
        ssize_t (*read)(struct consensus_channel *ch, void *buf, size_t cap);
        /* Encrypts all of buf: 0, or a negative error. */
        int (*write)(struct consensus_channel *ch, const void *buf, size_t len);
        /* Moves at most cap bytes to send into buf; returns how many. */
        size_t (*output)(struct consensus_channel *ch, void *buf, size_t cap);
        void (*close)(struct consensus_channel *ch);
};

/*
 * Makes t a raft_uv_transport whose connections go through `ops` (borrowed;
 * must outlive the transport).  Give t to raft_uv_init.  raft_uv closes it;
 * release it afterwards with consensus_transport_fini.  Returns 0 or
 * -ENOMEM.
 */
int consensus_transport_init(struct raft_uv_transport *t, uv_loop_t *loop,
                             const struct consensus_channel_ops *ops);

/*
 * The side channel: byte streams between nodes, authenticated exactly as
 * raft's connections are, for the nodes' calls to each other's API.  The
 * stream is a connected socket descriptor (one end of a socketpair pumped
 * through the channel); it is the receiver's to close.
 *
 * accepted(ctx, kind, peer, fd): a node, authenticated as `peer`, opened
 * one of this kind (the caller's own meaning).  Without an accept
 * callback, side-channel connections are refused.
 */
typedef void (*consensus_side_accept_cb)(void *ctx, unsigned kind, raft_id peer, int fd);
void consensus_transport_side_listen(struct raft_uv_transport *t,
                                     consensus_side_accept_cb accepted, void *ctx);

/* Opens a side channel to node `id` at raft address `address`; id 0 accepts
 * any node of the cluster (its id is passed to cb).  cb(ctx, 0, peer, fd)
 * once the server is authenticated, or cb(ctx, -errno, 0, -1).  Returns 0
 * (cb will run exactly once, never before this returns) or a negative
 * error (cb never runs).  Only once the transport is listening. */
typedef void (*consensus_side_connect_cb)(void *ctx, int status, raft_id peer, int fd);
int consensus_transport_side_connect(struct raft_uv_transport *t, unsigned kind,
                                     raft_id id, const char *address,
                                     consensus_side_connect_cb cb, void *ctx);

/* Raft connections are accepted only from nodes that admit(ctx, id) says
 * belong (the replica: the ids in raft's configuration, or anyone while it
 * has none), so a node removed from the cluster, whose certificate is still
 * valid, cannot talk raft. */
void consensus_transport_admit(struct raft_uv_transport *t,
                               bool (*admit)(void *ctx, raft_id id), void *ctx);

/* Connections closed because the peer took no byte for seconds while
 * raft's messages to it queued (pump.c: STALL_MS). */
uint64_t consensus_transport_stalled(const struct raft_uv_transport *t);

/* Frees what consensus_transport_init allocated (after the transport's
 * close callback, or when raft never used it). */
void consensus_transport_fini(struct raft_uv_transport *t);

#endif
