/*
 * test_consensus_fsm.c — the raft FSM: apply, snapshot, restore, replication.
 *
 * apply always returns 0 and reports rejected entries through *result;
 * a snapshot of a large state restores to an identical state (compared as
 * snapshot bytes); a corrupt snapshot is refused (or, when the corruption is
 * still a valid snapshot, accepted) and a refused one leaves the state alone;
 * an asynchronous snapshot encodes the state as it was when frozen however
 * much changes meanwhile (on another thread too); and three raft_fixture
 * servers running this FSM stay identical through 1,000+ batches, a leader
 * kill, a new election and the old leader's return (compared byte for byte
 * through their snapshots).  When snapshots are taken (pacing, the tail
 * budget): test_consensus_fsm_pacing.c.
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
#include "consensus/lz4frame.h"
#include "consensus/snapshot.h"

#include "fsm_fixtures.h"

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

/* The FSM hands raft an LZ4 frame (consensus/lz4frame.h) whose content is
 * the canonical encoding (padded to whole words). */
static void assert_frame_holds(const struct raft_buffer *b, const void *want,
                               size_t want_len)
{
        void *raw;
        size_t raw_len;
        char err[160];
        assert_true(cs_lz4_is_frame(b->base, b->len));
        assert_int_equal(cs_lz4_decode(b->base, b->len, &raw, &raw_len, err, sizeof(err)),
                         0);
        assert_int_equal(raw_len, want_len);
        assert_memory_equal(raw, want, want_len);
        free(raw);
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
                assert_frame_holds(&enc.bufs[0], want, want_len);

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
        fsm_with_batches(&st, &fsm, false, 100);
        void *want;
        size_t want_len;
        assert_int_equal(cs_snapshot_encode(&st, &want, &want_len), 0);
        struct raft_buffer *bufs;
        unsigned n_bufs;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        apply_buf(&fsm, encode_retime(0, 7));
        assert_int_equal(n_bufs, 1);
        assert_frame_holds(&bufs[0], want, want_len);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);
        assert_int_equal(st.pins, 0);
        free(want);
        cs_fsm_close(&fsm);
        cs_state_fini(&st);
}

/* A node that stops cancels the encoding under way (raft's close waits
 * for it): it fails RAFT_CANCELED, finalize unpins the state, and no other
 * snapshot starts. */
static void a_cancelled_encoding_stops_and_is_not_handed_over(void **state)
{
        (void)state;
        struct cs_state st;
        struct cs_fsm fsm;
        fsm_with_batches(&st, &fsm, true, 300);
        struct raft_buffer *bufs;
        unsigned n_bufs;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        assert_int_equal(st.pins, 1);
        /* Walked a step, then sets replaced on the loop (copy on write). */
        assert_true(cs_snapshot_frozen_step(fsm.frozen, 16) >= 0);
        for (unsigned n = 0; n < 40; n += 2)
                apply_buf(&fsm, encode_retime(n, 7));
        cs_fsm_cancel_snapshot(&fsm);
        struct encoder enc = {.fsm = &fsm};
        encode_on_a_thread(&enc);
        assert_int_equal(enc.rv, RAFT_CANCELED);
        assert_null(enc.bufs);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &enc.bufs, &enc.n),
                         0);
        assert_int_equal(st.pins, 0);
        assert_null(st.cow);
        assert_false(fsm.encoded);
        /* The node is stopping: no other snapshot starts (raft still
         * applies while its close waits for log writes). */
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), RAFT_BUSY);
        assert_int_equal(st.pins, 0);
        cs_fsm_cancel_snapshot(&fsm); /* again, with none under way */
        cs_fsm_close(&fsm);
        cs_state_fini(&st);
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
            cmocka_unit_test(async_snapshot_encodes_the_state_at_freeze_time),
            cmocka_unit_test(sync_snapshot_without_async_work),
            cmocka_unit_test(a_cancelled_encoding_stops_and_is_not_handed_over),
            cmocka_unit_test(corrupt_snapshot_is_refused_and_state_kept),
            cmocka_unit_test(three_servers_stay_identical_across_a_leader_kill),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
