/*
 * test_consensus_command.c — the msgpack codec of log commands.
 *
 * Every command type survives encode → decode unchanged; encoded entries are
 * zero-padded to a multiple of 8 bytes (raft 0.15 needs it); an unknown
 * format version or command type, every truncation of a valid entry, forged
 * container sizes, random byte strings and random corruptions of valid
 * entries are rejected cleanly (run under ASan: no crash, no leak, no huge
 * allocation).
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

#include "consensus/codec.h"
#include "consensus/command.h"

#include "consensus_fixtures.h"

static struct raft_buffer encode(const struct cs_command *c)
{
        struct raft_buffer b;
        assert_int_equal(cs_command_encode(c, &b), 0);
        assert_int_equal(b.len % 8, 0);
        return b;
}

static void assert_rrset_equal(const struct cs_rrset_spec *a,
                               const struct cs_rrset_spec *b)
{
        assert_int_equal(a->owner_len, b->owner_len);
        assert_memory_equal(a->owner, b->owner, a->owner_len);
        assert_int_equal(a->type, b->type);
        assert_string_equal(a->set_id ? a->set_id : "", b->set_id ? b->set_id : "");
        assert_int_equal(a->ttl, b->ttl);
        assert_int_equal(a->count, b->count);
        for (size_t i = 0; i < a->count; i++) {
                assert_int_equal(a->values[i].len, b->values[i].len);
                assert_memory_equal(a->values[i].data, b->values[i].data,
                                    a->values[i].len);
        }
}

static void zone_create_round_trips(void **state)
{
        struct zone_fixture zf;
        zone_spec(&zf, "example.com.", "Z42", 7);
        struct cs_command c = {.type = CS_CMD_ZONE_CREATE,
                               .timestamp_ms = 1700000000123ull,
                               .request_id = "r1",
                               .change_id = "C1"};
        c.u.zone_create = zf.spec;
        struct raft_buffer b = encode(&c);
        struct cs_command d;
        char err[256];
        assert_int_equal(cs_command_decode(b.base, b.len, &d, err, sizeof(err)), 0);
        assert_int_equal(d.type, CS_CMD_ZONE_CREATE);
        assert_int_equal(d.timestamp_ms, 1700000000123ull);
        assert_string_equal(d.request_id, "r1");
        assert_string_equal(d.change_id, "C1");
        assert_string_equal(d.u.zone_create.zone_id, "Z42");
        assert_string_equal(d.u.zone_create.comment, "test zone");
        assert_memory_equal(d.u.zone_create.origin, zf.origin, zf.origin_len);
        assert_rrset_equal(&d.u.zone_create.soa, &zf.spec.soa);
        assert_rrset_equal(&d.u.zone_create.ns, &zf.spec.ns);
        cs_command_free(&d);
        raft_free(b.base);
}

/* A zone with its records (format 7): the actions come back; a format 6
 * entry cannot hold them. */
static void zone_create_with_records_round_trips(void **state)
{
        struct zone_fixture zf;
        struct abuild ab;
        ab_init(&ab, 4, 4);
        zone_spec(&zf, "example.com.", "Z43", 7);
        struct cs_action *a =
            ab_add(&ab, CS_ACTION_CREATE, "www.example.com.", 1, "", 60);
        ab_a(&ab, a, 192, 0, 2, 1);
        ab_a(&ab, a, 192, 0, 2, 2);
        a = ab_add(&ab, CS_ACTION_UPSERT, "example.com.", 16, "", 300);
        ab_value(&ab, a, "\x04spf1", 5);
        struct cs_command c = {.type = CS_CMD_ZONE_CREATE, .request_id = "r2"};
        c.u.zone_create = zf.spec;
        c.u.zone_create.actions = ab.actions;
        c.u.zone_create.n_actions = ab.n;
        struct raft_buffer b = encode(&c);
        struct cs_command d;
        char err[256];
        assert_int_equal(cs_command_decode(b.base, b.len, &d, err, sizeof(err)), 0);
        assert_int_equal(d.u.zone_create.n_actions, 2);
        for (size_t i = 0; i < 2; i++) {
                assert_int_equal(d.u.zone_create.actions[i].kind, ab.actions[i].kind);
                assert_rrset_equal(&d.u.zone_create.actions[i].rrset,
                                   &ab.actions[i].rrset);
        }
        assert_rrset_equal(&d.u.zone_create.ns, &zf.spec.ns);
        cs_command_free(&d);
        assert_int_equal(((uint8_t *)b.base)[1], CS_COMMAND_VERSION_ZONE_RECORDS);
        ((uint8_t *)b.base)[1] = CS_COMMAND_VERSION_ZONE_RECORDS - 1;
        assert_int_equal(cs_command_decode(b.base, b.len, &d, err, sizeof(err)),
                         -EBADMSG);
        assert_non_null(strstr(err, "zone body"));
        cs_command_free(&d);
        raft_free(b.base);
        ab_free(&ab);
}

static void change_batch_round_trips_with_10000_values(void **state)
{
        struct abuild ab;
        ab_init(&ab, 2000, 20000);
        char owner[64];
        for (int i = 0; i < 1000; i++) {
                snprintf(owner, sizeof(owner), "h%d.example.com.", i);
                struct cs_action *a = ab_add(&ab, (enum cs_action_kind)(1 + i % 3), owner,
                                             1, i % 2 ? "x" : "", (uint32_t)i);
                for (int v = 0; v < 10; v++)
                        ab_a(&ab, a, 10, (uint8_t)(i >> 8), (uint8_t)i, (uint8_t)v);
        }
        uint8_t origin[64];
        size_t ol = to_wire("example.com.", origin);
        struct cs_command c = {.type = CS_CMD_CHANGE_BATCH, .timestamp_ms = 5};
        c.u.batch = ab_batch(&ab, origin, ol);
        struct raft_buffer b = encode(&c);
        struct cs_command d;
        assert_int_equal(cs_command_decode(b.base, b.len, &d, NULL, 0), 0);
        assert_int_equal(d.u.batch.n_actions, 1000);
        assert_string_equal(d.u.batch.comment, "batch");
        assert_string_equal(d.request_id, "");
        for (size_t i = 0; i < 1000; i++) {
                assert_int_equal(d.u.batch.actions[i].kind, ab.actions[i].kind);
                assert_rrset_equal(&d.u.batch.actions[i].rrset, &ab.actions[i].rrset);
        }
        cs_command_free(&d);
        raft_free(b.base);
        ab_free(&ab);
}

static void small_commands_round_trip(void **state)
{
        struct cs_command cs[4] = {
            {.type = CS_CMD_CHANGES_SYNCED, .u.synced_index = 123456789012ull},
            {.type = CS_CMD_MEMBER_PUT,
             .u.member = {7, "node7", "127.0.0.17:7000", "127.0.0.17:53",
                          "127.0.0.17:8080", CS_ROLE_STANDBY}},
            {.type = CS_CMD_MEMBER_REMOVE, .u.member_id = 7},
            {.type = CS_CMD_ZONE_DELETE},
        };
        uint8_t origin[64];
        cs[3].u.zone_delete.origin = origin;
        cs[3].u.zone_delete.origin_len = to_wire("example.com.", origin);
        cs[3].u.zone_delete.force = true;
        for (int i = 0; i < 4; i++) {
                struct raft_buffer b = encode(&cs[i]);
                struct cs_command d;
                assert_int_equal(cs_command_decode(b.base, b.len, &d, NULL, 0), 0);
                assert_int_equal(d.type, cs[i].type);
                switch (d.type) {
                case CS_CMD_CHANGES_SYNCED:
                        assert_int_equal(d.u.synced_index, 123456789012ull);
                        break;
                case CS_CMD_MEMBER_PUT:
                        assert_int_equal(d.u.member.id, 7);
                        assert_string_equal(d.u.member.api_address, "127.0.0.17:8080");
                        assert_int_equal(d.u.member.role, CS_ROLE_STANDBY);
                        break;
                case CS_CMD_MEMBER_REMOVE:
                        assert_int_equal(d.u.member_id, 7);
                        break;
                default:
                        assert_true(d.u.zone_delete.force);
                        assert_int_equal(d.u.zone_delete.origin_len, 13);
                }
                cs_command_free(&d);
                raft_free(b.base);
        }
}

static void encoded_length_is_padded_to_8_with_zeros(void **state)
{
        char comment[64];
        uint8_t origin[64];
        size_t ol = to_wire("example.com.", origin);
        for (int n = 0; n < 40; n++) {
                memset(comment, 'c', (size_t)n);
                comment[n] = 0;
                struct cs_command c = {.type = CS_CMD_ZONE_DELETE, .request_id = comment};
                c.u.zone_delete.origin = origin;
                c.u.zone_delete.origin_len = ol;
                struct raft_buffer b = encode(&c);
                size_t real = (size_t)cs_mp_object_len(b.base, b.len);
                assert_true(real <= b.len && b.len - real < 8);
                for (size_t i = real; i < b.len; i++)
                        assert_int_equal(((uint8_t *)b.base)[i], 0);
                raft_free(b.base);
        }
}

/* Packs a header with a chosen version and type and an empty body. */
static size_t forge(uint8_t *out, size_t cap, uint32_t version, uint32_t type)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 6);
        msgpack_pack_uint32(&pk, version);
        msgpack_pack_uint32(&pk, type);
        msgpack_pack_uint64(&pk, 1);
        msgpack_pack_nil(&pk);
        msgpack_pack_nil(&pk);
        msgpack_pack_array(&pk, 1);
        msgpack_pack_uint64(&pk, 1);
        assert_true(sb.size <= cap);
        memcpy(out, sb.data, sb.size);
        size_t n = sb.size;
        msgpack_sbuffer_destroy(&sb);
        return n;
}

static void unknown_version_or_type_is_a_clean_error(void **state)
{
        uint8_t buf[64];
        struct cs_command d;
        char err[256];
        size_t n = forge(buf, sizeof(buf), CS_COMMAND_VERSION + 1, CS_CMD_CHANGES_SYNCED);
        assert_int_equal(cs_command_decode(buf, n, &d, err, sizeof(err)), -EPROTO);
        assert_non_null(strstr(err, "version"));
        cs_command_free(&d);
        n = forge(buf, sizeof(buf), CS_COMMAND_VERSION, 40); /* health range, unused */
        assert_int_equal(cs_command_decode(buf, n, &d, err, sizeof(err)), -EPROTO);
        cs_command_free(&d);
        n = forge(buf, sizeof(buf), CS_COMMAND_VERSION, CS_CMD_CHANGES_SYNCED);
        assert_int_equal(cs_command_decode(buf, n, &d, err, sizeof(err)), 0);
        cs_command_free(&d);
        /* A valid header with a body of the wrong shape. */
        n = forge(buf, sizeof(buf), CS_COMMAND_VERSION, CS_CMD_CHANGE_BATCH);
        assert_int_equal(cs_command_decode(buf, n, &d, err, sizeof(err)), -EBADMSG);
        cs_command_free(&d);
}

static void every_truncation_is_rejected(void **state)
{
        struct zone_fixture zf;
        zone_spec(&zf, "example.com.", "Z42", 7);
        struct cs_command c = {.type = CS_CMD_ZONE_CREATE, .request_id = "r"};
        c.u.zone_create = zf.spec;
        struct raft_buffer b = encode(&c);
        size_t real = (size_t)cs_mp_object_len(b.base, b.len);
        for (size_t n = 0; n < real; n++) {
                struct cs_command d;
                assert_int_not_equal(cs_command_decode(b.base, n, &d, NULL, 0), 0);
                cs_command_free(&d);
        }
        raft_free(b.base);
}

static void forged_container_sizes_do_not_allocate(void **state)
{
        /* array32 of 4G elements, map32, str32 past the end. */
        static const uint8_t bad[][8] = {
            {0xdd, 0xff, 0xff, 0xff, 0xff, 0, 0, 0},
            {0x96, 0x01, 0x03, 0x01, 0xc0, 0xc0, 0xdd, 0xff},
            {0xdf, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0},
            {0xdb, 0xff, 0xff, 0xff, 0xf0, 'a', 'b', 'c'},
            {0xc1, 0, 0, 0, 0, 0, 0, 0},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct cs_command d;
                assert_int_not_equal(cs_command_decode(bad[i], 8, &d, NULL, 0), 0);
                cs_command_free(&d);
        }
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

static void random_bytes_and_corruptions_never_crash(void **state)
{
        uint8_t buf[512];
        int accepted = 0;
        for (int i = 0; i < 5000; i++) {
                size_t n = next_rand() % sizeof(buf);
                for (size_t k = 0; k < n; k++)
                        buf[k] = (uint8_t)next_rand();
                if (n > 0 && i % 2) /* often start like a command */
                        buf[0] = 0x96;
                struct cs_command d;
                if (cs_command_decode(buf, n, &d, NULL, 0) == 0)
                        accepted++;
                cs_command_free(&d);
        }
        /* Corruptions of a valid batch: decoding may succeed or fail, never crash. */
        struct abuild ab;
        ab_init(&ab, 16, 64);
        struct cs_action *a =
            ab_add(&ab, CS_ACTION_UPSERT, "www.example.com.", 1, "", 60);
        ab_a(&ab, a, 1, 2, 3, 4);
        a = ab_add(&ab, CS_ACTION_CREATE, "txt.example.com.", 16, "id", 60);
        ab_value(&ab, a, "\005hello", 6);
        uint8_t origin[64];
        size_t ol = to_wire("example.com.", origin);
        struct cs_command c = {.type = CS_CMD_CHANGE_BATCH, .request_id = "x"};
        c.u.batch = ab_batch(&ab, origin, ol);
        struct raft_buffer b = encode(&c);
        for (int i = 0; i < 5000; i++) {
                uint8_t *copy = malloc(b.len);
                memcpy(copy, b.base, b.len);
                for (int k = 0; k < 1 + i % 4; k++)
                        copy[next_rand() % b.len] = (uint8_t)next_rand();
                struct cs_command d;
                cs_command_decode(copy, b.len, &d, NULL, 0);
                cs_command_free(&d);
                free(copy);
        }
        raft_free(b.base);
        ab_free(&ab);
        (void)accepted;
}

/* Found by fuzz_raft_command: a member entry whose role is not one of the
 * three decoded, then encoded as a negative int that no longer decoded. */
static void member_role_out_of_range_is_malformed(void **state)
{
        static const unsigned char entry[] =
            "\x96\x01\x05\xcd\x0f\xa0\xa0\xa0\x96\x02\xa2n2\xaf"
            "127.0.0.12:70+0\xad"
            "127.0.0.12:53\xaf"
            "12\xc9\xd6"
            "0.0.1\x01\xce\xce\xce\xce\xce\xce\xce\xce\x02^^\xce"
            "2:8080\x01\x00\x00\x00\x00";
        struct cs_command c;
        char err[256];
        assert_int_equal(
            cs_command_decode(entry, sizeof(entry) - 1, &c, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, "role"));
        cs_command_free(&c);
        /* Every role the state knows still round-trips. */
        for (int role = CS_ROLE_VOTER; role <= CS_ROLE_SPARE; role++) {
                struct cs_command m = {.type = CS_CMD_MEMBER_PUT, .timestamp_ms = 1};
                m.u.member = (struct cs_member_spec){7,
                                                     "n7",
                                                     "127.0.0.17:7000",
                                                     "127.0.0.17:53",
                                                     "127.0.0.17:8080",
                                                     (enum cs_role)role};
                struct raft_buffer b = encode(&m);
                assert_int_equal(cs_command_decode(b.base, b.len, &c, err, sizeof(err)),
                                 0);
                assert_int_equal(c.u.member.role, role);
                cs_command_free(&c);
                raft_free(b.base);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(zone_create_round_trips),
            cmocka_unit_test(zone_create_with_records_round_trips),
            cmocka_unit_test(change_batch_round_trips_with_10000_values),
            cmocka_unit_test(small_commands_round_trip),
            cmocka_unit_test(encoded_length_is_padded_to_8_with_zeros),
            cmocka_unit_test(unknown_version_or_type_is_a_clean_error),
            cmocka_unit_test(every_truncation_is_rejected),
            cmocka_unit_test(forged_container_sizes_do_not_allocate),
            cmocka_unit_test(random_bytes_and_corruptions_never_crash),
            cmocka_unit_test(member_role_out_of_range_is_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
