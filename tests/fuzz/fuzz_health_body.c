/*
 * fuzz_health_body.c — libFuzzer target: any bytes as the JSON body of a
 * health-check definition (POST/PUT /v1/healthchecks) or of a follower's
 * votes (POST /v1/healthchecks/votes), parsed the way the API parses them.
 *
 * The first byte picks the body (even: definition, odd: votes); the rest is
 * loaded with jansson as the API does.  A definition the parser accepts
 * must be one the state machine takes: it is encoded as a HEALTH_PUT
 * command, decoded, and applied to a state that holds checks 1 (HTTP) and
 * 2 (MANUAL), which must succeed.  Accepted votes are applied as node 3's
 * VOTES command the same way.  A definition that is refused must have
 * named a field for every problem.
 */
#include <raft.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/command.h"
#include "consensus/health.h"
#include "consensus/state.h"
#include "node/health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cs_state state;
static uint64_t index_;

static void apply(struct cs_command *cmd)
{
        struct raft_buffer buf;
        struct cs_command back;
        struct cs_result res;
        char err[256];
        if (cs_command_encode(cmd, &buf) != 0)
                abort();
        if (cs_command_decode(buf.base, buf.len, &back, err, sizeof(err)) != 0)
                abort(); /* what we encode, we decode */
        cs_result_init(&res);
        index_++;
        struct cs_ctx ctx = {.index = index_, .timestamp_ms = 1000 + index_};
        int rv = 0;
        if (back.type == CS_CMD_HEALTH_PUT)
                rv = cs_state_health_put(&state, &ctx, &back.u.health_put, &res);
        else
                rv = cs_state_health_votes(&state, &ctx, &back.u.health_votes, &res);
        if (rv != 0)
                abort(); /* the API accepted what the state refuses */
        cs_result_fini(&res);
        cs_command_free(&back);
        raft_free(buf.base);
}

static void setup(void)
{
        cs_state_init(&state);
        for (uint64_t id = 1; id <= 2; id++) {
                struct health_check_config cfg;
                health_check_config_init(&cfg, id == 1 ? HEALTH_CHECK_HTTP
                                                       : HEALTH_CHECK_MANUAL);
                cfg.ip_address = id == 1 ? "127.0.0.1" : NULL;
                struct cs_command cmd = {.type = CS_CMD_HEALTH_PUT};
                cmd.u.health_put =
                    (struct cs_health_put){.id = id, .create = true, .cfg = &cfg};
                apply(&cmd);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (index_ == 0)
                setup();
        if (size < 1)
                return 0;
        json_t *body =
            json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
        if (body == NULL)
                return 0;
        if (data[0] % 2 == 0) {
                struct api_errors errs;
                struct health_check_config cfg;
                api_errors_init(&errs);
                node_health_config_parse(body, &cfg, 3, &state, &errs);
                if (api_errors_count(&errs) == 0) {
                        struct cs_command cmd = {.type = CS_CMD_HEALTH_PUT};
                        cmd.u.health_put =
                            (struct cs_health_put){.id = 3, .create = false, .cfg = &cfg};
                        if (cs_state_health_get(&state, 3) == NULL)
                                cmd.u.health_put.create = true;
                        apply(&cmd);
                } else {
                        size_t i;
                        json_t *e;
                        json_array_foreach(
                            errs.list, i,
                            e) if (!json_is_string(json_object_get(e, "field"))) abort();
                }
                health_check_config_free(&cfg);
                json_decref(errs.list);
        } else {
                struct cs_health_votes votes;
                struct cs_health_vote_spec *list = NULL;
                char err[256];
                if (node_health_votes_parse(body, &votes, &list, err, sizeof(err)) == 0) {
                        votes.node = 3;
                        struct cs_command cmd = {.type = CS_CMD_HEALTH_VOTES,
                                                 .u.health_votes = votes};
                        apply(&cmd);
                }
                free(list);
        }
        json_decref(body);
        return 0;
}
