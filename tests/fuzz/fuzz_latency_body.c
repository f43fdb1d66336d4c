/*
 * fuzz_latency_body.c — libFuzzer target: any bytes as the JSON body of a
 * latency-map write (POST /v1/latency-map, /v1/latency-map/delete, or a
 * follower's /v1/latency-map/measured), parsed the way the API parses it.
 *
 * The first byte picks the body (0: load, 1: delete, 2: measured); the rest
 * is loaded with jansson as the API does.  A body the parser accepts must
 * be one the state machine takes: it is encoded as its LATENCY command,
 * decoded, and applied to a state, which must succeed; the state's map is
 * then compiled for the query path and looked up.  A refused body must
 * have named a field for every problem.  The regions this process knows
 * are eu-west and us-east (--region-coordinates).
 */
#include <errno.h>
#include <raft.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "consensus/command.h"
#include "consensus/latency.h"
#include "consensus/state.h"
#include "dns/latency.h"
#include "node/config.h"
#include "node/latency.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cs_state state;
static uint64_t index_;

static void compile_and_look(void)
{
        size_t n;
        const struct cs_latency_entry **v = cs_state_latency_sorted(&state, &n, NULL);
        struct dns_latency_item *items = calloc(n ? n : 1, sizeof(*items));
        for (size_t i = 0; i < n; i++) {
                items[i].net.family = v[i]->prefix.family == 4 ? AF_INET : AF_INET6;
                items[i].net.prefix = v[i]->prefix.len;
                memcpy(items[i].net.bytes, v[i]->prefix.addr, 16);
                items[i].region = dns_latency_region_key(v[i]->region);
                items[i].rtt_us = cs_latency_rtt(v[i]);
        }
        struct dns_latency_map *m;
        if (dns_latency_compile(items, n, &m) != 0)
                abort();
        for (size_t i = 0; i < n; i++) {
                struct dns_latency_match x;
                if (!dns_latency_lookup(m, &items[i].net, &x) || x.rtt == NULL ||
                    x.prefix != items[i].net.prefix || x.scope < x.prefix)
                        abort(); /* every prefix finds itself */
        }
        dns_latency_free(m);
        free(items);
        free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static bool ready;
        if (!ready) {
                static struct node_config cfg;
                char err[256];
                if (node_config_apply_geo(&cfg, "region-coordinates",
                                          "eu-west=51.5,-0.12;us-east=40.71,-74", err,
                                          sizeof(err)) != 0)
                        abort();
                cs_state_init(&state);
                ready = true;
        }
        if (size < 1)
                return 0;
        enum node_latency_body mode = (enum node_latency_body)(data[0] % 3);
        json_t *body = json_loadb((const char *)data + 1, size - 1, 0, NULL);
        if (body == NULL)
                return 0;
        struct api_errors errs;
        struct cs_latency_batch batch;
        struct cs_latency_item *items;
        api_errors_init(&errs);
        int rv = node_latency_body_parse(body, mode, &batch, &items, &errs);
        if (rv == -EINVAL && json_array_size(errs.list) == 0)
                abort(); /* refused without saying why */
        if (rv == 0) {
                struct cs_command cmd = {
                    .type = mode == NODE_LATENCY_BODY_PUT      ? CS_CMD_LATENCY_PUT
                            : mode == NODE_LATENCY_BODY_DELETE ? CS_CMD_LATENCY_DELETE
                                                               : CS_CMD_LATENCY_MEASURED,
                    .u.latency = batch};
                struct raft_buffer buf;
                struct cs_command back;
                struct cs_result res;
                char err[256];
                if (cs_command_encode(&cmd, &buf) != 0 ||
                    cs_command_decode(buf.base, buf.len, &back, err, sizeof(err)) != 0)
                        abort(); /* what we encode, we decode */
                cs_result_init(&res);
                index_++;
                struct cs_ctx ctx = {.index = index_, .timestamp_ms = 1000 + index_};
                int st =
                    back.type == CS_CMD_LATENCY_PUT
                        ? cs_state_latency_put(&state, &ctx, &back.u.latency, &res)
                    : back.type == CS_CMD_LATENCY_DELETE
                        ? cs_state_latency_delete(&state, &ctx, &back.u.latency, &res)
                        : cs_state_latency_measured(&state, &ctx, &back.u.latency, &res);
                if (st != 0 && st != -ENOSPC)
                        abort(); /* the API accepted what the state refuses */
                cs_result_fini(&res);
                cs_command_free(&back);
                raft_free(buf.base);
                free(items);
                if (cs_state_latency_count(&state) > 5000) { /* keep runs fast */
                        cs_state_fini(&state);
                        cs_state_init(&state);
                }
                compile_and_look();
        }
        json_decref(errs.list);
        json_decref(body);
        return 0;
}
