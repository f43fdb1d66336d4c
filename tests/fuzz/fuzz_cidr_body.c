/*
 * fuzz_cidr_body.c — libFuzzer target: any bytes as the JSON body of a CIDR
 * collection change (POST /v1/cidrcollections/{id}/changes), parsed the
 * way the API parses it.
 *
 * A body the parser accepts is encoded as a CIDR_CHANGE command, decoded,
 * and applied to a state holding collection "c1" (location "base" with
 * 10.0.0.0/8): the state may refuse it only for what needs the collection
 * (a block another location holds), never for its form.  A refused body
 * must have named a field for every problem.
 */
#include <errno.h>
#include <jansson.h>
#include <raft.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/command.h"
#include "consensus/state.h"
#include "node/api_cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *body = json_loadb((const char *)data, size, 0, NULL);
        if (body == NULL)
                return 0;
        struct api_errors errs;
        struct node_cidr_change change;
        api_errors_init(&errs);
        int rc = node_cidr_change_parse(body, &change, &errs);
        json_decref(body);
        if (rc != 0) {
                size_t i;
                json_t *e;
                if (api_errors_count(&errs) == 0)
                        abort();
                json_array_foreach(errs.list, i,
                                   e) if (!json_is_string(json_object_get(e, "field")))
                    abort();
                json_decref(errs.list);
                node_cidr_change_free(&change);
                return 0;
        }
        json_decref(errs.list);
        struct cs_state st;
        struct cs_result res;
        cs_state_init(&st);
        cs_result_init(&res);
        struct cs_ctx ctx = {.index = 1, .timestamp_ms = 1};
        if (cs_state_cidr_create(&st, &ctx, "c1", "fuzz", &res) != 0)
                abort();
        struct cs_cidr_block base = {4, 8, {10}};
        struct cs_cidr_action a = {CS_CIDR_PUT, "base", &base, 1};
        struct cs_cidr_change first = {"c1", false, 0, &a, 1};
        ctx.index = 2;
        if (cs_state_cidr_change(&st, &ctx, &first, &res) != 0)
                abort();
        struct cs_command cmd = {.type = CS_CMD_CIDR_CHANGE};
        cmd.u.cidr_change = change.change;
        cmd.u.cidr_change.id = "c1";
        struct raft_buffer buf;
        struct cs_command back;
        char err[256];
        if (cs_command_encode(&cmd, &buf) != 0)
                abort();
        if (cs_command_decode(buf.base, buf.len, &back, err, sizeof(err)) != 0)
                abort(); /* what we encode, we decode */
        ctx.index = 3;
        int rv = cs_state_cidr_change(&st, &ctx, &back.u.cidr_change, &res);
        if (rv == -EINVAL) {
                for (size_t i = 0; i < res.n_errors; i++)
                        if (strcmp(res.errors[i].field, "cidr_list") != 0 ||
                            strstr(res.errors[i].message, "already in location") == NULL)
                                abort(); /* the API accepted a malformed change */
        } else if (rv != 0 && rv != -ESTALE) {
                abort();
        }
        cs_command_free(&back);
        raft_free(buf.base);
        cs_result_fini(&res);
        cs_state_fini(&st);
        node_cidr_change_free(&change);
        return 0;
}
