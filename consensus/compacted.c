/*
 * compacted.c — trims an AppendEntries that reaches below this replica's
 * snapshot (see compacted.h).
 *
 * The trim wraps `raft_io.start` to stand between raft_uv and raft's
 * receive callback; every message goes through, and only an AppendEntries
 * whose previous index is below the snapshot's is changed: its entries up
 * to the snapshot's index are dropped (their batches freed unless a kept
 * entry shares one; raft frees the rest as usual) and the snapshot's index
 * and term become its previous ones.
 */
#include "consensus/compacted.h"

#include <string.h>

#include "common/log.h"
#include "consensus/replica.h"

static struct consensus_replica *replica_of(struct raft_io *io)
{
        struct raft *raft = io->data; /* raft_init sets it, raft.data is ours */
        return raft->data;
}

bool consensus_compacted_trim(struct raft_append_entries *args, raft_index snapshot_index,
                              raft_term snapshot_term)
{
        if (args->prev_log_index >= snapshot_index)
                return false;
        raft_index covered = snapshot_index - args->prev_log_index;
        unsigned drop = covered < args->n_entries ? (unsigned)covered : args->n_entries;
        void *kept = drop < args->n_entries ? args->entries[drop].batch : NULL;
        void *freed = NULL;
        for (unsigned i = 0; i < drop; i++) { /* a batch spans consecutive entries */
                void *batch = args->entries[i].batch;
                if (batch != NULL && batch != freed && batch != kept) {
                        raft_free(batch);
                        freed = batch;
                }
        }
        if (drop == args->n_entries) {
                raft_free(args->entries);
                args->entries = NULL;
        } else if (drop > 0) {
                memmove(args->entries, args->entries + drop,
                        (args->n_entries - drop) * sizeof(*args->entries));
        }
        args->n_entries -= drop;
        args->prev_log_index = snapshot_index;
        args->prev_log_term = snapshot_term;
        return true;
}

void consensus_compacted_recv(struct raft_io *io, struct raft_message *message)
{
        struct consensus_replica *r = replica_of(io);
        if (message->type == RAFT_IO_APPEND_ENTRIES) {
                struct raft_append_entries *args = &message->append_entries;
                raft_index prev = args->prev_log_index;
                unsigned n = args->n_entries;
                if (consensus_compacted_trim(args, r->raft.log.snapshot.last_index,
                                             r->raft.log.snapshot.last_term)) {
                        r->compacted.trimmed++;
                        LOG_DEBUG("raft: an append from node %llu after index %llu (%u "
                                  "entries) reached below the snapshot at %llu; %u kept",
                                  (unsigned long long)message->server_id,
                                  (unsigned long long)prev, n,
                                  (unsigned long long)args->prev_log_index,
                                  args->n_entries);
                }
        }
        r->compacted.recv(io, message);
}

static int compacted_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                           raft_io_recv_cb recv)
{
        struct consensus_replica *r = replica_of(io);
        r->compacted.recv = recv;
        return r->compacted.start(io, msecs, tick, consensus_compacted_recv);
}

void consensus_compacted_install(struct consensus_replica *r)
{
        r->compacted.start = r->io.start;
        r->io.start = compacted_start;
}
