/*
 * replica.h — this node's Raft replica: canonical/raft on the node's loop.
 *
 * Wires raft with its libuv back-end (raft_uv for the log and snapshots in
 * the data directory; between nodes the authenticated transport of
 * transport.h, or raft_uv_tcp when plaintext is asked for) in the order libraft 0.15
 * needs, with the settings measured in RAFT_NOTES.md: election timeout
 * 300–500 ms with pre-vote, frequent heartbeats (they carry the commit
 * index to followers, so they bound how fast a change is served everywhere), short
 * reconnect and install-snapshot timeouts, auto-recovery off (a damaged log fails loudly
 * instead of silently dropping committed entries).
 *
 * raft has no leadership callback, so a timer polls state and leader and
 * reports changes.  Proposals are one buffer per raft_apply (the buffer must
 * come from raft_malloc and be padded to 8 bytes by the caller); the
 * callback gets the FSM's result or a raft error.  A proposal that fails
 * with a lost leadership is never retried from inside raft's callback.
 * The FSM may snapshot asynchronously (raft_uv is declared able to run
 * async work).  Closing first waits, at most 500 ms, for log writes in
 * flight to end (libraft 0.15 crashes closing with one in flight).
 */
#ifndef CONSENSUS_REPLICA_H
#define CONSENSUS_REPLICA_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "consensus/logfence.h"
#include "consensus/transport.h"

struct consensus_member {
        raft_id id;
        const char *address; /* raft "ip:port" */
        int role;            /* RAFT_VOTER, RAFT_STANDBY or RAFT_SPARE */
};

struct consensus_replica_config {
        raft_id id;
        const char *address;  /* this node's raft "ip:port" */
        const char *data_dir; /* must exist */
        /* Members to bootstrap with when the data directory is empty; none:
         * wait to be added to an existing cluster. */
        const struct consensus_member *bootstrap;
        size_t bootstrap_count;
        unsigned election_timeout_ms; /* 0: 400 */
        unsigned heartbeat_ms;        /* 0: 15 */
        unsigned snapshot_threshold;  /* 0: 2048 */
        /* Authenticated connections between nodes (consensus/transport.h);
         * borrowed, must outlive the replica.  NULL: raft_uv_tcp, plaintext
         * and unauthenticated (anyone reaching the raft port can commit). */
        const struct consensus_channel_ops *channel;
};

struct consensus_replica;

typedef void (*consensus_role_cb)(struct consensus_replica *replica, int state,
                                  raft_id leader_id, const char *leader_address);
typedef void (*consensus_proposal_cb)(void *ctx, int status, void *result);

struct consensus_replica {
        struct raft raft;
        struct raft_io io;
        struct raft_uv_transport transport;
        uv_loop_t *loop;
        uv_timer_t watch;
        int last_state;
        raft_id last_leader;
        consensus_role_cb role_cb;
        void *data; /* the owner's */
        void (*close_cb)(struct consensus_replica *replica);
        unsigned open;      /* what is initialized, for closing in order */
        bool authenticated; /* transport is consensus/transport.c */
        bool closing;       /* consensus_replica_close was called */
        uint64_t drain_deadline;
        /* A failed log write (logfence.h): no more proposals, and
         * failed_cb(replica) runs once, from the loop, with the reason in
         * fence.message; the owner should stop the node. */
        struct consensus_logfence fence;
        void (*failed_cb)(struct consensus_replica *replica);
        bool failed_told;
        char error[512];
};

/*
 * Starts the replica with `fsm` (borrowed; must outlive the replica).
 * Returns 0, or a negative error with a one-line reason in replica->error;
 * on error nothing is left to close.
 */
int consensus_replica_start(struct consensus_replica *replica, uv_loop_t *loop,
                            struct raft_fsm *fsm,
                            const struct consensus_replica_config *config,
                            consensus_role_cb role_cb);

/*
 * Proposes one command.  buf (from raft_malloc, length a multiple of 8) is
 * taken whatever the outcome.  cb(ctx, 0, result) after the entry is applied
 * here; cb(ctx, -RAFT_..., NULL) when it failed.  Returns 0, or a negative
 * error (then cb is never called), e.g. -RAFT_NOTLEADER, -RAFT_SHUTDOWN
 * once consensus_replica_close was called, or -RAFT_IOERR once a log write
 * failed.
 */
int consensus_replica_propose(struct consensus_replica *replica, void *buf, size_t len,
                              consensus_proposal_cb cb, void *ctx);

bool consensus_replica_is_leader(struct consensus_replica *replica);

/* Refuses new proposals, waits (at most 500 ms) until no log write is in
 * flight, then closes raft, its log and transport; close_cb when everything
 * is gone. */
void consensus_replica_close(struct consensus_replica *replica,
                             void (*close_cb)(struct consensus_replica *replica));

#endif
