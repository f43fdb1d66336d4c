/*
 * fuzz_routed.c — libFuzzer target: the parsers of routed record sets.
 *
 * The input is read two ways.  As master-file text: api_routed_parse()
 * finds its ';quorumdns-rrset {json}' lines (what zone import and
 * standalone zone loading read) and parses each with the API's record-set
 * parser; every set it accepts is then carried through a change-batch
 * command (cs_command_encode / cs_command_decode, format 2) and must come
 * back with the same routing fields, and through the replicated state's
 * validation (cs_state_batch_check), which must not crash whatever the
 * fields say.  As a raft log entry: cs_command_decode() of the raw bytes
 * must fail cleanly or give a command that encodes again.  The process
 * knows the regions eu-central and us-east (for region and
 * geoproximity_location.region).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/command.h"
#include "consensus/state.h"
#include "dns/name.h"
#include "dns/zonefile.h"
#include "node/api_routing.h"
#include "node/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cs_state state;
static uint8_t origin[256];
static size_t origin_len;

static void build_once(void)
{
        static int done;
        if (done)
                return;
        done = 1;
        /* Regions the lines may name (geoproximity_location.region and a
         * latency set's region), as a node's --region-coordinates. */
        static struct node_config cfg;
        char err[200];
        if (node_config_apply_geo(&cfg, "region-coordinates",
                                  "eu-central=50.11,8.68;us-east=40.71,-74", err,
                                  sizeof(err)) != 0)
                abort();
        cs_state_init(&state);
        if (dns_name_from_text("example.com.", origin) != 0)
                abort();
        origin_len = (size_t)dns_name_wire_len(origin, sizeof(origin));
        static const uint8_t soa[] = {2, 'n', 's', 0, 2, 'h', 'm', 0, 0, 0, 0, 1, 0, 0,
                                      0, 2,   0,   0, 0, 3,   0,   0, 0, 4, 0, 0, 0, 5};
        static const uint8_t ns[] = {2, 'n', 's', 0};
        struct cs_rdata soa_v = {soa, sizeof(soa)}, ns_v = {ns, sizeof(ns)};
        struct cs_zone_spec z = {origin, origin_len, "Z1", "", {0}, {0}, NULL, 0};
        z.soa = (struct cs_rrset_spec){origin, origin_len, 6, "", 300, &soa_v, 1, {0}};
        z.ns = (struct cs_rrset_spec){origin, origin_len, 2, "", 300, &ns_v, 1, {0}};
        struct cs_ctx ctx = {.index = 1, .timestamp_ms = 1};
        struct cs_result res;
        cs_result_init(&res);
        if (cs_state_zone_create(&state, &ctx, &z, &res) != 0)
                abort();
        cs_result_fini(&res);
}

static void as_text(const uint8_t *data, size_t size)
{
        struct api_rrset *sets = NULL;
        unsigned *lines = NULL;
        size_t n = 0;
        json_t *errors = json_array();
        if (errors == NULL || api_routed_parse((const char *)data, size, origin, &sets,
                                               &lines, &n, errors) != 0)
                abort();
        if (n > 0) {
                struct cs_action *actions = calloc(n, sizeof(*actions));
                if (actions == NULL)
                        abort();
                for (size_t i = 0; i < n; i++)
                        actions[i] = (struct cs_action){CS_ACTION_UPSERT,
                                                        api_rrset_spec(&sets[i])};
                struct cs_command cmd = {.type = CS_CMD_CHANGE_BATCH};
                cmd.u.batch = (struct cs_batch){origin, origin_len, "", actions, n};
                struct raft_buffer rb;
                if (cs_command_encode(&cmd, &rb) != 0)
                        abort();
                struct cs_command back;
                if (cs_command_decode(rb.base, rb.len, &back, NULL, 0) != 0 ||
                    back.u.batch.n_actions != n)
                        abort();
                for (size_t i = 0; i < n; i++)
                        if (!cs_routing_equal(&back.u.batch.actions[i].rrset.routing,
                                              &actions[i].rrset.routing))
                                abort();
                cs_command_free(&back);
                raft_free(rb.base);
                struct cs_result res;
                cs_result_init(&res);
                cs_state_batch_check(&state, &cmd.u.batch, &res);
                cs_result_fini(&res);
                free(actions);
        }
        for (size_t i = 0; i < n; i++)
                api_rrset_free(&sets[i]);
        free(sets);
        free(lines);
        json_decref(errors);
}

static void as_command(const uint8_t *data, size_t size)
{
        struct cs_command cmd;
        char err[256];
        int rv = cs_command_decode(data, size, &cmd, err, sizeof(err));
        if (rv == 0 && cmd.type == CS_CMD_CHANGE_BATCH) {
                struct raft_buffer rb;
                if (cs_command_encode(&cmd, &rb) == 0)
                        raft_free(rb.base);
                struct cs_result res;
                cs_result_init(&res);
                cs_state_batch_check(&state, &cmd.u.batch, &res);
                cs_result_fini(&res);
        }
        cs_command_free(&cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        build_once();
        as_text(data, size);
        as_command(data, size);
        return 0;
}
