/*
 * api_latency.c — /v1/latency-map: the replicated latency map (client
 * prefix -> region -> RTT, consensus/latency.h) listed, loaded and deleted
 * in bulk by operators, and the measured RTTs followers send the leader.
 *
 * A write is parsed and checked here (node_latency_body_parse: every
 * problem at once, each naming its field), relayed to the leader when this
 * node follows, proposed as one command and answered once applied.  Reads
 * come from this node's replica, in key order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/latency.h"
#include "node/api.h"
#include "node/latency.h"

#define LIST_DEFAULT 1000
#define LIST_MAX     100000

static json_t *entry_json(const struct cs_latency_entry *e)
{
        char prefix[64];
        node_latency_prefix_text(&e->prefix, prefix, sizeof(prefix));
        json_t *o = json_pack("{s:s, s:s, s:f, s:s}", "prefix", prefix, "region",
                              e->region, "rtt_ms", cs_latency_rtt(e) / 1000.0, "source",
                              e->op_rtt_us ? "operator" : "measured");
        if (o == NULL)
                return NULL;
        if (e->op_rtt_us)
                json_object_set_new(o, "operator_rtt_ms",
                                    json_real(e->op_rtt_us / 1000.0));
        if (e->measured_rtt_us) {
                json_object_set_new(o, "measured_rtt_ms",
                                    json_real(e->measured_rtt_us / 1000.0));
                json_object_set_new(o, "samples", json_integer(e->samples));
                json_object_set_new(o, "measured_by",
                                    json_integer((json_int_t)e->measured_node));
                json_object_set_new(o, "measured_at_ms",
                                    json_integer((json_int_t)e->measured_ms));
        }
        return o;
}

void node_api_latency_list(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        const char *want_prefix = node_http_query(r, "prefix");
        const char *want_region = node_http_query(r, "region");
        const char *limit_text = node_http_query(r, "limit");
        struct cs_latency_prefix p;
        char why[160];
        if (want_prefix != NULL &&
            node_latency_prefix_parse(want_prefix, &p, why, sizeof(why)) != 0) {
                node_http_reply_error(r, 400, "InvalidInput", "prefix", "%s", why);
                return;
        }
        long limit = LIST_DEFAULT;
        if (limit_text != NULL) {
                char *end;
                limit = strtol(limit_text, &end, 10);
                if (*end != '\0' || limit < 1 || limit > LIST_MAX) {
                        node_http_reply_error(r, 400, "InvalidInput", "limit",
                                              "limit must be 1..%d", LIST_MAX);
                        return;
                }
        }
        size_t n;
        int rc;
        const struct cs_latency_entry **v =
            cs_state_latency_sorted(&api->cluster->state, &n, &rc);
        if (rc != 0) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        json_t *list = json_array();
        size_t matched = 0;
        for (size_t i = 0; i < n; i++) {
                const struct cs_latency_entry *e = v[i];
                if (want_prefix != NULL &&
                    (e->prefix.family != p.family || e->prefix.len != p.len ||
                     memcmp(e->prefix.addr, p.addr, 16) != 0))
                        continue;
                if (want_region != NULL && strcmp(e->region, want_region) != 0)
                        continue;
                if (matched++ < (size_t)limit)
                        json_array_append_new(list, entry_json(e));
        }
        free(v);
        node_http_reply_json(r, 200,
                             json_pack("{s:o, s:I, s:b, s:I, s:o}", "entries", list,
                                       "count", (json_int_t)matched, "truncated",
                                       matched > (size_t)limit, "version",
                                       (json_int_t)api->cluster->state.latency.version,
                                       "this_node", node_latency_stats(api->latency)));
}

struct lat_wait {
        struct node_http_request *r;
        size_t count;
};

static void on_applied(void *ctx, int status, const struct cs_result *res)
{
        struct lat_wait *w = ctx;
        if (status == 0 && res != NULL && res->n_errors > 0) {
                json_t *list = json_array();
                for (size_t i = 0; i < res->n_errors; i++)
                        json_array_append_new(
                            list, json_pack("{s:s, s:s}", "field", res->errors[i].field,
                                            "message", res->errors[i].message));
                node_api_reply_errors(w->r, list);
                json_decref(list);
        } else if (status != 0 || res == NULL || res->status != 0) {
                node_api_reply_result(w->r, status, res);
        } else {
                node_http_reply_json(
                    w->r, 200,
                    json_pack("{s:I, s:s, s:I}", "entries", (json_int_t)w->count,
                              "message", res->message, "index", (json_int_t)res->index));
        }
        node_http_release(w->r);
        free(w);
}

static void write_entries(struct node_http_request *r, struct node_api *api,
                          enum node_latency_body mode)
{
        if (mode != NODE_LATENCY_BODY_MEASURED && node_api_forward_if_follower(api, r))
                return;
        json_t *body = node_http_body_json(r);
        if (body == NULL)
                return;
        struct api_errors errs;
        struct cs_latency_batch batch;
        struct cs_latency_item *items;
        api_errors_init(&errs);
        int rc = node_latency_body_parse(body, mode, &batch, &items, &errs);
        if (rc != 0) {
                if (rc == -ENOMEM)
                        node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                else
                        node_api_reply_errors(r, errs.list);
                json_decref(errs.list);
                json_decref(body);
                return;
        }
        json_decref(errs.list);
        /* Over the side channel a node speaks for itself only. */
        if (mode == NODE_LATENCY_BODY_MEASURED && r->peer_id != 0 &&
            batch.node != r->peer_id) {
                node_http_reply_error(r, 403, "Forbidden", "node",
                                      "node %" PRIu64 " cannot report as node %" PRIu64,
                                      r->peer_id, batch.node);
                free(items);
                json_decref(body);
                return;
        }
        struct lat_wait *w = calloc(1, sizeof(*w));
        if (w == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                free(items);
                json_decref(body);
                return;
        }
        w->r = r;
        w->count = batch.count;
        struct cs_command cmd = {
            .type = mode == NODE_LATENCY_BODY_PUT      ? CS_CMD_LATENCY_PUT
                    : mode == NODE_LATENCY_BODY_DELETE ? CS_CMD_LATENCY_DELETE
                                                       : CS_CMD_LATENCY_MEASURED,
            .u.latency = batch};
        node_http_hold(r);
        node_cluster_propose(api->cluster, &cmd, on_applied, w); /* encoded at once */
        free(items);
        json_decref(body);
}

void node_api_latency_put(struct node_http_request *r, void *ctx)
{
        write_entries(r, ctx, NODE_LATENCY_BODY_PUT);
}

void node_api_latency_delete(struct node_http_request *r, void *ctx)
{
        write_entries(r, ctx, NODE_LATENCY_BODY_DELETE);
}

/* A follower's measured RTTs (node/latency.c): proposed as its MEASURED. */
void node_api_latency_measured(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        if (!node_cluster_is_leader(api->cluster)) {
                node_http_reply_error(r, 503, "NotLeader", NULL,
                                      "this node does not lead: send RTTs to the leader");
                return;
        }
        write_entries(r, api, NODE_LATENCY_BODY_MEASURED);
}
