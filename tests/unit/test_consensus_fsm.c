/*
 * test_consensus_fsm.c — the raft FSM: apply, snapshot, restore, replication.
 *
 * apply always returns 0 and reports rejected entries through *result;
 * a snapshot of a large state restores to an identical state (compared as
 * snapshot bytes); a corrupt snapshot is refused (or, when the corruption is
 * still a valid snapshot, accepted) and a refused one leaves the state alone;
 * an asynchronous snapshot encodes the state as it was when frozen however
 * much changes meanwhile (on another thread too); each snapshot sets raft's
 * threshold and trailing entries for the next from the state's size, and
 * brings it down to the configured one once the log since the last took
 * the tail budget to apply, a tail that only a written snapshot or a
 * restore ends, timed by the encoding once it is finalized; and
 * three raft_fixture
 * servers running this FSM stay identical through
 * 1,000+ batches, a leader kill, a new election and the old leader's return
 * (compared byte for byte through their snapshots).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>

#include "consensus/command.h"
#include "consensus/fsm.h"
#include "consensus/snapshot.h"

#include "consensus_fixtures.h"

static struct raft_buffer encode_zone(const char *origin, const char *id)
{
        struct zone_fixture zf;
        zone_spec(&zf, origin, id, 1);
        struct cs_command c = {.type = CS_CMD_ZONE_CREATE, .timestamp_ms = 1};
        c.u.zone_create = zf.spec;
        struct raft_buffer b;
        assert_int_equal(cs_command_encode(&c, &b), 0);
        return b;
}

/* Batch number n: upserts a few sets and deletes one made two batches ago. */
static struct raft_buffer encode_batch(unsigned n, const char *request_id)
{
        struct abuild ab;
        char owner[64];
        ab_init(&ab, 8, 32);
        for (unsigned k = 0; k < 3; k++) {
                snprintf(owner, sizeof(owner), "n%u-%u.example.com.", n, k);
                struct cs_action *a = ab_add(&ab, CS_ACTION_UPSERT, owner, 1, "", 60 + n);
                ab_a(&ab, a, 10, (uint8_t)(n >> 8), (uint8_t)n, (uint8_t)k);
        }
        if (n >= 2) {
                snprintf(owner, sizeof(owner), "n%u-0.example.com.", n - 2);
                struct cs_action *a =
                    ab_add(&ab, CS_ACTION_DELETE, owner, 1, "", 60 + (n - 2));
                ab_a(&ab, a, 10, (uint8_t)((n - 2) >> 8), (uint8_t)(n - 2), 0);
        }
        uint8_t origin[64];
        size_t ol = to_wire("example.com.", origin);
        struct cs_command c = {.type = CS_CMD_CHANGE_BATCH,
                               .timestamp_ms = 1000 + n,
                               .request_id = request_id};
        c.u.batch = ab_batch(&ab, origin, ol);
        struct raft_buffer b;
        assert_int_equal(cs_command_encode(&c, &b), 0);
        ab_free(&ab);
        return b;
}

static void apply_always_returns_zero_and_reports_through_result(void **state)
{
        struct cs_state st;
        struct cs_fsm fsm;
        cs_state_init(&st);
        cs_fsm_init(&fsm, &st);
        void *result = NULL;
        uint8_t garbage[16] = {0xc1, 1, 2, 3};
        struct raft_buffer b = {garbage, sizeof(garbage)};
        assert_int_equal(fsm.raft_fsm.apply(&fsm.raft_fsm, &b, &result), 0);
        const struct cs_result *res = result;
        assert_int_equal(res->status, -EBADMSG);

        b = encode_batch(0, NULL); /* zone does not exist yet */
        assert_int_equal(fsm.raft_fsm.apply(&fsm.raft_fsm, &b, &result), 0);
        assert_int_equal(((const struct cs_result *)result)->status, -ENOENT);
        raft_free(b.base);

        b = encode_zone("example.com.", "Z1");
        assert_int_equal(fsm.raft_fsm.apply(&fsm.raft_fsm, &b, &result), 0);
        assert_int_equal(((const struct cs_result *)result)->status, 0);
        raft_free(b.base);
        b = encode_batch(0, "req");
        assert_int_equal(fsm.raft_fsm.apply(&fsm.raft_fsm, &b, &result), 0);
        res = result;
        assert_int_equal(res->status, 0);
        assert_int_equal(res->index, 4);
        const struct cs_change *c = cs_state_change_get(&st, res->change_id);
        assert_non_null(c);
        assert_int_equal(c->index, 4);
        raft_free(b.base);
        cs_fsm_close(&fsm);
        cs_state_fini(&st);
}

static size_t big_sets(void)
{
        const char *env = getenv("QDNS_TEST_BIG");
        return env && atoi(env) > 0 ? (size_t)atoi(env) : 200000;
}

static int restored_calls;
static void on_restored(void *ctx, const struct cs_state *st)
{
        restored_calls++;
}

static void snapshot_of_a_large_state_restores_identically(void **state)
{
        struct cs_state st, copy;
        struct cs_result res;
        struct zone_fixture zf;
        struct abuild ab;
        char owner[64];
        size_t total = big_sets(), per = 10000;
        cs_state_init(&st);
        cs_result_init(&res);
        zone_spec(&zf, "example.com.", "Z1", 1);
        struct cs_ctx ctx = {.index = 1, .timestamp_ms = 1};
        assert_int_equal(cs_state_zone_create(&st, &ctx, &zf.spec, &res), 0);
        ab_init(&ab, per, per * 2);
        for (size_t done = 0; done < total; done += per) {
                for (size_t i = done; i < done + per; i++) {
                        snprintf(owner, sizeof(owner), "h%zu.example.com.", i);
                        struct cs_action *a =
                            ab_add(&ab, CS_ACTION_CREATE, owner, i % 3 ? 1 : 16,
                                   i % 5 ? "" : "w", 60);
                        if (i % 3)
                                ab_a(&ab, a, 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                                     (uint8_t)i);
                        else
                                ab_value(&ab, a, "\004text", 5);
                }
                struct cs_batch b = ab_batch(&ab, zf.origin, zf.origin_len);
                ctx.index++;
                ctx.request_id = owner;
                assert_int_equal(cs_state_batch_apply(&st, &ctx, &b, &res), 0);
                ab_reset(&ab);
        }
        struct cs_member_spec m = {3, "n3", "a:1", "a:53", "a:80", CS_ROLE_SPARE};
        assert_int_equal(cs_state_member_put(&st, &ctx, &m, &res), 0);

        void *snap1, *snap2;
        size_t len1, len2;
        assert_int_equal(cs_snapshot_encode(&st, &snap1, &len1), 0);
        assert_int_equal(len1 % 8, 0);

        /* Through the FSM, as raft would: restore takes the buffer. */
        struct cs_fsm fsm;
        struct cs_observer obs = {.restored = on_restored};
        cs_state_init(&copy);
        cs_state_set_observer(&copy, &obs);
        cs_fsm_init(&fsm, &copy);
        struct raft_buffer rb = {raft_malloc(len1), len1};
        memcpy(rb.base, snap1, len1);
        restored_calls = 0;
        assert_int_equal(fsm.raft_fsm.restore(&fsm.raft_fsm, &rb), 0);
        assert_int_equal(restored_calls, 1);
        /* the decoding's CPU time stands for a snapshot's cost in the tail
         * budget until the node encodes one */
        assert_true(fsm.snapshot_cpu_ns > 0);
        assert_int_equal(
            cs_zone_rrset_count(cs_state_zone_get(&copy, zf.origin, zf.origin_len)),
            total + 2);
        assert_int_equal(cs_state_change_count(&copy), cs_state_change_count(&st));
        assert_int_equal(cs_snapshot_encode(&copy, &snap2, &len2), 0);
        assert_int_equal(len1, len2);
        assert_memory_equal(snap1, snap2, len1);

        /* The restored copy keeps working: the next batch gives the same result. */
        struct abuild *abp = &ab;
        struct cs_action *a = ab_add(abp, CS_ACTION_DELETE, "h1.example.com.", 1, "", 60);
        ab_a(abp, a, 10, 0, 0, 1);
        struct cs_batch b = ab_batch(abp, zf.origin, zf.origin_len);
        ctx.index++;
        ctx.request_id = "after";
        assert_int_equal(cs_state_batch_apply(&st, &ctx, &b, &res), 0);
        assert_int_equal(cs_state_batch_apply(&copy, &ctx, &b, &res), 0);
        free(snap1);
        free(snap2);
        assert_int_equal(cs_snapshot_encode(&st, &snap1, &len1), 0);
        assert_int_equal(cs_snapshot_encode(&copy, &snap2, &len2), 0);
        assert_int_equal(len1, len2);
        assert_memory_equal(snap1, snap2, len1);

        free(snap1);
        free(snap2);
        ab_free(&ab);
        cs_fsm_close(&fsm);
        cs_state_fini(&copy);
        cs_state_fini(&st);
        cs_result_fini(&res);
}

/* Upserts the three sets batch n made, with another TTL: new set objects. */
static struct raft_buffer encode_retime(unsigned n, uint32_t ttl)
{
        struct abuild ab;
        char owner[64];
        ab_init(&ab, 4, 8);
        for (unsigned k = 0; k < 3; k++) {
                snprintf(owner, sizeof(owner), "n%u-%u.example.com.", n, k);
                struct cs_action *a = ab_add(&ab, CS_ACTION_UPSERT, owner, 1, "", ttl);
                ab_a(&ab, a, 10, (uint8_t)(n >> 8), (uint8_t)n, (uint8_t)k);
        }
        uint8_t origin[64];
        size_t ol = to_wire("example.com.", origin);
        struct cs_command c = {.type = CS_CMD_CHANGE_BATCH, .timestamp_ms = 5000 + n};
        c.u.batch = ab_batch(&ab, origin, ol);
        struct raft_buffer b;
        assert_int_equal(cs_command_encode(&c, &b), 0);
        ab_free(&ab);
        return b;
}

static void apply_buf(struct cs_fsm *fsm, struct raft_buffer b)
{
        void *result;
        assert_int_equal(fsm->raft_fsm.apply(&fsm->raft_fsm, &b, &result), 0);
        const struct cs_result *applied = result;
        if (applied->status != 0)
                print_error("apply: %s\n", applied->message);
        assert_int_equal(applied->status, 0);
        raft_free(b.base);
}

/* Zone example.com. and batches 0 .. n-1 applied through the FSM. */
static void apply_zone_and_batches(struct cs_fsm *fsm, unsigned n)
{
        apply_buf(fsm, encode_zone("example.com.", "Z1"));
        for (unsigned k = 0; k < n; k++)
                apply_buf(fsm, encode_batch(k, NULL));
}

struct encoder {
        struct cs_fsm *fsm;
        struct raft_buffer *bufs;
        unsigned n;
        int rv;
};

static void *encode_on_a_thread(void *arg)
{
        struct encoder *e = arg;
        e->rv = e->fsm->raft_fsm.snapshot_async(&e->fsm->raft_fsm, &e->bufs, &e->n);
        return NULL;
}

/* raft's asynchronous snapshot: `snapshot` freezes the state, the state goes
 * on changing (sets replaced and deleted, a zone deleted, the whole state
 * replaced by a restore), and `snapshot_async` — afterwards, or on another
 * thread meanwhile — still encodes the state as it was at freeze time.
 * Under ASan a read of anything freed too early fails the test. */
static void async_snapshot_encodes_the_state_at_freeze_time(void **state)
{
        (void)state;
        for (int threaded = 0; threaded < 2; threaded++) {
                struct cs_state st;
                struct cs_fsm fsm;
                cs_state_init(&st);
                /* Change records are evicted while the view packs them. */
                st.changes_max = 1000;
                cs_fsm_init(&fsm, &st);
                assert_int_equal(fsm.raft_fsm.version, 3);
                apply_buf(&fsm, encode_zone("other.test.", "Z2"));
                apply_zone_and_batches(&fsm, 1500);
                void *want;
                size_t want_len;
                assert_int_equal(cs_snapshot_encode(&st, &want, &want_len), 0);

                struct raft_buffer *bufs = (void *)&bufs; /* must be cleared */
                unsigned n_bufs = 7;
                assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
                assert_null(bufs);
                assert_int_equal(n_bufs, 0);
                assert_int_equal(st.pins, 1);
                /* A second snapshot while one is frozen is refused as busy. */
                struct raft_buffer *b2;
                unsigned n2;
                assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &b2, &n2),
                                 RAFT_BUSY);

                struct encoder enc = {.fsm = &fsm};
                pthread_t thread;
                if (threaded)
                        assert_int_equal(
                            pthread_create(&thread, NULL, encode_on_a_thread, &enc), 0);
                for (unsigned n = 0; n < 1400; n += 2) /* replaced */
                        apply_buf(&fsm, encode_retime(n, 7));
                for (unsigned n = 1500; n < 1800; n++) /* added and deleted */
                        apply_buf(&fsm, encode_batch(n, NULL));
                assert_non_null(st.evicted); /* kept for the view */
                struct cs_command del = {.type = CS_CMD_ZONE_DELETE, .timestamp_ms = 9};
                uint8_t other[64];
                del.u.zone_delete.origin = other;
                del.u.zone_delete.origin_len = to_wire("other.test.", other);
                del.u.zone_delete.force = true;
                struct raft_buffer db;
                assert_int_equal(cs_command_encode(&del, &db), 0);
                apply_buf(&fsm, db);
                /* The whole state replaced, then changed again. */
                struct raft_buffer rb = {raft_malloc(want_len), want_len};
                memcpy(rb.base, want, want_len);
                assert_int_equal(fsm.raft_fsm.restore(&fsm.raft_fsm, &rb), 0);
                for (unsigned n = 1; n < 1500; n += 2)
                        apply_buf(&fsm, encode_retime(n, 9));
                assert_non_null(st.retired);

                if (threaded)
                        assert_int_equal(pthread_join(thread, NULL), 0);
                else
                        encode_on_a_thread(&enc);
                assert_int_equal(enc.rv, 0);
                assert_int_equal(enc.n, 1);
                assert_int_equal(enc.bufs[0].len, want_len);
                assert_memory_equal(enc.bufs[0].base, want, want_len);

                assert_int_equal(
                    fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &enc.bufs, &enc.n), 0);
                assert_null(enc.bufs);
                assert_int_equal(st.pins, 0);
                assert_null(st.retired);
                assert_null(st.evicted);
                /* Unpinned, the state frees what it lets go of at once. */
                apply_buf(&fsm, encode_retime(0, 11));
                assert_null(st.retired);
                free(want);
                cs_fsm_close(&fsm);
                cs_state_fini(&st);
        }
}

/* Without async work (the fixture's io), `snapshot` encodes at once. */
static void sync_snapshot_without_async_work(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        cs_state_init(&st);
        cs_fsm_init(&fsm, &st);
        fsm.raft_fsm.snapshot_async = NULL;
        apply_zone_and_batches(&fsm, 100);
        void *want;
        size_t want_len;
        assert_int_equal(cs_snapshot_encode(&st, &want, &want_len), 0);
        struct raft_buffer *bufs;
        unsigned n_bufs;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        apply_buf(&fsm, encode_retime(0, 7));
        assert_int_equal(n_bufs, 1);
        assert_int_equal(bufs[0].len, want_len);
        assert_memory_equal(bufs[0].base, want, want_len);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_int_equal(st.pins, 0);
        free(want);
        cs_fsm_close(&fsm);
        cs_state_fini(&st);
}

/* Each snapshot sets raft's threshold and trailing entries for the next one
 * from the size of the state, never below the configured values. */
static void snapshots_are_paced_by_the_size_of_the_state(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        cs_state_init(&st);
        cs_fsm_init(&fsm, &st);
        fsm.raft_fsm.snapshot_async = NULL;
        apply_zone_and_batches(&fsm, 100);
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

/* The tail-budget tests' FSM: 100 batches applied, a raft whose configured
 * threshold and trailing are 50 and 20, one object per entry for pacing,
 * a budget nothing spends; snapshots encoded at once or (async) by the
 * test calling snapshot_async. */
/* The calling thread's CPU time, as the FSM measures its own work. */
static uint64_t thread_cpu_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct raft *tail_fsm_init(struct cs_state *st, struct cs_fsm *fsm, bool async)
{
        cs_state_init(st);
        cs_fsm_init(fsm, st);
        if (!async)
                fsm->raft_fsm.snapshot_async = NULL;
        apply_zone_and_batches(fsm, 100);
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

static void corrupt_snapshot_is_refused_and_state_kept(void **state)
{
        struct cs_state st;
        struct cs_fsm fsm;
        cs_state_init(&st);
        cs_fsm_init(&fsm, &st);
        struct raft_buffer b = encode_zone("example.com.", "Z1");
        void *result;
        fsm.raft_fsm.apply(&fsm.raft_fsm, &b, &result);
        raft_free(b.base);
        void *snap;
        size_t len;
        assert_int_equal(cs_snapshot_encode(&st, &snap, &len), 0);
        uint64_t rng = 1;
        for (int i = 0; i < 1000; i++) {
                struct raft_buffer rb = {raft_malloc(len), len};
                memcpy(rb.base, snap, len);
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                size_t cut = i % 3 == 0 ? (size_t)(rng >> 33) % len : len;
                rb.len = cut;
                for (int k = 0; i % 3 && k < 1 + i % 5; k++) {
                        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                        ((uint8_t *)rb.base)[(rng >> 33) % len] = (uint8_t)(rng >> 20);
                }
                if (fsm.raft_fsm.restore(&fsm.raft_fsm, &rb) == 0) {
                        /* A corruption can still be a valid snapshot (another
                         * zone id, TTL...): put the original back. */
                        struct raft_buffer ok = {raft_malloc(len), len};
                        memcpy(ok.base, snap, len);
                        assert_int_equal(fsm.raft_fsm.restore(&fsm.raft_fsm, &ok), 0);
                } else {
                        raft_free(rb.base); /* raft frees on failure */
                }
                assert_non_null(cs_state_zone_by_id(&st, "Z1"));
        }
        uint8_t origin[64];
        size_t ol = to_wire("example.com.", origin);
        assert_non_null(cs_state_zone_get(&st, origin, ol));
        free(snap);
        cs_fsm_close(&fsm);
        cs_state_fini(&st);
}

/* ---- three servers through raft_fixture ---- */

#define N_SERVERS 3
#define N_REQS    1300

struct cluster {
        struct raft_fixture f;
        struct cs_state st[N_SERVERS];
        struct cs_fsm fsm[N_SERVERS];
        struct raft_apply reqs[N_REQS];
        int done, failed;
};

static void apply_cb(struct raft_apply *req, int status, void *result)
{
        struct cluster *c = req->data;
        if (status != 0) {
                c->failed++;
                return;
        }
        const struct cs_result *res = result;
        assert_int_equal(res->status, 0);
        assert_int_equal(res->index, req->index);
        c->done++;
}

static raft_index submit(struct cluster *c, unsigned leader, int n, struct raft_buffer b)
{
        struct raft_apply *req = &c->reqs[n];
        req->data = c;
        assert_int_equal(
            raft_apply(raft_fixture_get(&c->f, leader), req, &b, 1, apply_cb), 0);
        return req->index;
}

/* Applies batches [from, to) through the current leader, pipelined. */
static void run_batches(struct cluster *c, int from, int to, unsigned wait_for)
{
        char req[32];
        for (int n = from; n < to; n += 50) {
                unsigned leader = raft_fixture_leader_index(&c->f);
                assert_true(leader < N_SERVERS);
                raft_index last = 0;
                for (int k = n; k < to && k < n + 50; k++) {
                        snprintf(req, sizeof(req), "req-%d", k);
                        last = submit(c, leader, k, encode_batch((unsigned)k, req));
                }
                assert_true(
                    raft_fixture_step_until_applied(&c->f, wait_for, last, 20000));
        }
}

static void three_servers_stay_identical_across_a_leader_kill(void **state)
{
        struct cluster *c = calloc(1, sizeof(*c));
        struct raft_configuration conf;
        assert_int_equal(raft_fixture_initialize(&c->f), 0);
        for (unsigned i = 0; i < N_SERVERS; i++) {
                cs_state_init(&c->st[i]);
                cs_fsm_init(&c->fsm[i], &c->st[i]);
                c->fsm[i].raft_fsm.snapshot_async = NULL; /* the fixture's io has none */
                struct cs_observer obs = {.restored = on_restored};
                cs_state_set_observer(&c->st[i], &obs);
                assert_int_equal(raft_fixture_grow(&c->f, &c->fsm[i].raft_fsm), 0);
                struct raft *r = raft_fixture_get(&c->f, i);
                cs_fsm_set_raft(&c->fsm[i], r);
                raft_set_snapshot_threshold(r, 256);
                raft_set_snapshot_trailing(r, 64);
                /* The values above, not the state's size, pace snapshots
                 * here: the revived server must find its log compacted. */
                c->fsm[i].items_per_entry = 1000000;
        }
        assert_int_equal(raft_fixture_configuration(&c->f, N_SERVERS, &conf), 0);
        assert_int_equal(raft_fixture_bootstrap(&c->f, &conf), 0);
        raft_configuration_close(&conf);
        assert_int_equal(raft_fixture_start(&c->f), 0);
        raft_fixture_elect(&c->f, 0);

        raft_index idx = submit(c, 0, N_REQS - 1, encode_zone("example.com.", "Z1"));
        assert_true(raft_fixture_step_until_applied(&c->f, N_SERVERS, idx, 5000));
        c->done = 0;

        run_batches(c, 0, 1000, N_SERVERS);
        assert_int_equal(c->done, 1000);

        /* Kill the leader; another one takes over (no leader first). */
        unsigned old = raft_fixture_leader_index(&c->f);
        raft_fixture_kill(&c->f, old);
        assert_true(raft_fixture_step_until_has_no_leader(&c->f, 10000));
        assert_true(raft_fixture_step_until_has_leader(&c->f, 10000));
        unsigned leader = raft_fixture_leader_index(&c->f);
        assert_int_not_equal(leader, old);

        run_batches(c, 1000, 1200, leader);
        /* A retried request id is not applied twice. */
        size_t before = cs_state_change_count(&c->st[leader]);
        idx = submit(c, leader, 1200, encode_batch(1199, "req-1199"));
        assert_true(raft_fixture_step_until_applied(&c->f, leader, idx, 5000));
        assert_int_equal(cs_state_change_count(&c->st[leader]), before);

        /* The old leader comes back and catches up: the log it lacks was
         * compacted (threshold 256), so it installs a snapshot. */
        restored_calls = 0;
        raft_fixture_revive(&c->f, old);
        assert_true(raft_fixture_step_until_applied(&c->f, N_SERVERS, idx, 30000));
        assert_int_equal(restored_calls, 1);

        void *snap[N_SERVERS];
        size_t len[N_SERVERS];
        for (unsigned i = 0; i < N_SERVERS; i++)
                assert_int_equal(cs_snapshot_encode(&c->st[i], &snap[i], &len[i]), 0);
        for (unsigned i = 1; i < N_SERVERS; i++) {
                assert_int_equal(len[i], len[0]);
                assert_memory_equal(snap[i], snap[0], len[0]);
        }
        /* 1,201 successful changes; each batch n >= 2 deleted one set. */
        uint8_t origin[64];
        size_t ol = to_wire("example.com.", origin);
        const struct cs_zone *z = cs_state_zone_get(&c->st[0], origin, ol);
        assert_int_equal(cs_zone_rrset_count(z), 2 + 3 * 1200 - 1198);
        assert_int_equal(z->serial, 1 + 1200);

        for (unsigned i = 0; i < N_SERVERS; i++)
                free(snap[i]);
        raft_fixture_close(&c->f);
        for (unsigned i = 0; i < N_SERVERS; i++) {
                cs_fsm_close(&c->fsm[i]);
                cs_state_fini(&c->st[i]);
        }
        free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(apply_always_returns_zero_and_reports_through_result),
            cmocka_unit_test(snapshot_of_a_large_state_restores_identically),
            cmocka_unit_test(snapshots_are_paced_by_the_size_of_the_state),
            cmocka_unit_test(a_costly_tail_brings_the_next_snapshot_forward),
            cmocka_unit_test(
                a_tail_spent_during_an_async_snapshot_keeps_the_next_one_forward),
            cmocka_unit_test(a_costly_snapshot_raises_the_tail_budget),
            cmocka_unit_test(a_restored_state_paces_the_threshold_when_raft_is_set),
            cmocka_unit_test(a_snapshot_not_written_keeps_the_tail),
            cmocka_unit_test(a_restore_ends_the_tail_and_paces_the_threshold),
            cmocka_unit_test(the_encoding_time_reaches_the_budget_at_finalize),
            cmocka_unit_test(async_snapshot_encodes_the_state_at_freeze_time),
            cmocka_unit_test(sync_snapshot_without_async_work),
            cmocka_unit_test(corrupt_snapshot_is_refused_and_state_kept),
            cmocka_unit_test(three_servers_stay_identical_across_a_leader_kill),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
