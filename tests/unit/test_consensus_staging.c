/*
 * test_consensus_staging.c — staged imports (consensus/staging.c) through
 * the command codec and the FSM, as raft applies them.
 *
 * Every command round-trips through its encoding, and a staging command in
 * an entry of an older format is refused; until the commit the zone holds its old sets
 * and takes no other batch (-EBUSY), the commit switches every staged set in
 * with one serial step and one change record carrying the import's request
 * id (a retried begin then answers that change); an abort, a rejected chunk
 * and the idle timeout leave the zone as it was; the observer sees begin,
 * chunks and end in order; no snapshot is taken while a staging exists, and
 * a node that restores the snapshot from before the staging and replays the
 * same entries ends byte-identical; a large zone is copied by STAGE_COPY
 * entries before any chunk or commit is taken.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>
#include <raft.h>

#include "consensus/command.h"
#include "consensus/fsm.h"
#include "consensus/snapshot.h"
#include "consensus/wire.h"

#include "consensus_fixtures.h"

#define ZONE "example.com."

static uint8_t origin[256];
static size_t origin_len;

static struct raft_buffer encode(struct cs_command *c)
{
        struct raft_buffer b;
        assert_int_equal(cs_command_encode(c, &b), 0);
        return b;
}

static const struct cs_result *apply(struct cs_fsm *fsm, struct raft_buffer b)
{
        void *result = NULL;
        assert_int_equal(fsm->raft_fsm.apply(&fsm->raft_fsm, &b, &result), 0);
        raft_free(b.base);
        return result;
}

static struct raft_buffer enc_zone(void)
{
        struct zone_fixture zf;
        zone_spec(&zf, ZONE, "Z1", 1);
        struct cs_command c = {.type = CS_CMD_ZONE_CREATE, .timestamp_ms = 1000};
        c.u.zone_create = zf.spec;
        return encode(&c);
}

static struct raft_buffer enc_begin(uint32_t serial, const char *rid, uint64_t ts)
{
        struct cs_command c = {
            .type = CS_CMD_STAGE_BEGIN, .timestamp_ms = ts, .request_id = rid};
        c.u.stage_begin = (struct cs_stage_begin){origin, origin_len, serial, 7, 1000};
        return encode(&c);
}

/* Chunk seq of staging id: owners h<first>..h<first+n-1>, one A each;
 * bad: one value is not an address. */
static struct raft_buffer enc_chunk(uint64_t id, uint32_t seq, unsigned first, unsigned n,
                                    bool bad, uint64_t ts)
{
        struct abuild ab;
        ab_init(&ab, n, n);
        char owner[64];
        for (unsigned i = first; i < first + n; i++) {
                snprintf(owner, sizeof(owner), "h%u." ZONE, i);
                struct cs_action *a = ab_add(&ab, CS_ACTION_UPSERT, owner, 1, "", 300);
                if (bad && i == first + 1)
                        ab_value(&ab, a, "xx", 2);
                else
                        ab_a(&ab, a, 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                             (uint8_t)i);
        }
        struct cs_command c = {.type = CS_CMD_STAGE_CHUNK, .timestamp_ms = ts};
        c.u.stage_chunk.id = id;
        c.u.stage_chunk.seq = seq;
        c.u.stage_chunk.batch = ab_batch(&ab, origin, origin_len);
        struct raft_buffer b = encode(&c);
        ab_free(&ab);
        return b;
}

static struct raft_buffer enc_end(enum cs_command_type type, uint64_t id, const char *rid,
                                  uint64_t ts)
{
        struct cs_command c = {.type = type, .timestamp_ms = ts, .request_id = rid};
        c.u.stage_id = id;
        return encode(&c);
}

/* An ordinary batch into the zone: one set "w<n>". */
static struct raft_buffer enc_write(unsigned n, uint64_t ts)
{
        struct abuild ab;
        ab_init(&ab, 1, 1);
        char owner[64];
        snprintf(owner, sizeof(owner), "w%u." ZONE, n);
        struct cs_action *a = ab_add(&ab, CS_ACTION_UPSERT, owner, 1, "", 60);
        ab_a(&ab, a, 192, 0, 2, (uint8_t)n);
        struct cs_command c = {.type = CS_CMD_CHANGE_BATCH, .timestamp_ms = ts};
        c.u.batch = ab_batch(&ab, origin, origin_len);
        struct raft_buffer b = encode(&c);
        ab_free(&ab);
        return b;
}

static const struct cs_rrset *get(const struct cs_state *st, const char *owner)
{
        uint8_t w[256];
        size_t l = to_wire(owner, w);
        const struct cs_zone *z = cs_state_zone_get(st, origin, origin_len);
        return z ? cs_zone_rrset_get(z, w, l, 1, "") : NULL;
}

/* ---- observer ------------------------------------------------------------- */

struct seen {
        char log[4096];
        size_t changed_sets;
};

static void seen_add(struct seen *s, const char *what)
{
        strncat(s->log, what, sizeof(s->log) - strlen(s->log) - 1);
}

static void on_begun(void *ctx, const struct cs_staging *s)
{
        seen_add(ctx, "begun ");
}

static void on_changed(void *ctx, const struct cs_staging *s,
                       const struct cs_rrset_change *changes, size_t n)
{
        ((struct seen *)ctx)->changed_sets += n;
        seen_add(ctx, "chunk ");
}

static void on_ended(void *ctx, const struct cs_staging *s, const struct cs_zone *zone)
{
        seen_add(ctx, zone ? "committed " : "discarded ");
}

static void on_batch(void *ctx, const struct cs_zone *zone,
                     const struct cs_rrset_change *changes, size_t n)
{
        seen_add(ctx, "batch ");
}

static void setup(struct cs_state *st, struct cs_fsm *fsm, struct seen *seen)
{
        origin_len = to_wire(ZONE, origin);
        cs_state_init(st);
        cs_fsm_init(fsm, st);
        fsm->raft_fsm.snapshot_async = NULL;
        if (seen != NULL) {
                memset(seen, 0, sizeof(*seen));
                struct cs_observer obs = {.ctx = seen,
                                          .rrsets_changed = on_batch,
                                          .staging_begun = on_begun,
                                          .staging_changed = on_changed,
                                          .staging_ended = on_ended};
                cs_state_set_observer(st, &obs);
        }
        assert_int_equal(apply(fsm, enc_zone())->status, 0);
}

static void teardown(struct cs_state *st, struct cs_fsm *fsm)
{
        cs_fsm_close(fsm);
        cs_state_fini(st);
}

/* ---- tests ------------------------------------------------------------------ */

static void commands_round_trip(void **state)
{
        origin_len = to_wire(ZONE, origin);
        struct cs_command d;
        struct raft_buffer b = enc_begin(42, "key\nabc", 5);
        assert_int_equal(b.len % 8, 0);
        assert_int_equal(cs_command_decode(b.base, b.len, &d, NULL, 0), 0);
        assert_int_equal(d.type, CS_CMD_STAGE_BEGIN);
        assert_int_equal(d.u.stage_begin.serial, 42);
        assert_int_equal(d.u.stage_begin.owner, 7);
        assert_int_equal(d.u.stage_begin.sets, 1000);
        assert_int_equal(d.u.stage_begin.origin_len, origin_len);
        assert_memory_equal(d.u.stage_begin.origin, origin, origin_len);
        assert_string_equal(d.request_id, "key\nabc");
        cs_command_free(&d);
        raft_free(b.base);

        b = enc_chunk(9, 3, 100, 5, false, 6);
        assert_int_equal(cs_command_decode(b.base, b.len, &d, NULL, 0), 0);
        assert_int_equal(d.type, CS_CMD_STAGE_CHUNK);
        assert_int_equal(d.u.stage_chunk.id, 9);
        assert_int_equal(d.u.stage_chunk.seq, 3);
        assert_int_equal(d.u.stage_chunk.batch.n_actions, 5);
        assert_int_equal(d.u.stage_chunk.batch.actions[4].rrset.values[0].data[3], 104);
        cs_command_free(&d);
        raft_free(b.base);

        for (int t = CS_CMD_STAGE_COMMIT; t <= CS_CMD_STAGE_ABORT; t++) {
                b = enc_end((enum cs_command_type)t, 77, NULL, 7);
                assert_int_equal(cs_command_decode(b.base, b.len, &d, NULL, 0), 0);
                assert_int_equal(d.type, t);
                assert_int_equal(d.u.stage_id, 77);
                cs_command_free(&d);
                raft_free(b.base);
        }

        /* A staging type in an entry of the format before staging, and truncated
         * entries. */
        char buf[64];
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 6);
        msgpack_pack_uint32(&pk, CS_COMMAND_VERSION_STAGING - 1);
        msgpack_pack_uint32(&pk, CS_CMD_STAGE_ABORT);
        msgpack_pack_uint64(&pk, 1);
        msgpack_pack_nil(&pk);
        msgpack_pack_nil(&pk);
        msgpack_pack_array(&pk, 1);
        msgpack_pack_uint64(&pk, 1);
        char err[200];
        assert_int_equal(cs_command_decode(sb.data, sb.size, &d, err, sizeof(err)),
                         -EPROTO);
        cs_command_free(&d);
        msgpack_sbuffer_destroy(&sb);
        b = enc_chunk(9, 1, 0, 3, false, 6);
        for (size_t cut = 1; cut < b.len; cut += 7) {
                int rv = cs_command_decode(b.base, cut, &d, buf, sizeof(buf));
                assert_true(rv == -EBADMSG || rv == 0);
                cs_command_free(&d);
        }
        raft_free(b.base);
}

static void readers_see_all_old_until_the_commit(void **state)
{
        struct cs_state st;
        struct cs_fsm fsm;
        struct seen seen;
        setup(&st, &fsm, &seen);
        assert_int_equal(apply(&fsm, enc_write(1, 1100))->status, 0);
        const struct cs_zone *z = cs_state_zone_get(&st, origin, origin_len);
        uint32_t serial = z->serial;
        const struct cs_result *res = apply(&fsm, enc_begin(serial, "imp\nf1", 1200));
        assert_int_equal(res->status, 0);
        uint64_t id = res->index;
        assert_non_null(cs_state_staging_get(&st, id));
        /* a stale plan and a second import into the zone are refused */
        assert_int_equal(apply(&fsm, enc_begin(serial - 1, "other", 1201))->status,
                         -ESTALE);
        assert_int_equal(apply(&fsm, enc_begin(serial, "other", 1202))->status, -EBUSY);
        assert_int_equal(apply(&fsm, enc_chunk(id, 1, 0, 300, false, 1300))->status, 0);
        assert_int_equal(apply(&fsm, enc_chunk(id, 3, 600, 3, false, 1300))->status,
                         -EPROTO); /* out of order */
        assert_int_equal(apply(&fsm, enc_chunk(id, 2, 300, 300, false, 1400))->status, 0);
        /* nothing visible yet; writes wait */
        assert_null(get(&st, "h0." ZONE));
        assert_null(get(&st, "h599." ZONE));
        assert_int_equal(z->serial, serial);
        assert_int_equal(cs_zone_rrset_count(z), 3);
        assert_int_equal(cs_state_rrset_count(&st), 3); /* the staged sets: not yet */
        assert_int_equal(apply(&fsm, enc_write(2, 1450))->status, -EBUSY);
        size_t changes = cs_state_change_count(&st);
        res = apply(&fsm, enc_end(CS_CMD_STAGE_COMMIT, id, "imp\nf1", 1500));
        assert_int_equal(res->status, 0);
        char change_id[CS_ID_MAXLEN + 1];
        snprintf(change_id, sizeof(change_id), "%s", res->change_id);
        assert_ptr_equal(cs_state_zone_get(&st, origin, origin_len), z);
        assert_non_null(get(&st, "h0." ZONE));
        assert_non_null(get(&st, "h599." ZONE));
        assert_non_null(get(&st, "w1." ZONE));
        assert_int_equal(cs_zone_rrset_count(z), 603);
        assert_int_equal(cs_state_rrset_count(&st), 603);
        assert_int_equal(z->serial, serial + 1);
        uint32_t soa_serial = 0;
        const struct cs_rrset *soa = cs_zone_rrset_get(z, origin, origin_len, 6, "");
        cs_soa_serial(soa->values[0].data, soa->values[0].len, &soa_serial);
        assert_int_equal(soa_serial, serial + 1);
        assert_int_equal(cs_state_change_count(&st), changes + 1);
        const struct cs_change *c = cs_state_change_by_request(&st, "imp\nf1");
        assert_non_null(c);
        assert_string_equal(c->id, change_id);
        assert_null(st.stagings);
        /* the zone takes writes again; a retried import answers its change */
        assert_int_equal(apply(&fsm, enc_write(3, 1600))->status, 0);
        res = apply(&fsm, enc_begin(z->serial, "imp\nf1", 1700));
        assert_int_equal(res->status, 0);
        assert_true(res->duplicate);
        assert_string_equal(res->change_id, change_id);
        assert_null(st.stagings);
        assert_string_equal(seen.log, "batch begun chunk chunk committed batch ");
        assert_int_equal(seen.changed_sets, 600 + 2); /* and the copy's SOA, twice */
        teardown(&st, &fsm);
}

static void abort_rejected_chunk_and_idle_timeout_change_nothing(void **state)
{
        struct cs_state st;
        struct cs_fsm fsm;
        struct seen seen;
        setup(&st, &fsm, &seen);
        const struct cs_zone *z = cs_state_zone_get(&st, origin, origin_len);
        uint32_t serial = z->serial;
        size_t changes = cs_state_change_count(&st);

        /* abort */
        uint64_t id = apply(&fsm, enc_begin(serial, "a", 2000))->index;
        assert_int_equal(apply(&fsm, enc_chunk(id, 1, 0, 50, false, 2001))->status, 0);
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_ABORT, id, NULL, 2002))->status,
                         0);
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_COMMIT, id, "a", 2003))->status,
                         -ENOENT);
        assert_null(st.stagings);
        assert_null(get(&st, "h0." ZONE));

        /* a rejected chunk: errors reported, commit refused */
        id = apply(&fsm, enc_begin(serial, "b", 3000))->index;
        const struct cs_result *res = apply(&fsm, enc_chunk(id, 1, 0, 10, true, 3001));
        assert_int_equal(res->status, -EINVAL);
        assert_true(res->n_errors >= 1);
        assert_int_equal(res->errors[0].action, 1);
        assert_int_equal(apply(&fsm, enc_chunk(id, 2, 10, 10, false, 3002))->status,
                         -ECANCELED);
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_COMMIT, id, "b", 3003))->status,
                         -ECANCELED);
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_ABORT, id, NULL, 3004))->status,
                         0);

        /* idle: any later command drops it */
        id = apply(&fsm, enc_begin(serial, "c", 4000))->index;
        assert_int_equal(apply(&fsm, enc_chunk(id, 1, 0, 5, false, 4001))->status, 0);
        assert_int_equal(apply(&fsm, enc_write(1, 4001 + CS_STAGING_IDLE_MS + 1))->status,
                         0);
        assert_null(st.stagings);
        assert_int_equal(
            apply(&fsm, enc_end(CS_CMD_STAGE_COMMIT, id, "c", 70000))->status, -ENOENT);
        assert_null(get(&st, "h0." ZONE));
        assert_int_equal(cs_state_change_count(&st), changes + 1); /* the write */
        assert_string_equal(seen.log, "begun chunk discarded begun discarded begun chunk "
                                      "discarded batch ");
        teardown(&st, &fsm);
}

/* No snapshot while a staging exists; the one before it, restored and
 * followed by the same entries, ends identical. */
static void snapshots_wait_for_the_staging(void **state)
{
        struct cs_state st, other;
        struct cs_fsm fsm, ofsm;
        setup(&st, &fsm, NULL);
        for (unsigned i = 0; i < 20; i++)
                assert_int_equal(apply(&fsm, enc_write(i, 1100 + i))->status, 0);
        struct raft_buffer *bufs;
        unsigned n_bufs;
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        struct raft_buffer before = {raft_malloc(bufs[0].len), bufs[0].len};
        memcpy(before.base, bufs[0].base, bufs[0].len);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);

        const struct cs_zone *z = cs_state_zone_get(&st, origin, origin_len);
        struct raft_buffer log[5];
        uint64_t id = fsm.applied + 1;
        log[0] = enc_begin(z->serial, "s", 2000);
        log[1] = enc_chunk(id, 1, 0, 100, false, 2001);
        log[2] = enc_chunk(id, 2, 100, 100, false, 2002);
        log[3] = enc_end(CS_CMD_STAGE_COMMIT, id, "s", 2003);
        log[4] = enc_write(99, 2004);
        struct raft_buffer copy[5];
        for (int i = 0; i < 5; i++) {
                copy[i].len = log[i].len;
                copy[i].base = raft_malloc(log[i].len);
                memcpy(copy[i].base, log[i].base, log[i].len);
        }
        for (int i = 0; i < 3; i++)
                assert_int_equal(apply(&fsm, log[i])->status, 0);
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), RAFT_BUSY);
        assert_int_equal(st.pins, 0);
        for (int i = 3; i < 5; i++)
                assert_int_equal(apply(&fsm, log[i])->status, 0);
        assert_int_equal(fsm.raft_fsm.snapshot(&fsm.raft_fsm, &bufs, &n_bufs), 0);
        assert_int_equal(fsm.raft_fsm.snapshot_finalize(&fsm.raft_fsm, &bufs, &n_bufs),
                         0);

        /* another node: the snapshot from before, then the log */
        cs_state_init(&other);
        cs_fsm_init(&ofsm, &other);
        assert_int_equal(ofsm.raft_fsm.restore(&ofsm.raft_fsm, &before), 0);
        for (int i = 0; i < 5; i++)
                assert_int_equal(apply(&ofsm, copy[i])->status, 0);
        void *a, *b;
        size_t la, lb;
        assert_int_equal(cs_snapshot_encode(&st, &a, &la), 0);
        assert_int_equal(cs_snapshot_encode(&other, &b, &lb), 0);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        free(a);
        free(b);
        teardown(&other, &ofsm);
        teardown(&st, &fsm);
}

/* A snapshot restored while a staging exists (a follower installing the
 * leader's older snapshot) drops it; nothing leaks. */
static void restore_drops_stagings(void **state)
{
        struct cs_state st;
        struct cs_fsm fsm;
        setup(&st, &fsm, NULL);
        void *snap;
        size_t len;
        assert_int_equal(cs_snapshot_encode(&st, &snap, &len), 0);
        const struct cs_zone *z = cs_state_zone_get(&st, origin, origin_len);
        uint64_t id = apply(&fsm, enc_begin(z->serial, "r", 2000))->index;
        assert_int_equal(apply(&fsm, enc_chunk(id, 1, 0, 100, false, 2001))->status, 0);
        struct raft_buffer b = {raft_malloc(len), len};
        memcpy(b.base, snap, len);
        free(snap);
        assert_int_equal(fsm.raft_fsm.restore(&fsm.raft_fsm, &b), 0);
        assert_null(st.stagings);
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_COMMIT, id, "r", 2002))->status,
                         -ENOENT);
        teardown(&st, &fsm);
}

/* A zone of more sets than the begin copies is copied by STAGE_COPY
 * entries first; a chunk or commit before that is refused. */
static void large_zone_is_copied_in_steps(void **state)
{
        struct cs_state st;
        struct cs_fsm fsm;
        struct seen seen;
        setup(&st, &fsm, &seen);
        unsigned n = CS_STAGING_COPY_STEP + 100;
        struct abuild ab;
        ab_init(&ab, n, n);
        char owner[64];
        for (unsigned i = 0; i < n; i++) {
                snprintf(owner, sizeof(owner), "k%u." ZONE, i);
                struct cs_action *a = ab_add(&ab, CS_ACTION_UPSERT, owner, 1, "", 60);
                ab_a(&ab, a, 10, 9, (uint8_t)(i >> 8), (uint8_t)i);
        }
        struct cs_command bc = {.type = CS_CMD_CHANGE_BATCH, .timestamp_ms = 1100};
        bc.u.batch = ab_batch(&ab, origin, origin_len);
        assert_int_equal(apply(&fsm, encode(&bc))->status, 0);
        ab_free(&ab);
        const struct cs_zone *z = cs_state_zone_get(&st, origin, origin_len);
        size_t sets = cs_zone_rrset_count(z);

        /* not copied yet: a chunk fails the staging */
        uint64_t id = apply(&fsm, enc_begin(z->serial, "x", 2000))->index;
        const struct cs_staging *sg = cs_state_staging_get(&st, id);
        assert_int_equal(sg->copied, 0);
        assert_int_equal(cs_staging_copy_steps(sg), 2); /* STEP + 100 sets */
        assert_int_equal(apply(&fsm, enc_chunk(id, 1, 0, 5, false, 2001))->status,
                         -EPROTO);
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_ABORT, id, NULL, 2002))->status,
                         0);

        id = apply(&fsm, enc_begin(z->serial, "y", 3000))->index;
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_COMMIT, id, "y", 3001))->status,
                         -EPROTO);
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_COPY, id, NULL, 3002))->status,
                         0);
        assert_int_equal(cs_state_staging_get(&st, id)->copied, CS_STAGING_COPY_STEP);
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_COPY, id, NULL, 3003))->status,
                         0);
        assert_int_equal(cs_state_staging_get(&st, id)->copied, sets);
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_COPY, id, NULL, 3004))->status,
                         -EPROTO);
        seen.changed_sets = 0;
        assert_int_equal(apply(&fsm, enc_chunk(id, 1, 0, 10, false, 3005))->status, 0);
        assert_int_equal(apply(&fsm, enc_end(CS_CMD_STAGE_COMMIT, id, "y", 3006))->status,
                         0);
        assert_int_equal(cs_zone_rrset_count(z), sets + 10);
        assert_non_null(get(&st, "k0." ZONE));
        assert_non_null(get(&st, "h9." ZONE));
        assert_int_equal(seen.changed_sets, 10 + 1);
        teardown(&st, &fsm);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(commands_round_trip),
            cmocka_unit_test(readers_see_all_old_until_the_commit),
            cmocka_unit_test(abort_rejected_chunk_and_idle_timeout_change_nothing),
            cmocka_unit_test(snapshots_wait_for_the_staging),
            cmocka_unit_test(restore_drops_stagings),
            cmocka_unit_test(large_zone_is_copied_in_steps),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
