/*
 * compacted.h — an AppendEntries that reaches below this replica's snapshot
 * is trimmed to the entries after it before libraft sees it.
 *
 * libraft 0.15's follower takes an AppendEntries whose previous index is 0
 * as matching, looks up its first entry (index 1), finds it compacted away
 * by a snapshot, and takes it as new: it appends the whole batch at the end
 * of its log under the wrong indexes, fails ("No log entries found at index
 * 1"), turns unavailable and leaves a log that crashes its close.  A leader
 * does send one: libraft drops a follower's next index to 1 when it rejects
 * an append while the leader has no match for it yet (seen in CI after a
 * node restarted and snapshotted while the new leader caught it up).  An
 * earlier previous index below the compacted part is rejected instead, and
 * the leader's probe then walks down to index 1 one entry at a time.
 *
 * Every entry a snapshot covers is committed, and every leader holds the
 * same committed entries, so dropping them changes nothing raft decides:
 * the message becomes the rest of the batch after the snapshot's index,
 * whose term it names as the previous one (a heartbeat when nothing is
 * left), and the follower answers with where its log really ends.
 */
#ifndef CONSENSUS_COMPACTED_H
#define CONSENSUS_COMPACTED_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

struct consensus_compacted {
        int (*start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                     raft_io_recv_cb recv); /* the io's own */
        raft_io_recv_cb recv;               /* raft's */
        uint64_t trimmed;                   /* messages trimmed so far */
};

struct consensus_replica;

/* Puts the trim between the replica's io and raft's receive callback
 * (after raft_uv_init, before raft_init). */
void consensus_compacted_install(struct consensus_replica *replica);

/* Hands one received message to raft, trimmed first; the io calls it, and
 * tests deliver crafted messages through it. */
void consensus_compacted_recv(struct raft_io *io, struct raft_message *message);

/* Trims `args` to the entries after `snapshot_index` when its previous
 * index is below it; entries and their batches dropped are freed
 * (raft_free).  Returns whether anything changed. */
bool consensus_compacted_trim(struct raft_append_entries *args, raft_index snapshot_index,
                              raft_term snapshot_term);

#endif
