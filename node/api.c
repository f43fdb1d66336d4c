/*
 * api.c — routes and what every API handler shares (see api.h): mapping
 * state-machine results to HTTP answers, and the JSON form of zones and
 * changes.  Relaying writes to the leader is in api_relay.c.
 */
#include "node/api.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dns/text.h"
#include "node/api_json.h"

static const struct node_http_route routes[] = {
    {"GET", "/v1/health", NODE_SCOPE_NONE, node_api_health, false},
    /* read scope, or open: checked by the handler (--metrics-access) */
    {"GET", "/metrics", NODE_SCOPE_NONE, node_api_metrics, false},
    {"GET", "/v1/cluster", NODE_SCOPE_READ, node_api_cluster, false},
    {"GET", "/v1/geoip", NODE_SCOPE_READ, node_api_geoip, false},
    {"POST", "/v1/geoip/reload", NODE_SCOPE_ADMIN, node_api_geoip_reload, false},
    {"POST", "/v1/cluster/members", NODE_SCOPE_ADMIN, node_api_member_add, false},
    {"DELETE", "/v1/cluster/members/{}", NODE_SCOPE_ADMIN, node_api_member_remove, false},
    {"POST", "/v1/cluster/leave", NODE_SCOPE_ADMIN, node_api_leave, false},
    {"GET", "/v1/zones", NODE_SCOPE_READ, node_api_zones_list, false},
    {"POST", "/v1/zones", NODE_SCOPE_ADMIN, node_api_zone_create, false},
    {"POST", "/v1/zones/bulk", NODE_SCOPE_ADMIN, node_api_zones_bulk, true},
    {"GET", "/v1/zones/{}", NODE_SCOPE_READ, node_api_zone_get, false},
    {"DELETE", "/v1/zones/{}", NODE_SCOPE_ADMIN, node_api_zone_delete, false},
    {"GET", "/v1/zones/{}/export", NODE_SCOPE_READ, node_api_zone_export, false},
    {"GET", "/v1/zones/{}/explain", NODE_SCOPE_READ, node_api_zone_explain, false},
    {"POST", "/v1/zones/{}/import", NODE_SCOPE_ADMIN, node_api_zone_import, true},
    {"POST", "/v1/zones/{}/imports", NODE_SCOPE_ADMIN, node_api_import_create, false},
    {"POST", "/v1/zones/{}/imports/{}/chunks", NODE_SCOPE_ADMIN, node_api_import_chunk,
     true},
    {"POST", "/v1/zones/{}/imports/{}/commit", NODE_SCOPE_ADMIN, node_api_import_commit,
     false},
    {"DELETE", "/v1/zones/{}/imports/{}", NODE_SCOPE_ADMIN, node_api_import_abort, false},
    {"GET", "/v1/zones/{}/rrsets", NODE_SCOPE_READ, node_api_rrsets_list, false},
    {"GET", "/v1/zones/{}/rrsets/{}/{}", NODE_SCOPE_READ, node_api_rrset_get, false},
    {"POST", "/v1/zones/{}/changes", NODE_SCOPE_ADMIN, node_api_changes_post, true},
    {"GET", "/v1/changes/{}", NODE_SCOPE_READ, node_api_change_get, false},
    {"GET", "/v1/healthchecks", NODE_SCOPE_READ, node_api_healthchecks_list, false},
    {"POST", "/v1/healthchecks", NODE_SCOPE_ADMIN, node_api_healthcheck_create, false},
    {"POST", "/v1/healthchecks/votes", NODE_SCOPE_ADMIN, node_api_healthcheck_votes,
     true},
    {"GET", "/v1/healthchecks/{}", NODE_SCOPE_READ, node_api_healthcheck_get, false},
    {"PUT", "/v1/healthchecks/{}", NODE_SCOPE_ADMIN, node_api_healthcheck_update, false},
    {"DELETE", "/v1/healthchecks/{}", NODE_SCOPE_ADMIN, node_api_healthcheck_delete,
     false},
    {"GET", "/v1/healthchecks/{}/status", NODE_SCOPE_READ, node_api_healthcheck_status,
     false},
    {"POST", "/v1/healthchecks/{}/manual", NODE_SCOPE_ADMIN, node_api_healthcheck_manual,
     false},
    {"POST", "/v1/healthchecks/{}/heartbeat", NODE_SCOPE_ADMIN,
     node_api_healthcheck_heartbeat, false},
    {"GET", "/v1/latency-map", NODE_SCOPE_READ, node_api_latency_list, false},
    {"POST", "/v1/latency-map", NODE_SCOPE_ADMIN, node_api_latency_put, true},
    {"POST", "/v1/latency-map/delete", NODE_SCOPE_ADMIN, node_api_latency_delete, true},
    {"POST", "/v1/latency-map/measured", NODE_SCOPE_ADMIN, node_api_latency_measured,
     true},
    {"GET", "/v1/cidrcollections", NODE_SCOPE_READ, node_api_cidr_list, false},
    {"POST", "/v1/cidrcollections", NODE_SCOPE_ADMIN, node_api_cidr_create, false},
    {"GET", "/v1/cidrcollections/{}", NODE_SCOPE_READ, node_api_cidr_get, false},
    {"DELETE", "/v1/cidrcollections/{}", NODE_SCOPE_ADMIN, node_api_cidr_delete, false},
    {"GET", "/v1/cidrcollections/{}/locations", NODE_SCOPE_READ, node_api_cidr_locations,
     false},
    {"GET", "/v1/cidrcollections/{}/locations/{}", NODE_SCOPE_READ, node_api_cidr_blocks,
     false},
    {"POST", "/v1/cidrcollections/{}/changes", NODE_SCOPE_ADMIN, node_api_cidr_change,
     true},
};

const struct node_http_route *node_api_routes(size_t *count)
{
        *count = sizeof(routes) / sizeof(routes[0]);
        return routes;
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

/* " (it holds TTL 60: 192.0.2.1, 192.0.2.2)": what a DELETE did not match. */
static void current_text(const struct cs_rrset *rrset, char *out, size_t size)
{
        size_t used = (size_t)snprintf(out, size, " (it holds TTL %u:", rrset->ttl);
        for (size_t i = 0; i < rrset->count && used < size; i++) {
                char *text = dns_rdata_to_text(rrset->type, rrset->values[i].data,
                                               rrset->values[i].len);
                int n = snprintf(out + used, size - used, "%s %s", i ? "," : "",
                                 text ? text : "?");
                free(text);
                if (n < 0)
                        break;
                used += (size_t)n;
        }
        if (used < size)
                snprintf(out + used, size - used, ")");
}

/* The set a DELETE of the batch named, as it is now (NULL: none). */
static const struct cs_rrset *deleted_now(struct node_api *api,
                                          const struct cs_batch *batch, uint32_t i)
{
        if (api == NULL || batch == NULL || i >= batch->n_actions ||
            batch->actions[i].kind != CS_ACTION_DELETE)
                return NULL;
        const struct cs_zone *zone =
            cs_state_zone_get(&api->cluster->state, batch->origin, batch->origin_len);
        const struct cs_rrset_spec *s = &batch->actions[i].rrset;
        return zone ? cs_zone_rrset_get(zone, s->owner, s->owner_len, s->type, s->set_id)
                    : NULL;
}

static json_t *error_json(const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *error_json(const char *code, const char *field, const char *fmt, ...)
{
        char message[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
        if (field != NULL)
                json_object_set_new(err, "field", json_string(field));
        return err;
}

/* The "error" object and HTTP status of a result; api and batch (may be NULL)
 * let a DELETE that does not match say what the set holds now. */
static json_t *result_error(int status, const struct cs_result *res, struct node_api *api,
                            const struct cs_batch *batch, int *http)
{
        if (status == CONSENSUS_E_NOT_LEADER || status == CONSENSUS_E_LEADERSHIP_LOST ||
            status == CONSENSUS_E_SHUTDOWN) {
                *http = 503;
                return error_json("NoQuorum", NULL,
                                  "leadership changed while applying; the "
                                  "outcome is unknown: retry with the same "
                                  "Idempotency-Key");
        }
        if (status == CONSENSUS_E_STORAGE) {
                /* The log write failed and the node stops (consensus/logfence.h):
                 * the entry may still commit through the other members. */
                *http = 503;
                return error_json("StorageFailed", NULL,
                                  "this node cannot write its log and is stopping; "
                                  "the outcome is unknown: retry with the same "
                                  "Idempotency-Key");
        }
        if (status != 0 || res == NULL) {
                *http = 500;
                return error_json("Internal", NULL, "proposal failed: %s",
                                  consensus_strerror(status));
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
                        char message[sizeof(e->message) + 1024];
                        snprintf(message, sizeof(message), "%s", e->message);
                        const struct cs_rrset *now =
                            strcmp(e->field, "values") == 0 ||
                                    strcmp(e->field, "ttl") == 0
                                ? deleted_now(api, batch, e->action)
                                : NULL;
                        if (now != NULL)
                                current_text(now, message + strlen(message),
                                             sizeof(message) - strlen(message));
                        json_t *item =
                            json_pack("{s:s, s:s}", "field", field, "message", message);
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
                return error_json("NotFound", NULL, "%s", res->message);
        case -EEXIST:
                *http = 409;
                return error_json("Conflict", NULL, "%s", res->message);
        case -EKEYREJECTED:
                *http = 409;
                return error_json("IdempotencyKeyMismatch", "Idempotency-Key", "%s",
                                  res->message);
        case -ENOTEMPTY:
                *http = 409;
                return error_json("ZoneNotEmpty", NULL, "%s", res->message);
        case -ENOMEM:
                *http = 500;
                return error_json("Internal", NULL, "%s", res->message);
        case -EBUSY: /* a staged import holds the zone (consensus/staging.c) */
                *http = 503;
                return error_json("ZoneBusy", NULL, "%s", res->message);
        case -ESTALE:
                *http = 503;
                return error_json("ZoneChanged", NULL, "%s", res->message);
        default:
                *http = 400;
                return error_json("InvalidInput", NULL, "%s", res->message);
        }
}

json_t *node_api_result_error(int status, const struct cs_result *res, int *http)
{
        return result_error(status, res, NULL, NULL, http);
}

void node_api_reply_batch_result(struct node_http_request *r, int status,
                                 const struct cs_result *res, struct node_api *api,
                                 const struct cs_batch *batch)
{
        int http = 0;
        json_t *err = result_error(status, res, api, batch, &http);
        if (err != NULL) /* success: the caller answers itself */
                node_http_reply_json(r, http, json_pack("{s:o}", "error", err));
}

void node_api_reply_result(struct node_http_request *r, int status,
                           const struct cs_result *res)
{
        node_api_reply_batch_result(r, status, res, NULL, NULL);
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

/*
 * The request id proposed with a write: the client's Idempotency-Key bound
 * to this request ("KEY\nFINGERPRINT", the fingerprint a hash of method,
 * path, query and body), or a random id when there is no key.  A relayed
 * request keeps its method, target and body, so every node computes the
 * same id.
 */
_Static_assert(NODE_API_KEY_MAXLEN + 33 <= CS_REQUEST_ID_MAXLEN,
               "a key, a newline and 32 hex digits fit in a request id");

int node_api_request_key_check(struct node_http_request *r)
{
        const char *key = node_http_header(r, "idempotency-key");
        if (key == NULL)
                return 0;
        size_t n = strlen(key);
        bool ok = n >= 1 && n <= NODE_API_KEY_MAXLEN;
        for (size_t i = 0; ok && i < n; i++)
                ok = (unsigned char)key[i] >= 0x20 && key[i] != 0x7f;
        if (ok)
                return 0;
        node_http_reply_error(r, 400, "InvalidInput", "Idempotency-Key",
                              "the Idempotency-Key header must be 1..%d printable "
                              "characters",
                              NODE_API_KEY_MAXLEN);
        return -1;
}

int node_api_request_id_of(const char *key, const char *method, const char *target,
                           const char *body, size_t body_len, char *out, size_t size)
{
        if (key != NULL) {
                unsigned char md[EVP_MAX_MD_SIZE];
                unsigned md_len = 0;
                EVP_MD_CTX *h = EVP_MD_CTX_new();
                bool hashed = h != NULL &&
                              EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
                              EVP_DigestUpdate(h, method, strlen(method) + 1) == 1 &&
                              EVP_DigestUpdate(h, target, strlen(target) + 1) == 1 &&
                              EVP_DigestUpdate(h, body ? body : "", body_len) == 1 &&
                              EVP_DigestFinal_ex(h, md, &md_len) == 1;
                EVP_MD_CTX_free(h);
                if (!hashed)
                        return -1;
                int w = snprintf(out, size, "%s\n", key);
                for (unsigned i = 0; i < 16 && (size_t)w + 2 < size; i++)
                        w += snprintf(out + w, size - (size_t)w, "%02x", md[i]);
                return 0;
        }
        unsigned char bytes[12];
        if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
                memset(bytes, 0, sizeof(bytes));
        size_t n = 0;
        n += (size_t)snprintf(out, size, "r-");
        for (size_t i = 0; i < sizeof(bytes) && n + 2 < size; i++)
                n += (size_t)snprintf(out + n, size - n, "%02x", bytes[i]);
        return 0;
}

int node_api_request_id(struct node_http_request *r, char *out, size_t size)
{
        if (node_api_request_key_check(r) != 0)
                return -1;
        if (node_api_request_id_of(node_http_header(r, "idempotency-key"), r->method,
                                   r->target, r->body, r->body_len, out, size) != 0) {
                node_http_reply_error(r, 500, "Internal", NULL,
                                      "cannot hash the request");
                return -1;
        }
        return 0;
}

void node_api_reply_key_reused(struct node_http_request *r, const char *what)
{
        node_http_reply_error(r, 409, "IdempotencyKeyMismatch", "Idempotency-Key",
                              "this Idempotency-Key was used for another request (%s); "
                              "a key may only be reused to retry the same method, path "
                              "and body",
                              what);
}

/* The answer to a retried write: the change it made, with the zone it
 * created when with_zone. */
static json_t *duplicate_json(struct node_api *api, const struct cs_change *change,
                              bool with_zone)
{
        json_t *out = json_pack("{s:o}", "change", node_api_change_json(api, change));
        const struct cs_zone *zone =
            with_zone && change->kind == CS_CHANGE_ZONE_CREATE
                ? cs_state_zone_get(&api->cluster->state, change->origin,
                                    change->origin_len)
                : NULL;
        if (zone != NULL)
                json_object_set_new(out, "zone", node_api_zone_json(zone));
        return out;
}

/* A retried write's answer, held until this node's DNS serves its zone. */
struct duplicate_wait {
        struct node_api *api;
        struct node_http_request *r;
        json_t *out; /* as it was when the retry came */
        bool with_zone;
        char change_id[CS_ID_MAXLEN + 1];
};

/* Served, or the wait timed out, or the node is stopping: answered in every
 * case (the change is applied; a held first answer goes out the same way),
 * built again from the record if it is still kept. */
static void on_duplicate_served(void *ctx, int status)
{
        (void)status;
        struct duplicate_wait *w = ctx;
        const struct cs_change *change =
            cs_state_change_get(&w->api->cluster->state, w->change_id);
        if (change != NULL) {
                json_decref(w->out);
                w->out = duplicate_json(w->api, change, w->with_zone);
        }
        node_http_reply_json(w->r, 200, w->out);
        node_http_release(w->r);
        free(w);
}

bool node_api_answer_duplicate(struct node_api *api, struct node_http_request *r,
                               const char *request_id, bool with_zone)
{
        const struct cs_change *dup =
            cs_state_change_by_request(&api->cluster->state, request_id);
        if (dup == NULL)
                return false;
        const char *mine = strchr(request_id, '\n'),
                   *theirs = strchr(dup->request_id, '\n');
        if (mine != NULL && theirs != NULL && strcmp(mine, theirs) != 0) {
                char what[CS_ID_MAXLEN + 16];
                snprintf(what, sizeof(what), "change %s", dup->id);
                node_api_reply_key_reused(r, what);
                return true;
        }
        json_t *out = duplicate_json(api, dup, with_zone);
        /* Like the first answer: not before this node's DNS serves the zone. */
        struct duplicate_wait *w = NULL;
        if (!node_cluster_change_served(api->cluster, dup->index, dup->id) &&
            (w = calloc(1, sizeof(*w))) != NULL) {
                *w = (struct duplicate_wait){api, r, out, with_zone, {0}};
                snprintf(w->change_id, sizeof(w->change_id), "%s", dup->id);
                node_http_hold(r);
                if (node_cluster_wait_served(api->cluster, dup->index, dup->id,
                                             NODE_CLUSTER_SERVE_WAIT_MS,
                                             on_duplicate_served, w) != NULL)
                        return true;
                node_http_release(r);
                free(w);
        }
        node_http_reply_json(r, 200, out);
        return true;
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
        /* Who has not applied it yet, as this node last polled them. */
        json_t *pending, *unreachable;
        node_cluster_lagging(api->cluster, change->index, &pending, &unreachable);
        json_object_set_new(out, "pending_members", pending);
        json_object_set_new(out, "unreachable_members", unreachable);
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
