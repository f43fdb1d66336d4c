/*
 * fsm_fixtures.h — raft entries for the FSM unit tests: a zone creation and
 * numbered change batches encoded as commands, applied through the FSM's
 * apply as raft would (each must succeed).
 */
#ifndef TESTS_FSM_FIXTURES_H
#define TESTS_FSM_FIXTURES_H

#include <stdbool.h>
#include <stdio.h>

#include <raft.h>

#include "consensus/command.h"
#include "consensus/fsm.h"
#include "consensus_fixtures.h"

static inline struct raft_buffer encode_zone(const char *origin, const char *id)
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
static inline struct raft_buffer encode_batch(unsigned n, const char *request_id)
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

static inline void apply_buf(struct cs_fsm *fsm, struct raft_buffer b)
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
static inline void apply_zone_and_batches(struct cs_fsm *fsm, unsigned n)
{
        apply_buf(fsm, encode_zone("example.com.", "Z1"));
        for (unsigned k = 0; k < n; k++)
                apply_buf(fsm, encode_batch(k, NULL));
}

/* A state and its FSM holding zone example.com. and batches 0 .. n-1;
 * without async, raft's snapshot_async is left out (snapshots encode at
 * once, as with the fixture's io). */
static inline void fsm_with_batches(struct cs_state *st, struct cs_fsm *fsm, bool async,
                                    unsigned n)
{
        cs_state_init(st);
        cs_fsm_init(fsm, st);
        if (!async)
                fsm->raft_fsm.snapshot_async = NULL;
        apply_zone_and_batches(fsm, n);
}

#endif
