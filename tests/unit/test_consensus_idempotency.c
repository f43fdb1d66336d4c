/*
 * test_consensus_idempotency.c — request ids bound to their request.
 *
 * The API sends "KEY\nFINGERPRINT" as a command's request id.  The state
 * machine finds change records by KEY, so a key reused with another
 * fingerprint is refused when applied (-EKEYREJECTED, nothing changes) —
 * the case where two requests with one key race to the leader — while the
 * same fingerprint is a retry (the first change), and plain keys from older
 * logs keep their meaning.  Survives a snapshot round trip.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "consensus/snapshot.h"
#include "consensus/state.h"
#include "consensus_fixtures.h"

#define FP_A "\n00000000000000000000000000000000"
#define FP_B "\n11111111111111111111111111111111"

struct env {
        struct cs_state st;
        struct cs_result res;
        struct zone_fixture a, b;
        struct abuild ab;
        uint64_t index;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        cs_state_init(&e->st);
        cs_result_init(&e->res);
        zone_spec(&e->a, "a.test.", "ZA", 1);
        zone_spec(&e->b, "b.test.", "ZB", 1);
        ab_init(&e->ab, 16, 16);
        assert_int_equal(zone_create_at(&e->st, &e->index, &e->b, &e->res), 0);
        assert_int_equal(e->res.status, 0);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        state_end(&e->st, &e->res);
        ab_free(&e->ab);
        free(e);
        return 0;
}

static void create_a(struct env *e, const char *request_id)
{
        struct cs_ctx ctx = {.index = ++e->index,
                             .timestamp_ms = 1000 + e->index,
                             .request_id = request_id};
        cs_state_zone_create(&e->st, &ctx, &e->a.spec, &e->res);
}

static void batch_b_on(struct env *e, struct cs_state *st, const char *request_id)
{
        struct cs_action *x = ab_add(&e->ab, CS_ACTION_CREATE, "www.b.test.", 1, "", 60);
        ab_a(&e->ab, x, 192, 0, 2, 7);
        struct cs_ctx ctx = {.index = ++e->index,
                             .timestamp_ms = 1000 + e->index,
                             .request_id = request_id};
        struct cs_batch b = ab_batch(&e->ab, e->b.origin, e->b.origin_len);
        cs_state_batch_apply(st, &ctx, &b, &e->res);
        ab_reset(&e->ab);
}

static void batch_b(struct env *e, const char *request_id)
{
        batch_b_on(e, &e->st, request_id);
}

static size_t b_sets(struct env *e)
{
        return cs_zone_rrset_count(
            cs_state_zone_get(&e->st, e->b.origin, e->b.origin_len));
}

static void key_reused_for_another_request_is_refused_on_apply(void **state)
{
        struct env *e = *state;
        create_a(e, "k1" FP_A);
        assert_int_equal(e->res.status, 0);
        char first[CS_ID_MAXLEN + 1];
        strcpy(first, e->res.change_id);
        size_t before = b_sets(e);
        /* The attack: the zone creation's key on a batch for another zone. */
        batch_b(e, "k1" FP_B);
        assert_int_equal(e->res.status, -EKEYREJECTED);
        assert_false(e->res.duplicate);
        assert_non_null(strstr(e->res.message, first));
        assert_int_equal(b_sets(e), before); /* nothing applied */
        /* The honest retry is still the first change. */
        create_a(e, "k1" FP_A);
        assert_int_equal(e->res.status, 0);
        assert_true(e->res.duplicate);
        assert_string_equal(e->res.change_id, first);
        /* Lookups go by key, whatever the fingerprint asked with. */
        assert_ptr_equal(cs_state_change_by_request(&e->st, "k1" FP_B),
                         cs_state_change_get(&e->st, first));
        assert_ptr_equal(cs_state_change_by_request(&e->st, "k1"),
                         cs_state_change_get(&e->st, first));
        assert_null(cs_state_change_by_request(&e->st, "k"));
        assert_null(cs_state_change_by_request(&e->st, "k10" FP_A));
}

static void plain_keys_keep_their_meaning(void **state)
{
        struct env *e = *state;
        batch_b(e, "legacy");
        assert_int_equal(e->res.status, 0);
        char first[CS_ID_MAXLEN + 1];
        strcpy(first, e->res.change_id);
        create_a(e, "legacy");
        assert_int_equal(e->res.status, 0);
        assert_true(e->res.duplicate);
        assert_string_equal(e->res.change_id, first);
}

static void binding_survives_a_snapshot(void **state)
{
        struct env *e = *state;
        create_a(e, "k2" FP_A);
        assert_int_equal(e->res.status, 0);
        void *buf;
        size_t len;
        char err[256];
        assert_int_equal(cs_snapshot_encode(&e->st, &buf, &len), 0);
        struct cs_state restored;
        cs_state_init(&restored);
        assert_int_equal(cs_snapshot_decode(buf, len, &restored, err, sizeof(err)), 0);
        free(buf);
        batch_b_on(e, &restored, "k2" FP_B);
        assert_int_equal(e->res.status, -EKEYREJECTED);
        batch_b_on(e, &restored, "k3" FP_B);
        assert_int_equal(e->res.status, 0);
        cs_state_fini(&restored);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(
                key_reused_for_another_request_is_refused_on_apply, setup, teardown),
            cmocka_unit_test_setup_teardown(plain_keys_keep_their_meaning, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(binding_survives_a_snapshot, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
