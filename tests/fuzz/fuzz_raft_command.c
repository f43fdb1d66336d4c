/*
 * fuzz_raft_command.c — libFuzzer target: any bytes as a raft log entry
 * (cs_command_decode, then the state machine's apply).
 *
 * Each input is decoded; a decoded command must encode again and decode to
 * the same encoding.  Then it is applied through cs_fsm_apply_entry to a
 * state that holds one zone with a few record sets (built once and
 * restored from its snapshot for every input, so inputs do not leak into
 * each other), which is what a follower does with an entry from the log.
 * The state also holds health checks 1 (HTTP, named by a failover set, so
 * deleting it is refused), 2 (MANUAL), 3 (HEARTBEAT) and 4 (CALCULATED over
 * 1 and 2), so that votes, settings, call-ins and deletions reach the
 * evaluation, and CIDR collection "cfuzz" (locations london and paris,
 * london named by an IP-based set), so that changes and deletions reach
 * the merge and the in-use checks.  A staged-import command (16..31) is
 * applied after a staging of example.com. begun at index 8 (time 3000):
 * its chunks, commit and abort name staging 8 to reach the staged apply.
 */
#include <raft.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/command.h"
#include "consensus/fsm.h"
#include "consensus/snapshot.h"
#include "consensus/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *base_snapshot;
static size_t base_len;

static void apply_text(struct cs_fsm *fsm, const struct cs_command *cmd, uint64_t index)
{
        struct raft_buffer buf;
        if (cs_command_encode(cmd, &buf) != 0)
                abort();
        const struct cs_result *res = cs_fsm_apply_entry(fsm, buf.base, buf.len, index);
        if (res == NULL || res->status != 0)
                abort();
        raft_free(buf.base);
}

/* example.com. with SOA, NS, and www A, mail MX. */
static void setup(void)
{
        static const uint8_t origin[] = "\7example\3com";
        static const uint8_t ns[] = "\3ns1\7example\3com";
        uint8_t soa[128];
        size_t n = 0;
        memcpy(soa, ns, sizeof(ns));
        n += sizeof(ns);
        memcpy(soa + n, "\12hostmaster\7example\3com", 24);
        n += 24;
        memset(soa + n, 0, 20);
        soa[n + 3] = 1;
        n += 20;
        struct cs_rdata soa_v = {soa, (uint16_t)n}, ns_v = {ns, sizeof(ns)};
        struct cs_state st;
        struct cs_fsm fsm;
        cs_state_init(&st);
        cs_fsm_init(&fsm, &st);
        struct cs_command zc = {.type = CS_CMD_ZONE_CREATE, .timestamp_ms = 1000};
        zc.u.zone_create =
            (struct cs_zone_spec){origin,
                                  sizeof(origin),
                                  "ZFUZZ",
                                  "fuzz",
                                  {origin, sizeof(origin), 6, "", 3600, &soa_v, 1, {0}},
                                  {origin, sizeof(origin), 2, "", 3600, &ns_v, 1, {0}},
                                  NULL,
                                  0};
        apply_text(&fsm, &zc, 1);
        static const uint8_t www[] = "\3www\7example\3com", a[] = {192, 0, 2, 1};
        static const uint8_t mx[] = "\0\12\4mail\7example\3com";
        struct cs_rdata a_v = {a, 4}, mx_v = {mx, sizeof(mx)};
        struct cs_action acts[] = {
            {CS_ACTION_CREATE, {www, sizeof(www), 1, "", 300, &a_v, 1, {0}}},
            {CS_ACTION_UPSERT, {origin, sizeof(origin), 15, "", 300, &mx_v, 1, {0}}},
        };
        struct cs_command b = {.type = CS_CMD_CHANGE_BATCH,
                               .timestamp_ms = 2000,
                               .request_id = "seed\n00112233445566778899aabbccddeeff"};
        b.u.batch = (struct cs_batch){origin, sizeof(origin), "seed", acts, 2};
        apply_text(&fsm, &b, 2);
        uint64_t index = 2;
        static uint64_t kids[] = {1, 2};
        for (uint64_t id = 1; id <= 4; id++) {
                static const enum health_check_type types[] = {
                    HEALTH_CHECK_HTTP, HEALTH_CHECK_MANUAL, HEALTH_CHECK_HEARTBEAT,
                    HEALTH_CHECK_CALCULATED};
                struct health_check_config cfg;
                health_check_config_init(&cfg, types[id - 1]);
                cfg.ip_address = id == 1 ? "127.0.0.1" : NULL;
                cfg.request_interval = 10;
                if (id == 4) {
                        cfg.children = kids;
                        cfg.child_count = 2;
                        cfg.health_threshold = 1;
                }
                struct cs_command hc = {.type = CS_CMD_HEALTH_PUT, .timestamp_ms = 2500};
                hc.u.health_put =
                    (struct cs_health_put){.id = id, .create = true, .cfg = &cfg};
                apply_text(&fsm, &hc, ++index);
        }
        static const uint8_t fo[] = "foexamplecom";
        struct cs_action fo_act = {CS_ACTION_CREATE,
                                   {fo, sizeof(fo), 1, "p", 60, &a_v, 1, {0}}};
        fo_act.rrset.routing.failover = CS_FAILOVER_PRIMARY;
        fo_act.rrset.routing.health_check_id = "0000000000000001";
        b = (struct cs_command){.type = CS_CMD_CHANGE_BATCH, .timestamp_ms = 2600};
        b.u.batch = (struct cs_batch){origin, sizeof(origin), "health", &fo_act, 1};
        apply_text(&fsm, &b, ++index);
        /* CIDR collection "cfuzz": london (10/8, 2001:db8::/32) and paris
         * (10.1/16), london named by an IP-based set (not deletable). */
        struct cs_command cc = {.type = CS_CMD_CIDR_CREATE, .timestamp_ms = 2700};
        cc.u.cidr_create.id = "cfuzz";
        cc.u.cidr_create.name = "fuzz";
        apply_text(&fsm, &cc, ++index);
        struct cs_cidr_block blocks[3] = {
            {4, 8, {10}}, {6, 32, {0x20, 0x01, 0x0d, 0xb8}}, {4, 16, {10, 1}}};
        struct cs_cidr_action ca[2] = {{CS_CIDR_PUT, "london", blocks, 2},
                                       {CS_CIDR_PUT, "paris", blocks + 2, 1}};
        cc = (struct cs_command){.type = CS_CMD_CIDR_CHANGE, .timestamp_ms = 2800};
        cc.u.cidr_change = (struct cs_cidr_change){"cfuzz", true, 1, ca, 2};
        apply_text(&fsm, &cc, ++index);
        static const uint8_t ipb[] = "\2ip\7example\3com";
        struct cs_action ip_act = {CS_ACTION_CREATE,
                                   {ipb, sizeof(ipb), 1, "lon", 60, &a_v, 1, {0}}};
        ip_act.rrset.routing.has_cidr = true;
        strcpy(ip_act.rrset.routing.cidr_collection, "cfuzz");
        strcpy(ip_act.rrset.routing.cidr_location, "london");
        b = (struct cs_command){.type = CS_CMD_CHANGE_BATCH, .timestamp_ms = 2900};
        b.u.batch = (struct cs_batch){origin, sizeof(origin), "cidr", &ip_act, 1};
        apply_text(&fsm, &b, ++index);
        if (cs_snapshot_encode(&st, &base_snapshot, &base_len) != 0)
                abort();
        cs_fsm_close(&fsm);
        cs_state_fini(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (base_snapshot == NULL)
                setup();
        /* An exact-size copy: the decoder may not read past the entry. */
        uint8_t *entry = malloc(size ? size : 1);
        memcpy(entry, data, size);
        struct cs_command cmd;
        char err[256];
        bool staged = false;
        if (cs_command_decode(entry, size, &cmd, err, sizeof(err)) == 0) {
                staged = cmd.type >= CS_CMD_STAGE_FIRST && cmd.type <= CS_CMD_STAGE_LAST;
                struct raft_buffer again;
                if (cs_command_encode(&cmd, &again) != 0)
                        abort();
                struct cs_command cmd2;
                if (cs_command_decode(again.base, again.len, &cmd2, err, sizeof(err)) !=
                    0)
                        abort(); /* what we encode, we decode */
                struct raft_buffer third;
                if (cs_command_encode(&cmd2, &third) != 0 || third.len != again.len ||
                    memcmp(third.base, again.base, again.len) != 0)
                        abort(); /* and the encoding is stable */
                raft_free(third.base);
                raft_free(again.base);
                cs_command_free(&cmd2);
        }
        cs_command_free(&cmd);
        struct cs_state st;
        struct cs_fsm fsm;
        cs_state_init(&st);
        if (cs_snapshot_decode(base_snapshot, base_len, &st, err, sizeof(err)) != 0)
                abort();
        cs_fsm_init(&fsm, &st);
        fsm.applied = st.last_index;
        if (staged) {
                static const uint8_t origin[] = "\7example\3com";
                const struct cs_zone *z = cs_state_zone_get(&st, origin, sizeof(origin));
                struct cs_command begin = {.type = CS_CMD_STAGE_BEGIN,
                                           .timestamp_ms = 3000,
                                           .request_id = "fuzz-import"};
                begin.u.stage_begin = (struct cs_stage_begin){origin, sizeof(origin),
                                                              z ? z->serial : 0, 1, 16};
                apply_text(&fsm, &begin, st.last_index + 1);
        }
        cs_fsm_apply_entry(&fsm, entry, size, st.last_index + 1);
        cs_fsm_close(&fsm);
        cs_state_fini(&st);
        free(entry);
        return 0;
}
