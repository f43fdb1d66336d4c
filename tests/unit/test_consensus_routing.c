/*
 * test_consensus_routing.c — routing fields in the replicated state, the
 * command codec and snapshots.
 *
 * Drives consensus/ directly: every routing rule a batch must reject (mixed
 * policies under one name and type, duplicate set identifiers, weights out
 * of range, two PRIMARYs or two SECONDARYs, multivalue CNAME, a policy on
 * NS/SOA/DS, an alias whose target is not hosted here or does not exist, a
 * health check id that does not exist) reported together with action and
 * field; the group rules holding across batches; commands (format 2) and
 * snapshots (format 2) carrying every field through a round trip; and the
 * format-1 files in tests/data/routing/, written by the code before routing
 * existed, still decoding and loading.  Geolocation: its form checked, its
 * group rules, and the optional 6th element of the routing array carried
 * through commands and snapshots (sets without it keep the 5-element form
 * older nodes read).
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

#include "consensus/command.h"
#include "consensus/snapshot.h"
#include "consensus/state.h"
#include "consensus/wire.h"

#include "consensus_fixtures.h"

struct env {
        struct cs_state st;
        struct cs_result res;
        struct zone_fixture zf, other;
        struct abuild ab;
        uint64_t index;
        uint8_t names[16][256]; /* alias targets */
        unsigned n_names;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        cs_state_init(&e->st);
        cs_result_init(&e->res);
        zone_spec(&e->zf, "example.com.", "Z1", 100);
        zone_spec(&e->other, "other.test.", "Z2", 1);
        ab_init(&e->ab, 100, 200);
        assert_int_equal(zone_create_at(&e->st, &e->index, &e->zf, &e->res), 0);
        assert_int_equal(zone_create_at(&e->st, &e->index, &e->other, &e->res), 0);
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

static int apply(struct env *e)
{
        struct cs_batch b = ab_batch(&e->ab, e->zf.origin, e->zf.origin_len);
        struct cs_ctx ctx = {.index = ++e->index, .timestamp_ms = 2000};
        int rv = cs_state_batch_apply(&e->st, &ctx, &b, &e->res);
        ab_reset(&e->ab);
        return rv;
}

static struct cs_action *weighted(struct env *e, enum cs_action_kind kind,
                                  const char *owner, const char *sid, uint32_t weight,
                                  uint8_t last)
{
        struct cs_action *a = ab_add(&e->ab, kind, owner, CS_TYPE_A, sid, 60);
        a->rrset.routing.has_weight = true;
        a->rrset.routing.weight = weight;
        ab_a(&e->ab, a, 192, 0, 2, last);
        return a;
}

static struct cs_action *failover(struct env *e, const char *owner, const char *sid,
                                  uint32_t role, uint8_t last)
{
        struct cs_action *a = ab_add(&e->ab, CS_ACTION_UPSERT, owner, CS_TYPE_A, sid, 60);
        a->rrset.routing.failover = role;
        ab_a(&e->ab, a, 192, 0, 2, last);
        return a;
}

static struct cs_action *alias(struct env *e, const char *owner, uint16_t type,
                               const char *target)
{
        struct cs_action *a = ab_add(&e->ab, CS_ACTION_UPSERT, owner, type, "", 300);
        uint8_t *w = e->names[e->n_names++ % 16];
        a->rrset.routing.alias_name = w;
        a->rrset.routing.alias_name_len = to_wire(target, w);
        return a;
}

/* True when res holds an error for action i on this field. */
static bool has_error(const struct cs_result *res, uint32_t i, const char *field)
{
        for (size_t k = 0; k < res->n_errors; k++)
                if (res->errors[k].action == i &&
                    strcmp(res->errors[k].field, field) == 0)
                        return true;
        return false;
}

static void print_errors(const struct cs_result *res)
{
        for (size_t k = 0; k < res->n_errors; k++)
                printf("  [%u] %s: %s\n", res->errors[k].action, res->errors[k].field,
                       res->errors[k].message);
}

static void every_routing_error_of_a_batch_is_reported(void **state)
{
        struct env *e = *state;
        uint32_t serial =
            cs_state_zone_get(&e->st, e->zf.origin, e->zf.origin_len)->serial;
        /* 0: weight out of range */
        weighted(e, CS_ACTION_UPSERT, "w.example.com.", "a", 256, 1);
        /* 1, 2: two PRIMARYs */
        failover(e, "fo.example.com.", "p1", CS_FAILOVER_PRIMARY, 2);
        failover(e, "fo.example.com.", "p2", CS_FAILOVER_PRIMARY, 3);
        /* 3: multivalue CNAME */
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_UPSERT, "mvc.example.com.", CS_TYPE_CNAME, "m", 60);
        a->rrset.routing.multi_value_answer = true;
        ab_name(&e->ab, a, "www.example.com.");
        /* 4: a policy on NS */
        a = ab_add(&e->ab, CS_ACTION_UPSERT, "sub.example.com.", CS_TYPE_NS, "", 60);
        a->rrset.routing.has_weight = true;
        a->rrset.routing.weight = 1;
        ab_name(&e->ab, a, "ns.example.net.");
        /* 5: an alias to a name hosted nowhere here */
        alias(e, "al.example.com.", CS_TYPE_A, "www.elsewhere.org.");
        /* 6: a health check that does not exist */
        a = weighted(e, CS_ACTION_UPSERT, "hc.example.com.", "a", 1, 9);
        a->rrset.routing.health_check_id = "hc-1234";
        /* 7, 8: mixed policies under one name and type */
        weighted(e, CS_ACTION_UPSERT, "mix.example.com.", "a", 1, 10);
        failover(e, "mix.example.com.", "b", CS_FAILOVER_PRIMARY, 11);
        /* 9, 10: the same set identifier twice */
        weighted(e, CS_ACTION_UPSERT, "dup.example.com.", "x", 1, 12);
        weighted(e, CS_ACTION_UPSERT, "dup.example.com.", "x", 2, 13);
        /* 11: a policy without a set identifier */
        weighted(e, CS_ACTION_UPSERT, "nosid.example.com.", "", 1, 14);
        /* 12: an alias to a hosted name with no set of that type */
        alias(e, "al2.example.com.", CS_TYPE_AAAA, "other.test.");
        /* 13: an alias with records */
        a = alias(e, "al3.example.com.", CS_TYPE_A, "other.test.");
        ab_a(&e->ab, a, 192, 0, 2, 15);
        /* 14: two policies on one set */
        a = weighted(e, CS_ACTION_UPSERT, "two.example.com.", "t", 1, 16);
        a->rrset.routing.failover = CS_FAILOVER_PRIMARY;
        /* 15: a policy on DS */
        a = ab_add(&e->ab, CS_ACTION_UPSERT, "sub.example.com.", CS_TYPE_DS, "d", 60);
        a->rrset.routing.failover = CS_FAILOVER_SECONDARY;
        uint8_t ds[24] = {0x12, 0x34, 13, 2};
        ab_value(&e->ab, a, ds, 4 + 20);
        assert_int_equal(apply(e), -EINVAL);
        print_errors(&e->res);
        assert_true(has_error(&e->res, 0, "weight"));
        assert_true(has_error(&e->res, 2, "failover"));
        assert_true(has_error(&e->res, 3, "multi_value_answer"));
        assert_true(has_error(&e->res, 4, "type"));
        assert_true(has_error(&e->res, 5, "alias_target.dns_name"));
        assert_true(has_error(&e->res, 6, "health_check_id"));
        assert_non_null(strstr(e->res.errors[0].message, "256"));
        assert_true(has_error(&e->res, 8, "failover")); /* mixed: names the policy */
        assert_true(has_error(&e->res, 10, "set_id"));
        assert_true(has_error(&e->res, 11, "set_id"));
        assert_true(has_error(&e->res, 12, "alias_target.dns_name"));
        assert_true(has_error(&e->res, 13, "values"));
        assert_true(has_error(&e->res, 14, "multi_value_answer") ||
                    has_error(&e->res, 14, "failover"));
        assert_true(has_error(&e->res, 15, "type"));
        for (size_t k = 1; k < e->res.n_errors; k++) /* sorted by action */
                assert_true(e->res.errors[k - 1].action <= e->res.errors[k].action);
        /* All or nothing. */
        assert_int_equal(
            cs_state_zone_get(&e->st, e->zf.origin, e->zf.origin_len)->serial, serial);
}

static void unknown_health_check_ids_are_rejected(void **state)
{
        struct env *e = *state;
        struct cs_action *a = failover(e, "fo.example.com.", "p", CS_FAILOVER_PRIMARY, 1);
        a->rrset.routing.health_check_id = "0f7c0e2a-primary";
        assert_int_equal(apply(e), -EINVAL);
        assert_int_equal(e->res.n_errors, 1);
        assert_string_equal(e->res.errors[0].field, "health_check_id");
        assert_non_null(strstr(e->res.errors[0].message, "0f7c0e2a-primary"));
        assert_non_null(strstr(e->res.errors[0].message, "does not exist"));
        assert_false(cs_state_health_check_exists(&e->st, "0f7c0e2a-primary"));
        /* A simple set cannot take one either. */
        a = ab_add(&e->ab, CS_ACTION_UPSERT, "s.example.com.", CS_TYPE_A, "", 60);
        a->rrset.routing.health_check_id = "x";
        ab_a(&e->ab, a, 192, 0, 2, 1);
        assert_int_equal(apply(e), -EINVAL);
        assert_true(has_error(&e->res, 0, "health_check_id"));
}

static void group_rules_hold_across_batches(void **state)
{
        struct env *e = *state;
        weighted(e, CS_ACTION_CREATE, "w.example.com.", "a", 10, 1);
        weighted(e, CS_ACTION_CREATE, "w.example.com.", "b", 0, 2);
        assert_int_equal(apply(e), 0);
        /* A later failover set under the same name and type: mixed. */
        failover(e, "w.example.com.", "c", CS_FAILOVER_PRIMARY, 3);
        assert_int_equal(apply(e), -EINVAL);
        print_errors(&e->res);
        assert_true(has_error(&e->res, 0, "failover"));
        assert_non_null(strstr(e->res.errors[0].message, "mixes weighted and failover"));
        /* A plain set there too. */
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_UPSERT, "w.example.com.", CS_TYPE_A, "", 60);
        ab_a(&e->ab, a, 192, 0, 2, 9);
        assert_int_equal(apply(e), -EINVAL);
        /* Another type at the same name is another group. */
        a = ab_add(&e->ab, CS_ACTION_UPSERT, "w.example.com.", CS_TYPE_AAAA, "", 60);
        uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
        ab_value(&e->ab, a, v6, 16);
        assert_int_equal(apply(e), 0);
        /* Replacing the whole group by another policy in one batch works. */
        weighted(e, CS_ACTION_DELETE, "w.example.com.", "a", 10, 1);
        weighted(e, CS_ACTION_DELETE, "w.example.com.", "b", 0, 2);
        failover(e, "w.example.com.", "p", CS_FAILOVER_PRIMARY, 4);
        failover(e, "w.example.com.", "s", CS_FAILOVER_SECONDARY, 5);
        assert_int_equal(apply(e), 0);
        const struct cs_zone *z =
            cs_state_zone_get(&e->st, e->zf.origin, e->zf.origin_len);
        uint8_t owner[256];
        size_t len = to_wire("w.example.com.", owner);
        const struct cs_group *g = cs_zone_group_get(z, owner, len, CS_TYPE_A);
        assert_non_null(g);
        assert_int_equal(g->n_sets, 2);
        assert_int_equal(g->n_policy[CS_POLICY_FAILOVER], 2);
        assert_int_equal(g->n_primary, 1);
        /* A second SECONDARY in a later batch. */
        failover(e, "w.example.com.", "s2", CS_FAILOVER_SECONDARY, 6);
        assert_int_equal(apply(e), -EINVAL);
        assert_true(has_error(&e->res, 0, "failover"));
        /* DELETE must name the routing fields too. */
        a = ab_add(&e->ab, CS_ACTION_DELETE, "w.example.com.", CS_TYPE_A, "p", 60);
        ab_a(&e->ab, a, 192, 0, 2, 4);
        assert_int_equal(apply(e), -EINVAL);
        assert_non_null(strstr(e->res.errors[0].message, "routing"));
}

static void aliases_point_at_sets_hosted_here(void **state)
{
        struct env *e = *state;
        /* Target created in the same batch; an alias at the apex; an alias
         * to another hosted zone, naming its id. */
        weighted(e, CS_ACTION_CREATE, "pool.example.com.", "a", 1, 1);
        alias(e, "example.com.", CS_TYPE_A, "pool.example.com.");
        struct cs_action *a = alias(e, "x.example.com.", CS_TYPE_NS, "other.test.");
        (void)a;
        assert_int_equal(apply(e), -EINVAL); /* NS cannot be an alias */
        assert_true(has_error(&e->res, 2, "type"));
        weighted(e, CS_ACTION_CREATE, "pool.example.com.", "a", 1, 1);
        alias(e, "example.com.", CS_TYPE_A, "pool.example.com.");
        a = alias(e, "y.example.com.", CS_TYPE_SOA, "other.test.");
        assert_int_equal(apply(e), -EINVAL);
        weighted(e, CS_ACTION_CREATE, "pool.example.com.", "a", 1, 1);
        alias(e, "example.com.", CS_TYPE_A, "pool.example.com.");
        a = alias(e, "z.example.com.", CS_TYPE_NS, "other.test.");
        a->rrset.type = CS_TYPE_A;
        a->rrset.routing.alias_name_len = to_wire("ns.other.test.", e->names[0]);
        a->rrset.routing.alias_name = e->names[0];
        a->rrset.routing.alias_zone_id = "Z9";
        assert_int_equal(apply(e), -EINVAL);
        assert_true(has_error(&e->res, 2, "alias_target.hosted_zone_id") ||
                    has_error(&e->res, 2, "alias_target.dns_name"));
        /* The good part alone. */
        weighted(e, CS_ACTION_CREATE, "pool.example.com.", "a", 1, 1);
        a = alias(e, "example.com.", CS_TYPE_A, "POOL.example.com.");
        a->rrset.routing.evaluate_target_health = true;
        assert_int_equal(apply(e), 0);
        const struct cs_zone *z =
            cs_state_zone_get(&e->st, e->zf.origin, e->zf.origin_len);
        const struct cs_rrset *r =
            cs_zone_rrset_get(z, e->zf.origin, e->zf.origin_len, CS_TYPE_A, "");
        assert_non_null(r);
        assert_int_equal(r->count, 0);
        assert_true(cs_routing_is_alias(r->routing));
        assert_true(r->routing->evaluate_target_health);
        uint8_t want[256];
        size_t wl = to_wire("pool.example.com.", want);
        assert_int_equal(r->routing->alias_name_len, wl);
        assert_memory_equal(r->routing->alias_name, want, wl); /* lowercased */
        /* An alias to itself. */
        alias(e, "self.example.com.", CS_TYPE_A, "self.example.com.");
        assert_int_equal(apply(e), -EINVAL);
}

/* A state with every routing field set somewhere. */
static void fill_routed(struct env *e)
{
        weighted(e, CS_ACTION_CREATE, "w.example.com.", "a", 7, 1);
        weighted(e, CS_ACTION_CREATE, "w.example.com.", "b", 0, 2);
        failover(e, "fo.example.com.", "p", CS_FAILOVER_PRIMARY, 3);
        failover(e, "fo.example.com.", "s", CS_FAILOVER_SECONDARY, 4);
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "mv.example.com.", CS_TYPE_A, "m1", 60);
        a->rrset.routing.multi_value_answer = true;
        ab_a(&e->ab, a, 192, 0, 2, 5);
        a = alias(e, "example.com.", CS_TYPE_A, "w.example.com.");
        a->rrset.routing.evaluate_target_health = true;
        a->rrset.routing.alias_zone_id = "Z1";
        assert_int_equal(apply(e), 0);
}

static void snapshots_keep_every_routing_field(void **state)
{
        struct env *e = *state;
        fill_routed(e);
        void *buf, *again;
        size_t len, len2;
        assert_int_equal(cs_snapshot_encode(&e->st, &buf, &len), 0);
        struct cs_state copy;
        cs_state_init(&copy);
        char err[256];
        assert_int_equal(cs_snapshot_decode(buf, len, &copy, err, sizeof(err)), 0);
        assert_int_equal(cs_snapshot_encode(&copy, &again, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, again, len); /* canonical: nothing lost */
        const struct cs_zone *z =
            cs_state_zone_get(&copy, e->zf.origin, e->zf.origin_len);
        uint8_t owner[256];
        size_t ol = to_wire("w.example.com.", owner);
        const struct cs_rrset *r = cs_zone_rrset_get(z, owner, ol, CS_TYPE_A, "a");
        assert_ptr_not_equal(r->routing, &cs_routing_none); /* its own block */
        assert_true(r->routing->has_weight);
        assert_int_equal(r->routing->weight, 7);
        const struct cs_group *g = cs_zone_group_get(z, owner, ol, CS_TYPE_A);
        assert_int_equal(g->n_policy[CS_POLICY_WEIGHTED], 2); /* groups rebuilt */
        free(buf);
        free(again);
        cs_state_fini(&copy);
}

static void commands_carry_every_routing_field(void **state)
{
        struct env *e = *state;
        weighted(e, CS_ACTION_UPSERT, "w.example.com.", "a", 255, 1);
        struct cs_action *a =
            failover(e, "fo.example.com.", "s", CS_FAILOVER_SECONDARY, 2);
        a->rrset.routing.health_check_id = "check-1";
        a = alias(e, "al.example.com.", CS_TYPE_A, "w.example.com.");
        a->rrset.routing.evaluate_target_health = true;
        a->rrset.routing.alias_zone_id = "Z1";
        a = ab_add(&e->ab, CS_ACTION_UPSERT, "mv.example.com.", CS_TYPE_A, "m", 60);
        a->rrset.routing.multi_value_answer = true;
        ab_a(&e->ab, a, 192, 0, 2, 3);
        struct cs_command cmd = {.type = CS_CMD_CHANGE_BATCH, .timestamp_ms = 5};
        cmd.u.batch = ab_batch(&e->ab, e->zf.origin, e->zf.origin_len);
        struct raft_buffer rb;
        assert_int_equal(cs_command_encode(&cmd, &rb), 0);
        struct cs_command d;
        char err[256];
        assert_int_equal(cs_command_decode(rb.base, rb.len, &d, err, sizeof(err)), 0);
        assert_int_equal(d.u.batch.n_actions, 4);
        const struct cs_routing *r = &d.u.batch.actions[0].rrset.routing;
        assert_true(r->has_weight);
        assert_int_equal(r->weight, 255);
        r = &d.u.batch.actions[1].rrset.routing;
        assert_int_equal(r->failover, CS_FAILOVER_SECONDARY);
        assert_string_equal(r->health_check_id, "check-1");
        r = &d.u.batch.actions[2].rrset.routing;
        assert_true(cs_routing_is_alias(r));
        assert_true(r->evaluate_target_health);
        assert_string_equal(r->alias_zone_id, "Z1");
        assert_int_equal(d.u.batch.actions[2].rrset.count, 0);
        assert_true(d.u.batch.actions[3].rrset.routing.multi_value_answer);
        for (size_t i = 0; i < 4; i++)
                assert_true(cs_routing_equal(&d.u.batch.actions[i].rrset.routing,
                                             &cmd.u.batch.actions[i].rrset.routing));
        /* Every truncation is a clean error. */
        for (size_t cut = 0; cut < rb.len; cut++) {
                struct cs_command t;
                int rv = cs_command_decode(rb.base, cut, &t, err, sizeof(err));
                cs_command_free(&t);
                if (rv == 0)
                        continue; /* a cut inside the zero padding */
                assert_true(rv == -EBADMSG || rv == -EPROTO);
        }
        cs_command_free(&d);
        raft_free(rb.base);
        ab_reset(&e->ab);
}

static struct cs_action *geo(struct env *e, const char *owner, const char *sid,
                             const char *continent, const char *country, const char *sub,
                             uint8_t last)
{
        struct cs_action *a = ab_add(&e->ab, CS_ACTION_UPSERT, owner, CS_TYPE_A, sid, 60);
        struct cs_routing *r = &a->rrset.routing;
        r->has_geo = true;
        snprintf(r->geo_continent, sizeof(r->geo_continent), "%s", continent);
        snprintf(r->geo_country, sizeof(r->geo_country), "%s", country);
        snprintf(r->geo_subdivision, sizeof(r->geo_subdivision), "%s", sub);
        ab_a(&e->ab, a, 192, 0, 2, last);
        return a;
}

static void geolocation_form_and_group_rules(void **state)
{
        struct env *e = *state;
        geo(e, "g.example.com.", "both", "EU", "GB", "", 1);  /* 0: two levels */
        geo(e, "g.example.com.", "none", "", "", "", 2);      /* 1: no level */
        geo(e, "g.example.com.", "sub", "EU", "", "ENG", 3);  /* 2: sub, no country */
        geo(e, "g.example.com.", "anysub", "", "*", "CA", 4); /* 3: "*" with a sub */
        geo(e, "g.example.com.", "lower", "", "gb", "", 5);   /* 4: not a code */
        struct cs_action *a = geo(e, "h.example.com.", "w", "", "US", "", 6);
        a->rrset.routing.has_weight = true; /* 5: two policies */
        a->rrset.routing.weight = 1;
        geo(e, "i.example.com.", "nosid", "", "US", "", 7)->rrset.set_id = ""; /* 6 */
        assert_int_not_equal(apply(e), 0);
        print_errors(&e->res);
        assert_true(has_error(&e->res, 0, "geo_location"));
        assert_true(has_error(&e->res, 1, "geo_location"));
        assert_true(has_error(&e->res, 2, "geo_location.subdivision_code"));
        assert_true(has_error(&e->res, 3, "geo_location.subdivision_code"));
        assert_true(has_error(&e->res, 4, "geo_location.country_code"));
        assert_true(has_error(&e->res, 5, "geo_location"));
        assert_true(has_error(&e->res, 6, "set_id"));
        /* A good group, then a weighted set joining it: refused. */
        geo(e, "g.example.com.", "eng", "", "GB", "ENG", 1);
        geo(e, "g.example.com.", "any", "", "*", "", 9);
        assert_int_equal(apply(e), 0);
        weighted(e, CS_ACTION_UPSERT, "g.example.com.", "w", 1, 10);
        assert_int_not_equal(apply(e), 0);
        assert_true(e->res.n_errors > 0);
        assert_non_null(strstr(e->res.errors[0].message, "geolocation"));
}

static void geolocation_travels_in_commands_and_snapshots(void **state)
{
        struct env *e = *state;
        geo(e, "g.example.com.", "eng", "", "GB", "ENG", 1);
        geo(e, "g.example.com.", "eu", "EU", "", "", 2);
        geo(e, "g.example.com.", "any", "", "*", "", 3)->rrset.routing.health_check_id =
            NULL;
        weighted(e, CS_ACTION_UPSERT, "w.example.com.", "a", 3, 4);
        struct cs_command cmd = {.type = CS_CMD_CHANGE_BATCH, .timestamp_ms = 5};
        cmd.u.batch = ab_batch(&e->ab, e->zf.origin, e->zf.origin_len);
        struct raft_buffer rb;
        assert_int_equal(cs_command_encode(&cmd, &rb), 0);
        struct cs_command d;
        char err[256];
        assert_int_equal(cs_command_decode(rb.base, rb.len, &d, err, sizeof(err)), 0);
        assert_int_equal(d.u.batch.n_actions, 4);
        const struct cs_routing *r = &d.u.batch.actions[0].rrset.routing;
        assert_true(r->has_geo);
        assert_string_equal(r->geo_country, "GB");
        assert_string_equal(r->geo_subdivision, "ENG");
        assert_string_equal(r->geo_continent, "");
        r = &d.u.batch.actions[1].rrset.routing;
        assert_string_equal(r->geo_continent, "EU");
        assert_false(d.u.batch.actions[3].rrset.routing.has_geo);
        for (size_t i = 0; i < 4; i++)
                assert_true(cs_routing_equal(&d.u.batch.actions[i].rrset.routing,
                                             &cmd.u.batch.actions[i].rrset.routing));
        for (size_t cut = 0; cut < rb.len; cut++) {
                struct cs_command t;
                int rv = cs_command_decode(rb.base, cut, &t, err, sizeof(err));
                cs_command_free(&t);
                if (rv != 0)
                        assert_true(rv == -EBADMSG || rv == -EPROTO);
        }
        cs_command_free(&d);
        raft_free(rb.base);
        ab_reset(&e->ab);
        /* Applied, snapshotted, restored: the same state byte for byte. */
        geo(e, "g.example.com.", "eng", "", "GB", "ENG", 1);
        geo(e, "g.example.com.", "any", "", "*", "", 3);
        assert_int_equal(apply(e), 0);
        void *buf, *again;
        size_t len, len2;
        assert_int_equal(cs_snapshot_encode(&e->st, &buf, &len), 0);
        struct cs_state copy;
        cs_state_init(&copy);
        assert_int_equal(cs_snapshot_decode(buf, len, &copy, err, sizeof(err)), 0);
        assert_int_equal(cs_snapshot_encode(&copy, &again, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, again, len);
        const struct cs_zone *z =
            cs_state_zone_get(&copy, e->zf.origin, e->zf.origin_len);
        uint8_t owner[256];
        size_t ol = to_wire("g.example.com.", owner);
        const struct cs_rrset *set = cs_zone_rrset_get(z, owner, ol, CS_TYPE_A, "eng");
        assert_true(set->routing->has_geo);
        assert_string_equal(set->routing->geo_subdivision, "ENG");
        const struct cs_group *g = cs_zone_group_get(z, owner, ol, CS_TYPE_A);
        assert_int_equal(g->n_policy[CS_POLICY_GEOLOCATION], 2);
        free(buf);
        free(again);
        cs_state_fini(&copy);
}

static struct cs_action *prox(struct env *e, const char *owner, const char *sid,
                              int32_t lat, int32_t lon, int32_t bias, uint8_t last)
{
        struct cs_action *a = ab_add(&e->ab, CS_ACTION_UPSERT, owner, CS_TYPE_A, sid, 60);
        struct cs_routing *r = &a->rrset.routing;
        r->has_prox = true;
        r->prox_latitude = lat;
        r->prox_longitude = lon;
        r->prox_bias = bias;
        ab_a(&e->ab, a, 192, 0, 2, last);
        return a;
}

static void geoproximity_ranges_and_group_rules(void **state)
{
        struct env *e = *state;
        prox(e, "p.example.com.", "lat", 90000001, 0, 0, 1);   /* 0 */
        prox(e, "p.example.com.", "lon", 0, -180000001, 0, 2); /* 1 */
        prox(e, "p.example.com.", "bias", 0, 0, 100, 3);       /* 2 */
        prox(e, "p.example.com.", "nbias", 0, 0, -100, 4);     /* 3 */
        struct cs_action *a = prox(e, "q.example.com.", "g", 0, 0, 0, 5);
        a->rrset.routing.has_geo = true; /* 4: two policies */
        strcpy(a->rrset.routing.geo_country, "GB");
        prox(e, "r.example.com.", "", 0, 0, 0, 6); /* 5: no set id */
        strcpy(prox(e, "s.example.com.", "reg", 0, 0, 0, 7)->rrset.routing.prox_region,
               "EU West"); /* 6: not a region name */
        assert_int_not_equal(apply(e), 0);
        print_errors(&e->res);
        assert_true(has_error(&e->res, 0, "geoproximity_location.coordinates.latitude"));
        assert_true(has_error(&e->res, 1, "geoproximity_location.coordinates.longitude"));
        assert_true(has_error(&e->res, 2, "geoproximity_location.bias"));
        assert_true(has_error(&e->res, 3, "geoproximity_location.bias"));
        assert_true(has_error(&e->res, 4, "geo_location"));
        assert_true(has_error(&e->res, 5, "set_id"));
        assert_true(has_error(&e->res, 6, "geoproximity_location.region"));
        /* The extremes are good; a geolocation set joining: refused. */
        prox(e, "p.example.com.", "n", 90000000, 180000000, 99, 1);
        prox(e, "p.example.com.", "s", -90000000, -180000000, -99, 2);
        assert_int_equal(apply(e), 0);
        geo(e, "p.example.com.", "gb", "", "GB", "", 3);
        assert_int_not_equal(apply(e), 0);
        assert_true(e->res.n_errors > 0);
        assert_non_null(strstr(e->res.errors[0].message, "geoproximity"));
}

static void geoproximity_travels_in_commands_and_snapshots(void **state)
{
        struct env *e = *state;
        prox(e, "p.example.com.", "ldn", 51500000, -120000, -40, 1);
        strcpy(prox(e, "p.example.com.", "tyo", 35680000, 139690000, 99, 2)
                   ->rrset.routing.prox_region,
               "ap-northeast-1");
        geo(e, "g.example.com.", "eng", "", "GB", "ENG", 3);
        struct cs_command cmd = {.type = CS_CMD_CHANGE_BATCH, .timestamp_ms = 5};
        cmd.u.batch = ab_batch(&e->ab, e->zf.origin, e->zf.origin_len);
        struct raft_buffer rb;
        assert_int_equal(cs_command_encode(&cmd, &rb), 0);
        struct cs_command d;
        char err[256];
        assert_int_equal(cs_command_decode(rb.base, rb.len, &d, err, sizeof(err)), 0);
        const struct cs_routing *r = &d.u.batch.actions[0].rrset.routing;
        assert_true(r->has_prox);
        assert_false(r->has_geo);
        assert_int_equal(r->prox_latitude, 51500000);
        assert_int_equal(r->prox_longitude, -120000);
        assert_int_equal(r->prox_bias, -40);
        assert_string_equal(r->prox_region, "");
        assert_string_equal(d.u.batch.actions[1].rrset.routing.prox_region,
                            "ap-northeast-1");
        assert_false(d.u.batch.actions[2].rrset.routing.has_prox);
        for (size_t i = 0; i < 3; i++)
                assert_true(cs_routing_equal(&d.u.batch.actions[i].rrset.routing,
                                             &cmd.u.batch.actions[i].rrset.routing));
        for (size_t cut = 0; cut < rb.len; cut++) {
                struct cs_command t;
                int rv = cs_command_decode(rb.base, cut, &t, err, sizeof(err));
                cs_command_free(&t);
                if (rv != 0)
                        assert_true(rv == -EBADMSG || rv == -EPROTO);
        }
        cs_command_free(&d);
        raft_free(rb.base);
        ab_reset(&e->ab);
        prox(e, "p.example.com.", "ldn", 51500000, -120000, -40, 1);
        prox(e, "p.example.com.", "tyo", 35680000, 139690000, 99, 2);
        assert_int_equal(apply(e), 0);
        void *buf, *again;
        size_t len, len2;
        assert_int_equal(cs_snapshot_encode(&e->st, &buf, &len), 0);
        struct cs_state copy;
        cs_state_init(&copy);
        assert_int_equal(cs_snapshot_decode(buf, len, &copy, err, sizeof(err)), 0);
        assert_int_equal(cs_snapshot_encode(&copy, &again, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, again, len);
        const struct cs_zone *z =
            cs_state_zone_get(&copy, e->zf.origin, e->zf.origin_len);
        uint8_t owner[256];
        size_t ol = to_wire("p.example.com.", owner);
        const struct cs_rrset *set = cs_zone_rrset_get(z, owner, ol, CS_TYPE_A, "tyo");
        assert_true(set->routing->has_prox);
        assert_int_equal(set->routing->prox_longitude, 139690000);
        assert_int_equal(set->routing->prox_bias, 99);
        const struct cs_group *g = cs_zone_group_get(z, owner, ol, CS_TYPE_A);
        assert_int_equal(g->n_policy[CS_POLICY_GEOPROXIMITY], 2);
        free(buf);
        free(again);
        cs_state_fini(&copy);
}

static void *read_data(const char *name, size_t *len)
{
        char path[1024];
        snprintf(path, sizeof(path), "%s/routing/%s", QDNS_TEST_DATA, name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
                fail_msg("cannot open %s", path);
        void *buf = malloc(65536);
        *len = fread(buf, 1, 65536, f);
        fclose(f);
        return buf;
}

static void format_1_snapshots_still_load(void **state)
{
        size_t len;
        void *buf = read_data("state-v1.snapshot", &len);
        struct cs_state st;
        cs_state_init(&st);
        char err[256];
        assert_int_equal(cs_snapshot_decode(buf, len, &st, err, sizeof(err)), 0);
        uint8_t origin[256], owner[256];
        size_t olen = to_wire("example.com.", origin);
        const struct cs_zone *z = cs_state_zone_get(&st, origin, olen);
        assert_non_null(z);
        size_t wl = to_wire("www.example.com.", owner);
        const struct cs_rrset *r = cs_zone_rrset_get(z, owner, wl, CS_TYPE_A, "");
        assert_non_null(r);
        assert_int_equal(r->count, 2);
        assert_false(cs_routing_present(r->routing));
        assert_ptr_equal(r->routing, &cs_routing_none); /* shared, not per set */
        /* Format 1 kept set ids without a policy: they load as they were. */
        wl = to_wire("app.example.com.", owner);
        r = cs_zone_rrset_get(z, owner, wl, CS_TYPE_A, "blue");
        assert_non_null(r);
        assert_int_equal(cs_zone_group_get(z, owner, wl, CS_TYPE_A)->n_sets, 2);
        /* Written again, it is format 2 and loads the same. */
        void *v2;
        size_t v2len;
        assert_int_equal(cs_snapshot_encode(&st, &v2, &v2len), 0);
        struct cs_state st2;
        cs_state_init(&st2);
        assert_int_equal(cs_snapshot_decode(v2, v2len, &st2, err, sizeof(err)), 0);
        assert_int_equal(cs_state_zone_count(&st2), 1);
        free(v2);
        cs_state_fini(&st2);
        cs_state_fini(&st);
        free(buf);
}

static void format_1_commands_still_decode(void **state)
{
        size_t len;
        void *buf = read_data("command-v1.bin", &len);
        struct cs_command d;
        char err[256];
        assert_int_equal(cs_command_decode(buf, len, &d, err, sizeof(err)), 0);
        assert_int_equal(d.type, CS_CMD_CHANGE_BATCH);
        assert_string_equal(d.request_id, "req-v1");
        assert_int_equal(d.u.batch.n_actions, 3);
        assert_string_equal(d.u.batch.actions[1].rrset.set_id, "blue");
        for (size_t i = 0; i < 3; i++)
                assert_false(cs_routing_present(&d.u.batch.actions[i].rrset.routing));
        cs_command_free(&d);
        free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(every_routing_error_of_a_batch_is_reported,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(unknown_health_check_ids_are_rejected, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(group_rules_hold_across_batches, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(aliases_point_at_sets_hosted_here, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(snapshots_keep_every_routing_field, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(commands_carry_every_routing_field, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(geolocation_form_and_group_rules, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(geolocation_travels_in_commands_and_snapshots,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(geoproximity_ranges_and_group_rules, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(
                geoproximity_travels_in_commands_and_snapshots, setup, teardown),
            cmocka_unit_test(format_1_snapshots_still_load),
            cmocka_unit_test(format_1_commands_still_decode),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
