/*
 * fsm.h — the raft state machine: log entries in, state changes out.
 *
 * `struct cs_fsm` wraps a `struct cs_state` in a `struct raft_fsm`
 * (version 3: asynchronous snapshots).  apply decodes a command
 * (consensus/command.h) and applies it to the state; it always returns 0 —
 * a non-zero return makes raft 0.15 retry the entry forever (RAFT_NOTES #4)
 * — and reports the outcome through *result: a pointer to the FSM's own
 * `struct cs_result`, valid until the next apply (raft calls the raft_apply
 * callback right after apply, on the leader; followers drop it).  snapshot
 * and restore use consensus/snapshot.h; restore replaces the whole state and
 * calls the observer's `restored` callback.
 *
 * Snapshots are taken in three steps: `snapshot` freezes the state on the
 * loop (nothing copied per zone or record set: copy on write, snapshot.h),
 * `snapshot_async` takes and encodes the frozen view on raft's thread pool
 * while the loop goes on applying, and
 * `snapshot_finalize` frees the view on the loop.  A 1,000,000-record state
 * took the loop 0.6–0.8 s to encode in one go; heartbeats stalled that long
 * start elections.  The encoding holds one of libuv's four pool threads
 * (shared with raft's disk writes) for that long; raft starts no second
 * snapshot meanwhile.  With a raft instance, each snapshot (when it ends)
 * sets raft's threshold (and trailing entries) for the next from its size
 * (CS_FSM_ITEMS_PER_ENTRY), so that a write pays the same share of
 * snapshots at 10 or 1,000,000 zones; never below the configured values.
 * raft_uv must be told it can run async work
 * (io.version = 2, RAFT_NOTES), which consensus/replica.c does.  With an io
 * that cannot (raft_fixture), clear raft_fsm.snapshot_async before
 * raft_init: `snapshot` then freezes and encodes at once.
 *
 * An apply that cannot complete (out of memory: the command is valid but
 * the state could not take it) is not reported to raft as applied: apply
 * returns RAFT_NOMEM, every later apply does the same without touching the
 * state, and failed_cb (if set) runs once, inside raft's apply, so it may
 * only schedule the node's stop.  The node re-applies the entry from its
 * log after a restart.  A test build (QDNS_FAULT_HOOKS) makes the Nth
 * change batch applied by the process fail so when the environment has
 * QDNS_FAULT_APPLY_NOMEM=N (injected before the state is touched).
 *
 * raft's apply does not say which index it applies; the FSM asks the raft
 * instance given to cs_fsm_set_raft (last applied + 1), or counts entries
 * when there is none (tests that drive the FSM directly).
 */
#ifndef CONSENSUS_FSM_H
#define CONSENSUS_FSM_H

#include <raft.h>

#include "consensus/snapshot.h"
#include "consensus/state.h"

struct cs_fsm {
        struct raft_fsm raft_fsm; /* give &fsm->raft_fsm to raft_init */
        struct cs_state *state;   /* borrowed */
        struct raft *raft;        /* borrowed, may be NULL */
        uint64_t applied;         /* index fallback without raft */
        struct cs_result result;  /* outcome of the last apply */
        char errmsg[256];         /* last snapshot/restore error */
        struct cs_frozen *frozen; /* the snapshot being encoded, or NULL */
        bool failed;              /* an apply could not complete: fail-stop */
        char failmsg[300];        /* which entry and why */
        void (*failed_cb)(struct cs_fsm *fsm);
        unsigned threshold_min; /* raft's configured snapshot threshold */
        unsigned trailing_min;  /* and trailing entries */
        /* Snapshot pacing: one entry between snapshots per this many objects
         * of the state; 0: CS_FSM_ITEMS_PER_ENTRY (tests set their own). */
        unsigned items_per_entry;
        /* The log after the last snapshot, which a restart applies in one
         * go on the loop: the CPU time its entries took to apply here, and
         * the budget past which a snapshot is taken at the configured
         * threshold instead of the state's (0: CS_FSM_TAIL_BUDGET_MS). */
        uint64_t tail_ns;
        uint64_t tail_budget_ns;
        bool tail_full; /* the budget is spent: raft's threshold lowered */
        /* The CPU time the last snapshot's encoding took on raft's worker
         * (encode_ns is written there; finalize copies it to the loop's
         * snapshot_cpu_ns).  The budget is at least CS_FSM_TAIL_PER_SNAPSHOT
         * times it, so that snapshots brought forward cost each entry a
         * bounded share of its own apply, whatever the size of the state. */
        uint64_t encode_ns;
        bool encoded;   /* the encoding of the snapshot under way has run */
        bool cancelled; /* cs_fsm_cancel_snapshot: the node is stopping */
        uint64_t snapshot_cpu_ns;
        /* The bytes of the last snapshot's LZ4 frame (written on raft's
         * worker, read there next time): the next one's output starts that
         * large instead of growing to it. */
        size_t encoded_bytes;
        /* The snapshot under way: raft's index at the freeze, the tail as it
         * was then (ended by the snapshot only once it is written), and,
         * when encoded at once, the objects it held (for pacing). */
        uint64_t snapshot_index;
        uint64_t tail_frozen_ns;
        size_t snapshot_items;
        /* For /metrics (on the loop): snapshots finalized, and the time
         * from freezing to finalizing (encoded and written), in total. */
        uint64_t snapshots;
        uint64_t snapshot_ns_total;
        /* ... and the zones they held: copied as the last snapshot packed
         * them (consensus/segments.h), or packed anew. */
        uint64_t snapshot_zones_kept, snapshot_zones_packed;
        uint64_t snapshot_started_ns;
};

/* Snapshot pacing: one entry between snapshots per this many objects of the
 * state (zones, record sets, change records); see fsm.c. */
#define CS_FSM_ITEMS_PER_ENTRY 16

/* What a restart may have to apply after its snapshot: once the entries
 * since the last snapshot took this much CPU time to apply, the next
 * snapshot comes at raft's configured threshold (see fsm.c). */
#define CS_FSM_TAIL_BUDGET_MS 1000

/* ... but never less than this many times the CPU time of the last
 * snapshot's encoding: a snapshot brought forward then costs the entries
 * since the last one at most a quarter of what applying them cost. */
#define CS_FSM_TAIL_PER_SNAPSHOT 4

/* On the loop, when the node stops: a snapshot being encoded stops soon
 * (raft's close waits for its work; at a million zones it takes seconds)
 * and is not written, and no other is started. */
void cs_fsm_cancel_snapshot(struct cs_fsm *fsm);

/* state is borrowed and must outlive the FSM. */
int cs_fsm_init(struct cs_fsm *fsm, struct cs_state *state);
void cs_fsm_set_raft(struct cs_fsm *fsm, struct raft *raft);
void cs_fsm_close(struct cs_fsm *fsm);

/* Decodes and applies one entry, as apply does; returns the result. */
const struct cs_result *cs_fsm_apply_entry(struct cs_fsm *fsm, const void *buf,
                                           size_t len, uint64_t index);

#endif
