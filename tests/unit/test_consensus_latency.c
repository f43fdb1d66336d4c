/*
 * test_consensus_latency.c — the replicated latency map: its commands'
 * encoding (and the format they need), the state's validation, how operator
 * and measured RTTs combine and age, and the snapshot section (canonical
 * bytes, and format-3 snapshots without it still loading).
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
#include "consensus/latency.h"
#include "consensus/snapshot.h"
#include "consensus/state.h"

#include "consensus_fixtures.h"

struct env {
        struct cs_state st;
        struct cs_result res;
        struct zone_fixture zf;
        uint64_t index;
        unsigned changed;
};

static void on_changed(void *ctx, const struct cs_state *st)
{
        (void)st;
        ((struct env *)ctx)->changed++;
}

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        state_with_example_zone(&e->st, &e->res, &e->zf, &e->index);
        struct cs_latency_observer obs = {.ctx = e, .changed = on_changed};
        cs_state_set_latency_observer(&e->st, &obs);
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

static struct cs_ctx at(struct env *e, uint64_t ms)
{
        cs_result_reset(&e->res);
        return (struct cs_ctx){.index = ++e->index, .timestamp_ms = ms};
}

static struct cs_latency_prefix v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d,
                                   uint8_t len)
{
        struct cs_latency_prefix p = {.family = 4, .len = len};
        p.addr[0] = a;
        p.addr[1] = b;
        p.addr[2] = c;
        p.addr[3] = d;
        return p;
}

static const struct cs_latency_entry *find(struct env *e, struct cs_latency_prefix p,
                                           const char *region)
{
        size_t n;
        const struct cs_latency_entry **v = cs_state_latency_sorted(&e->st, &n, NULL);
        const struct cs_latency_entry *hit = NULL;
        for (size_t i = 0; i < n; i++)
                if (memcmp(&v[i]->prefix, &p, sizeof(p)) == 0 &&
                    strcmp(v[i]->region, region) == 0)
                        hit = v[i];
        free(v);
        return hit;
}

static int put1(struct env *e, struct cs_latency_prefix p, const char *region,
                uint32_t us, uint64_t ms)
{
        struct cs_latency_item it = {.prefix = p, .region = region, .rtt_us = us};
        struct cs_latency_batch b = {.items = &it, .count = 1};
        struct cs_ctx ctx = at(e, ms);
        return cs_state_latency_put(&e->st, &ctx, &b, &e->res);
}

static void measure(struct env *e, uint64_t node, const char *region,
                    struct cs_latency_prefix p, uint32_t us, uint64_t ms)
{
        struct cs_latency_item it = {.prefix = p, .rtt_us = us, .samples = 2};
        struct cs_latency_batch b = {
            .node = node, .region = region, .items = &it, .count = us ? 1 : 0};
        struct cs_ctx ctx = at(e, ms);
        assert_int_equal(cs_state_latency_measured(&e->st, &ctx, &b, &e->res), 0);
}

static void roundtrip(const struct cs_command *in, struct cs_command *out)
{
        struct raft_buffer buf;
        char err[256];
        assert_int_equal(cs_command_encode(in, &buf), 0);
        assert_int_equal(buf.len % 8, 0);
        int rv = cs_command_decode(buf.base, buf.len, out, err, sizeof(err));
        if (rv != 0)
                fail_msg("decode: %s", err);
        raft_free(buf.base);
}

/* Every field of the three commands survives the codec. */
static void commands_carry_every_latency_field(void **state)
{
        (void)state;
        struct cs_latency_item items[2] = {
            {.prefix = v4(192, 0, 2, 0, 24), .region = "eu-west", .rtt_us = 12500},
            {.prefix = {.family = 6, .len = 48, .addr = {0x20, 0x01, 0x0d, 0xb8, 0, 7}},
             .region = NULL,
             .rtt_us = 7,
             .samples = 9}};
        for (int type = CS_CMD_LATENCY_PUT; type <= CS_CMD_LATENCY_MEASURED; type++) {
                struct cs_command cmd = {
                    .type = (enum cs_command_type)type,
                    .timestamp_ms = 77,
                    .u.latency = {
                        .node = 3, .region = "us-east", .items = items, .count = 2}};
                struct cs_command out;
                roundtrip(&cmd, &out);
                assert_int_equal(out.type, type);
                const struct cs_latency_batch *b = &out.u.latency;
                assert_int_equal(b->node, 3);
                assert_string_equal(b->region, "us-east");
                assert_int_equal(b->count, 2);
                assert_memory_equal(&b->items[0].prefix, &items[0].prefix,
                                    sizeof(items[0].prefix));
                assert_string_equal(b->items[0].region, "eu-west");
                assert_int_equal(b->items[0].rtt_us, 12500);
                assert_memory_equal(&b->items[1].prefix, &items[1].prefix,
                                    sizeof(items[1].prefix));
                assert_null(b->items[1].region);
                assert_int_equal(b->items[1].samples, 9);
                cs_command_free(&out);
        }
}

/* A latency command in an entry of an older format is refused, and a
 * truncated one is malformed, never a crash. */
static void latency_commands_need_their_format(void **state)
{
        (void)state;
        struct cs_latency_item it = {
            .prefix = v4(10, 0, 0, 0, 8), .region = "a", .rtt_us = 1};
        struct cs_command cmd = {.type = CS_CMD_LATENCY_PUT,
                                 .u.latency = {.items = &it, .count = 1}};
        struct raft_buffer buf;
        struct cs_command out;
        char err[256];
        assert_int_equal(cs_command_encode(&cmd, &buf), 0);
        uint8_t *p = buf.base;
        assert_int_equal(p[0], 0x96);
        assert_int_equal(p[1], CS_COMMAND_VERSION);
        p[1] = CS_COMMAND_VERSION_HEALTH;
        assert_int_equal(cs_command_decode(buf.base, buf.len, &out, err, sizeof(err)),
                         -EPROTO);
        assert_non_null(strstr(err, "latency"));
        cs_command_free(&out);
        p[1] = CS_COMMAND_VERSION_LATENCY;
        for (size_t n = 1; n < buf.len; n++) {
                int rv = cs_command_decode(buf.base, n, &out, err, sizeof(err));
                assert_true(rv != 0 || n >= buf.len - 8); /* padding is optional */
                cs_command_free(&out);
        }
        raft_free(buf.base);
}

/* A bad batch changes nothing and names every problem's field. */
static void invalid_entries_name_their_fields(void **state)
{
        struct env *e = *state;
        struct cs_latency_item items[4] = {
            {.prefix = v4(192, 0, 2, 1, 24),
             .region = "eu",
             .rtt_us = 10}, /* host bits */
            {.prefix = v4(192, 0, 2, 0, 33), .region = "eu", .rtt_us = 10}, /* length */
            {.prefix = v4(192, 0, 2, 0, 24), .region = "EU!", .rtt_us = 10},
            {.prefix = v4(192, 0, 2, 0, 24), .region = "eu", .rtt_us = 0}};
        struct cs_latency_batch b = {.items = items, .count = 4};
        struct cs_ctx ctx = at(e, 5);
        assert_int_equal(cs_state_latency_put(&e->st, &ctx, &b, &e->res), -EINVAL);
        assert_int_equal(e->res.n_errors, 4);
        assert_string_equal(e->res.errors[0].field, "entries[0].prefix");
        assert_string_equal(e->res.errors[1].field, "entries[1].prefix");
        assert_string_equal(e->res.errors[2].field, "entries[2].region");
        assert_string_equal(e->res.errors[3].field, "entries[3].rtt_ms");
        assert_int_equal(cs_state_latency_count(&e->st), 0);
        assert_int_equal(e->changed, 0);
        items[3].rtt_us = CS_LATENCY_RTT_MAX_US + 1;
        ctx = at(e, 6);
        b = (struct cs_latency_batch){.items = &items[3], .count = 1};
        assert_int_equal(cs_state_latency_put(&e->st, &ctx, &b, &e->res), -EINVAL);
        assert_string_equal(e->res.errors[0].field, "entries[0].rtt_ms");
}

/* Operator RTTs win over measured ones; deleting them uncovers the
 * measured value; measured values move a quarter of the way and age out. */
static void operator_and_measured_rtts_combine_and_age(void **state)
{
        struct env *e = *state;
        struct cs_latency_prefix p = v4(198, 51, 100, 0, 24);
        measure(e, 2, "eu", p, 8000, 1000);
        const struct cs_latency_entry *x = find(e, p, "eu");
        assert_non_null(x);
        assert_int_equal(cs_latency_rtt(x), 8000);
        assert_int_equal(x->samples, 2);
        measure(e, 3, "eu", p, 4000, 2000);
        x = find(e, p, "eu");
        assert_int_equal(x->measured_rtt_us, 7000); /* (3 * 8000 + 4000) / 4 */
        assert_int_equal(x->measured_node, 3);
        assert_int_equal(x->measured_ms, 2000);
        assert_int_equal(put1(e, p, "eu", 20000, 2500), 0);
        x = find(e, p, "eu");
        assert_int_equal(cs_latency_rtt(x), 20000);
        assert_int_equal(x->measured_rtt_us, 7000);
        /* Measured values only for /24 and /48; a bad region: nothing. */
        measure(e, 2, "eu", v4(10, 0, 0, 0, 8), 5, 2600);
        assert_null(find(e, v4(10, 0, 0, 0, 8), "eu"));
        measure(e, 2, "Bad Region", v4(10, 0, 0, 0, 24), 5, 2700);
        assert_int_equal(cs_state_latency_count(&e->st), 1);
        /* Delete the operator's value: the measured one answers again. */
        struct cs_latency_item del = {.prefix = p, .region = "eu"};
        struct cs_latency_batch b = {.items = &del, .count = 1};
        struct cs_ctx ctx = at(e, 3000);
        assert_int_equal(cs_state_latency_delete(&e->st, &ctx, &b, &e->res), 0);
        x = find(e, p, "eu");
        assert_int_equal(cs_latency_rtt(x), 7000);
        assert_int_equal(x->op_rtt_us, 0);
        /* Aging: not due before the maximum age, due after, and the next
         * MEASURED (empty: the leader's) drops it. */
        uint64_t old = 2000 + CS_LATENCY_MEASURED_MAX_AGE_MS;
        assert_false(cs_state_latency_due(&e->st, old));
        assert_true(cs_state_latency_due(&e->st, old + 1));
        unsigned before = e->changed;
        measure(e, 1, "eu", p, 0, old + 1);
        assert_null(find(e, p, "eu"));
        assert_int_equal(cs_state_latency_count(&e->st), 0);
        assert_int_equal(e->changed, before + 1);
        assert_false(cs_state_latency_due(&e->st, old + 10));
}

/* An operator entry outlives measured aging; a region-less delete takes
 * every region's operator value of that prefix and no other prefix's. */
static void deletes_by_prefix_and_region(void **state)
{
        struct env *e = *state;
        struct cs_latency_prefix p = v4(203, 0, 113, 0, 24), q = v4(203, 0, 0, 0, 16);
        assert_int_equal(put1(e, p, "a", 100, 10), 0);
        assert_int_equal(put1(e, p, "b", 200, 10), 0);
        assert_int_equal(put1(e, q, "a", 300, 10), 0);
        measure(e, 1, "a", p, 50, 20);
        struct cs_latency_item del = {.prefix = p};
        struct cs_latency_batch b = {.items = &del, .count = 1};
        struct cs_ctx ctx = at(e, 30);
        assert_int_equal(cs_state_latency_delete(&e->st, &ctx, &b, &e->res), 0);
        assert_null(find(e, p, "b"));
        assert_int_equal(cs_latency_rtt(find(e, p, "a")), 50); /* measured stays */
        assert_int_equal(cs_latency_rtt(find(e, q, "a")), 300);
        measure(e, 1, "a", v4(1, 2, 3, 0, 24), 9, 40 + CS_LATENCY_MEASURED_MAX_AGE_MS);
        assert_null(find(e, p, "a")); /* aged out */
        assert_int_equal(cs_latency_rtt(find(e, q, "a")), 300);
}

/* Snapshots keep every entry, canonically, and a format-3 snapshot (no
 * latency section) still loads. */
static void snapshots_keep_the_map(void **state)
{
        struct env *e = *state;
        struct cs_latency_prefix v6 = {
            .family = 6, .len = 48, .addr = {0x20, 0x01, 0x0d, 0xb8, 0, 1}};
        assert_int_equal(put1(e, v4(192, 0, 2, 0, 24), "eu", 1500, 10), 0);
        assert_int_equal(put1(e, v4(0, 0, 0, 0, 0), "us", 90000, 11), 0);
        measure(e, 2, "eu", v6, 321, 12);
        void *buf, *buf2;
        size_t len, len2;
        char err[256];
        assert_int_equal(cs_snapshot_encode(&e->st, &buf, &len), 0);
        struct cs_state copy;
        cs_state_init(&copy);
        assert_int_equal(cs_snapshot_decode(buf, len, &copy, err, sizeof(err)), 0);
        assert_int_equal(cs_state_latency_count(&copy), 3);
        assert_int_equal(copy.latency.version, e->st.latency.version);
        assert_int_equal(cs_snapshot_encode(&copy, &buf2, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len);
        /* The restored state goes on the same way. */
        struct cs_latency_item it = {.prefix = v6, .rtt_us = 121, .samples = 1};
        struct cs_latency_batch b = {.node = 2, .region = "eu", .items = &it, .count = 1};
        struct cs_ctx ctx = {.index = 99, .timestamp_ms = 13};
        assert_int_equal(cs_state_latency_measured(&copy, &ctx, &b, &e->res), 0);
        size_t n;
        const struct cs_latency_entry **v = cs_state_latency_sorted(&copy, &n, NULL);
        assert_int_equal(n, 3);
        assert_int_equal(v[2]->prefix.family, 6);
        assert_int_equal(v[2]->measured_rtt_us, (321 * 3 + 121) / 4);
        free(v);
        cs_state_fini(&copy);
        free(buf2);
        /* Corrupt: a forged entry count is refused, nothing kept. */
        free(buf);
        cs_state_fini(&e->st);
        cs_state_init(&e->st);
        e->index = 0;
        assert_int_equal(zone_create_at(&e->st, &e->index, &e->zf, &e->res), 0);
        /* Format 3: the same bytes without the latency (and later) sections. */
        assert_int_equal(cs_snapshot_encode(&e->st, &buf, &len), 0);
        uint8_t *p = buf;
        long head = cs_mp_object_len(p, len);
        long members = cs_mp_object_len(p + head, len - (size_t)head);
        uint8_t *h = p + head + members;
        long hl = cs_mp_object_len(h, len - (size_t)(h - p)); /* health */
        uint8_t *l = h + hl;
        assert_int_equal(l[0], 0x92); /* [latency version, 0] */
        long ll = cs_mp_object_len(l, len - (size_t)(l - p));
        /* the sections of later formats follow: the CIDR collections [0] */
        assert_int_equal(l[ll], 0x91);
        ll += cs_mp_object_len(l + ll, len - (size_t)(l - p) - (size_t)ll);
        memmove(l, l + ll, len - (size_t)(l - p) - (size_t)ll);
        len -= (size_t)ll;
        assert_int_equal(p[17], CS_SNAPSHOT_VERSION);
        p[17] = CS_SNAPSHOT_VERSION_HEALTH;
        struct cs_state old;
        cs_state_init(&old);
        assert_int_equal(cs_snapshot_decode(buf, len, &old, err, sizeof(err)), 0);
        assert_int_equal(cs_state_zone_count(&old), 1);
        assert_int_equal(cs_state_latency_count(&old), 0);
        cs_state_fini(&old);
        /* ... and the same bytes claiming format 4 are malformed. */
        p[17] = CS_SNAPSHOT_VERSION_LATENCY;
        cs_state_init(&old);
        assert_int_not_equal(cs_snapshot_decode(buf, len, &old, err, sizeof(err)), 0);
        cs_state_fini(&old);
        free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(commands_carry_every_latency_field),
            cmocka_unit_test(latency_commands_need_their_format),
            cmocka_unit_test_setup_teardown(invalid_entries_name_their_fields, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(operator_and_measured_rtts_combine_and_age,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(deletes_by_prefix_and_region, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(snapshots_keep_the_map, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
