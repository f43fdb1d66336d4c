/*
 * api.c — routes and what every API handler shares (see api.h): relaying
 * writes to the leader, mapping state-machine results to HTTP answers, and
 * the JSON form of zones and changes.
 */
#include "node/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dns/text.h"
#include "node/api_json.h"
#include "node/forward.h"

static const struct node_http_route routes[] = {
    {"GET", "/v1/health", NODE_SCOPE_NONE, node_api_health},
    {"GET", "/v1/cluster", NODE_SCOPE_READ, node_api_cluster},
    {"POST", "/v1/cluster/members", NODE_SCOPE_ADMIN, node_api_member_add},
    {"DELETE", "/v1/cluster/members/{}", NODE_SCOPE_ADMIN, node_api_member_remove},
    {"POST", "/v1/cluster/leave", NODE_SCOPE_ADMIN, node_api_leave},
    {"GET", "/v1/zones", NODE_SCOPE_READ, node_api_zones_list},
    {"POST", "/v1/zones", NODE_SCOPE_ADMIN, node_api_zone_create},
    {"POST", "/v1/zones/bulk", NODE_SCOPE_ADMIN, node_api_zones_bulk},
    {"GET", "/v1/zones/{}", NODE_SCOPE_READ, node_api_zone_get},
    {"DELETE", "/v1/zones/{}", NODE_SCOPE_ADMIN, node_api_zone_delete},
    {"GET", "/v1/zones/{}/export", NODE_SCOPE_READ, node_api_zone_export},
    {"POST", "/v1/zones/{}/import", NODE_SCOPE_ADMIN, node_api_zone_import},
    {"GET", "/v1/zones/{}/rrsets", NODE_SCOPE_READ, node_api_rrsets_list},
    {"GET", "/v1/zones/{}/rrsets/{}/{}", NODE_SCOPE_READ, node_api_rrset_get},
    {"POST", "/v1/zones/{}/changes", NODE_SCOPE_ADMIN, node_api_changes_post},
    {"GET", "/v1/changes/{}", NODE_SCOPE_READ, node_api_change_get},
};

const struct node_http_route *node_api_routes(size_t *count)
{
        *count = sizeof(routes) / sizeof(routes[0]);
        return routes;
}

/* ---- relaying to the leader ---------------------------------------------------------
 */

/* A relayed answer held until this node has applied the change itself. */
struct relayed {
        struct node_http_request *r;
        struct node_api *api;
        uv_timer_t timer;
        uint64_t index;
        uint64_t deadline;
        int status;
        char *type;
        char *body;
        size_t len;
};

static void relayed_free(uv_handle_t *handle)
{
        struct relayed *w = handle->data;
        free(w->type);
        free(w->body);
        free(w);
}

static void relayed_check(uv_timer_t *timer)
{
        struct relayed *w = timer->data;
        if (node_cluster_applied(w->api->cluster) < w->index &&
            uv_now(w->api->loop) < w->deadline)
                return; /* applied within a heartbeat or two: keep waiting */
        node_http_reply_text(w->r, w->status, w->type, w->body, w->len);
        node_http_release(w->r);
        uv_timer_stop(timer);
        uv_close((uv_handle_t *)timer, relayed_free);
}

/* The change index in a leader's answer ({"change":{"index":N}}), or 0. */
static uint64_t change_index(const char *body, size_t len)
{
        json_t *root = json_loadb(body, len, 0, NULL);
        json_t *index = json_object_get(json_object_get(root, "change"), "index");
        uint64_t out = json_is_integer(index) ? (uint64_t)json_integer_value(index) : 0;
        json_decref(root);
        return out;
}

static void on_relayed(void *ctx, int status, const char *type, const char *body,
                       size_t len)
{
        struct relayed *w = ctx;
        struct node_http_request *r = w->r;
        type = type ? type : "application/json";
        body = body ? body : "";
        uint64_t index = status >= 200 && status < 300 ? change_index(body, len) : 0;
        if (index > node_cluster_applied(w->api->cluster)) {
                /* Read-your-writes on this node: answer once it serves the change. */
                w->status = status;
                w->type = strdup(type);
                w->body = malloc(len ? len : 1);
                if (w->type != NULL && w->body != NULL) {
                        memcpy(w->body, body, len);
                        w->len = len;
                        w->index = index;
                        w->deadline = uv_now(w->api->loop) + 1000;
                        uv_timer_init(w->api->loop, &w->timer);
                        w->timer.data = w;
                        uv_timer_start(&w->timer, relayed_check, 2, 2);
                        return;
                }
                free(w->type);
                free(w->body);
        }
        if (status > 0)
                node_http_reply_text(r, status, type, body, len);
        else if (status == -ETIMEDOUT)
                node_http_reply_error(r, 504, "LeaderTimeout", NULL,
                                      "the leader did not answer in time; the outcome is "
                                      "unknown: retry with the same Idempotency-Key");
        else
                node_http_reply_error(r, 503, "NoQuorum", NULL,
                                      "cannot reach the leader (%s); retry later",
                                      strerror(-status));
        node_http_release(r);
        free(w);
}

bool node_api_forward_if_follower(struct node_api *api, struct node_http_request *r)
{
        if (node_cluster_is_leader(api->cluster))
                return false;
        const char *leader = node_cluster_leader_api(api->cluster);
        struct sockaddr_storage addr;
        if (node_http_header(r, "x-quorumdns-forwarded") != NULL || leader == NULL ||
            node_parse_address(leader, 0, &addr) != 0) {
                node_http_reply_error(r, 503, "NoQuorum", NULL,
                                      "no leader is known to this node (election in "
                                      "progress, or this node is on the minority side of "
                                      "a partition); retry later");
                return true;
        }
        struct node_forward_request req = {
            .method = r->method,
            .target = r->target,
            .authorization = node_http_header(r, "authorization"),
            .idempotency_key = node_http_header(r, "idempotency-key"),
            .content_type = node_http_header(r, "content-type"),
            .body = r->body ? r->body : "",
            .body_len = r->body_len,
            .timeout_ms = 30000,
            .relayed = true,
        };
        struct relayed *w = calloc(1, sizeof(*w));
        if (w == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return true;
        }
        w->r = r;
        w->api = api;
        node_http_hold(r);
        node_forward(api->loop, (struct sockaddr *)&addr, &req, on_relayed, w);
        return true;
}

/* ---- results
 * ---------------------------------------------------------------------------- */

/* The state machine's field names, as the API's JSON calls them. */
static const char *api_field_name(const char *field)
{
        if (strcmp(field, "owner") == 0)
                return "name";
        if (strcmp(field, "values") == 0)
                return "records";
        if (strcmp(field, "set_id") == 0)
                return "set_identifier";
        if (strcmp(field, "rrset") == 0)
                return "";
        return field;
}

static json_t *error_json(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static json_t *error_json(const char *code, const char *fmt, ...)
{
        char message[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        return json_pack("{s:s, s:s}", "code", code, "message", message);
}

json_t *node_api_result_error(int status, const struct cs_result *res, int *http)
{
        if (status == -RAFT_NOTLEADER || status == -RAFT_LEADERSHIPLOST ||
            status == -RAFT_SHUTDOWN || status == -RAFT_CANCELED) {
                *http = 503;
                return error_json("NoQuorum", "leadership changed while applying; the "
                                              "outcome is unknown: retry with the same "
                                              "Idempotency-Key");
        }
        if (status != 0 || res == NULL) {
                *http = 500;
                return error_json("Internal", "proposal failed: %s",
                                  status < 0 && status > -200 ? strerror(-status)
                                                              : raft_strerror(-status));
        }
        if (res->status == 0)
                return NULL;
        if (res->n_errors > 0) {
                json_t *list = json_array();
                for (size_t i = 0; i < res->n_errors; i++) {
                        const struct cs_error *e = &res->errors[i];
                        char field[96];
                        const char *f = api_field_name(e->field);
                        if (e->action == CS_ERROR_BATCH)
                                snprintf(field, sizeof(field), "changes");
                        else
                                snprintf(field, sizeof(field), "changes[%u].rrset%s%s",
                                         e->action, f[0] ? "." : "", f);
                        json_t *item = json_pack("{s:s, s:s}", "field", field, "message",
                                                 e->message);
                        if (e->action != CS_ERROR_BATCH)
                                json_object_set_new(item, "index",
                                                    json_integer(e->action));
                        json_array_append_new(list, item);
                }
                *http = 400;
                return json_pack("{s:s, s:s, s:o}", "code", "InvalidChangeBatch",
                                 "message", res->message, "errors", list);
        }
        switch (res->status) {
        case -ENOENT:
                *http = 404;
                return error_json("NotFound", "%s", res->message);
        case -EEXIST:
                *http = 409;
                return error_json("Conflict", "%s", res->message);
        case -ENOTEMPTY:
                *http = 409;
                return error_json("ZoneNotEmpty", "%s", res->message);
        case -ENOMEM:
                *http = 500;
                return error_json("Internal", "%s", res->message);
        default:
                *http = 400;
                return error_json("InvalidInput", "%s", res->message);
        }
}

void node_api_reply_result(struct node_http_request *r, int status,
                           const struct cs_result *res)
{
        int http = 0;
        json_t *err = node_api_result_error(status, res, &http);
        if (err != NULL) /* success: the caller answers itself */
                node_http_reply_json(r, http, json_pack("{s:o}", "error", err));
}

void node_api_reply_errors(struct node_http_request *r, json_t *list)
{
        json_t *first = json_array_get(list, 0);
        json_t *err = json_pack("{s:s, s:O, s:O, s:O}", "code", "InvalidInput", "message",
                                json_object_get(first, "message"), "field",
                                json_object_get(first, "field"), "errors", list);
        node_http_reply_json(r, 400, json_pack("{s:o}", "error", err));
}

int node_api_zone_param(struct node_http_request *r, uint8_t *origin)
{
        char err[256];
        if (dns_name_parse_text(r->param[0], origin, err, sizeof(err)) != 0) {
                node_http_reply_error(r, 400, "InvalidInput", "zone", "%s", err);
                return -1;
        }
        return 0;
}

void node_api_request_id(struct node_http_request *r, char *out, size_t size)
{
        const char *key = node_http_header(r, "idempotency-key");
        if (key != NULL && *key != '\0' && strlen(key) <= CS_REQUEST_ID_MAXLEN) {
                snprintf(out, size, "%s", key);
                return;
        }
        unsigned char bytes[12];
        if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
                memset(bytes, 0, sizeof(bytes));
        size_t n = 0;
        n += (size_t)snprintf(out, size, "r-");
        for (size_t i = 0; i < sizeof(bytes) && n + 2 < size; i++)
                n += (size_t)snprintf(out + n, size - n, "%02x", bytes[i]);
}

json_t *node_api_change_json(struct node_api *api, const struct cs_change *change)
{
        enum cs_change_status st = cs_state_change_status(&api->cluster->state, change);
        json_t *out = json_pack("{s:s, s:s, s:o, s:I}", "id", change->id, "status",
                                st == CS_STATUS_INSYNC ? "INSYNC" : "PENDING",
                                "submitted_at", api_time_json(change->submitted_ms),
                                "index", (json_int_t)change->index);
        if (change->origin != NULL)
                json_object_set_new(out, "zone", api_name_json(change->origin));
        return out;
}

json_t *node_api_zone_json(const struct cs_zone *zone)
{
        return json_pack("{s:o, s:s, s:I, s:I, s:s, s:o}", "name",
                         api_name_json(zone->origin), "id", zone->zone_id, "serial",
                         (json_int_t)zone->serial, "record_set_count",
                         (json_int_t)cs_zone_rrset_count(zone), "comment",
                         zone->comment ? zone->comment : "", "created_at",
                         api_time_json(zone->created_ms));
}
