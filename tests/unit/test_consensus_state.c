/*
 * test_consensus_state.c — the replicated state: zones and change batches.
 *
 * Drives consensus/state.h directly (no codec, no raft) and checks the batch
 * semantics users rely on: CREATE / DELETE / UPSERT, every validation error
 * of a batch reported at once with its action and field, all-or-nothing
 * (a failing batch changes nothing, not even the serial), the CNAME, SOA and
 * NS rules, the SOA serial increment with wrap-around at 2^32, idempotent
 * retries by request id, bounded change records, zone deletion rules, the
 * observer calls, batches of 10,000 values, and that a write walks none of
 * the state's tables (common/pmap.h counts the items iterations visit).
 * The zones' name order is checked in test_consensus_zorder.c.
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

#include "consensus/state.h"
#include "consensus/wire.h"

#include "consensus_fixtures.h"

struct env {
        struct cs_state st;
        struct cs_result res;
        struct zone_fixture zf;
        struct abuild ab;
        uint64_t index;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        state_with_example_zone(&e->st, &e->res, &e->zf, &e->index);
        ab_init(&e->ab, 20000, 20000);
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

static int apply(struct env *e, const char *request_id)
{
        struct cs_ctx ctx = {.index = ++e->index,
                             .timestamp_ms = 1000 + e->index,
                             .request_id = request_id};
        struct cs_batch b = ab_batch(&e->ab, e->zf.origin, e->zf.origin_len);
        int rv = cs_state_batch_apply(&e->st, &ctx, &b, &e->res);
        ab_reset(&e->ab);
        return rv;
}

static const struct cs_zone *zone(struct env *e)
{
        return cs_state_zone_get(&e->st, e->zf.origin, e->zf.origin_len);
}

static const struct cs_rrset *get(struct env *e, const char *owner, uint16_t type,
                                  const char *set_id)
{
        uint8_t w[256];
        size_t l = to_wire(owner, w);
        return cs_zone_rrset_get(zone(e), w, l, type, set_id);
}

static uint32_t soa_serial_of(struct env *e)
{
        const struct cs_rrset *soa = get(e, "example.com.", 6, "");
        uint32_t s = 0;
        assert_non_null(soa);
        assert_int_equal(cs_soa_serial(soa->values[0].data, soa->values[0].len, &s), 0);
        assert_int_equal(s, zone(e)->serial);
        return s;
}

static void zone_create_stores_apex_sets_and_a_pending_change(void **state)
{
        struct env *e = *state;
        const struct cs_zone *z = zone(e);
        assert_non_null(z);
        assert_ptr_equal(cs_state_zone_by_id(&e->st, "Z1"), z);
        assert_int_equal(z->serial, 100);
        assert_int_equal(cs_zone_rrset_count(z), 2);
        assert_int_equal(get(e, "EXAMPLE.com.", 2, "")->count, 2);
        const struct cs_change *c = cs_state_change_get(&e->st, e->res.change_id);
        assert_non_null(c);
        assert_int_equal(c->kind, CS_CHANGE_ZONE_CREATE);
        assert_int_equal(cs_state_change_status(&e->st, c), CS_STATUS_PENDING);
        struct cs_ctx ctx = {.index = ++e->index};
        cs_state_changes_synced(&e->st, &ctx, c->index, &e->res);
        assert_int_equal(cs_state_change_status(&e->st, c), CS_STATUS_INSYNC);

        /* Same origin or same id again: refused. */
        ctx.index = ++e->index;
        assert_int_equal(cs_state_zone_create(&e->st, &ctx, &e->zf.spec, &e->res),
                         -EEXIST);
}

static void create_upsert_delete_follow_their_preconditions(void **state)
{
        struct env *e = *state;
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "www.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 192, 0, 2, 1);
        ab_a(&e->ab, a, 192, 0, 2, 2);
        assert_int_equal(apply(e, NULL), 0);
        assert_int_equal(get(e, "www.example.com.", 1, "")->count, 2);

        /* CREATE of an existing set fails. */
        a = ab_add(&e->ab, CS_ACTION_CREATE, "www.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 192, 0, 2, 3);
        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_int_equal(e->res.n_errors, 1);
        assert_string_equal(e->res.errors[0].field, "rrset");

        /* UPSERT replaces. */
        a = ab_add(&e->ab, CS_ACTION_UPSERT, "www.example.com.", 1, "", 300);
        ab_a(&e->ab, a, 192, 0, 2, 9);
        assert_int_equal(apply(e, NULL), 0);
        assert_int_equal(get(e, "www.example.com.", 1, "")->ttl, 300);
        assert_int_equal(get(e, "www.example.com.", 1, "")->count, 1);

        /* DELETE needs the exact TTL and values. */
        a = ab_add(&e->ab, CS_ACTION_DELETE, "www.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 192, 0, 2, 9);
        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_string_equal(e->res.errors[0].field, "ttl");
        a = ab_add(&e->ab, CS_ACTION_DELETE, "www.example.com.", 1, "", 300);
        ab_a(&e->ab, a, 192, 0, 2, 8);
        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_string_equal(e->res.errors[0].field, "values");
        a = ab_add(&e->ab, CS_ACTION_DELETE, "www.example.com.", 1, "", 300);
        ab_a(&e->ab, a, 192, 0, 2, 9);
        assert_int_equal(apply(e, NULL), 0);
        assert_null(get(e, "www.example.com.", 1, ""));

        /* DELETE of a missing set fails. */
        a = ab_add(&e->ab, CS_ACTION_DELETE, "www.example.com.", 1, "", 300);
        ab_a(&e->ab, a, 192, 0, 2, 9);
        assert_int_equal(apply(e, NULL), -EINVAL);
}

static void delete_matches_values_in_any_order_and_case(void **state)
{
        struct env *e = *state;
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "Mail.Example.com.", 15, "", 60);
        uint8_t mx[64];
        mx[0] = 0;
        mx[1] = 10;
        size_t l = to_wire("mx1.example.com.", mx + 2);
        ab_value(&e->ab, a, mx, l + 2);
        mx[1] = 20;
        l = to_wire("mx2.example.com.", mx + 2);
        ab_value(&e->ab, a, mx, l + 2);
        assert_int_equal(apply(e, NULL), 0);

        a = ab_add(&e->ab, CS_ACTION_DELETE, "mail.EXAMPLE.com.", 15, "", 60);
        ab_value(&e->ab, a, mx, l + 2); /* 20 mx2 first */
        mx[1] = 10;
        l = to_wire("mx1.example.com.", mx + 2);
        ab_value(&e->ab, a, mx, l + 2);
        assert_int_equal(apply(e, NULL), 0);
        assert_null(get(e, "mail.example.com.", 15, ""));
}

static void failing_batch_reports_every_error_and_changes_nothing(void **state)
{
        struct env *e = *state;
        uint32_t serial = soa_serial_of(e);
        size_t changes = cs_state_change_count(&e->st);
        struct cs_action *a;

        a = ab_add(&e->ab, CS_ACTION_CREATE, "ok.example.com.", 1, "", 60); /* 0: fine */
        ab_a(&e->ab, a, 10, 0, 0, 1);
        a = ab_add(&e->ab, CS_ACTION_CREATE, "www.example.org.", 1, "", 60); /* 1: zone */
        ab_a(&e->ab, a, 10, 0, 0, 1);
        a = ab_add(&e->ab, CS_ACTION_UPSERT, "bad.example.com.", 1, "",
                   60); /* 2: A len */
        ab_value(&e->ab, a, "abc", 3);
        a = ab_add(&e->ab, CS_ACTION_DELETE, "nx.example.com.", 1, "",
                   60); /* 3: missing */
        ab_a(&e->ab, a, 10, 0, 0, 1);
        a = ab_add(&e->ab, CS_ACTION_UPSERT, "t.example.com.", 16, "",
                   4000000000u); /* 4 */
        ab_value(&e->ab, a, "\003abc", 4);
        ab_value(&e->ab, a, "\003abc", 4); /* 4: TTL and duplicate: two errors */
        a = ab_add(&e->ab, CS_ACTION_UPSERT, "e.example.com.", 1, "",
                   60); /* 5: no values */

        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_int_equal(e->res.n_errors, 6);
        uint32_t want_action[] = {1, 2, 3, 4, 4, 5};
        const char *want_field[] = {"owner", "values", "rrset",
                                    "ttl",   "values", "values"};
        for (size_t i = 0; i < 6; i++) {
                assert_int_equal(e->res.errors[i].action, want_action[i]);
                assert_string_equal(e->res.errors[i].field, want_field[i]);
                assert_true(strlen(e->res.errors[i].message) > 0);
        }
        assert_null(get(e, "ok.example.com.", 1, ""));
        assert_int_equal(soa_serial_of(e), serial);
        assert_int_equal(cs_state_change_count(&e->st), changes);
        assert_int_equal(cs_zone_rrset_count(zone(e)), 2);
}

static void cname_excludes_other_types_at_its_owner(void **state)
{
        struct env *e = *state;
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "x.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 1);
        assert_int_equal(apply(e, NULL), 0);

        /* CNAME next to an A: refused, with the CNAME rule as reason. */
        a = ab_add(&e->ab, CS_ACTION_CREATE, "x.example.com.", 5, "", 60);
        ab_name(&e->ab, a, "target.example.net.");
        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_int_equal(e->res.n_errors, 1);
        assert_string_equal(e->res.errors[0].field, "type");
        assert_non_null(strstr(e->res.errors[0].message, "CNAME"));

        /* Also across set identifiers. */
        a = ab_add(&e->ab, CS_ACTION_CREATE, "x.example.com.", 5, "blue", 60);
        ab_name(&e->ab, a, "target.example.net.");
        assert_int_equal(apply(e, NULL), -EINVAL);

        /* A CNAME set has one value. */
        a = ab_add(&e->ab, CS_ACTION_CREATE, "y.example.com.", 5, "", 60);
        ab_name(&e->ab, a, "a.example.net.");
        ab_name(&e->ab, a, "b.example.net.");
        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_string_equal(e->res.errors[0].field, "values");

        /* Not at the apex (SOA and NS live there). */
        a = ab_add(&e->ab, CS_ACTION_CREATE, "example.com.", 5, "", 60);
        ab_name(&e->ab, a, "a.example.net.");
        assert_int_equal(apply(e, NULL), -EINVAL);

        /* Replacing the A by a CNAME in one batch is fine. */
        a = ab_add(&e->ab, CS_ACTION_DELETE, "x.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 1);
        a = ab_add(&e->ab, CS_ACTION_CREATE, "x.example.com.", 5, "", 60);
        ab_name(&e->ab, a, "target.example.net.");
        assert_int_equal(apply(e, NULL), 0);
        assert_non_null(get(e, "x.example.com.", 5, ""));

        /* Several CNAME sets (routing policies) can share an owner. */
        a = ab_add(&e->ab, CS_ACTION_CREATE, "w.example.com.", 5, "one", 60);
        ab_name(&e->ab, a, "a.example.net.");
        a = ab_add(&e->ab, CS_ACTION_CREATE, "w.example.com.", 5, "two", 60);
        ab_name(&e->ab, a, "b.example.net.");
        assert_int_equal(apply(e, NULL), 0);
        a = ab_add(&e->ab, CS_ACTION_CREATE, "w.example.com.", 16, "", 60);
        ab_value(&e->ab, a, "\001t", 2);
        assert_int_equal(apply(e, NULL), -EINVAL);
}

static void soa_and_apex_ns_rules_hold(void **state)
{
        struct env *e = *state;
        uint8_t soa[300];
        size_t soa_len = soa_rdata(soa, 5);
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "sub.example.com.", 6, "", 60);
        ab_value(&e->ab, a, soa, soa_len);
        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_string_equal(e->res.errors[0].field, "type");

        a = ab_add(&e->ab, CS_ACTION_DELETE, "example.com.", 6, "", 3600);
        ab_value(&e->ab, a, e->zf.soa, e->zf.soa_v.len);
        assert_int_equal(apply(e, NULL), -EINVAL);

        a = ab_add(&e->ab, CS_ACTION_DELETE, "example.com.", 2, "", 172800);
        ab_name(&e->ab, a, "ns1.example.net.");
        ab_name(&e->ab, a, "ns2.example.net.");
        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_non_null(strstr(e->res.errors[0].message, "apex"));

        a = ab_add(&e->ab, CS_ACTION_UPSERT, "example.com.", 2, "west", 60);
        ab_name(&e->ab, a, "ns1.example.net.");
        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_string_equal(e->res.errors[0].field, "set_id");

        /* A delegation below the apex can come and go. */
        a = ab_add(&e->ab, CS_ACTION_CREATE, "child.example.com.", 2, "", 60);
        ab_name(&e->ab, a, "ns.child.example.com.");
        assert_int_equal(apply(e, NULL), 0);
        a = ab_add(&e->ab, CS_ACTION_DELETE, "child.example.com.", 2, "", 60);
        ab_name(&e->ab, a, "ns.child.example.com.");
        assert_int_equal(apply(e, NULL), 0);

        /* UPSERT of the apex NS is allowed. */
        a = ab_add(&e->ab, CS_ACTION_UPSERT, "example.com.", 2, "", 3600);
        ab_name(&e->ab, a, "ns9.example.net.");
        assert_int_equal(apply(e, NULL), 0);
}

static void serial_increments_per_batch_and_wraps_at_2_32(void **state)
{
        struct env *e = *state;
        assert_int_equal(soa_serial_of(e), 100);
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_UPSERT, "s.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 1, 2, 3, 4);
        assert_int_equal(apply(e, NULL), 0);
        assert_int_equal(soa_serial_of(e), 101);

        /* A zone at the top of the serial space. */
        struct zone_fixture zf;
        struct cs_result res;
        cs_result_init(&res);
        zone_spec(&zf, "wrap.test.", "Z2", 4294967295u);
        struct cs_ctx ctx = {.index = ++e->index};
        assert_int_equal(cs_state_zone_create(&e->st, &ctx, &zf.spec, &res), 0);
        for (uint32_t want = 0; want < 2; want++) {
                a = ab_add(&e->ab, CS_ACTION_UPSERT, "s.wrap.test.", 1, "", 60);
                ab_a(&e->ab, a, 1, 2, 3, (uint8_t)want);
                struct cs_batch b = ab_batch(&e->ab, zf.origin, zf.origin_len);
                ctx.index = ++e->index;
                assert_int_equal(cs_state_batch_apply(&e->st, &ctx, &b, &res), 0);
                ab_reset(&e->ab);
                const struct cs_zone *z =
                    cs_state_zone_get(&e->st, zf.origin, zf.origin_len);
                const struct cs_rrset *soa =
                    cs_zone_rrset_get(z, zf.origin, zf.origin_len, 6, "");
                uint32_t s;
                cs_soa_serial(soa->values[0].data, soa->values[0].len, &s);
                assert_int_equal(s, want);
                assert_int_equal(z->serial, want);
        }
        cs_result_fini(&res);
}

static void retried_request_id_is_applied_once(void **state)
{
        struct env *e = *state;
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "r.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 1, 1, 1);
        assert_int_equal(apply(e, "req-1"), 0);
        char first[CS_ID_MAXLEN + 1];
        strcpy(first, e->res.change_id);
        assert_false(e->res.duplicate);
        uint32_t serial = soa_serial_of(e);

        a = ab_add(&e->ab, CS_ACTION_CREATE, "r.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 1, 1, 1);
        assert_int_equal(apply(e, "req-1"), 0); /* not "already exists" */
        assert_true(e->res.duplicate);
        assert_string_equal(e->res.change_id, first);
        assert_int_equal(soa_serial_of(e), serial);
        assert_ptr_equal(cs_state_change_by_request(&e->st, "req-1"),
                         cs_state_change_get(&e->st, first));
}

static void change_records_are_bounded_oldest_first(void **state)
{
        struct env *e = *state;
        e->st.changes_max = 3;
        char req[32];
        for (int i = 0; i < 5; i++) {
                struct cs_action *a =
                    ab_add(&e->ab, CS_ACTION_UPSERT, "b.example.com.", 1, "", 60);
                ab_a(&e->ab, a, 10, 0, 0, (uint8_t)i);
                snprintf(req, sizeof(req), "bounded-%d", i);
                assert_int_equal(apply(e, req), 0);
        }
        assert_int_equal(cs_state_change_count(&e->st), 3);
        assert_null(cs_state_change_by_request(&e->st, "bounded-1"));
        assert_non_null(cs_state_change_by_request(&e->st, "bounded-2"));
        assert_non_null(cs_state_change_by_request(&e->st, "bounded-4"));

        /* By age: a command a week and a day later evicts everything older. */
        e->st.changes_max = 100;
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_UPSERT, "b.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 99);
        struct cs_ctx ctx = {.index = ++e->index,
                             .timestamp_ms = 8ull * 24 * 3600 * 1000,
                             .request_id = "late"};
        struct cs_batch b = ab_batch(&e->ab, e->zf.origin, e->zf.origin_len);
        assert_int_equal(cs_state_batch_apply(&e->st, &ctx, &b, &e->res), 0);
        ab_reset(&e->ab);
        assert_int_equal(cs_state_change_count(&e->st), 1);
}

/* Records lie in segments freed whole once every record in them is
 * evicted; while a snapshot view pins the state, the evicted records stay
 * readable (ASan would catch a read of an unmapped one), and are let go of
 * at the unpin. */
static void change_record_segments_are_reclaimed(void **state)
{
        struct env *e = *state;
        e->st.changes_max = 500;
        char req[CS_REQUEST_ID_MAXLEN];
        for (int round = 0; round < 2; round++) {
                if (round == 1)
                        cs_state_pin(&e->st);
                size_t peak = 0;
                for (int i = 0; i < 8000; i++) { /* ~2.5 MB of records */
                        struct cs_action *a =
                            ab_add(&e->ab, CS_ACTION_UPSERT, "g.example.com.", 1, "", 60);
                        ab_a(&e->ab, a, 10, 0, (uint8_t)(i >> 8), (uint8_t)i);
                        snprintf(req, sizeof(req), "seg-%d-%d-%0180d", round, i, 0);
                        assert_int_equal(apply(e, req), 0);
                        if (i >= 4000 && e->st.change_segs_mapped > peak)
                                peak = e->st.change_segs_mapped;
                }
                assert_int_equal(cs_state_change_count(&e->st), 500);
                snprintf(req, sizeof(req), "seg-%d-%d-%0180d", round, 7499, 0);
                assert_null(cs_state_change_by_request(&e->st, req));
                snprintf(req, sizeof(req), "seg-%d-%d-%0180d", round, 7500, 0);
                const struct cs_change *c = cs_state_change_by_request(&e->st, req);
                assert_non_null(c);
                assert_ptr_equal(cs_state_change_at(&e->st, 0), c);
                if (round == 0) {
                        /* Peaks from the 4,000th record on: by then the
                         * segments, at first small (4 KB, each twice the
                         * one before), are 1 MB. */
                        assert_null(e->st.evicted);
                        assert_true(peak <= 2);
                        continue;
                }
                /* Pinned: every record evicted since is still there. */
                assert_true(peak >= 3);
                int n = 0;
                for (const struct cs_change *x = e->st.evicted; x;
                     x = x->evicted_next, n++)
                        assert_memory_equal(x->request_id, "seg-", 4);
                assert_true(n >= 7500);
                cs_state_unpin(&e->st);
                assert_null(e->st.evicted);
                assert_true(e->st.change_segs_mapped <= 2);
        }
}

static void zone_delete_needs_an_empty_zone_unless_forced(void **state)
{
        struct env *e = *state;
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "d.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 1);
        assert_int_equal(apply(e, NULL), 0);
        struct cs_ctx ctx = {.index = ++e->index};
        assert_int_equal(cs_state_zone_delete(&e->st, &ctx, e->zf.origin,
                                              e->zf.origin_len, false, &e->res),
                         -ENOTEMPTY);
        assert_non_null(zone(e));
        ctx.index = ++e->index;
        assert_int_equal(cs_state_zone_delete(&e->st, &ctx, e->zf.origin,
                                              e->zf.origin_len, true, &e->res),
                         0);
        assert_null(zone(e));
        assert_null(cs_state_zone_by_id(&e->st, "Z1"));
        ctx.index = ++e->index;
        assert_int_equal(cs_state_zone_delete(&e->st, &ctx, e->zf.origin,
                                              e->zf.origin_len, false, &e->res),
                         -ENOENT);
        /* The apex-only zone can be deleted without force. */
        struct zone_fixture zf;
        zone_spec(&zf, "empty.test.", "Z3", 1);
        ctx.index = ++e->index;
        assert_int_equal(cs_state_zone_create(&e->st, &ctx, &zf.spec, &e->res), 0);
        ctx.index = ++e->index;
        assert_int_equal(
            cs_state_zone_delete(&e->st, &ctx, zf.origin, zf.origin_len, false, &e->res),
            0);
}

struct seen {
        int batches;
        size_t last_n;
        bool saw_soa, saw_delete;
};

static void on_changed(void *ctx, const struct cs_zone *z,
                       const struct cs_rrset_change *ch, size_t n)
{
        struct seen *s = ctx;
        s->batches++;
        s->last_n = n;
        for (size_t i = 0; i < n; i++) {
                if (ch[i].type == 6 && ch[i].rrset)
                        s->saw_soa = true;
                if (ch[i].rrset == NULL)
                        s->saw_delete = true;
        }
}

static void observer_gets_each_batch_once_with_the_new_soa(void **state)
{
        struct env *e = *state;
        struct seen s = {0};
        struct cs_observer obs = {.ctx = &s, .rrsets_changed = on_changed};
        cs_state_set_observer(&e->st, &obs);
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "o1.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 1);
        a = ab_add(&e->ab, CS_ACTION_CREATE, "o2.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 2);
        assert_int_equal(apply(e, NULL), 0);
        assert_int_equal(s.batches, 1);
        assert_int_equal(s.last_n, 3); /* two sets and the SOA */
        assert_true(s.saw_soa);
        a = ab_add(&e->ab, CS_ACTION_DELETE, "o1.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 1);
        assert_int_equal(apply(e, NULL), 0);
        assert_true(s.saw_delete);
        /* A failing batch is not reported. */
        a = ab_add(&e->ab, CS_ACTION_DELETE, "o1.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 1);
        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_int_equal(s.batches, 2);
}

struct created {
        int zones, batches;
        size_t sets;
};

static void on_created(void *ctx, const struct cs_zone *z)
{
        struct created *c = ctx;
        c->zones++;
        c->sets = cs_zone_rrset_count(z);
}

static void on_created_batch(void *ctx, const struct cs_zone *z,
                             const struct cs_rrset_change *ch, size_t n)
{
        ((struct created *)ctx)->batches++;
}

/* A zone created with records (a bulk item's zone file) is one command and
 * one change: the observer sees it once, whole; records that do not fit
 * leave no zone, no change and no id behind.  The zone is below one the
 * state holds (example.com.): an alias to its own records finds them in
 * the new zone, not in the parent. */
static void zone_is_created_with_its_records_or_not_at_all(void **state)
{
        struct env *e = *state;
        struct created seen = {0};
        struct cs_observer obs = {
            .ctx = &seen, .zone_created = on_created, .rrsets_changed = on_created_batch};
        cs_state_set_observer(&e->st, &obs);
        size_t changes = cs_state_change_count(&e->st);
        struct zone_fixture zf;
        uint8_t target[64];
        zone_spec(&zf, "records.example.com.", "ZR", 41);
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "www.records.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 192, 0, 2, 1);
        a = ab_add(&e->ab, CS_ACTION_CREATE, "mail.records.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 192, 0, 2, 2);
        a = ab_add(&e->ab, CS_ACTION_CREATE, "alias.records.example.com.", 1, "", 60);
        a->rrset.routing.alias_name = target;
        a->rrset.routing.alias_name_len = to_wire("www.records.example.com.", target);
        /* One invalid action: a CNAME beside other data at www. */
        a = ab_add(&e->ab, CS_ACTION_CREATE, "www.records.example.com.", 5, "", 60);
        ab_name(&e->ab, a, "elsewhere.test.");
        zf.spec.actions = e->ab.actions;
        zf.spec.n_actions = e->ab.n;
        assert_int_equal(zone_create_at(&e->st, &e->index, &zf, &e->res), -EINVAL);
        assert_true(e->res.n_errors >= 1);
        assert_null(cs_state_zone_get(&e->st, zf.origin, zf.origin_len));
        assert_null(cs_state_zone_by_id(&e->st, "ZR"));
        assert_int_equal(cs_state_change_count(&e->st), changes);
        assert_int_equal(seen.zones, 0);
        /* Without it: created whole, its serial moved once past the spec's. */
        zf.spec.n_actions = 3;
        assert_int_equal(zone_create_at(&e->st, &e->index, &zf, &e->res), 0);
        const struct cs_zone *z = cs_state_zone_get(&e->st, zf.origin, zf.origin_len);
        assert_non_null(z);
        assert_int_equal(cs_zone_rrset_count(z), 5); /* SOA, NS, www, mail, alias */
        assert_int_equal(z->serial, 42);
        uint8_t www[64];
        size_t wl = to_wire("www.records.example.com.", www);
        assert_non_null(cs_zone_rrset_get(z, www, wl, 1, ""));
        assert_int_equal(cs_state_change_count(&e->st), changes + 1);
        assert_int_equal(seen.zones, 1);
        assert_int_equal(seen.sets, 5);
        assert_int_equal(seen.batches, 0);
        ab_reset(&e->ab);
}

static void batch_of_10000_values_applies_and_deletes(void **state)
{
        struct env *e = *state;
        char owner[64];
        /* 1,000 sets of 10 values. */
        for (int i = 0; i < 1000; i++) {
                snprintf(owner, sizeof(owner), "h%d.example.com.", i);
                struct cs_action *a = ab_add(&e->ab, CS_ACTION_CREATE, owner, 1, "", 60);
                for (int v = 0; v < 10; v++)
                        ab_a(&e->ab, a, 10, (uint8_t)(i >> 8), (uint8_t)i, (uint8_t)v);
        }
        assert_int_equal(apply(e, NULL), 0);
        assert_int_equal(cs_zone_rrset_count(zone(e)), 1002);
        /* 10,000 single-value sets in one batch. */
        for (int i = 0; i < 10000; i++) {
                snprintf(owner, sizeof(owner), "s%d.example.com.", i);
                struct cs_action *a = ab_add(&e->ab, CS_ACTION_UPSERT, owner, 1, "", 60);
                ab_a(&e->ab, a, 10, 9, (uint8_t)(i >> 8), (uint8_t)i);
        }
        assert_int_equal(apply(e, NULL), 0);
        assert_int_equal(cs_zone_rrset_count(zone(e)), 11002);
        /* And a batch of 10,000 errors is reported whole. */
        for (int i = 0; i < 10000; i++) {
                snprintf(owner, sizeof(owner), "s%d.example.com.", i);
                struct cs_action *a = ab_add(&e->ab, CS_ACTION_CREATE, owner, 1, "", 60);
                ab_a(&e->ab, a, 10, 9, (uint8_t)(i >> 8), (uint8_t)i);
        }
        assert_int_equal(apply(e, NULL), -EINVAL);
        assert_int_equal(e->res.n_errors, 10000);
        assert_int_equal(e->res.errors[9999].action, 9999);
        for (int i = 0; i < 10000; i++) {
                snprintf(owner, sizeof(owner), "s%d.example.com.", i);
                struct cs_action *a = ab_add(&e->ab, CS_ACTION_DELETE, owner, 1, "", 60);
                ab_a(&e->ab, a, 10, 9, (uint8_t)(i >> 8), (uint8_t)i);
        }
        assert_int_equal(apply(e, NULL), 0);
        assert_int_equal(cs_zone_rrset_count(zone(e)), 1002);
}

/* Applying an upsert or creating a zone costs what the command touches:
 * no table of the state is iterated, in a zone of 2 or 5,003 sets, in a
 * state of 1 or 1,002 zones. */
static void writes_walk_no_table_whatever_the_size(void **state)
{
        struct env *e = *state;
        char owner[64];
        for (int round = 0; round < 2; round++) {
                snprintf(owner, sizeof(owner), "w%d.example.com.", round);
                struct cs_action *a = ab_add(&e->ab, CS_ACTION_UPSERT, owner, 1, "", 60);
                ab_a(&e->ab, a, 10, 0, 0, (uint8_t)round);
                uint64_t walked = pmap_stats_walked();
                assert_int_equal(apply(e, NULL), 0);
                assert_int_equal(pmap_stats_walked(), walked);

                struct zone_fixture zf;
                char id[32];
                snprintf(owner, sizeof(owner), "new%d.example.", round);
                snprintf(id, sizeof(id), "N%d", round);
                zone_spec(&zf, owner, id, 100);
                struct cs_ctx ctx = {.index = ++e->index, .timestamp_ms = 1000};
                walked = pmap_stats_walked();
                assert_int_equal(cs_state_zone_create(&e->st, &ctx, &zf.spec, &e->res),
                                 0);
                assert_int_equal(pmap_stats_walked(), walked);
                cs_result_reset(&e->res);

                /* Grow the zone and the catalog for the second round. */
                for (int i = 0; i < 5000 && round == 0; i++) {
                        snprintf(owner, sizeof(owner), "g%d.example.com.", i);
                        struct cs_action *g =
                            ab_add(&e->ab, CS_ACTION_CREATE, owner, 1, "", 60);
                        ab_a(&e->ab, g, 10, 1, (uint8_t)(i >> 8), (uint8_t)i);
                }
                if (round == 0)
                        assert_int_equal(apply(e, NULL), 0);
                for (int i = 0; i < 1000 && round == 0; i++) {
                        snprintf(owner, sizeof(owner), "z%d.example.", i);
                        snprintf(id, sizeof(id), "Z%d", i + 2);
                        zone_spec(&zf, owner, id, 100);
                        ctx.index = ++e->index;
                        assert_int_equal(
                            cs_state_zone_create(&e->st, &ctx, &zf.spec, &e->res), 0);
                        cs_result_reset(&e->res);
                }
        }
        assert_int_equal(cs_zone_rrset_count(zone(e)), 5004);
        assert_int_equal(cs_state_zone_count(&e->st), 1003);
}

static void batch_check_validates_without_changing_state(void **state)
{
        struct env *e = *state;
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "c.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 1);
        struct cs_batch b = ab_batch(&e->ab, e->zf.origin, e->zf.origin_len);
        assert_int_equal(cs_state_batch_check(&e->st, &b, &e->res), 0);
        assert_null(get(e, "c.example.com.", 1, ""));
        a = ab_add(&e->ab, CS_ACTION_CREATE, "c.example.com.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 1);
        b = ab_batch(&e->ab, e->zf.origin, e->zf.origin_len);
        assert_int_equal(cs_state_batch_check(&e->st, &b, &e->res),
                         -EINVAL); /* 2nd CREATE */
        ab_reset(&e->ab);
        uint8_t other[64];
        size_t ol = to_wire("nope.test.", other);
        a = ab_add(&e->ab, CS_ACTION_CREATE, "c.nope.test.", 1, "", 60);
        ab_a(&e->ab, a, 10, 0, 0, 1);
        b = ab_batch(&e->ab, other, ol);
        assert_int_equal(cs_state_batch_check(&e->st, &b, &e->res), -ENOENT);
        ab_reset(&e->ab);
}

static void members_are_kept_sorted_and_replaced_by_id(void **state)
{
        struct env *e = *state;
        struct cs_member_spec m = {
            2, "n2", "10.0.0.2:7000", "10.0.0.2:53", "10.0.0.2:8080", CS_ROLE_VOTER};
        struct cs_ctx ctx = {.index = ++e->index};
        assert_int_equal(cs_state_member_put(&e->st, &ctx, &m, &e->res), 0);
        m.id = 1;
        m.name = "n1";
        assert_int_equal(cs_state_member_put(&e->st, &ctx, &m, &e->res), 0);
        m.role = CS_ROLE_STANDBY;
        assert_int_equal(cs_state_member_put(&e->st, &ctx, &m, &e->res), 0);
        assert_int_equal(e->st.n_members, 2);
        assert_int_equal(e->st.members[0].id, 1);
        assert_int_equal(cs_state_member_get(&e->st, 1)->role, CS_ROLE_STANDBY);
        m.role = 7;
        assert_int_equal(cs_state_member_put(&e->st, &ctx, &m, &e->res), -EINVAL);
        assert_int_equal(cs_state_member_remove(&e->st, &ctx, 2, &e->res), 0);
        assert_int_equal(cs_state_member_remove(&e->st, &ctx, 2, &e->res), -ENOENT);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(zone_create_stores_apex_sets_and_a_pending_change),
            T(create_upsert_delete_follow_their_preconditions),
            T(delete_matches_values_in_any_order_and_case),
            T(failing_batch_reports_every_error_and_changes_nothing),
            T(cname_excludes_other_types_at_its_owner),
            T(soa_and_apex_ns_rules_hold),
            T(serial_increments_per_batch_and_wraps_at_2_32),
            T(retried_request_id_is_applied_once),
            T(change_records_are_bounded_oldest_first),
            T(change_record_segments_are_reclaimed),
            T(zone_delete_needs_an_empty_zone_unless_forced),
            T(observer_gets_each_batch_once_with_the_new_soa),
            T(zone_is_created_with_its_records_or_not_at_all),
            T(batch_of_10000_values_applies_and_deletes),
            T(writes_walk_no_table_whatever_the_size),
            T(batch_check_validates_without_changing_state),
            T(members_are_kept_sorted_and_replaced_by_id),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
