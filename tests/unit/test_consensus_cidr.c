/*
 * test_consensus_cidr.c — CIDR collections in the replicated state.
 *
 * The state: create (ids and names unique, names checked), changes of PUT
 * and DELETE_IF_EXISTS applied in order (a block belongs to one location,
 * overlapping blocks of different locations are fine, a location goes with
 * its last block), the collection version (bumped per change, a change for
 * another version refused with -ESTALE), all-or-nothing validation that
 * names every bad field, and the record-set rules: a set names a collection
 * and location that exist (or "*"), a collection or a location a set names
 * is not deleted (-EBUSY).  The codecs: every CIDR command through encode and
 * decode, a CIDR command in a format-3 entry refused, snapshots of a state
 * with collections byte-identical after a round trip, and a format-3
 * snapshot (before collections existed) still loaded.
 */
#include <errno.h>
#include <raft.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "consensus/cidr.h"
#include "consensus/codec.h"
#include "consensus/command.h"
#include "consensus/snapshot.h"
#include "consensus_fixtures.h"

struct env {
        struct cs_state st;
        struct cs_result res;
        uint64_t index;
        unsigned changed; /* observer calls */
        const struct cs_cidr_collection *last;
};

static void on_changed(void *ctx, const char *id, const struct cs_cidr_collection *c)
{
        struct env *e = ctx;
        e->changed++;
        e->last = c;
}

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        cs_state_init(&e->st);
        cs_result_init(&e->res);
        struct cs_cidr_observer obs = {.ctx = e, .collection_changed = on_changed};
        cs_state_set_cidr_observer(&e->st, &obs);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        state_end(&e->st, &e->res);
        free(e);
        return 0;
}

static struct cs_ctx next_ctx(struct env *e)
{
        struct cs_ctx ctx = {.index = ++e->index, .timestamp_ms = 5000 + e->index};
        return ctx;
}

static int create(struct env *e, const char *id, const char *name)
{
        struct cs_ctx ctx = next_ctx(e);
        return cs_state_cidr_create(&e->st, &ctx, id, name, &e->res);
}

static struct cs_cidr_block block(const char *text)
{
        struct cs_cidr_block b;
        char err[200];
        assert_int_equal(cs_cidr_block_parse(text, &b, err, sizeof(err)), 0);
        return b;
}

/* One action of n blocks given as text. */
static int change1(struct env *e, const char *id, uint32_t kind, const char *loc,
                   const char *const *texts, size_t n, int64_t version)
{
        struct cs_cidr_block *b = calloc(n ? n : 1, sizeof(*b));
        for (size_t i = 0; i < n; i++)
                b[i] = block(texts[i]);
        struct cs_cidr_action a = {kind, loc, b, n};
        struct cs_cidr_change c = {id, version >= 0,
                                   (uint64_t)(version >= 0 ? version : 0), &a, 1};
        struct cs_ctx ctx = next_ctx(e);
        int rv = cs_state_cidr_change(&e->st, &ctx, &c, &e->res);
        free(b);
        return rv;
}

static size_t blocks_of(const struct cs_cidr_collection *c, const char *loc)
{
        const struct cs_cidr_location *l = cs_cidr_location_get(c, loc);
        return l ? l->blocks : 0;
}

static void block_parse_and_text(void **state)
{
        (void)state;
        struct cs_cidr_block b;
        char err[200], text[64];
        assert_int_equal(cs_cidr_block_parse("192.0.2.0/24", &b, err, sizeof(err)), 0);
        assert_int_equal(b.family, 4);
        assert_int_equal(b.len, 24);
        cs_cidr_block_text(&b, text, sizeof(text));
        assert_string_equal(text, "192.0.2.0/24");
        assert_int_equal(cs_cidr_block_parse("2001:db8::/32", &b, err, sizeof(err)), 0);
        assert_int_equal(b.family, 6);
        cs_cidr_block_text(&b, text, sizeof(text));
        assert_string_equal(text, "2001:db8::/32");
        assert_int_equal(cs_cidr_block_parse("0.0.0.0/0", &b, err, sizeof(err)), 0);
        assert_int_equal(cs_cidr_block_parse("::1/128", &b, err, sizeof(err)), 0);
        /* Host bits, lengths, garbage: refused with a reason. */
        assert_int_equal(cs_cidr_block_parse("192.0.2.1/24", &b, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "past the prefix"));
        assert_int_equal(cs_cidr_block_parse("192.0.2.0/33", &b, err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(cs_cidr_block_parse("2001:db8::/129", &b, err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(cs_cidr_block_parse("192.0.2.0", &b, err, sizeof(err)), -EINVAL);
        assert_int_equal(cs_cidr_block_parse("192.0.2.0/", &b, err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(cs_cidr_block_parse("192.0.2.0/2x", &b, err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(cs_cidr_block_parse("example/8", &b, err, sizeof(err)), -EINVAL);
}

static void create_checks_ids_and_names(void **state)
{
        struct env *e = *state;
        assert_int_equal(create(e, "c1", "offices"), 0);
        assert_int_equal(e->changed, 1);
        assert_int_equal(create(e, "c1", "other"), -EEXIST);
        assert_int_equal(create(e, "c2", "offices"), -EEXIST);
        assert_int_equal(create(e, "c3", "bad name"), -EINVAL);
        assert_int_equal(create(e, "", "x"), -EINVAL);
        assert_int_equal(create(e, "c0", "first"), 0);
        assert_int_equal(cs_state_cidr_count(&e->st), 2);
        assert_string_equal(cs_state_cidr_at(&e->st, 0)->id, "c0"); /* by id */
        const struct cs_cidr_collection *c = cs_state_cidr_get(&e->st, "c1");
        assert_int_equal(c->version, 1);
        assert_int_equal(c->n_entries, 0);
        assert_int_equal(e->st.last_index, e->index);
}

static void changes_apply_in_order_and_bump_the_version(void **state)
{
        struct env *e = *state;
        assert_int_equal(create(e, "c1", "offices"), 0);
        const char *const lon[] = {"10.0.0.0/8", "2001:db8::/32"};
        const char *const par[] = {"10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32"};
        assert_int_equal(change1(e, "c1", CS_CIDR_PUT, "london", lon, 2, 1), 0);
        assert_int_equal(change1(e, "c1", CS_CIDR_PUT, "paris", par, 3, -1), 0);
        const struct cs_cidr_collection *c = cs_state_cidr_get(&e->st, "c1");
        assert_int_equal(c->version, 3);
        assert_int_equal(c->n_entries, 5);
        assert_int_equal(blocks_of(c, "london"), 2);
        assert_int_equal(blocks_of(c, "paris"), 3);
        assert_ptr_equal(e->last, c);
        for (size_t i = 1; i < c->n_entries; i++) /* sorted */
                assert_true(cs_cidr_block_cmp(&c->entries[i - 1].block,
                                              &c->entries[i].block) < 0);
        /* A version that is not the collection's: refused, nothing changes. */
        assert_int_equal(change1(e, "c1", CS_CIDR_PUT, "rome", par, 1, 2), -ESTALE);
        assert_int_equal(c->version, 3);
        /* Putting a block a location holds again is no change for it. */
        assert_int_equal(change1(e, "c1", CS_CIDR_PUT, "paris", par, 1, 3), 0);
        assert_int_equal(blocks_of(c, "paris"), 3);
        /* A block belongs to one location. */
        assert_int_equal(change1(e, "c1", CS_CIDR_PUT, "rome", par + 1, 1, -1), -EINVAL);
        assert_true(e->res.n_errors >= 1);
        assert_string_equal(e->res.errors[0].field, "cidr_list");
        assert_non_null(strstr(e->res.errors[0].message, "paris"));
        /* DELETE_IF_EXISTS: only where the block is; absent blocks skipped. */
        const char *const del[] = {"10.1.2.0/24", "192.0.2.0/24"};
        assert_int_equal(change1(e, "c1", CS_CIDR_DELETE_IF_EXISTS, "london", del, 2, -1),
                         0);
        assert_int_equal(blocks_of(c, "paris"), 3);
        assert_int_equal(change1(e, "c1", CS_CIDR_DELETE_IF_EXISTS, "paris", del, 2, -1),
                         0);
        assert_int_equal(blocks_of(c, "paris"), 2);
        /* The last block goes: so does the location. */
        const char *const rest[] = {"10.1.0.0/16", "10.1.2.3/32"};
        assert_int_equal(change1(e, "c1", CS_CIDR_DELETE_IF_EXISTS, "paris", rest, 2, -1),
                         0);
        assert_null(cs_cidr_location_get(c, "paris"));
        assert_int_equal(c->n_locations, 1);
        assert_int_equal(c->n_entries, 2);
        assert_int_equal(c->entries[0].location, 0);
}

static void a_change_moves_a_block_and_is_all_or_nothing(void **state)
{
        struct env *e = *state;
        assert_int_equal(create(e, "c1", "offices"), 0);
        const char *const one[] = {"192.0.2.0/24"};
        assert_int_equal(change1(e, "c1", CS_CIDR_PUT, "a", one, 1, -1), 0);
        /* Delete from a, put into b, in one change: the block moves. */
        struct cs_cidr_block b = block("192.0.2.0/24");
        struct cs_cidr_action acts[2] = {{CS_CIDR_DELETE_IF_EXISTS, "a", &b, 1},
                                         {CS_CIDR_PUT, "b", &b, 1}};
        struct cs_cidr_change c = {"c1", false, 0, acts, 2};
        struct cs_ctx ctx = next_ctx(e);
        assert_int_equal(cs_state_cidr_change(&e->st, &ctx, &c, &e->res), 0);
        const struct cs_cidr_collection *coll = cs_state_cidr_get(&e->st, "c1");
        assert_null(cs_cidr_location_get(coll, "a"));
        assert_int_equal(blocks_of(coll, "b"), 1);
        /* Bad actions: every problem named, the collection unchanged. */
        struct cs_cidr_block bad = b;
        bad.len = 40;
        struct cs_cidr_action wrong[3] = {{9, "c", &b, 1},
                                          {CS_CIDR_PUT, "no spaces", &b, 1},
                                          {CS_CIDR_PUT, "d", &bad, 1}};
        struct cs_cidr_change w = {"c1", false, 0, wrong, 3};
        ctx = next_ctx(e);
        assert_int_equal(cs_state_cidr_change(&e->st, &ctx, &w, &e->res), -EINVAL);
        assert_int_equal(e->res.n_errors, 3);
        assert_string_equal(e->res.errors[0].field, "action");
        assert_string_equal(e->res.errors[1].field, "location_name");
        assert_string_equal(e->res.errors[2].field, "cidr_list");
        assert_int_equal(coll->version, 3);
        struct cs_cidr_change missing = {"nope", false, 0, acts, 1};
        ctx = next_ctx(e);
        assert_int_equal(cs_state_cidr_change(&e->st, &ctx, &missing, &e->res), -ENOENT);
}

/* A zone with one IP-based set naming (collection, location). */
static int cidr_rrset(struct env *e, const char *set_id, const char *coll,
                      const char *loc, enum cs_action_kind kind)
{
        struct abuild b;
        ab_init(&b, 2, 2);
        struct cs_action *a = ab_add(&b, kind, "www.example.com.", 1, set_id, 60);
        ab_a(&b, a, 192, 0, 2, 1);
        a->rrset.routing.has_cidr = true;
        snprintf(a->rrset.routing.cidr_collection,
                 sizeof(a->rrset.routing.cidr_collection), "%s", coll);
        snprintf(a->rrset.routing.cidr_location, sizeof(a->rrset.routing.cidr_location),
                 "%s", loc);
        uint8_t origin[256];
        size_t ol = to_wire("example.com.", origin);
        struct cs_batch batch = ab_batch(&b, origin, ol);
        struct cs_ctx ctx = next_ctx(e);
        int rv = cs_state_batch_apply(&e->st, &ctx, &batch, &e->res);
        ab_free(&b);
        return rv;
}

static void record_sets_hold_their_collection_and_location(void **state)
{
        struct env *e = *state;
        struct zone_fixture zf;
        zone_spec(&zf, "example.com.", "Z1", 1);
        assert_int_equal(zone_create_at(&e->st, &e->index, &zf, &e->res), 0);
        assert_int_equal(create(e, "c1", "offices"), 0);
        const char *const one[] = {"192.0.2.0/24"};
        assert_int_equal(change1(e, "c1", CS_CIDR_PUT, "lon", one, 1, -1), 0);
        /* What does not exist cannot be named. */
        assert_int_equal(cidr_rrset(e, "x", "c9", "lon", CS_ACTION_CREATE), -EINVAL);
        assert_string_equal(e->res.errors[0].field, "cidr_routing_config.collection_id");
        assert_int_equal(cidr_rrset(e, "x", "c1", "paris", CS_ACTION_CREATE), -EINVAL);
        assert_string_equal(e->res.errors[0].field, "cidr_routing_config.location_name");
        assert_int_equal(cidr_rrset(e, "x", "c1", "lon", CS_ACTION_CREATE), 0);
        assert_int_equal(cidr_rrset(e, "d", "c1", "*", CS_ACTION_CREATE), 0);
        /* In use: the location keeps its last block, the collection stays. */
        assert_int_equal(change1(e, "c1", CS_CIDR_DELETE_IF_EXISTS, "lon", one, 1, -1),
                         -EBUSY);
        assert_non_null(strstr(e->res.message, "www.example.com."));
        struct cs_ctx ctx = next_ctx(e);
        assert_int_equal(cs_state_cidr_delete(&e->st, &ctx, "c1", &e->res), -EBUSY);
        /* Free again once the sets are gone. */
        assert_int_equal(cidr_rrset(e, "x", "c1", "lon", CS_ACTION_DELETE), 0);
        assert_int_equal(change1(e, "c1", CS_CIDR_DELETE_IF_EXISTS, "lon", one, 1, -1),
                         0);
        assert_int_equal(cidr_rrset(e, "d", "c1", "*", CS_ACTION_DELETE), 0);
        ctx = next_ctx(e);
        assert_int_equal(cs_state_cidr_delete(&e->st, &ctx, "c1", &e->res), 0);
        assert_null(e->last);
        assert_int_equal(cs_state_cidr_count(&e->st), 0);
}

static struct raft_buffer encode(const struct cs_command *c)
{
        struct raft_buffer b;
        assert_int_equal(cs_command_encode(c, &b), 0);
        assert_int_equal(b.len % 8, 0);
        return b;
}

static void commands_round_trip(void **state)
{
        (void)state;
        struct cs_command c = {.type = CS_CMD_CIDR_CREATE, .timestamp_ms = 9};
        c.u.cidr_create.id = "c1";
        c.u.cidr_create.name = "offices";
        struct raft_buffer b = encode(&c);
        struct cs_command d;
        char err[256];
        assert_int_equal(cs_command_decode(b.base, b.len, &d, err, sizeof(err)), 0);
        assert_int_equal(d.type, CS_CMD_CIDR_CREATE);
        assert_string_equal(d.u.cidr_create.id, "c1");
        assert_string_equal(d.u.cidr_create.name, "offices");
        cs_command_free(&d);
        raft_free(b.base);

        struct cs_cidr_block blocks[3] = {block("10.0.0.0/8"), block("2001:db8::/48"),
                                          block("0.0.0.0/0")};
        struct cs_cidr_action acts[2] = {
            {CS_CIDR_PUT, "lon", blocks, 2},
            {CS_CIDR_DELETE_IF_EXISTS, "par", blocks + 2, 1}};
        c = (struct cs_command){.type = CS_CMD_CIDR_CHANGE};
        c.u.cidr_change = (struct cs_cidr_change){"c1", true, 7, acts, 2};
        b = encode(&c);
        assert_int_equal(cs_command_decode(b.base, b.len, &d, err, sizeof(err)), 0);
        const struct cs_cidr_change *x = &d.u.cidr_change;
        assert_string_equal(x->id, "c1");
        assert_true(x->has_version);
        assert_int_equal(x->version, 7);
        assert_int_equal(x->n_actions, 2);
        assert_int_equal(x->actions[0].count, 2);
        assert_memory_equal(&x->actions[0].blocks[1], &blocks[1], sizeof(blocks[1]));
        assert_string_equal(x->actions[1].location, "par");
        assert_int_equal(x->actions[1].kind, CS_CIDR_DELETE_IF_EXISTS);
        cs_command_free(&d);
        /* Every truncation is a clean error. */
        size_t real = (size_t)cs_mp_object_len(b.base, b.len);
        for (size_t n = 0; n < real; n++) {
                assert_int_not_equal(cs_command_decode(b.base, n, &d, err, sizeof(err)),
                                     0);
                cs_command_free(&d);
        }
        raft_free(b.base);

        c = (struct cs_command){.type = CS_CMD_CIDR_DELETE, .u.cidr_id = "c1"};
        b = encode(&c);
        assert_int_equal(cs_command_decode(b.base, b.len, &d, err, sizeof(err)), 0);
        assert_string_equal(d.u.cidr_id, "c1");
        cs_command_free(&d);
        raft_free(b.base);
}

static void cidr_command_in_an_older_format_is_refused(void **state)
{
        (void)state;
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 6);
        msgpack_pack_uint32(&pk, CS_COMMAND_VERSION_CIDR - 1);
        msgpack_pack_uint32(&pk, CS_CMD_CIDR_DELETE);
        msgpack_pack_uint64(&pk, 1);
        msgpack_pack_nil(&pk);
        msgpack_pack_nil(&pk);
        msgpack_pack_array(&pk, 1);
        msgpack_pack_str(&pk, 2);
        msgpack_pack_str_body(&pk, "c1", 2);
        struct cs_command d;
        char err[256];
        assert_int_equal(cs_command_decode(sb.data, sb.size, &d, err, sizeof(err)),
                         -EPROTO);
        cs_command_free(&d);
        /* An unused number of the CIDR range is unknown. */
        sb.data[1] = CS_COMMAND_VERSION;
        sb.data[2] = 70;
        assert_int_equal(cs_command_decode(sb.data, sb.size, &d, err, sizeof(err)),
                         -EPROTO);
        cs_command_free(&d);
        msgpack_sbuffer_destroy(&sb);
}

static void snapshots_keep_collections(void **state)
{
        struct env *e = *state;
        struct zone_fixture zf;
        zone_spec(&zf, "example.com.", "Z1", 1);
        assert_int_equal(zone_create_at(&e->st, &e->index, &zf, &e->res), 0);
        assert_int_equal(create(e, "c2", "second"), 0);
        assert_int_equal(create(e, "c1", "offices"), 0);
        const char *const lon[] = {"10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0"};
        const char *const par[] = {"10.1.0.0/16", "10.1.2.3/32"};
        assert_int_equal(change1(e, "c1", CS_CIDR_PUT, "zurich", par, 2, -1), 0);
        assert_int_equal(change1(e, "c1", CS_CIDR_PUT, "amsterdam", lon, 3, -1), 0);
        assert_int_equal(cidr_rrset(e, "x", "c1", "zurich", CS_ACTION_CREATE), 0);
        void *buf, *again;
        size_t len, again_len;
        assert_int_equal(cs_snapshot_encode(&e->st, &buf, &len), 0);
        struct cs_state st2;
        char err[256];
        cs_state_init(&st2);
        assert_int_equal(cs_snapshot_decode(buf, len, &st2, err, sizeof(err)), 0);
        const struct cs_cidr_collection *c = cs_state_cidr_get(&st2, "c1");
        assert_non_null(c);
        assert_int_equal(c->version, 3);
        assert_int_equal(c->n_entries, 5);
        assert_int_equal(blocks_of(c, "zurich"), 2);
        assert_int_equal(blocks_of(c, "amsterdam"), 3);
        assert_int_equal(cs_state_cidr_count(&st2), 2);
        /* Canonical: the same bytes from the restored state. */
        assert_int_equal(cs_snapshot_encode(&st2, &again, &again_len), 0);
        assert_int_equal(len, again_len);
        assert_memory_equal(buf, again, len);
        /* The restored state enforces the same rules. */
        struct cs_result res;
        cs_result_init(&res);
        struct cs_ctx ctx = {.index = 1000, .timestamp_ms = 1};
        assert_int_equal(cs_state_cidr_delete(&st2, &ctx, "c1", &res), -EBUSY);
        cs_result_fini(&res);
        cs_state_fini(&st2);
        /* Every truncation is refused and leaves nothing. */
        for (size_t n = 0; n + 8 < len; n += 7) {
                cs_state_init(&st2);
                assert_int_not_equal(cs_snapshot_decode(buf, n, &st2, err, sizeof(err)),
                                     0);
                assert_int_equal(cs_state_cidr_count(&st2), 0);
                cs_state_fini(&st2);
        }
        free(buf);
        free(again);
}

/* A format-3 snapshot (health checks, no collections): the current encoding
 * of a state without zones and collections, the version set back and the
 * empty collections section (its last object, fixarray [0]) cut. */
static void older_snapshot_format_still_loads(void **state)
{
        struct env *e = *state;
        struct cs_member_spec m = {
            7, "n7", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", CS_ROLE_VOTER};
        struct cs_ctx ctx = next_ctx(e);
        assert_int_equal(cs_state_member_put(&e->st, &ctx, &m, &e->res), 0);
        void *buf;
        size_t len;
        assert_int_equal(cs_snapshot_encode(&e->st, &buf, &len), 0);
        uint8_t *p = buf;
        size_t end = len;
        while (end > 0 && p[end - 1] == 0)
                end--; /* padding, and the collection count 0 */
        assert_true(end >= 1 && p[end - 1] == 0x91);
        p[end - 1] = 0;
        /* The header: fixarray(9), magic (fixstr 15), version (fixint). */
        assert_int_equal(p[0], 0x99);
        assert_int_equal(p[1], 0xa0 | 15);
        assert_int_equal(p[17], CS_SNAPSHOT_VERSION_CIDR);
        p[17] = CS_SNAPSHOT_VERSION_CIDR - 1;
        struct cs_state st2;
        char err[256];
        cs_state_init(&st2);
        assert_int_equal(cs_snapshot_decode(buf, len, &st2, err, sizeof(err)), 0);
        assert_non_null(cs_state_member_get(&st2, 7));
        assert_int_equal(cs_state_cidr_count(&st2), 0);
        cs_state_fini(&st2);
        /* The same bytes as format 4 lack the section: refused. */
        p[17] = CS_SNAPSHOT_VERSION_CIDR;
        cs_state_init(&st2);
        assert_int_not_equal(cs_snapshot_decode(buf, end - 1, &st2, err, sizeof(err)), 0);
        cs_state_fini(&st2);
        free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(block_parse_and_text),
            cmocka_unit_test_setup_teardown(create_checks_ids_and_names, setup, teardown),
            cmocka_unit_test_setup_teardown(changes_apply_in_order_and_bump_the_version,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(a_change_moves_a_block_and_is_all_or_nothing,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(
                record_sets_hold_their_collection_and_location, setup, teardown),
            cmocka_unit_test(commands_round_trip),
            cmocka_unit_test(cidr_command_in_an_older_format_is_refused),
            cmocka_unit_test_setup_teardown(snapshots_keep_collections, setup, teardown),
            cmocka_unit_test_setup_teardown(older_snapshot_format_still_loads, setup,
                                            teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
