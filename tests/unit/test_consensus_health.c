/*
 * test_consensus_health.c — health checks in the replicated state.
 *
 * Drives consensus/ directly with commands at chosen leader times: check
 * definitions (create, update, delete, validation with field names, delete
 * refused while a record set or a CALCULATED check names the check), the
 * aggregate from the nodes' votes (the 18% rule, a per-check percentage,
 * freshness: a silent node's vote ages out, no fresh vote keeps the last
 * aggregate), MANUAL, HEARTBEAT, CALCULATED, inverted and disabled checks,
 * the history of transitions (at most 100), the command codec (format 3;
 * health commands in a format 2 entry are refused) and snapshots (format 3
 * round trip, format 2 still loads).
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

#include "consensus/codec.h"
#include "consensus/command.h"
#include "consensus/health.h"
#include "consensus/snapshot.h"
#include "consensus/state.h"
#include "consensus/wire.h"

#include "consensus_fixtures.h"

#define N1 1
#define N2 2
#define N3 3

struct env {
        struct cs_state st;
        struct cs_result res;
        struct zone_fixture zf;
        struct abuild ab;
        uint64_t index;
        unsigned notified;
};

static void on_status(void *ctx, const struct cs_state *st)
{
        (void)st;
        ((struct env *)ctx)->notified++;
}

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        state_with_example_zone(&e->st, &e->res, &e->zf, &e->index);
        ab_init(&e->ab, 16, 32);
        struct cs_health_observer obs = {.ctx = e, .status_changed = on_status};
        cs_state_set_health_observer(&e->st, &obs);
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

static struct cs_ctx at(struct env *e, uint64_t ms)
{
        return (struct cs_ctx){.index = ++e->index, .timestamp_ms = ms};
}

static int put(struct env *e, uint64_t id, bool create,
               const struct health_check_config *c, uint64_t ms)
{
        struct cs_ctx ctx = at(e, ms);
        struct cs_health_put p = {.id = id, .create = create, .cfg = c};
        return cs_state_health_put(&e->st, &ctx, &p, &e->res);
}

static void http_cfg(struct health_check_config *c, uint32_t interval)
{
        health_check_config_init(c, HEALTH_CHECK_HTTP);
        c->ip_address = "127.0.0.1";
        c->port = 8080;
        c->request_interval = interval;
}

/* One node's verdicts on checks ids[0..n) at leader time ms. */
static void vote(struct env *e, uint64_t node, uint64_t ms, const uint64_t *ids,
                 const bool *healthy, size_t n)
{
        struct cs_health_vote_spec v[8];
        for (size_t i = 0; i < n; i++)
                v[i] = (struct cs_health_vote_spec){.check = ids[i],
                                                    .healthy = healthy[i],
                                                    .status = healthy[i] ? 200 : 500,
                                                    .connect_us = 100,
                                                    .first_byte_us = 300,
                                                    .reason =
                                                        healthy[i] ? NULL : "status 500"};
        struct cs_health_votes votes = {.node = node, .votes = v, .count = n};
        struct cs_ctx ctx = at(e, ms);
        assert_int_equal(cs_state_health_votes(&e->st, &ctx, &votes, &e->res), 0);
}

static void vote1(struct env *e, uint64_t node, uint64_t ms, uint64_t id, bool healthy)
{
        vote(e, node, ms, &id, &healthy, 1);
}

static bool healthy(struct env *e, uint64_t id)
{
        const struct cs_health_check *c = cs_state_health_get(&e->st, id);
        assert_non_null(c);
        return c->healthy;
}

static void ids_are_sixteen_hex_digits(void **state)
{
        (void)state;
        char text[CS_HEALTH_ID_TEXT];
        uint64_t id;
        cs_health_id_text(0xabcULL, text);
        assert_string_equal(text, "0000000000000abc");
        assert_int_equal(cs_health_id_parse(text, &id), 0);
        assert_int_equal(id, 0xabc);
        assert_int_equal(cs_health_id_parse("0000000000000ABC", &id), -EINVAL);
        assert_int_equal(cs_health_id_parse("0000000000000000", &id), -EINVAL);
        assert_int_equal(cs_health_id_parse("abc", &id), -EINVAL);
        assert_int_equal(cs_health_id_parse("0000000000000abcd", &id), -EINVAL);
        assert_int_equal(cs_health_id_parse(NULL, &id), -EINVAL);
}

static void checks_are_created_changed_and_deleted(void **state)
{
        struct env *e = *state;
        struct health_check_config c;
        http_cfg(&c, 10);
        assert_int_equal(put(e, 7, true, &c, 1000), 0);
        assert_true(cs_state_health_check_exists(&e->st, "0000000000000007"));
        assert_false(cs_state_health_check_exists(&e->st, "0000000000000008"));
        assert_true(healthy(e, 7)); /* healthy until data arrives */
        assert_int_equal(put(e, 7, true, &c, 1000), -EEXIST);
        assert_int_equal(put(e, 8, false, &c, 1000), -ENOENT);
        c.port = 9090;
        assert_int_equal(put(e, 7, false, &c, 2000), 0);
        const struct cs_health_check *hc = cs_state_health_get(&e->st, 7);
        assert_int_equal(hc->cfg.port, 9090);
        assert_int_equal(hc->updated_ms, 2000);
        assert_int_equal(hc->created_ms, 1000);
        struct cs_ctx ctx = at(e, 3000);
        assert_int_equal(cs_state_health_delete(&e->st, &ctx, 7, &e->res), 0);
        assert_null(cs_state_health_get(&e->st, 7));
        assert_int_equal(cs_state_health_delete(&e->st, &ctx, 7, &e->res), -ENOENT);
}

static void invalid_definitions_name_their_fields(void **state)
{
        struct env *e = *state;
        struct health_check_config c;
        http_cfg(&c, 0);          /* interval out of range */
        c.failure_threshold = 11; /* out of range */
        assert_int_equal(put(e, 5, true, &c, 1000), -EINVAL);
        bool interval = false, threshold = false;
        for (size_t i = 0; i < e->res.n_errors; i++) {
                interval |= strcmp(e->res.errors[i].field, "request_interval") == 0;
                threshold |= strcmp(e->res.errors[i].field, "failure_threshold") == 0;
        }
        assert_true(interval && threshold);
        assert_null(cs_state_health_get(&e->st, 5));
        /* A CALCULATED check's children must exist. */
        uint64_t kids[1] = {99};
        health_check_config_init(&c, HEALTH_CHECK_CALCULATED);
        c.children = kids;
        c.child_count = 1;
        c.health_threshold = 1;
        assert_int_equal(put(e, 6, true, &c, 1000), -EINVAL);
        assert_string_equal(e->res.errors[0].field, "child_health_checks");
        assert_non_null(strstr(e->res.errors[0].message, "0000000000000063"));
}

static void more_than_eighteen_percent_healthy_is_healthy(void **state)
{
        struct env *e = *state;
        struct health_check_config c;
        http_cfg(&c, 10); /* fresh for 30 s */
        assert_int_equal(put(e, 1, true, &c, 1000), 0);
        vote1(e, N1, 2000, 1, false);
        assert_false(healthy(e, 1)); /* 0 of 1 */
        vote1(e, N2, 2100, 1, true);
        assert_true(healthy(e, 1)); /* 1 of 2 */
        vote1(e, N3, 2200, 1, false);
        assert_true(healthy(e, 1)); /* 1 of 3: 33% > 18% */
        vote1(e, N2, 2300, 1, false);
        assert_false(healthy(e, 1)); /* 0 of 3 */
        const struct cs_health_check *hc = cs_state_health_get(&e->st, 1);
        assert_int_equal(hc->n_votes, 3);
        assert_string_equal(hc->votes[0].reason, "status 500");
        assert_int_equal(hc->votes[0].connect_us, 100);
        assert_int_equal(hc->tally.fresh, 3);
        assert_int_equal(hc->tally.healthy, 0);
        /* A percentage of 50: one healthy of three is not enough. */
        c.aggregation_percent = 50;
        assert_int_equal(put(e, 2, true, &c, 3000), 0);
        vote1(e, N1, 3100, 2, false);
        vote1(e, N2, 3100, 2, false);
        vote1(e, N3, 3100, 2, true);
        assert_false(healthy(e, 2));
        vote1(e, N2, 3200, 2, true);
        assert_true(healthy(e, 2)); /* 2 of 3: 67% */
}

static void a_silent_nodes_vote_ages_out(void **state)
{
        struct env *e = *state;
        struct health_check_config c;
        http_cfg(&c, 10); /* votes fresh for 3 x 10 s */
        assert_int_equal(put(e, 1, true, &c, 0), 0);
        vote1(e, N3, 1000, 1, true); /* then node 3 dies */
        vote1(e, N1, 1000, 1, false);
        vote1(e, N2, 1000, 1, false);
        assert_true(healthy(e, 1));
        for (uint64_t t = 11000; t <= 31000; t += 10000) {
                vote1(e, N1, t, 1, false);
                vote1(e, N2, t, 1, false);
                assert_true(healthy(e, 1)); /* node 3's vote is still fresh */
        }
        vote1(e, N1, 31001, 1, false);
        assert_false(healthy(e, 1)); /* 31 s old: stale, 0 of 2 */
        const struct cs_health_check *hc = cs_state_health_get(&e->st, 1);
        assert_int_equal(hc->tally.fresh, 2);
        /* No fresh vote at all keeps the last aggregate. */
        vote1(e, N1, 32000, 1, true);
        assert_true(healthy(e, 1));
        struct cs_ctx ctx = at(e, 500000);
        assert_int_equal(cs_state_health_manual(&e->st, &ctx, 1, true, &e->res), -EINVAL);
        struct cs_health_votes none = {.node = N2, .votes = NULL, .count = 0};
        ctx = at(e, 500000);
        assert_int_equal(cs_state_health_votes(&e->st, &ctx, &none, &e->res), 0);
        assert_true(healthy(e, 1));
        assert_false(hc->tally.decided);
}

static void transitions_are_kept_up_to_a_hundred(void **state)
{
        struct env *e = *state;
        struct health_check_config c;
        http_cfg(&c, 10);
        assert_int_equal(put(e, 1, true, &c, 0), 0);
        unsigned before = e->notified;
        for (unsigned i = 0; i < 130; i++)
                vote1(e, N1, 1000 + i, 1, i % 2 == 1);
        assert_int_equal(e->notified - before, 130);
        const struct cs_health_check *hc = cs_state_health_get(&e->st, 1);
        assert_int_equal(hc->hist_count, CS_HEALTH_HISTORY);
        const struct cs_health_transition *first = cs_health_check_transition(hc, 0);
        const struct cs_health_transition *last =
            cs_health_check_transition(hc, CS_HEALTH_HISTORY - 1);
        assert_int_equal(first->time_ms, 1030);
        assert_int_equal(last->time_ms, 1129);
        assert_true(last->to);
        assert_false(last->from);
        assert_int_equal(last->cause, CS_HEALTH_CAUSE_VOTES);
        assert_int_equal(last->fresh, 1);
        assert_int_equal(last->healthy, 1);
        assert_null(cs_health_check_transition(hc, CS_HEALTH_HISTORY));
}

static void manual_heartbeat_calculated_inverted_disabled(void **state)
{
        struct env *e = *state;
        struct health_check_config c;
        struct cs_ctx ctx;
        health_check_config_init(&c, HEALTH_CHECK_MANUAL);
        assert_int_equal(put(e, 1, true, &c, 0), 0);
        assert_true(healthy(e, 1));
        ctx = at(e, 100);
        assert_int_equal(cs_state_health_manual(&e->st, &ctx, 1, false, &e->res), 0);
        assert_false(healthy(e, 1));
        ctx = at(e, 100);
        assert_int_equal(cs_state_health_heartbeat(&e->st, &ctx, 1, &e->res), -EINVAL);

        health_check_config_init(&c, HEALTH_CHECK_HEARTBEAT);
        c.heartbeat_ttl = 10;
        assert_int_equal(put(e, 2, true, &c, 1000), 0);
        assert_true(healthy(e, 2)); /* healthy for its first TTL */
        ctx = at(e, 9000);
        assert_int_equal(cs_state_health_heartbeat(&e->st, &ctx, 2, &e->res), 0);
        vote1(e, N1, 18000, 99, true); /* any health command re-evaluates */
        assert_true(healthy(e, 2));
        vote1(e, N1, 19001, 99, true);
        assert_false(healthy(e, 2)); /* no call for more than 10 s */
        ctx = at(e, 20000);
        assert_int_equal(cs_state_health_heartbeat(&e->st, &ctx, 2, &e->res), 0);
        assert_true(healthy(e, 2));

        /* CALCULATED: at least 2 of {1, 2} healthy. */
        uint64_t kids[2] = {1, 2};
        health_check_config_init(&c, HEALTH_CHECK_CALCULATED);
        c.children = kids;
        c.child_count = 2;
        c.health_threshold = 2;
        assert_int_equal(put(e, 3, true, &c, 21000), 0);
        assert_false(healthy(e, 3)); /* check 1 is down */
        ctx = at(e, 22000);
        assert_int_equal(cs_state_health_manual(&e->st, &ctx, 1, true, &e->res), 0);
        assert_true(healthy(e, 3));
        const struct cs_health_check *hc = cs_state_health_get(&e->st, 3);
        assert_int_equal(cs_health_check_transition(hc, hc->hist_count - 1)->cause,
                         CS_HEALTH_CAUSE_CHILDREN);
        /* A child in use cannot go. */
        ctx = at(e, 23000);
        assert_int_equal(cs_state_health_delete(&e->st, &ctx, 1, &e->res), -EBUSY);
        assert_non_null(strstr(e->res.message, "CALCULATED"));

        /* Inverted MANUAL, then disabled: always healthy. */
        health_check_config_init(&c, HEALTH_CHECK_MANUAL);
        c.inverted = true;
        assert_int_equal(put(e, 4, true, &c, 24000), 0);
        assert_false(healthy(e, 4));
        c.disabled = true;
        assert_int_equal(put(e, 4, false, &c, 25000), 0);
        assert_true(healthy(e, 4));
        hc = cs_state_health_get(&e->st, 4);
        assert_int_equal(cs_health_check_transition(hc, hc->hist_count - 1)->cause,
                         CS_HEALTH_CAUSE_CONFIG);
}

static void a_check_in_use_by_a_record_set_cannot_be_deleted(void **state)
{
        struct env *e = *state;
        struct health_check_config c;
        http_cfg(&c, 10);
        assert_int_equal(put(e, 0x42, true, &c, 0), 0);
        struct cs_action *a =
            ab_add(&e->ab, CS_ACTION_CREATE, "www.example.com.", CS_TYPE_A, "p", 60);
        a->rrset.routing.failover = CS_FAILOVER_PRIMARY;
        a->rrset.routing.health_check_id = "0000000000000042";
        ab_a(&e->ab, a, 192, 0, 2, 1);
        struct cs_batch b = ab_batch(&e->ab, e->zf.origin, e->zf.origin_len);
        struct cs_ctx ctx = at(e, 100);
        assert_int_equal(cs_state_batch_apply(&e->st, &ctx, &b, &e->res), 0);
        ctx = at(e, 200);
        assert_int_equal(cs_state_health_delete(&e->st, &ctx, 0x42, &e->res), -EBUSY);
        assert_non_null(strstr(e->res.message, "www.example.com"));
        assert_non_null(cs_state_health_get(&e->st, 0x42));
        /* Once the set lets go of it, it can. */
        ab_reset(&e->ab);
        a = ab_add(&e->ab, CS_ACTION_DELETE, "www.example.com.", CS_TYPE_A, "p", 60);
        a->rrset.routing.failover = CS_FAILOVER_PRIMARY;
        a->rrset.routing.health_check_id = "0000000000000042";
        ab_a(&e->ab, a, 192, 0, 2, 1);
        b = ab_batch(&e->ab, e->zf.origin, e->zf.origin_len);
        ctx = at(e, 300);
        assert_int_equal(cs_state_batch_apply(&e->st, &ctx, &b, &e->res), 0);
        ctx = at(e, 400);
        assert_int_equal(cs_state_health_delete(&e->st, &ctx, 0x42, &e->res), 0);
}

/* Encodes cmd and decodes it into out. */
static void roundtrip(struct cs_command *cmd, struct cs_command *out)
{
        struct raft_buffer buf;
        char err[256];
        assert_int_equal(cs_command_encode(cmd, &buf), 0);
        assert_int_equal(buf.len % 8, 0);
        int rv = cs_command_decode(buf.base, buf.len, out, err, sizeof(err));
        assert_int_equal(rv, 0);
        /* Health commands hold no bin: their strings are copies, so the
         * entry can go before the command is read. */
        raft_free(buf.base);
}

static void commands_carry_every_health_field(void **state)
{
        (void)state;
        struct health_check_config c;
        uint64_t kids[2] = {5, 6};
        char *checkers[2] = {"1", "eu-west"};
        health_check_config_init(&c, HEALTH_CHECK_HTTPS_STR_MATCH);
        c.ip_address = "::1";
        c.port = 8443;
        c.resource_path = "/status";
        c.fqdn = "www.example.com";
        c.search_string = "OK";
        c.request_interval = 7;
        c.failure_threshold = 4;
        c.inverted = true;
        c.enable_sni = true;
        c.verify_certificate = true;
        c.status_min = 200;
        c.status_max = 204;
        c.health_threshold = 1;
        c.children = kids;
        c.child_count = 2;
        c.checkers = checkers;
        c.checker_count = 2;
        c.aggregation_percent = 50;
        c.vote_freshness = 5;
        c.heartbeat_ttl = 99;
        struct cs_command cmd = {.type = CS_CMD_HEALTH_PUT, .request_id = "r1"};
        cmd.u.health_put = (struct cs_health_put){.id = 77, .create = true, .cfg = &c};
        struct cs_command out;
        roundtrip(&cmd, &out);
        const struct health_check_config *d = out.u.health_put.cfg;
        assert_int_equal(out.type, CS_CMD_HEALTH_PUT);
        assert_int_equal(out.u.health_put.id, 77);
        assert_true(out.u.health_put.create);
        assert_int_equal(d->type, HEALTH_CHECK_HTTPS_STR_MATCH);
        assert_string_equal(d->ip_address, "::1");
        assert_int_equal(d->port, 8443);
        assert_string_equal(d->resource_path, "/status");
        assert_string_equal(d->fqdn, "www.example.com");
        assert_string_equal(d->search_string, "OK");
        assert_int_equal(d->request_interval, 7);
        assert_int_equal(d->failure_threshold, 4);
        assert_true(d->inverted && !d->disabled && d->enable_sni &&
                    d->verify_certificate);
        assert_int_equal(d->status_min, 200);
        assert_int_equal(d->status_max, 204);
        assert_int_equal(d->child_count, 2);
        assert_int_equal(d->children[1], 6);
        assert_int_equal(d->checker_count, 2);
        assert_string_equal(d->checkers[1], "eu-west");
        assert_int_equal(d->aggregation_percent, 50);
        assert_int_equal(d->vote_freshness, 5);
        assert_int_equal(d->heartbeat_ttl, 99);
        cs_command_free(&out);

        struct cs_health_vote_spec v[2] = {
            {.check = 1,
             .healthy = true,
             .status = 200,
             .connect_us = 5,
             .first_byte_us = 9},
            {.check = 2, .healthy = false, .reason = "connection refused"}};
        cmd = (struct cs_command){.type = CS_CMD_HEALTH_VOTES};
        cmd.u.health_votes = (struct cs_health_votes){.node = 3, .votes = v, .count = 2};
        roundtrip(&cmd, &out);
        assert_int_equal(out.u.health_votes.node, 3);
        assert_int_equal(out.u.health_votes.count, 2);
        assert_int_equal(out.u.health_votes.votes[0].first_byte_us, 9);
        assert_true(out.u.health_votes.votes[0].healthy);
        assert_null(out.u.health_votes.votes[0].reason);
        assert_string_equal(out.u.health_votes.votes[1].reason, "connection refused");
        cs_command_free(&out);

        cmd = (struct cs_command){.type = CS_CMD_HEALTH_MANUAL};
        cmd.u.health_manual.id = 9;
        cmd.u.health_manual.healthy = true;
        roundtrip(&cmd, &out);
        assert_int_equal(out.u.health_manual.id, 9);
        assert_true(out.u.health_manual.healthy);
        cs_command_free(&out);
        cmd = (struct cs_command){.type = CS_CMD_HEALTH_HEARTBEAT, .u.health_id = 10};
        roundtrip(&cmd, &out);
        assert_int_equal(out.type, CS_CMD_HEALTH_HEARTBEAT);
        assert_int_equal(out.u.health_id, 10);
        cs_command_free(&out);
        cmd = (struct cs_command){.type = CS_CMD_HEALTH_DELETE, .u.health_id = 11};
        roundtrip(&cmd, &out);
        assert_int_equal(out.u.health_id, 11);
        cs_command_free(&out);
}

/* A health command with an older format number (hand-made) is refused. */
static void health_commands_need_format_3(void **state)
{
        (void)state;
        struct cs_command cmd = {.type = CS_CMD_HEALTH_HEARTBEAT, .u.health_id = 10};
        struct raft_buffer buf;
        struct cs_command out;
        char err[256];
        assert_int_equal(cs_command_encode(&cmd, &buf), 0);
        uint8_t *p = buf.base;
        assert_int_equal(p[0], 0x96); /* [version, ...]: version is a fixint */
        assert_int_equal(p[1], CS_COMMAND_VERSION);
        p[1] = 2;
        assert_int_equal(cs_command_decode(buf.base, buf.len, &out, err, sizeof(err)),
                         -EPROTO);
        assert_non_null(strstr(err, "health"));
        cs_command_free(&out);
        /* Truncated votes are malformed, never a crash. */
        p[1] = CS_COMMAND_VERSION;
        assert_int_equal(cs_command_decode(buf.base, 6, &out, err, sizeof(err)),
                         -EBADMSG);
        cs_command_free(&out);
        raft_free(buf.base);
}

static void snapshots_keep_checks_votes_and_history(void **state)
{
        struct env *e = *state;
        struct health_check_config c;
        http_cfg(&c, 10);
        assert_int_equal(put(e, 1, true, &c, 0), 0);
        health_check_config_init(&c, HEALTH_CHECK_HEARTBEAT);
        assert_int_equal(put(e, 2, true, &c, 0), 0);
        struct cs_ctx ctx = at(e, 50);
        assert_int_equal(cs_state_health_heartbeat(&e->st, &ctx, 2, &e->res), 0);
        vote1(e, N1, 100, 1, false);
        vote1(e, N2, 200, 1, true);
        vote1(e, N2, 300, 1, false);
        void *buf, *buf2;
        size_t len, len2;
        char err[256];
        assert_int_equal(cs_snapshot_encode(&e->st, &buf, &len), 0);
        struct cs_state copy;
        cs_state_init(&copy);
        assert_int_equal(cs_snapshot_decode(buf, len, &copy, err, sizeof(err)), 0);
        assert_int_equal(cs_snapshot_encode(&copy, &buf2, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len); /* canonical: the same bytes */
        const struct cs_health_check *a = cs_state_health_get(&e->st, 1);
        const struct cs_health_check *b = cs_state_health_get(&copy, 1);
        assert_non_null(b);
        assert_int_equal(b->n_votes, 2);
        assert_string_equal(b->votes[0].reason, "status 500");
        assert_int_equal(b->votes[1].time_ms, 300);
        assert_int_equal(b->hist_count, a->hist_count);
        assert_int_equal(b->healthy, a->healthy);
        assert_int_equal(cs_state_health_get(&copy, 2)->last_beat_ms, 50);
        assert_true(cs_state_health_check_exists(&copy, "0000000000000001"));
        /* The restored state goes on the same way. */
        vote1(e, N1, 400, 1, true);
        struct cs_health_votes v = {
            .node = N1,
            .votes = &(struct cs_health_vote_spec){.check = 1, .healthy = true},
            .count = 1};
        ctx = (struct cs_ctx){.index = e->index, .timestamp_ms = 400};
        assert_int_equal(cs_state_health_votes(&copy, &ctx, &v, &e->res), 0);
        assert_int_equal(cs_state_health_get(&copy, 1)->healthy, a->healthy);
        free(buf);
        free(buf2);
        cs_state_fini(&copy);
}

/* A format-2 snapshot (before health checks) is the format-3 one without
 * the health objects: made so from a state without checks, it loads. */
static void format_2_snapshots_still_load(void **state)
{
        struct env *e = *state;
        void *buf;
        size_t len;
        char err[256];
        assert_int_equal(cs_snapshot_encode(&e->st, &buf, &len), 0);
        uint8_t *p = buf;
        long head = cs_mp_object_len(p, len);
        assert_true(head > 0);
        long members = cs_mp_object_len(p + head, len - (size_t)head);
        assert_int_equal(members, 1); /* [] */
        uint8_t *h = p + head + members;
        assert_int_equal(h[0], 0x92); /* [health version, 0] */
        long hl = cs_mp_object_len(h, len - (size_t)(h - p));
        /* The sections of later formats follow it, cut with the health
         * objects: the latency map [latency version, 0] and the CIDR
         * collections [0]. */
        assert_int_equal(p[17], CS_SNAPSHOT_VERSION); /* after "quorumdns-state" */
        assert_int_equal(h[hl], 0x92);
        hl += cs_mp_object_len(h + hl, len - (size_t)(h - p) - (size_t)hl);
        assert_int_equal(h[hl], 0x91);
        hl += cs_mp_object_len(h + hl, len - (size_t)(h - p) - (size_t)hl);
        memmove(h, h + hl, len - (size_t)(h - p) - (size_t)hl);
        len -= (size_t)hl;
        p[17] = CS_SNAPSHOT_VERSION_ROUTING;
        struct cs_state old;
        cs_state_init(&old);
        assert_int_equal(cs_snapshot_decode(buf, len, &old, err, sizeof(err)), 0);
        assert_int_equal(cs_state_zone_count(&old), 1);
        assert_int_equal(cs_state_health_count(&old), 0);
        cs_state_fini(&old);
        free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(ids_are_sixteen_hex_digits),
            cmocka_unit_test_setup_teardown(checks_are_created_changed_and_deleted, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(invalid_definitions_name_their_fields, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(more_than_eighteen_percent_healthy_is_healthy,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(a_silent_nodes_vote_ages_out, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(transitions_are_kept_up_to_a_hundred, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(manual_heartbeat_calculated_inverted_disabled,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(
                a_check_in_use_by_a_record_set_cannot_be_deleted, setup, teardown),
            cmocka_unit_test(commands_carry_every_health_field),
            cmocka_unit_test(health_commands_need_format_3),
            cmocka_unit_test_setup_teardown(snapshots_keep_checks_votes_and_history,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(format_2_snapshots_still_load, setup,
                                            teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
