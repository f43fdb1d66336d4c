/*
 * test_consensus_frozen.c — snapshot views taken by copy on write
 * (consensus/frozen.c).
 *
 * Freezing takes nothing per zone, record set or change record, at 10 zones
 * as at 100,000 (counted, not timed); the applying thread then takes a zone
 * for the view only when it changes one the encoder has not reached, so its
 * work follows what it changes, not the catalog, and the encoding puts the
 * zones in name order with comparisons for that zone alone (no sort of all
 * zones).  However heavily the state
 * changes while a view is being filled — sets upserted and deleted, zones
 * created and deleted (the one under the walk's cursor too), change records
 * evicted — the encoding equals the state's encoding at the freeze, byte for
 * byte: with the encoder's steps interleaved with the changes, and with the
 * encoder on another thread.  Under ASan a read of anything freed too early
 * fails.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "consensus/lz4frame.h"
#include "consensus/snapshot.h"
#include "consensus/state.h"

#include "consensus_fixtures.h"

struct world {
        struct cs_state st;
        uint64_t index;
        unsigned next_zone; /* zone names made so far */
        uint32_t rng;
};

static uint32_t rnd(struct world *w)
{
        w->rng = w->rng * 1103515245u + 12345u;
        return w->rng >> 8;
}

static void zone_name(unsigned n, char *buf, size_t len)
{
        snprintf(buf, len, "z%06u.test.", n);
}

static int make_zone(struct world *w, unsigned n)
{
        struct zone_fixture zf;
        struct cs_result res;
        char name[64], id[32];
        zone_name(n, name, sizeof(name));
        snprintf(id, sizeof(id), "Z%u", n);
        zone_spec(&zf, name, id, 1);
        cs_result_init(&res);
        int rv = zone_create_at(&w->st, &w->index, &zf, &res);
        cs_result_fini(&res);
        return rv;
}

static void add_zones(struct world *w, unsigned count)
{
        for (unsigned i = 0; i < count; i++)
                assert_int_equal(make_zone(w, w->next_zone++), 0);
}

/* Upserts `k` A sets at hosts chosen from 8 in zone n, or (one time in
 * four, when it exists) deletes one; returns the state's status. */
static int change_zone(struct world *w, unsigned n, unsigned k)
{
        struct abuild ab;
        struct cs_result res;
        char name[64], owner[96];
        uint8_t origin[256];
        zone_name(n, name, sizeof(name));
        size_t ol = to_wire(name, origin);
        ab_init(&ab, k + 1, k + 1);
        const struct cs_zone *z = cs_state_zone_get(&w->st, origin, ol);
        snprintf(owner, sizeof(owner), "h%u.%s", rnd(w) % 8, name);
        uint8_t wo[256];
        size_t wl = to_wire(owner, wo);
        const struct cs_rrset *old = z ? cs_zone_rrset_get(z, wo, wl, 1, "") : NULL;
        if (old != NULL && rnd(w) % 4 == 0) {
                struct cs_action *a =
                    ab_add(&ab, CS_ACTION_DELETE, owner, 1, "", old->ttl);
                for (size_t v = 0; v < old->count; v++)
                        ab_value(&ab, a, old->values[v].data, old->values[v].len);
                k = 0;
        }
        for (unsigned i = 0; i < k; i++) {
                snprintf(owner, sizeof(owner), "h%u.%s", rnd(w) % 8, name);
                struct cs_action *a = ab_add(&ab, CS_ACTION_UPSERT, owner, 1, "", 60);
                ab_a(&ab, a, 10, (uint8_t)rnd(w), (uint8_t)rnd(w), (uint8_t)i);
        }
        struct cs_batch b = ab_batch(&ab, origin, ol);
        struct cs_ctx ctx = {.index = ++w->index, .timestamp_ms = 2000 + w->index};
        cs_result_init(&res);
        int rv = cs_state_batch_apply(&w->st, &ctx, &b, &res);
        cs_result_fini(&res);
        ab_free(&ab);
        return rv;
}

static int delete_zone(struct world *w, unsigned n)
{
        struct cs_result res;
        char name[64];
        uint8_t origin[256];
        zone_name(n, name, sizeof(name));
        size_t ol = to_wire(name, origin);
        struct cs_ctx ctx = {.index = ++w->index, .timestamp_ms = 3000 + w->index};
        cs_result_init(&res);
        int rv = cs_state_zone_delete(&w->st, &ctx, origin, ol, true, &res);
        cs_result_fini(&res);
        return rv;
}

static void world_init(struct world *w, size_t changes_max)
{
        memset(w, 0, sizeof(*w));
        cs_state_init(&w->st);
        w->st.changes_max = changes_max;
        w->rng = 12345;
}

/* One round of heavy change: sets in random zones (existing or deleted),
 * a zone deleted, and one time in `create_every` a zone created (new names
 * sort last: ahead of the walk, which steps over them). */
static void churn_some(struct world *w, unsigned create_every)
{
        for (int i = 0; i < 20; i++)
                change_zone(w, rnd(w) % w->next_zone, 1 + rnd(w) % 4);
        delete_zone(w, rnd(w) % w->next_zone);
        if (rnd(w) % create_every == 0)
                assert_int_equal(make_zone(w, w->next_zone++), 0);
}

static void churn(struct world *w)
{
        churn_some(w, 1);
}

static void encode_now(const struct cs_state *st, void **buf, size_t *len)
{
        assert_int_equal(cs_snapshot_encode(st, buf, len), 0);
}

/* Freezing takes no zone, set or change record, whatever the catalog holds;
 * changing one zone then takes that zone alone (its sets), the same work at
 * 10 zones as at 100,000. */
static void freeze_work_does_not_grow_with_the_catalog(void **state)
{
        (void)state;
        size_t taken[2], cmps[2];
        const unsigned sizes[2] = {10, 100000};
        for (int s = 0; s < 2; s++) {
                struct world w;
                uint8_t z3[64];
                world_init(&w, 1000);
                add_zones(&w, sizes[s]);
                for (int i = 0; i < 50; i++)
                        assert_int_equal(change_zone(&w, 3, 4), 0);
                size_t sets3 = cs_zone_rrset_count(
                    cs_state_zone_get(&w.st, z3, to_wire("z000003.test.", z3)));
                size_t items = cs_state_zone_count(&w.st) + 2 * (sizes[s] - 1) + sets3 +
                               cs_state_change_count(&w.st);
                void *want;
                size_t want_len;
                encode_now(&w.st, &want, &want_len);

                struct cs_frozen *f;
                assert_int_equal(cs_snapshot_freeze(&w.st, &f), 0);
                assert_int_equal(cs_snapshot_frozen_items(f), 0);
                assert_int_equal(cs_snapshot_frozen_loop_items(f), 0);
                for (int i = 0; i < 100; i++)
                        assert_int_equal(change_zone(&w, 3, 2), 0);
                /* Zone 3 once (the zone and its sets), then never again. */
                taken[s] = cs_snapshot_frozen_loop_items(f);
                assert_int_equal(taken[s], 1 + sets3);

                void *got;
                size_t got_len;
                assert_int_equal(cs_snapshot_encode_frozen(f, &got, &got_len), 0);
                assert_int_equal(cs_snapshot_frozen_items(f), items);
                /* The zones go out in name order without a sort of them all:
                 * zone 3, taken out of order, is placed by a binary search
                 * among the others (at most log2(n) + 1 comparisons). */
                cmps[s] = cs_snapshot_frozen_order_cmps(f);
                size_t log2n = 0;
                while (((size_t)1 << log2n) < sizes[s])
                        log2n++;
                assert_true(cmps[s] >= 1 && cmps[s] <= log2n + 1);
                assert_int_equal(got_len, want_len);
                assert_memory_equal(got, want, want_len);
                cs_snapshot_thaw(&w.st, f);
                assert_int_equal(w.st.pins, 0);
                assert_null(w.st.retired);
                assert_null(w.st.evicted);
                free(got);
                free(want);
                cs_state_fini(&w.st);
        }
        assert_int_equal(taken[0], taken[1]);
        print_message("zone comparisons to order a snapshot: %zu at 10 zones, %zu at "
                      "100,000\n",
                      cmps[0], cmps[1]);
}

/* The encoder's steps interleaved with heavy change: every step a slice of
 * zones, every round 20 batches, a deletion and a creation; change records
 * evicted meanwhile (a ring of 300).  The zone under the walk's cursor is
 * deleted too.  (Zones created meanwhile are stepped over by the walk: a
 * zone per step would keep a walk of one zone per step going.) */
static void interleaved_changes_leave_the_freeze_state(void **state)
{
        (void)state;
        for (size_t budget = 2; budget <= 128; budget *= 8) {
                struct world w;
                world_init(&w, 300);
                add_zones(&w, 400);
                for (int i = 0; i < 200; i++)
                        change_zone(&w, rnd(&w) % w.next_zone, 3);
                void *want;
                size_t want_len;
                encode_now(&w.st, &want, &want_len);

                struct cs_frozen *f;
                assert_int_equal(cs_snapshot_freeze(&w.st, &f), 0);
                /* The first zone in name order is the cursor: delete it. */
                assert_int_equal(delete_zone(&w, 0), 0);
                int rv, rounds = 0;
                while ((rv = cs_snapshot_frozen_step(f, budget)) == 0) {
                        churn_some(&w, 4);
                        rounds++;
                }
                assert_int_equal(rv, 1);
                assert_true(rounds > 5);
                for (int i = 0; i < 10; i++) /* after the walk: nothing taken */
                        churn(&w);
                size_t on_loop = cs_snapshot_frozen_loop_items(f);
                assert_true(on_loop > 0);
                /* Sized at the freeze: the walk never grew an array under
                 * the lock, deletions, creations and copies on write
                 * included. */
                assert_int_equal(cs_snapshot_frozen_grows(f), 0);
                void *got;
                size_t got_len;
                assert_int_equal(cs_snapshot_encode_frozen(f, &got, &got_len), 0);
                assert_true(on_loop < cs_snapshot_frozen_items(f));
                assert_int_equal(got_len, want_len);
                assert_memory_equal(got, want, want_len);
                assert_non_null(w.st.evicted);
                cs_snapshot_thaw(&w.st, f);
                assert_null(w.st.evicted);

                /* The state goes on; the next view sees it as it is then. */
                free(want);
                free(got);
                encode_now(&w.st, &want, &want_len);
                assert_int_equal(cs_snapshot_freeze(&w.st, &f), 0);
                churn(&w);
                assert_int_equal(cs_snapshot_encode_frozen(f, &got, &got_len), 0);
                assert_int_equal(got_len, want_len);
                assert_memory_equal(got, want, want_len);
                cs_snapshot_thaw(&w.st, f);
                free(got);
                free(want);
                cs_state_fini(&w.st);
        }
}

static int add_sets(const struct cs_zone *z, void *arg)
{
        *(size_t *)arg += cs_zone_rrset_count(z);
        return 0;
}

static size_t walked_sets(const struct cs_state *st)
{
        size_t n = 0;
        cs_state_foreach_zone(st, add_sets, &n);
        return n;
}

/* The record set total (the metrics' quorumdns_record_sets) is kept by
 * every change, not counted by a walk of every zone at each scrape: it
 * equals the walk after sets upserted and deleted, zones created and
 * deleted with their sets, and in a state restored from a snapshot. */
static void record_set_total_is_kept_by_every_change(void **state)
{
        (void)state;
        struct world w;
        world_init(&w, 300);
        add_zones(&w, 200);
        assert_int_equal(cs_state_rrset_count(&w.st), 2 * 200);
        for (int round = 0; round < 50; round++) {
                churn(&w);
                assert_int_equal(cs_state_rrset_count(&w.st), walked_sets(&w.st));
        }
        assert_true(cs_state_rrset_count(&w.st) > 2 * cs_state_zone_count(&w.st));
        void *buf;
        size_t len;
        char err[256];
        encode_now(&w.st, &buf, &len);
        struct cs_state back;
        cs_state_init(&back);
        assert_int_equal(cs_snapshot_decode(buf, len, &back, err, sizeof(err)), 0);
        assert_int_equal(cs_state_rrset_count(&back), cs_state_rrset_count(&w.st));
        /* Moved into the live state as a restore does: the total goes along. */
        assert_int_equal(cs_state_move(&w.st, &back), 0);
        assert_int_equal(cs_state_rrset_count(&w.st), walked_sets(&w.st));
        assert_int_equal(cs_state_rrset_count(&back), 0);
        churn(&w);
        assert_int_equal(cs_state_rrset_count(&w.st), walked_sets(&w.st));
        free(buf);
        cs_state_fini(&back);
        cs_state_fini(&w.st);
}

struct encoder {
        struct cs_frozen *f;
        void *buf;
        size_t len;
        int rv;
        bool lz4; /* an LZ4 frame, as raft's worker encodes */
};

static void *encode_on_a_thread(void *arg)
{
        struct encoder *e = arg;
        e->rv = e->lz4 ? cs_snapshot_encode_frozen_lz4(e->f, 0, &e->buf, &e->len)
                       : cs_snapshot_encode_frozen(e->f, &e->buf, &e->len);
        return NULL;
}

/* The encoder on its own thread while this one changes the state as fast
 * as it can, over several views. */
static void concurrent_changes_leave_the_freeze_state(void **state)
{
        (void)state;
        struct world w;
        world_init(&w, 2000);
        add_zones(&w, 3000);
        for (int i = 0; i < 3000; i++)
                change_zone(&w, rnd(&w) % w.next_zone, 3);
        for (int round = 0; round < 6; round++) {
                void *want;
                size_t want_len;
                encode_now(&w.st, &want, &want_len);
                struct encoder e = {0};
                assert_int_equal(cs_snapshot_freeze(&w.st, &e.f), 0);
                /* A second view meanwhile is taken whole, and right too. */
                struct cs_frozen *f2;
                assert_int_equal(cs_snapshot_freeze(&w.st, &f2), 0);
                pthread_t t;
                assert_int_equal(pthread_create(&t, NULL, encode_on_a_thread, &e), 0);
                for (int i = 0; i < 100; i++)
                        churn(&w);
                assert_int_equal(pthread_join(t, NULL), 0);
                assert_int_equal(e.rv, 0);
                assert_int_equal(e.len, want_len);
                assert_memory_equal(e.buf, want, want_len);
                void *buf2;
                size_t len2;
                assert_int_equal(cs_snapshot_encode_frozen(f2, &buf2, &len2), 0);
                assert_int_equal(len2, want_len);
                assert_memory_equal(buf2, want, want_len);
                cs_snapshot_thaw(&w.st, f2);
                cs_snapshot_thaw(&w.st, e.f);
                assert_int_equal(w.st.pins, 0);
                free(buf2);
                free(e.buf);
                free(want);
        }
        cs_state_fini(&w.st);
}

/* Encodes a view as raft's worker does (an LZ4 frame reusing the last
 * snapshot's segments), or as plain msgpack (kept segments decompressed),
 * and returns the msgpack either way. */
static void encode_view(struct cs_frozen *f, bool frame, void **out, size_t *out_len)
{
        if (!frame) {
                assert_int_equal(cs_snapshot_encode_frozen(f, out, out_len), 0);
                return;
        }
        void *buf;
        size_t len;
        char err[256];
        assert_int_equal(cs_snapshot_encode_frozen_lz4(f, 0, &buf, &len), 0);
        assert_true(cs_lz4_is_frame(buf, len));
        assert_int_equal(cs_lz4_decode(buf, len, out, out_len, err, sizeof(err)), 0);
        free(buf);
}

/*
 * Snapshots that keep the last one's segments where nothing changed
 * (consensus/segments.h): round after round, with nothing changed, with
 * changes in one stretch of the name order (before the freeze, and between
 * the encoder's steps after it), spread over every zone, zones created and
 * deleted (the one under the walk's cursor too), the encoder on another
 * thread, plain encodings in between (no new table), and the whole state
 * replaced under a view: every encoding equals the state's at its freeze,
 * byte for byte, and where changes stayed in one stretch most zones are
 * kept, not packed again.
 */
static void segments_keep_what_did_not_change(void **state)
{
        (void)state;
        struct world w;
        world_init(&w, 300);
        add_zones(&w, 1500);
        w.st.segment_bytes = 2048; /* ~40 segments */
        size_t kept_local = 0, rounds_local = 0;
        for (int round = 0; round < 48; round++) {
                int kind = round % 8;
                /* Changes before the freeze: in a stretch of 40 zones, or
                 * (kind 5) spread over all of them. */
                unsigned from = rnd(&w) % (w.next_zone - 40);
                if (kind == 1 || kind == 2 || kind == 6)
                        for (int i = 0; i < 10; i++)
                                change_zone(&w, from + rnd(&w) % 40, 2);
                if (kind == 5)
                        for (int i = 0; i < 200; i++)
                                change_zone(&w, rnd(&w) % w.next_zone, 1);
                if (kind == 3) {
                        for (int i = 0; i < 5; i++)
                                delete_zone(&w, from + rnd(&w) % 40);
                        for (int i = 0; i < 5; i++)
                                make_zone(&w, w.next_zone++);
                }
                void *want, *got;
                size_t want_len, got_len;
                encode_now(&w.st, &want, &want_len);
                struct cs_frozen *f;
                assert_int_equal(cs_snapshot_freeze(&w.st, &f), 0);
                bool frame = kind != 4;
                if (kind == 7) { /* a restore of the state under the view */
                        struct cs_state back;
                        char err[256];
                        cs_state_init(&back);
                        assert_int_equal(
                            cs_snapshot_decode(want, want_len, &back, err, sizeof(err)),
                            0);
                        change_zone(&w, from, 3);
                        assert_int_equal(cs_state_move(&w.st, &back), 0);
                        w.st.segment_bytes = 2048;
                        cs_state_fini(&back);
                }
                if (kind == 6) { /* the encoder on a thread, changes on this one */
                        struct encoder e = {f, NULL, 0, 0, true};
                        pthread_t t;
                        assert_int_equal(pthread_create(&t, NULL, encode_on_a_thread, &e),
                                         0);
                        for (int i = 0; i < 30; i++)
                                churn(&w);
                        assert_int_equal(pthread_join(t, NULL), 0);
                        assert_int_equal(e.rv, 0);
                        char err[256];
                        assert_int_equal(
                            cs_lz4_decode(e.buf, e.len, &got, &got_len, err, sizeof(err)),
                            0);
                        free(e.buf);
                } else {
                        /* The encoder's steps with changes in between: in
                         * the stretch, and the zone under the cursor. */
                        int rv;
                        while ((rv = cs_snapshot_frozen_step(f, 16)) == 0) {
                                if (kind == 0 || kind == 2 || kind == 3) {
                                        change_zone(&w, from + rnd(&w) % 40, 1);
                                        /* Kind 3 anywhere (the zone under
                                         * the cursor too), else in the
                                         * stretch; new names sort last. */
                                        delete_zone(&w, kind == 3 ? rnd(&w) % w.next_zone
                                                                  : from + rnd(&w) % 40);
                                        make_zone(&w, w.next_zone++);
                                }
                        }
                        assert_int_equal(rv, 1);
                        encode_view(f, frame, &got, &got_len);
                }
                assert_int_equal(got_len, want_len);
                assert_memory_equal(got, want, want_len);
                /* After rounds whose changes (before the freeze and while
                 * it was encoded) stayed in one stretch, most zones are
                 * kept.  Kind 0 follows a restore (or the start: no table
                 * yet), and what changed while it was encoded is known for
                 * no segment of its own: kind 1 packs all again.  2 and 3
                 * follow 1 and 2. */
                if (kind == 2 || kind == 3) {
                        size_t kept = cs_snapshot_frozen_kept_zones(f);
                        assert_true(kept > cs_state_zone_count(&w.st) / 2);
                        rounds_local++;
                        kept_local += kept;
                }
                cs_snapshot_thaw(&w.st, f);
                assert_int_equal(w.st.pins, 0);
                free(want);
                free(got);
        }
        print_message("zones kept per snapshot after changes in one stretch: %zu of "
                      "%zu\n",
                      kept_local / rounds_local, cs_state_zone_count(&w.st));
        cs_state_fini(&w.st);
}

/* An encoding that does not finish (cancelled by a stopping node) leaves
 * the segments of the last one: the next snapshot is the state's.  And a
 * view of one zone that the applying thread took is encoded. */
static void unfinished_encodings_leave_no_segments(void **state)
{
        (void)state;
        struct world w;
        world_init(&w, 300);
        add_zones(&w, 600);
        w.st.segment_bytes = 2048;
        for (int round = 0; round < 4; round++) {
                void *want, *got;
                size_t want_len, got_len;
                for (int i = 0; i < 20; i++) /* in one stretch */
                        change_zone(&w, rnd(&w) % 40, 2);
                encode_now(&w.st, &want, &want_len);
                struct cs_frozen *f;
                assert_int_equal(cs_snapshot_freeze(&w.st, &f), 0);
                if (round == 1 || round == 2) { /* walked, then cancelled */
                        while (cs_snapshot_frozen_step(f, 64) == 0)
                                change_zone(&w, rnd(&w) % 40, 1);
                        cs_snapshot_frozen_cancel(f);
                        assert_int_equal(
                            cs_snapshot_encode_frozen_lz4(f, 0, &got, &got_len),
                            -ECANCELED);
                        size_t kept_bytes = cs_snapshot_kept_bytes(&w.st);
                        cs_snapshot_thaw(&w.st, f);
                        assert_int_equal(cs_snapshot_kept_bytes(&w.st), kept_bytes);
                        free(want);
                        continue;
                }
                encode_view(f, true, &got, &got_len);
                assert_int_equal(got_len, want_len);
                assert_memory_equal(got, want, want_len);
                /* The segments of round 0 serve round 3: the cancelled
                 * encodings installed none of theirs.  Every zone of the
                 * view is kept or packed. */
                if (round == 3)
                        assert_true(cs_snapshot_frozen_kept_zones(f) > 300);
                assert_int_equal(cs_snapshot_frozen_kept_zones(f) +
                                     cs_snapshot_frozen_packed_zones(f),
                                 cs_state_zone_count(&w.st));
                cs_snapshot_thaw(&w.st, f);
                /* The table installed holds every zone's blocks: more than
                 * a byte and less than the plain encoding per zone. */
                size_t kept_bytes = cs_snapshot_kept_bytes(&w.st);
                assert_true(kept_bytes > cs_state_zone_count(&w.st));
                assert_true(kept_bytes < want_len);
                free(want);
                free(got);
        }
        cs_state_fini(&w.st);

        world_init(&w, 300);
        add_zones(&w, 1);
        for (int round = 0; round < 2; round++) {
                void *want, *got;
                size_t want_len, got_len;
                encode_now(&w.st, &want, &want_len);
                struct cs_frozen *f;
                assert_int_equal(cs_snapshot_freeze(&w.st, &f), 0);
                assert_int_equal(change_zone(&w, 0, 2), 0); /* taken on the loop */
                encode_view(f, true, &got, &got_len);
                assert_int_equal(got_len, want_len);
                assert_memory_equal(got, want, want_len);
                cs_snapshot_thaw(&w.st, f);
                free(want);
                free(got);
        }
        cs_state_fini(&w.st);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(freeze_work_does_not_grow_with_the_catalog),
            cmocka_unit_test(interleaved_changes_leave_the_freeze_state),
            cmocka_unit_test(record_set_total_is_kept_by_every_change),
            cmocka_unit_test(concurrent_changes_leave_the_freeze_state),
            cmocka_unit_test(segments_keep_what_did_not_change),
            cmocka_unit_test(unfinished_encodings_leave_no_segments),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
