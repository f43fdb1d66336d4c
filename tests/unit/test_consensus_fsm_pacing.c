/*
 * test_consensus_fsm_pacing.c — when the raft FSM snapshots: each snapshot
 * sets raft's threshold and trailing entries for the next from the state's
 * size (never below the configured ones); a log since the last snapshot
 * that took the tail budget to apply brings the next one down to the
 * configured threshold; only a written snapshot or a restore ends that
 * tail; the budget follows the last encoding's CPU time, counted once the
 * snapshot is finalized, and after a restore half the decoding's.
 * (test_consensus_fsm.c: apply, snapshot contents, restore, replication.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <raft.h>

#include "consensus/fsm.h"
#include "consensus/snapshot.h"

#include "fsm_fixtures.h"

/* Each snapshot sets raft's threshold and trailing entries for the next one
 * from the size of the state, never below the configured values. */
static void snapshots_are_paced_by_the_size_of_the_state(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        fsm_with_batches(&st, &fsm, false, 100);
        uint8_t origin[256];
        size_t origin_len = to_wire("example.com.", origin);
        size_t items = 1 +
                       cs_zone_rrset_count(cs_state_zone_get(&st, origin, origin_len)) +
                       cs_state_change_count(&st);
        /* Only the snapshot settings of raft are used by the FSM here. */
        struct raft *r = calloc(1, sizeof(*r));
        raft_set_snapshot_threshold(r, 50);
        raft_set_snapshot_trailing(r, 20);
        fsm.raft = r;
        struct raft_buffer *bufs;
        unsigned n_bufs;
        for (unsigned per = 4; per <= 1000; per *= 250) {
                fsm.items_per_entry = per;
                assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
                assert_int_equal(
                    fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs), 0);
                size_t want = items / per;
                assert_int_equal(r->snapshot.threshold, want > 50 ? want : 50);
                assert_int_equal(r->snapshot.trailing, want > 20 ? want : 20);
        }
        assert_true(items / 4 > 50); /* the first round did raise both */
        fsm.raft = NULL;
        free(r);
        cs_fsm_close(&fsm);
        cs_state_fini(&st);
}

/* The calling thread's CPU time, as the FSM measures its own work. */
static uint64_t thread_cpu_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The tail-budget tests' FSM: 100 batches applied, a raft whose configured
 * threshold and trailing are 50 and 20, one object per entry for pacing,
 * a budget nothing spends; snapshots encoded at once or (async) by the
 * test calling snapshot_async. */
static struct raft *tail_fsm_init(struct cs_state *st, struct cs_fsm *fsm, bool async)
{
        fsm_with_batches(st, fsm, async, 100);
        struct raft *r = calloc(1, sizeof(*r));
        assert_non_null(r);
        raft_set_snapshot_threshold(r, 50);
        raft_set_snapshot_trailing(r, 20);
        fsm->raft = r;
        fsm->items_per_entry = 1;
        fsm->tail_budget_ns = UINT64_MAX / 2;
        r->last_applied = fsm->applied; /* the FSM asks raft for the index */
        return r;
}

/* What raft does once a snapshot is written, before finalizing it: the log
 * is compacted up to the snapshot's index (the index when it was taken). */
static void snapshot_written(struct raft *r, raft_index taken_at)
{
        r->log.snapshot.last_index = taken_at;
}

static void tail_fsm_fini(struct cs_state *st, struct cs_fsm *fsm, struct raft *r)
{
        fsm->raft = NULL;
        free(r);
        cs_fsm_close(fsm);
        cs_state_fini(st);
}

/* Once the entries since the last snapshot took the tail budget to apply,
 * raft's threshold drops to the configured one (so that a restart applies
 * about a budget's worth of log after its snapshot); the next snapshot
 * paces it by the state again and starts a new count. */
static void a_costly_tail_brings_the_next_snapshot_forward(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        struct raft *r = tail_fsm_init(&st, &fsm, false);
        struct raft_buffer *bufs;
        unsigned n_bufs;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        snapshot_written(r, r->last_applied);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        unsigned paced = r->snapshot.threshold;
        assert_true(paced > 50);
        apply_buf(&fsm, encode_batch(100, NULL));
        r->last_applied++;
        assert_int_equal(r->snapshot.threshold, paced); /* within the budget */
        assert_false(fsm.tail_full);
        fsm.tail_budget_ns = 1;
        fsm.snapshot_cpu_ns = 0; /* and no floor from the snapshot's cost */
        apply_buf(&fsm, encode_batch(101, NULL));
        r->last_applied++;
        assert_true(fsm.tail_full);
        assert_int_equal(r->snapshot.threshold, 50);
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        snapshot_written(r, r->last_applied);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_false(fsm.tail_full);
        assert_int_equal(fsm.tail_ns, 0);
        assert_true(r->snapshot.threshold >= paced);
        tail_fsm_fini(&st, &fsm, r);
}

/* The same when the budget is spent while a snapshot is being encoded on
 * raft's thread pool: raft takes no snapshot while one is pending, and the
 * paced threshold set as that one ends must not undo the lowered one. */
static void a_tail_spent_during_an_async_snapshot_keeps_the_next_one_forward(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        struct raft *r = tail_fsm_init(&st, &fsm, true);
        struct raft_buffer *bufs;
        unsigned n_bufs;
        /* a first snapshot paces the threshold up */
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        assert_int_equal(fsm.raft_fsm.snapshot_async(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        fsm.encode_ns = 0; /* a budget of tail_budget_ns alone */
        snapshot_written(r, r->last_applied);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_true(r->snapshot.threshold > 50);
        /* the second: frozen, then entries spend the budget, then encoded */
        raft_index taken_at = r->last_applied;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        fsm.tail_budget_ns = 1;
        fsm.snapshot_cpu_ns = 0;
        apply_buf(&fsm, encode_batch(100, NULL));
        r->last_applied++;
        assert_true(fsm.tail_full);
        assert_int_equal(fsm.raft_fsm.snapshot_async(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        fsm.encode_ns = 0; /* a budget of tail_budget_ns alone */
        snapshot_written(r, taken_at);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_int_equal(r->snapshot.threshold, 50);
        assert_true(fsm.tail_full); /* the entry after the freeze is the new tail */
        assert_true(fsm.tail_ns > 0);
        tail_fsm_fini(&st, &fsm, r);
}

/* A snapshot that is not written (its encoding or its write failed: raft
 * finalizes it all the same, without compacting its log) ends no tail: the
 * budget stays spent and the next snapshot comes at the configured
 * threshold; the written one after it keeps, as the new tail, only the
 * entries applied after its freeze. */
static void a_snapshot_not_written_keeps_the_tail(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        struct raft *r = tail_fsm_init(&st, &fsm, true);
        struct raft_buffer *bufs;
        unsigned n_bufs;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        assert_int_equal(fsm.raft_fsm.snapshot_async(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        fsm.encode_ns = 0; /* a budget of tail_budget_ns alone */
        snapshot_written(r, r->last_applied);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_true(r->snapshot.threshold > 50);
        /* the budget is spent */
        fsm.tail_budget_ns = 1;
        apply_buf(&fsm, encode_batch(100, NULL));
        r->last_applied++;
        assert_true(fsm.tail_full);
        uint64_t spent = fsm.tail_ns;
        /* a snapshot frozen, encoded, but not written */
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        assert_int_equal(fsm.raft_fsm.snapshot_async(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        fsm.encode_ns = 0; /* a budget of tail_budget_ns alone */
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_true(fsm.tail_full);
        assert_true(fsm.tail_ns >= spent);
        assert_int_equal(r->snapshot.threshold, 50);
        /* the next one is written; an entry applied while it was encoded
         * is the whole new tail */
        fsm.tail_budget_ns = UINT64_MAX / 2;
        raft_index taken_at = r->last_applied;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        uint64_t before = fsm.tail_ns;
        apply_buf(&fsm, encode_batch(101, NULL));
        r->last_applied++;
        uint64_t during = fsm.tail_ns - before;
        assert_true(during > 0);
        assert_int_equal(fsm.raft_fsm.snapshot_async(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        fsm.encode_ns = 0; /* a budget of tail_budget_ns alone */
        snapshot_written(r, taken_at);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_false(fsm.tail_full);
        assert_int_equal(fsm.tail_ns, during);
        assert_true(r->snapshot.threshold > 50);
        tail_fsm_fini(&st, &fsm, r);
}

/* The budget is at least CS_FSM_TAIL_PER_SNAPSHOT times the last snapshot's
 * encoding: after a costly one, entries that spent the configured budget do
 * not bring the next one forward; after a cheap one they do. */
static void a_costly_snapshot_raises_the_tail_budget(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        struct raft *r = tail_fsm_init(&st, &fsm, false);
        struct raft_buffer *bufs;
        unsigned n_bufs;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_true(fsm.snapshot_cpu_ns > 0); /* the encoding was timed */
        unsigned paced = r->snapshot.threshold;
        assert_true(paced > 50);
        r->last_applied = fsm.applied;
        fsm.tail_budget_ns = 1;
        fsm.snapshot_cpu_ns = UINT64_MAX / 16; /* as if it had taken ages */
        apply_buf(&fsm, encode_batch(100, NULL));
        r->last_applied++;
        assert_false(fsm.tail_full);
        assert_int_equal(r->snapshot.threshold, paced);
        fsm.snapshot_cpu_ns = 0; /* a snapshot that cost nothing */
        apply_buf(&fsm, encode_batch(101, NULL));
        r->last_applied++;
        assert_true(fsm.tail_full);
        assert_int_equal(r->snapshot.threshold, 50);
        tail_fsm_fini(&st, &fsm, r);
}

/* raft_start restores the snapshot before the FSM learns of raft: once it
 * does, the threshold follows the restored state's size at once, so a
 * restarted node does not snapshot its whole state after the configured
 * number of entries. */
static void a_restored_state_paces_the_threshold_when_raft_is_set(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        struct raft *r = tail_fsm_init(&st, &fsm, false);
        fsm.raft = NULL;
        size_t items = cs_state_zone_count(&st) + cs_state_rrset_count(&st) +
                       cs_state_change_count(&st);
        assert_true(items > 50);
        cs_fsm_set_raft(&fsm, r);
        assert_int_equal(r->snapshot.threshold, items);
        assert_int_equal(r->snapshot.trailing, items);
        assert_int_equal(fsm.threshold_min, 50);
        assert_int_equal(fsm.trailing_min, 20);
        tail_fsm_fini(&st, &fsm, r);
}

/* A snapshot restored (sent by the leader, or at a restart) replaces the
 * log up to its index: the tail ends there, a spent budget included, and
 * the threshold follows the restored state's size. */
static void a_restore_ends_the_tail_and_paces_the_threshold(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        struct raft *r = tail_fsm_init(&st, &fsm, false);
        void *snap;
        size_t len;
        assert_int_equal(cs_snapshot_encode(&st, &snap, &len), 0);
        size_t items = cs_state_zone_count(&st) + cs_state_rrset_count(&st) +
                       cs_state_change_count(&st);
        /* pacing starts, then the budget is spent */
        cs_fsm_set_raft(&fsm, r);
        fsm.tail_budget_ns = 1;
        fsm.snapshot_cpu_ns = 0;
        apply_buf(&fsm, encode_batch(100, NULL));
        r->last_applied++;
        assert_true(fsm.tail_full);
        assert_true(fsm.tail_ns > 0);
        assert_int_equal(r->snapshot.threshold, 50);
        fsm.tail_budget_ns = UINT64_MAX / 2;
        struct raft_buffer rb = {raft_malloc(len), len};
        assert_non_null(rb.base);
        memcpy(rb.base, snap, len);
        uint64_t cpu0 = thread_cpu_ns();
        assert_int_equal(fsm.raft_fsm.restore(&fsm.raft_fsm, &rb), 0);
        uint64_t restore_ns = thread_cpu_ns() - cpu0;
        assert_false(fsm.tail_full);
        assert_int_equal(fsm.tail_ns, 0);
        assert_int_equal(r->snapshot.threshold, items);
        /* the decoding, halved, stands for the encoding's cost */
        assert_true(fsm.snapshot_cpu_ns > 0);
        assert_true(fsm.snapshot_cpu_ns <= restore_ns / 2);
        tail_fsm_fini(&st, &fsm, r);

        /* A node whose pacing never started (raft known, nothing restored
         * yet): the restore starts it from raft's configured values. */
        r = tail_fsm_init(&st, &fsm, false);
        assert_int_equal(fsm.threshold_min, 0);
        rb = (struct raft_buffer){raft_malloc(len), len};
        assert_non_null(rb.base);
        memcpy(rb.base, snap, len);
        assert_int_equal(fsm.raft_fsm.restore(&fsm.raft_fsm, &rb), 0);
        assert_int_equal(fsm.threshold_min, 50);
        assert_int_equal(r->snapshot.threshold, items);
        free(snap);
        tail_fsm_fini(&st, &fsm, r);
}

/* The encoding's CPU time, measured on raft's worker, reaches the budget
 * only at finalize; a snapshot whose encoding never ran leaves the last
 * measured cost in place. */
static void the_encoding_time_reaches_the_budget_at_finalize(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        struct raft *r = tail_fsm_init(&st, &fsm, true);
        struct raft_buffer *bufs;
        unsigned n_bufs;
        fsm.snapshot_cpu_ns = 12345;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        assert_int_equal(fsm.raft_fsm.snapshot_async(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        assert_true(fsm.encode_ns > 0);
        assert_int_equal(fsm.snapshot_cpu_ns, 12345); /* the worker's, not yet ours */
        uint64_t measured = fsm.encode_ns;
        snapshot_written(r, r->last_applied);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_int_equal(fsm.snapshot_cpu_ns, measured);
        /* frozen, but raft's worker never encoded it */
        fsm.snapshot_cpu_ns = 777;
        measured = 777;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_int_equal(fsm.snapshot_cpu_ns, measured);
        tail_fsm_fini(&st, &fsm, r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(snapshots_are_paced_by_the_size_of_the_state),
            cmocka_unit_test(a_costly_tail_brings_the_next_snapshot_forward),
            cmocka_unit_test(
                a_tail_spent_during_an_async_snapshot_keeps_the_next_one_forward),
            cmocka_unit_test(a_snapshot_not_written_keeps_the_tail),
            cmocka_unit_test(a_costly_snapshot_raises_the_tail_budget),
            cmocka_unit_test(a_restored_state_paces_the_threshold_when_raft_is_set),
            cmocka_unit_test(a_restore_ends_the_tail_and_paces_the_threshold),
            cmocka_unit_test(the_encoding_time_reaches_the_budget_at_finalize),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
