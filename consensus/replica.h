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

#include "consensus/compacted.h"
#include "consensus/logfence.h"
#include "consensus/transport.h"

/*
 * What raft reports, mapped once (here) into negative values below -4096,
 * so that they never collide with a negative errno (which callers also
 * pass around, e.g. -ENOMEM).  consensus_strerror names both kinds.
 */
#define CONSENSUS_ERROR_BASE 4096
enum consensus_error {
        CONSENSUS_E_NOT_LEADER = -(CONSENSUS_ERROR_BASE + 1), /* nothing was written */
        /* written to the log, then the leadership was lost or the replica
         * closed: the outcome is unknown (it may still commit) */
        CONSENSUS_E_LEADERSHIP_LOST = -(CONSENSUS_ERROR_BASE + 2),
        CONSENSUS_E_SHUTDOWN = -(CONSENSUS_ERROR_BASE + 3), /* closing: refused */
        /* a log write failed (full disk, I/O error): the node stops */
        CONSENSUS_E_STORAGE = -(CONSENSUS_ERROR_BASE + 4),
        /* a membership change is still in progress */
        CONSENSUS_E_CHANGE_BUSY = -(CONSENSUS_ERROR_BASE + 5),
        /* a membership change names a member wrongly (duplicate id or
         * address, unknown id, a role it has) */
        CONSENSUS_E_BAD_MEMBER = -(CONSENSUS_ERROR_BASE + 6),
        CONSENSUS_E_TOO_BIG = -(CONSENSUS_ERROR_BASE + 7), /* or badly aligned */
        CONSENSUS_E_RAFT = -(CONSENSUS_ERROR_BASE + 8),    /* any other raft error */
};

/* A raft return or callback status (RAFT_..., 0) as 0, -ENOMEM or a
 * consensus_error. */
int consensus_error_of_raft(int raft_status);
/* A one-line description of 0, a consensus_error or a negative errno. */
const char *consensus_strerror(int status);
/* Whether a failed proposal's entry may still commit (retry with the same
 * request id): the leadership was lost after the append, the replica
 * closed, or the log write failed. */
bool consensus_outcome_unknown(int status);

/* Roles in raft's configuration (the values are raft's). */
enum consensus_role {
        CONSENSUS_VOTER = RAFT_VOTER,
        CONSENSUS_STANDBY = RAFT_STANDBY,
        CONSENSUS_SPARE = RAFT_SPARE, /* kept in the configuration, not replicated to */
};

/* The role this replica plays now. */
enum consensus_state {
        CONSENSUS_UNAVAILABLE = 0,
        CONSENSUS_FOLLOWER,
        CONSENSUS_CANDIDATE,
        CONSENSUS_LEADER,
};

struct consensus_member {
        raft_id id;
        const char *address; /* raft "ip:port" */
        int role;            /* enum consensus_role */
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
        bool raft_closed;   /* ... and raft_close's callback came */
        uint64_t drain_deadline;
        /* A failed log write (logfence.h: no more proposals), or raft
         * turned unavailable while nobody closed it (libraft does so when
         * a step it took failed, and then ignores every message):
         * failed_cb(replica) runs once, from the loop, with the reason in
         * `failure`; the owner should stop the node. */
        struct consensus_logfence fence;
        /* Appends reaching below the snapshot, trimmed (compacted.h). */
        struct consensus_compacted compacted;
        /* The io's own snapshot_put (replica.c wraps it: frames as they
         * are, anything else compressed by raft). */
        int (*snapshot_put)(struct raft_io *io, unsigned trailing,
                            struct raft_io_snapshot_put *req,
                            const struct raft_snapshot *snapshot,
                            raft_io_snapshot_put_cb cb);
        void (*failed_cb)(struct consensus_replica *replica);
        bool failed_told;
        char failure[512];
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
 * here; cb(ctx, a consensus_error, NULL) when it failed.  Returns 0, or a
 * negative error (then cb is never called): CONSENSUS_E_NOT_LEADER,
 * CONSENSUS_E_SHUTDOWN once consensus_replica_close was called,
 * CONSENSUS_E_STORAGE once a log write failed, CONSENSUS_E_TOO_BIG, -ENOMEM.
 */
int consensus_replica_propose(struct consensus_replica *replica, void *buf, size_t len,
                              consensus_proposal_cb cb, void *ctx);

bool consensus_replica_is_leader(struct consensus_replica *replica);
enum consensus_state consensus_replica_state(struct consensus_replica *replica);
/* "leader", "candidate", "follower" or "unavailable". */
const char *consensus_state_name(enum consensus_state state);
/* The leader this replica knows (0: none) and its raft address (may be NULL). */
raft_id consensus_replica_leader(struct consensus_replica *replica, const char **address);
uint64_t consensus_replica_term(struct consensus_replica *replica);
uint64_t consensus_replica_applied(struct consensus_replica *replica);
uint64_t consensus_replica_commit_index(struct consensus_replica *replica);
uint64_t consensus_replica_last_index(struct consensus_replica *replica);
/* The last index the newest snapshot covers (0: none yet). */
uint64_t consensus_replica_snapshot_index(struct consensus_replica *replica);
/* Connections to peers closed because the peer stopped reading
 * (consensus_transport_stalled; 0 with the plaintext transport). */
uint64_t consensus_replica_peer_stalls(struct consensus_replica *replica);

/*
 * Raft's configuration: the newest in this replica's log (committed or
 * not).  member_count is 0 on a node that waits to be added; member_at
 * fills *out (the address borrowed until the configuration changes).
 */
size_t consensus_replica_member_count(struct consensus_replica *replica);
void consensus_replica_member_at(struct consensus_replica *replica, size_t i,
                                 struct consensus_member *out);
/* The member with that id (*out may be NULL); false when there is none. */
bool consensus_replica_member_find(struct consensus_replica *replica, raft_id id,
                                   struct consensus_member *out);

/*
 * Membership changes (leader only).  add: the node joins raft's
 * configuration as a spare, then takes `role` once it is in (one change
 * at a time, as raft asks); a member already in the configuration is left
 * as it is.  remove: an id not in the configuration needs nothing.  Either
 * returns 0, and cb runs once, later, from the loop (0, a consensus_error
 * or -ENOMEM; also when nothing was needed), or a negative error, and cb
 * is never called.
 */
typedef void (*consensus_change_cb)(void *ctx, int status);
int consensus_replica_member_add(struct consensus_replica *replica, raft_id id,
                                 const char *address, enum consensus_role role,
                                 consensus_change_cb cb, void *ctx);
int consensus_replica_member_remove(struct consensus_replica *replica, raft_id id,
                                    consensus_change_cb cb, void *ctx);

/* Refuses new proposals, waits (at most 500 ms) until no log write is in
 * flight, then closes raft, its log and transport; close_cb when they are
 * closed.  Their memory is freed by consensus_replica_release. */
void consensus_replica_close(struct consensus_replica *replica,
                             void (*close_cb)(struct consensus_replica *replica));

/* Frees raft's io and transport after consensus_replica_close's callback,
 * once the loop has run dry (uv_run returned with nothing left to close):
 * libraft 0.15 may still touch them from late close callbacks until then.
 * Also before starting the same replica again.  Idempotent. */
void consensus_replica_release(struct consensus_replica *replica);

#endif
