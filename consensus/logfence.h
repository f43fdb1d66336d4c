/*
 * logfence.h — a failed raft log write stops the replica instead of letting
 * libraft 0.15 "recover" from it.
 *
 * When a log append fails (disk full, I/O error), libraft 0.15's leader
 * truncates the entries from its in-memory log although it stays leader in
 * the same term, and followers may already hold them: the next entries reuse
 * those indexes with other contents (divergence), and when several appends
 * fail together each one truncates again and the second dereferences freed
 * entries (the segfault seen with a full disk).  A follower rejects the
 * entries but keeps them in memory.  No path is safe, so the fence sits
 * between raft and its io: it wraps `raft_io.append`, passes every
 * successful write back to raft, and on the first failure keeps the failed
 * request from raft (raft never sees the error), swallows every later append
 * (nothing more is written), marks the replica failed and tells the owner
 * (from the replica's timer, never from inside raft's io callback), who
 * stops the node.  What is on disk stays a valid prefix of the log, from
 * which the node recovers on its next start.
 *
 * Writes held this way never complete: their raft requests are leaked on
 * purpose (the process is about to exit) and stay reachable from the fence.
 */
#ifndef CONSENSUS_LOGFENCE_H
#define CONSENSUS_LOGFENCE_H

#include <raft.h>
#include <stdbool.h>

struct consensus_logfence_req; /* one append raft has in flight */

struct consensus_logfence {
        int (*append)(struct raft_io *io, struct raft_io_append *req,
                      const struct raft_entry entries[], unsigned n,
                      raft_io_append_cb cb); /* the io's own */
        struct consensus_logfence_req *inflight;
        struct consensus_logfence_req *held; /* never completed (after a failure) */
        bool failed;
        int status;        /* the raft code of the first failure */
        char message[256]; /* what failed, for the log and the owner */
};

struct consensus_replica;

/* Puts the fence between the replica's raft and its io (after raft_uv_init,
 * before raft_init). */
void consensus_logfence_install(struct consensus_replica *replica);

#endif
