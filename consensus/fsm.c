/*
 * fsm.c — raft_fsm callbacks over the replicated state (see fsm.h).
 *
 * One switch dispatches a decoded command to the state operation; an entry
 * that does not decode is a failed result, never a crash and never an error
 * returned to raft.
 */
#include "consensus/fsm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "consensus/command.h"
#include "consensus/snapshot.h"

#ifdef QDNS_FAULT_HOOKS
/* Test builds: QDNS_FAULT_APPLY_NOMEM=N fails the Nth change batch applied
 * by this process as if its first allocation had failed. */
static bool fault_apply_nomem(const struct cs_command *cmd, struct cs_result *res)
{
        static long countdown = -1;
        if (cmd->type != CS_CMD_CHANGE_BATCH)
                return false;
        if (countdown < 0) {
                const char *env = getenv("QDNS_FAULT_APPLY_NOMEM");
                countdown = env != NULL ? strtol(env, NULL, 10) : 0;
                if (countdown < 0)
                        countdown = 0;
        }
        if (countdown == 0 || --countdown > 0)
                return false;
        res->status = -ENOMEM;
        snprintf(res->message, sizeof(res->message),
                 "out of memory applying the batch (injected: QDNS_FAULT_APPLY_NOMEM)");
        return true;
}
#endif

static void dispatch(struct cs_state *st, const struct cs_command *cmd, uint64_t index,
                     struct cs_result *res)
{
        struct cs_ctx ctx = cs_command_ctx(cmd, index);
#ifdef QDNS_FAULT_HOOKS
        if (fault_apply_nomem(cmd, res))
                return;
#endif
        if (st->stagings != NULL)
                cs_state_stage_expire(st, ctx.timestamp_ms);
        switch (cmd->type) {
        case CS_CMD_STAGE_BEGIN:
                cs_state_stage_begin(st, &ctx, &cmd->u.stage_begin, res);
                break;
        case CS_CMD_STAGE_CHUNK:
                cs_state_stage_chunk(st, &ctx, &cmd->u.stage_chunk, res);
                break;
        case CS_CMD_STAGE_COMMIT:
                cs_state_stage_commit(st, &ctx, cmd->u.stage_id, res);
                break;
        case CS_CMD_STAGE_ABORT:
                cs_state_stage_abort(st, &ctx, cmd->u.stage_id, res);
                break;
        case CS_CMD_STAGE_COPY:
                cs_state_stage_copy(st, &ctx, cmd->u.stage_id, res);
                break;
        case CS_CMD_ZONE_CREATE:
                cs_state_zone_create(st, &ctx, &cmd->u.zone_create, res);
                break;
        case CS_CMD_ZONE_DELETE:
                cs_state_zone_delete(st, &ctx, cmd->u.zone_delete.origin,
                                     cmd->u.zone_delete.origin_len,
                                     cmd->u.zone_delete.force, res);
                break;
        case CS_CMD_CHANGE_BATCH:
                cs_state_batch_apply(st, &ctx, &cmd->u.batch, res);
                break;
        case CS_CMD_CHANGES_SYNCED:
                cs_state_changes_synced(st, &ctx, cmd->u.synced_index, res);
                break;
        case CS_CMD_MEMBER_PUT:
                cs_state_member_put(st, &ctx, &cmd->u.member, res);
                break;
        case CS_CMD_MEMBER_REMOVE:
                cs_state_member_remove(st, &ctx, cmd->u.member_id, res);
                break;
        case CS_CMD_HEALTH_PUT:
                cs_state_health_put(st, &ctx, &cmd->u.health_put, res);
                break;
        case CS_CMD_HEALTH_DELETE:
                cs_state_health_delete(st, &ctx, cmd->u.health_id, res);
                break;
        case CS_CMD_HEALTH_VOTES:
                cs_state_health_votes(st, &ctx, &cmd->u.health_votes, res);
                break;
        case CS_CMD_HEALTH_MANUAL:
                cs_state_health_manual(st, &ctx, cmd->u.health_manual.id,
                                       cmd->u.health_manual.healthy, res);
                break;
        case CS_CMD_HEALTH_HEARTBEAT:
                cs_state_health_heartbeat(st, &ctx, cmd->u.health_id, res);
                break;
        case CS_CMD_LATENCY_PUT:
                cs_state_latency_put(st, &ctx, &cmd->u.latency, res);
                break;
        case CS_CMD_LATENCY_DELETE:
                cs_state_latency_delete(st, &ctx, &cmd->u.latency, res);
                break;
        case CS_CMD_LATENCY_MEASURED:
                cs_state_latency_measured(st, &ctx, &cmd->u.latency, res);
                break;
        case CS_CMD_CIDR_CREATE:
                cs_state_cidr_create(st, &ctx, cmd->u.cidr_create.id,
                                     cmd->u.cidr_create.name, res);
                break;
        case CS_CMD_CIDR_DELETE:
                cs_state_cidr_delete(st, &ctx, cmd->u.cidr_id, res);
                break;
        case CS_CMD_CIDR_CHANGE:
                cs_state_cidr_change(st, &ctx, &cmd->u.cidr_change, res);
                break;
        default: /* the decoder rejects unknown types */
                res->status = -EPROTO;
                snprintf(res->message, sizeof(res->message), "unknown command type");
                break;
        }
}

const struct cs_result *cs_fsm_apply_entry(struct cs_fsm *fsm, const void *buf,
                                           size_t len, uint64_t index)
{
        struct cs_command cmd;
        struct cs_result *res = &fsm->result;
        cs_result_reset(res);
        res->index = index;
        fsm->applied = index;
        int rv = cs_command_decode(buf, len, &cmd, res->message, sizeof(res->message));
        if (rv != 0) {
                res->status = rv;
                fsm->state->last_index = index;
                LOG_WARN("raft entry %llu rejected: %s", (unsigned long long)index,
                         res->message);
        } else {
                dispatch(fsm->state, &cmd, index, res);
        }
        cs_command_free(&cmd);
        return res;
}

static uint64_t thread_cpu_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A restart applies the log after its snapshot in one go on the loop (raft
 * applies every committed entry it has in one call), answering nothing
 * meanwhile.  The threshold that follows the state lets that log grow to
 * one entry per CS_FSM_ITEMS_PER_ENTRY objects: ~256,000 entries at
 * 1,000,000 zones, 5-7 s of applying at a restart.  So the CPU time the
 * entries since the last snapshot took to apply is counted, and once it
 * passes the budget the next snapshot comes at the configured threshold
 * (raft checks it right after this apply).  A restart then applies about a
 * budget's worth of work; where the threshold that follows the state comes
 * first (entries cheap to apply, or a smaller state), nothing changes.
 *
 * A snapshot brought forward costs what the state's size costs to encode
 * and compress (at 1,000,000 zones about a second of CPU), and every node
 * pays it: a 1 s budget alone made each upsert at that size pay a snapshot
 * per ~60,000 entries, and cost 15 % of the write rate.  So the budget is
 * at least CS_FSM_TAIL_PER_SNAPSHOT times the last encoding's CPU time:
 * what a snapshot costs each entry stays a bounded share of what applying
 * the entry cost, at any size.
 */
static uint64_t tail_budget(const struct cs_fsm *fsm)
{
        uint64_t budget = fsm->tail_budget_ns
                              ? fsm->tail_budget_ns
                              : (uint64_t)CS_FSM_TAIL_BUDGET_MS * 1000000u;
        uint64_t scaled = fsm->snapshot_cpu_ns * CS_FSM_TAIL_PER_SNAPSHOT;
        return scaled > budget ? scaled : budget;
}

static void bound_tail(struct cs_fsm *fsm, uint64_t ns)
{
        uint64_t budget = tail_budget(fsm);
        fsm->tail_ns += ns;
        /* threshold_min == 0: not paced yet, raft's threshold is the
         * configured one already. */
        if (fsm->raft == NULL || fsm->tail_full || fsm->tail_ns < budget ||
            fsm->threshold_min == 0 ||
            fsm->raft->snapshot.threshold <= fsm->threshold_min)
                return;
        fsm->tail_full = true;
        LOG_INFO("snapshot: the %llu entries since the last one took %.0f ms to apply; "
                 "the next one comes at %u entries instead of %u",
                 (unsigned long long)(raft_last_applied(fsm->raft) -
                                      fsm->raft->log.snapshot.last_index),
                 (double)fsm->tail_ns / 1e6, fsm->threshold_min,
                 fsm->raft->snapshot.threshold);
        raft_set_snapshot_threshold(fsm->raft, fsm->threshold_min);
}

static int fsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
        struct cs_fsm *fsm = rf->data;
        if (fsm->failed)
                return RAFT_NOMEM; /* the node is stopping: apply nothing more */
        uint64_t index = fsm->raft ? raft_last_applied(fsm->raft) + 1 : fsm->applied + 1;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        uint64_t cpu0 = thread_cpu_ns();
        const struct cs_result *res = cs_fsm_apply_entry(fsm, buf->base, buf->len, index);
        uint64_t cpu = thread_cpu_ns() - cpu0;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (ms >= 10)
                LOG_DEBUG("raft entry %llu (%zu bytes) applied in %.1f ms",
                          (unsigned long long)index, buf->len, ms);
        if (res->status == -ENOMEM) {
                /* Not a rejection of the command: this replica could not take
                 * it.  Reporting it applied would leave the replica silently
                 * without the change (and counted in sync). */
                fsm->failed = true;
                snprintf(fsm->failmsg, sizeof(fsm->failmsg),
                         "applying raft entry %llu could not complete: %s",
                         (unsigned long long)index, res->message);
                LOG_ERROR("%s; this node stops (fail-stop) without counting the entry "
                          "as applied, and applies it from its log when restarted",
                          fsm->failmsg);
                if (fsm->failed_cb != NULL)
                        fsm->failed_cb(fsm);
                return RAFT_NOMEM;
        }
        bound_tail(fsm, cpu);
        *result = (void *)res;
        return 0;
}

/*
 * A snapshot costs the size of the state (the encoding and the write), so
 * taken every `threshold` entries its cost per entry grows with the state:
 * at 20,000 zones it halved the write rate.  The threshold therefore follows
 * the state: at least the configured one, and one entry per
 * CS_FSM_ITEMS_PER_ENTRY objects, so that each entry pays for a constant
 * share of the next snapshot whatever the size of the catalog.  Set when a
 * snapshot ends (finalize: the view knows the size it encoded).
 */
static void pace_snapshots(struct cs_fsm *fsm, size_t items)
{
        if (fsm->raft == NULL)
                return;
        if (fsm->threshold_min == 0) {
                fsm->threshold_min = fsm->raft->snapshot.threshold;
                fsm->trailing_min = fsm->raft->snapshot.trailing;
        }
        size_t per = fsm->items_per_entry ? fsm->items_per_entry : CS_FSM_ITEMS_PER_ENTRY;
        size_t want = items / per;
        /* Up to a quarter more, by node: the nodes reach the threshold at
         * the same index, and three freezes and encodings of a large state
         * at once on shared cores stalled every loop together.  Nodes 1, 2
         * and 3 get 5, 10 and 15 sixty-fourths: evenly apart (with 7, nodes
         * 1 and 3 got 7 and 5 and still snapshotted together at 1.2 M zones,
         * their loops held 1.5 s at once, and three elections followed). */
        want += want * (size_t)((fsm->raft->id * 5) % 16) / 64;
        if (want > UINT32_MAX / 2)
                want = UINT32_MAX / 2;
        /* A tail whose budget is spent (a snapshot that was not written
         * leaves it so) keeps the next snapshot at the configured
         * threshold, not the paced one. */
        raft_set_snapshot_threshold(
            fsm->raft, want > fsm->threshold_min && !fsm->tail_full ? (unsigned)want
                                                                    : fsm->threshold_min);
        /* The entries kept after a snapshot follow too: a follower a second
         * behind a bulk load (thousands of entries) catches up from the log
         * instead of installing the whole state, which takes its loop
         * seconds at 100,000 zones and cost elections. */
        raft_set_snapshot_trailing(
            fsm->raft, want > fsm->trailing_min ? (unsigned)want : fsm->trailing_min);
}

/* For /metrics: the zones of an encoded view, kept or packed anew. */
static void count_zones(struct cs_fsm *fsm)
{
        fsm->snapshot_zones_kept += cs_snapshot_frozen_kept_zones(fsm->frozen);
        fsm->snapshot_zones_packed += cs_snapshot_frozen_packed_zones(fsm->frozen);
}

static int encode_snapshot(struct cs_fsm *fsm, struct raft_buffer *bufs[],
                           unsigned *n_bufs);

/* On the loop: freeze the state; raft then runs fsm_snapshot_async on its
 * thread pool and fsm_snapshot_finalize back on the loop. */
static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
        struct cs_fsm *fsm = rf->data;
        *bufs = NULL;
        *n_bufs = 0;
        if (fsm->frozen != NULL) {
                /* raft does not start one while another is pending: a view
                 * left behind means finalize was skipped, and compaction
                 * stops until the node restarts. */
                LOG_WARN("raft snapshot refused: the previous one was not finalized");
                return RAFT_BUSY;
        }
        if (fsm->cancelled) /* the node is stopping: no more snapshots */
                return RAFT_BUSY;
        if (fsm->state->stagings != NULL) {
                /* No snapshot holds a staged import: raft asks again at the
                 * next entry (RAFT_BUSY is its "not now"), and a staging ends
                 * within CS_STAGING_IDLE_MS of its last entry. */
                return RAFT_BUSY;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (cs_snapshot_freeze(fsm->state, &fsm->frozen) != 0) {
                snprintf(fsm->errmsg, sizeof(fsm->errmsg), "snapshot: out of memory");
                LOG_ERROR("%s", fsm->errmsg);
                return RAFT_NOMEM;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        /* The tail this snapshot would take over: it ends only once the
         * snapshot is written (finalize); the entries applied from now on
         * are counted on top and stay when it ends. */
        fsm->snapshot_index = fsm->raft ? raft_last_applied(fsm->raft) : fsm->applied;
        fsm->tail_frozen_ns = fsm->tail_ns;
        fsm->encoded = false; /* until this snapshot's encoding has run */
        fsm->snapshot_started_ns =
            (uint64_t)t0.tv_sec * 1000000000u + (uint64_t)t0.tv_nsec;
        LOG_INFO("snapshot: frozen at index %llu in %.3f ms",
                 (unsigned long long)fsm->state->last_index,
                 (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
        if (rf->version >= 3 && rf->snapshot_async != NULL)
                return 0;
        /* Synchronous (an io without async work): encode now; nothing reads
         * the view afterwards. */
        int rv = encode_snapshot(fsm, bufs, n_bufs);
        fsm->snapshot_items = cs_snapshot_frozen_items(fsm->frozen);
        if (rv == 0)
                count_zones(fsm);
        cs_snapshot_thaw(fsm->state, fsm->frozen);
        fsm->frozen = NULL;
        return rv;
}

/*
 * Encodes the frozen view on the calling thread: raft's pool thread, or the
 * loop where an io has no async work.  (Run at nice +10 on a thread of its
 * own, it made no measurable difference to the writes around it, and the
 * applying thread waits on the walk's lock while the encoder holds it, so a
 * preempted low-priority encoder can stall the loop: BENCHMARKS.md.)
 */
static int encode_snapshot(struct cs_fsm *fsm, struct raft_buffer *bufs[],
                           unsigned *n_bufs)
{
        void *data;
        size_t len;
        uint64_t cpu0 = thread_cpu_ns();
        /* Compressed as it is packed (lz4frame.h): raft writes the frame
         * as it is (replica.c's snapshot_put_framed). */
        int rv =
            cs_snapshot_encode_frozen_lz4(fsm->frozen, fsm->encoded_bytes, &data, &len);
        fsm->encode_ns = thread_cpu_ns() - cpu0;
        if (rv == 0)
                fsm->encoded_bytes = len;
        fsm->encoded = rv == 0; /* a failed encoding says nothing of the cost */
        if (rv != 0)
                return rv == -ENOMEM      ? RAFT_NOMEM
                       : rv == -ECANCELED ? RAFT_CANCELED
                                          : RAFT_IOERR;
        *bufs = malloc(sizeof(**bufs));
        if (*bufs == NULL) {
                free(data);
                return RAFT_NOMEM;
        }
        (*bufs)[0].base = data;
        (*bufs)[0].len = len;
        *n_bufs = 1;
        return 0;
}

/* On raft's thread pool: reads only the frozen view. */
static int fsm_snapshot_async(struct raft_fsm *rf, struct raft_buffer *bufs[],
                              unsigned *n_bufs)
{
        return encode_snapshot(rf->data, bufs, n_bufs);
}

void cs_fsm_cancel_snapshot(struct cs_fsm *fsm)
{
        /* For good: raft goes on applying while its close waits for log
         * writes in flight, and the cancelled snapshot leaves the log past
         * the threshold, so raft would start another at once. */
        fsm->cancelled = true;
        if (fsm->frozen != NULL)
                cs_snapshot_frozen_cancel(fsm->frozen);
}

/* The log up to a snapshot is gone: so is its share of the tail (`ns` of
 * it; a restore meanwhile may have ended more already). */
static void end_tail(struct cs_fsm *fsm, uint64_t ns)
{
        fsm->tail_ns -= ns < fsm->tail_ns ? ns : fsm->tail_ns;
        fsm->tail_full = false;
}

/*
 * Whether the snapshot being finalized was written.  raft 0.15 calls
 * finalize whatever became of the snapshot (encoding failed, the write
 * could not start or failed, or it was written) and says nothing of which;
 * only once it is written does raft compact its log up to the snapshot's
 * index (takeSnapshotCb: logSnapshot, then finalize).  A snapshot installed
 * from the leader meanwhile compacts it further.  Without raft (tests that
 * drive the FSM alone) nothing is paced and every snapshot counts as taken.
 */
static bool snapshot_written(const struct cs_fsm *fsm)
{
        return fsm->raft == NULL ||
               fsm->raft->log.snapshot.last_index >= fsm->snapshot_index;
}

/* On the loop, after every successful fsm_snapshot, whatever became of it:
 * raft leaves the buffers to us once written (FSM version >= 2). */
static int fsm_snapshot_finalize(struct raft_fsm *rf, struct raft_buffer *bufs[],
                                 unsigned *n_bufs)
{
        struct cs_fsm *fsm = rf->data;
        if (*bufs != NULL) {
                for (unsigned i = 0; i < *n_bufs; i++)
                        free((*bufs)[i].base);
                free(*bufs);
        }
        *bufs = NULL;
        *n_bufs = 0;
        if (snapshot_written(fsm)) {
                /* The log up to the snapshot is gone: so is its share of
                 * the tail, and the entries applied since the freeze are the
                 * new one (which may have spent the budget already). */
                end_tail(fsm, fsm->tail_frozen_ns);
        }
        fsm->tail_frozen_ns = 0;
        /* raft's worker is done with it; a snapshot whose encoding never
         * ran (raft could not queue the work) says nothing of the cost. */
        bool encoded = fsm->encoded;
        if (encoded)
                fsm->snapshot_cpu_ns = fsm->encode_ns;
        fsm->encoded = false;
        /* The view (or, encoded at once, its count) knows the size of the
         * state it encoded. */
        size_t items = fsm->frozen != NULL ? cs_snapshot_frozen_items(fsm->frozen)
                                           : fsm->snapshot_items;
        if (!fsm->cancelled) /* a cancelled view holds only part of it */
                pace_snapshots(fsm, items);
        bound_tail(fsm, 0);
        if (fsm->frozen != NULL && !encoded && fsm->cancelled)
                LOG_INFO("snapshot: the encoding of %zu objects stopped (the node "
                         "is stopping)",
                         items);
        else if (fsm->frozen != NULL && !encoded)
                LOG_WARN("snapshot: the encoding of %zu objects failed", items);
        else if (fsm->frozen != NULL)
                LOG_INFO("snapshot: %zu objects encoded (%.1f MB compressed, %.0f ms "
                         "of CPU), %zu zones of them kept as the last snapshot "
                         "packed them (%zu segments), %zu taken on the loop (copy "
                         "on write); next after %u entries",
                         items, (double)fsm->encoded_bytes / 1e6,
                         (double)fsm->snapshot_cpu_ns / 1e6,
                         cs_snapshot_frozen_kept_zones(fsm->frozen),
                         cs_snapshot_frozen_kept_segments(fsm->frozen),
                         cs_snapshot_frozen_loop_items(fsm->frozen),
                         fsm->raft ? fsm->raft->snapshot.threshold : 0);
        if (fsm->frozen != NULL && encoded)
                count_zones(fsm);
        cs_snapshot_thaw(fsm->state, fsm->frozen);
        fsm->frozen = NULL;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        fsm->snapshots++;
        fsm->snapshot_ns_total += (uint64_t)now.tv_sec * 1000000000u +
                                  (uint64_t)now.tv_nsec - fsm->snapshot_started_ns;
        return 0;
}

/* The objects a snapshot of the state would hold, as pace_snapshots counts
 * them. */
static size_t restored_items(const struct cs_state *st)
{
        return cs_state_zone_count(st) + cs_state_rrset_count(st) +
               cs_state_change_count(st);
}

static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
        struct cs_fsm *fsm = rf->data;
        struct cs_state fresh;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        uint64_t cpu0 = thread_cpu_ns();
        cs_state_init(&fresh);
        int rv = cs_snapshot_decode(buf->base, buf->len, &fresh, fsm->errmsg,
                                    sizeof(fsm->errmsg));
        uint64_t decode_ns = thread_cpu_ns() - cpu0;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (rv != 0) {
                LOG_ERROR("raft snapshot restore failed: %s", fsm->errmsg);
                cs_state_fini(&fresh);
                return rv == -ENOMEM ? RAFT_NOMEM : RAFT_CORRUPT;
        }
        if (cs_state_move(fsm->state, &fresh) != 0) {
                snprintf(fsm->errmsg, sizeof(fsm->errmsg), "restore: out of memory");
                cs_state_fini(&fresh);
                return RAFT_NOMEM;
        }
        fsm->applied = fsm->state->last_index;
        /* At every restore (a restart, or a snapshot installed from the
         * leader) the decoding's cost stands for the encoding's in the tail's
         * budget, until this node encodes one of its own: half of it, as
         * decoding costs 2-3.5x as much (tools/bench/zones_restore).
         * Otherwise the log applied right after a restart would find the
         * budget at its floor and bring a snapshot of the whole state
         * forward at once. */
        fsm->snapshot_cpu_ns = decode_ns / 2;
        /* The restored snapshot replaces the log up to its index: the tail
         * ends there, and the threshold follows the restored state's size
         * (a follower sent the leader's snapshot, or a restart). */
        end_tail(fsm, fsm->tail_ns);
        fsm->tail_frozen_ns = 0;
        if (fsm->raft != NULL)
                pace_snapshots(fsm, restored_items(fsm->state));
        LOG_INFO("snapshot at index %llu (%zu bytes, %zu zones) decoded in %.0f ms",
                 (unsigned long long)fsm->state->last_index, buf->len,
                 cs_state_zone_count(fsm->state),
                 (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
        raft_free(buf->base); /* ours on success */
        const struct cs_observer *obs = &fsm->state->observer;
        if (obs->restored)
                obs->restored(obs->ctx, fsm->state);
        const struct cs_health_observer *hobs = &fsm->state->health.observer;
        if (hobs->restored)
                hobs->restored(hobs->ctx, fsm->state);
        const struct cs_latency_observer *lobs = &fsm->state->latency.observer;
        if (lobs->changed)
                lobs->changed(lobs->ctx, fsm->state);
        const struct cs_cidr_observer *cobs = &fsm->state->cidr.observer;
        if (cobs->restored)
                cobs->restored(cobs->ctx, fsm->state);
        /* Much of the heap is free now (the encoded snapshot, the replaced
         * state): the node's heap tick hands it back once writes are quiet
         * (node/heap.h), on a worker thread, as after any burst. */
        return 0;
}

int cs_fsm_init(struct cs_fsm *fsm, struct cs_state *state)
{
        memset(fsm, 0, sizeof(*fsm));
        fsm->state = state;
        cs_result_init(&fsm->result);
        fsm->raft_fsm.version = 3;
        fsm->raft_fsm.data = fsm;
        fsm->raft_fsm.apply = fsm_apply;
        fsm->raft_fsm.snapshot = fsm_snapshot;
        fsm->raft_fsm.restore = fsm_restore;
        fsm->raft_fsm.snapshot_finalize = fsm_snapshot_finalize;
        fsm->raft_fsm.snapshot_async = fsm_snapshot_async;
        return 0;
}

/*
 * raft_start has restored the snapshot (if any) by now, and raft's
 * threshold is still the configured one: a node restarted with a large
 * state would take a snapshot of all of it as soon as it applied that many
 * entries (at 1,000,000 zones, seconds of its CPU while it publishes the
 * restored state).  Paced from the restored state's size, as the next
 * snapshot would have done.
 */
void cs_fsm_set_raft(struct cs_fsm *fsm, struct raft *raft)
{
        fsm->raft = raft;
        size_t items = restored_items(fsm->state);
        if (raft != NULL && items > 0)
                pace_snapshots(fsm, items);
}

void cs_fsm_close(struct cs_fsm *fsm)
{
        /* raft's close waits for its async work, so nothing encodes now. */
        cs_snapshot_thaw(fsm->state, fsm->frozen);
        fsm->frozen = NULL;
        cs_result_fini(&fsm->result);
}
