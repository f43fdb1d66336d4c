/*
 * api_health.c — /v1/healthchecks: health-check definitions, their status
 * (the aggregate, every node's latest vote, the transitions), the MANUAL
 * and HEARTBEAT endpoints, and the votes followers send to the leader.
 *
 * JSON field names are health/check.h's (Route 53's, in snake case).  A
 * write is validated here first — every problem reported at once, each
 * naming its field — relayed to the leader when this node follows, proposed
 * as one health command, and answered once applied.  Reads come from this
 * node's replica.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "consensus/health.h"
#include "health/sched.h"
#include "node/api.h"
#include "node/health.h"

/* ---- JSON to a definition -------------------------------------------------- */

static const char *const known_fields[] = {
    "type",
    "ip_address",
    "port",
    "resource_path",
    "fully_qualified_domain_name",
    "search_string",
    "request_interval",
    "failure_threshold",
    "inverted",
    "disabled",
    "enable_sni",
    "verify_certificate",
    "expected_status_min",
    "expected_status_max",
    "health_threshold",
    "child_health_checks",
    "regions",
    "aggregation_percent",
    "vote_freshness",
    "heartbeat_ttl",
    "id",
    "status",
    "created_at",
    "updated_at",
    NULL}; /* id, status and the times: what GET gives, ignored when sent back */

static void take_string(json_t *body, const char *key, char **field, struct api_errors *e)
{
        json_t *v = json_object_get(body, key);
        if (v == NULL || json_is_null(v))
                return;
        if (!json_is_string(v) || json_string_length(v) > 255 ||
            strlen(json_string_value(v)) != json_string_length(v)) {
                api_errors_add(e, -1, key, "must be a string of at most 255 characters");
                return;
        }
        if (health_check_config_set_string(field, json_string_value(v)) != 0)
                api_errors_add(e, -1, key, "out of memory");
}

static void take_u32(json_t *body, const char *key, uint32_t max, uint32_t *out,
                     struct api_errors *e)
{
        json_t *v = json_object_get(body, key);
        if (v == NULL)
                return;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > (json_int_t)max) {
                api_errors_add(e, -1, key, "must be an integer from 0 to %" PRIu32, max);
                return;
        }
        *out = (uint32_t)json_integer_value(v);
}

static void take_bool(json_t *body, const char *key, bool *out, struct api_errors *e)
{
        json_t *v = json_object_get(body, key);
        if (v == NULL)
                return;
        if (!json_is_boolean(v)) {
                api_errors_add(e, -1, key, "must be true or false");
                return;
        }
        *out = json_is_true(v);
}

void node_health_config_parse(json_t *body, struct health_check_config *cfg,
                              uint64_t self, const struct cs_state *st,
                              struct api_errors *e)
{
        enum health_check_type type = HEALTH_CHECK_HTTP;
        json_t *t = json_object_get(body, "type");
        health_check_config_init(cfg, HEALTH_CHECK_HTTP);
        if (!json_is_object(body)) {
                api_errors_add(e, -1, "", "the body must be a JSON object");
                return;
        }
        if (!json_is_string(t) ||
            health_check_type_parse(json_string_value(t), &type) != 0) {
                api_errors_add(e, -1, "type",
                               "must be one of HTTP, HTTPS, HTTP_STR_MATCH, "
                               "HTTPS_STR_MATCH, TCP, CALCULATED, MANUAL, HEARTBEAT");
                return;
        }
        health_check_config_init(cfg, type);
        const char *key;
        json_t *value;
        json_object_foreach(body, key, value)
        {
                bool known = false;
                for (size_t i = 0; known_fields[i] && !known; i++)
                        known = strcmp(key, known_fields[i]) == 0;
                if (!known)
                        api_errors_add(e, -1, key, "unknown field");
        }
        uint32_t port = cfg->port, smin = cfg->status_min, smax = cfg->status_max;
        take_string(body, "ip_address", &cfg->ip_address, e);
        take_u32(body, "port", 65535, &port, e);
        take_string(body, "resource_path", &cfg->resource_path, e);
        take_string(body, "fully_qualified_domain_name", &cfg->fqdn, e);
        take_string(body, "search_string", &cfg->search_string, e);
        take_u32(body, "request_interval", UINT32_MAX, &cfg->request_interval, e);
        take_u32(body, "failure_threshold", UINT32_MAX, &cfg->failure_threshold, e);
        take_bool(body, "inverted", &cfg->inverted, e);
        take_bool(body, "disabled", &cfg->disabled, e);
        take_bool(body, "enable_sni", &cfg->enable_sni, e);
        take_bool(body, "verify_certificate", &cfg->verify_certificate, e);
        take_u32(body, "expected_status_min", 999, &smin, e);
        take_u32(body, "expected_status_max", 999, &smax, e);
        take_u32(body, "health_threshold", UINT32_MAX, &cfg->health_threshold, e);
        take_u32(body, "aggregation_percent", UINT32_MAX, &cfg->aggregation_percent, e);
        take_u32(body, "vote_freshness", UINT32_MAX, &cfg->vote_freshness, e);
        take_u32(body, "heartbeat_ttl", UINT32_MAX, &cfg->heartbeat_ttl, e);
        cfg->port = (uint16_t)port;
        cfg->status_min = (uint16_t)smin;
        cfg->status_max = (uint16_t)smax;
        json_t *kids = json_object_get(body, "child_health_checks");
        if (kids != NULL) {
                size_t n = json_array_size(kids);
                if (!json_is_array(kids) || n > HEALTH_CHILDREN_MAX) {
                        api_errors_add(e, -1, "child_health_checks",
                                       "must be an array of at most %d health check ids",
                                       HEALTH_CHILDREN_MAX);
                } else if (n > 0 &&
                           (cfg->children = calloc(n, sizeof(uint64_t))) != NULL) {
                        cfg->child_count = n;
                        for (size_t i = 0; i < n; i++) {
                                const char *id =
                                    json_string_value(json_array_get(kids, i));
                                char field[48];
                                snprintf(field, sizeof(field), "child_health_checks[%zu]",
                                         i);
                                if (cs_health_id_parse(id, &cfg->children[i]) != 0)
                                        api_errors_add(e, -1, field,
                                                       "must be a health check id (16 "
                                                       "lowercase hex digits)");
                                else if (cfg->children[i] == self)
                                        api_errors_add(e, -1, field,
                                                       "a check cannot be its own child");
                                else if (st != NULL && cs_state_health_get(
                                                           st, cfg->children[i]) == NULL)
                                        api_errors_add(e, -1, field,
                                                       "health check %s does not exist",
                                                       id);
                        }
                }
        }
        json_t *regions = json_object_get(body, "regions");
        if (regions != NULL) {
                size_t n = json_array_size(regions);
                if (!json_is_array(regions) || n > HEALTH_CHECKERS_MAX) {
                        api_errors_add(e, -1, "regions",
                                       "must be an array of at most %d node names or "
                                       "regions",
                                       HEALTH_CHECKERS_MAX);
                } else if (n > 0 && (cfg->checkers = calloc(n, sizeof(char *))) != NULL) {
                        for (size_t i = 0; i < n; i++) {
                                const char *name =
                                    json_string_value(json_array_get(regions, i));
                                if (name == NULL || strlen(name) == 0 ||
                                    strlen(name) > HEALTH_CHECKER_NAME_MAX) {
                                        api_errors_add(
                                            e, -1, "regions",
                                            "regions[%zu] must be a node id or "
                                            "region of 1 to %d characters",
                                            i, HEALTH_CHECKER_NAME_MAX);
                                        break;
                                }
                                cfg->checkers[i] = strdup(name);
                                cfg->checker_count = i + 1;
                        }
                }
        }
        if (api_errors_count(e) > 0)
                return;
        struct health_problems problems;
        health_check_validate(cfg, self, &problems);
        for (size_t i = 0; i < problems.count; i++)
                api_errors_add(e, -1, problems.list[i].field, "%s",
                               problems.list[i].message);
}

/* ---- a check to JSON -------------------------------------------------------- */

static void set_opt(json_t *o, const char *key, const char *s)
{
        if (s != NULL)
                json_object_set_new(o, key, json_string(s));
}

static json_t *status_name(bool healthy)
{
        return json_string(healthy ? "HEALTHY" : "UNHEALTHY");
}

static json_t *check_json(const struct cs_health_check *c)
{
        const struct health_check_config *cfg = &c->cfg;
        char id[CS_HEALTH_ID_TEXT];
        cs_health_id_text(c->id, id);
        json_t *o = json_pack(
            "{s:s, s:s, s:I, s:I, s:b, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I}",
            "id", id, "type", health_check_type_name(cfg->type), "request_interval",
            (json_int_t)cfg->request_interval, "failure_threshold",
            (json_int_t)cfg->failure_threshold, "inverted", cfg->inverted, "disabled",
            cfg->disabled, "enable_sni", cfg->enable_sni, "verify_certificate",
            cfg->verify_certificate, "expected_status_min", (json_int_t)cfg->status_min,
            "expected_status_max", (json_int_t)cfg->status_max, "health_threshold",
            (json_int_t)cfg->health_threshold, "aggregation_percent",
            (json_int_t)cfg->aggregation_percent, "vote_freshness",
            (json_int_t)cfg->vote_freshness, "heartbeat_ttl",
            (json_int_t)cfg->heartbeat_ttl);
        if (health_check_type_probed(cfg->type)) /* the others have no endpoint */
                json_object_set_new(o, "port", json_integer(health_check_port(cfg)));
        set_opt(o, "ip_address", cfg->ip_address);
        bool http = health_check_type_probed(cfg->type) && cfg->type != HEALTH_CHECK_TCP;
        set_opt(o, "resource_path",
                cfg->resource_path != NULL ? cfg->resource_path
                : http                     ? "/" /* what the probe asks for */
                                           : NULL);
        set_opt(o, "fully_qualified_domain_name", cfg->fqdn);
        set_opt(o, "search_string", cfg->search_string);
        json_t *kids = json_array();
        for (size_t i = 0; i < cfg->child_count; i++) {
                char k[CS_HEALTH_ID_TEXT];
                cs_health_id_text(cfg->children[i], k);
                json_array_append_new(kids, json_string(k));
        }
        json_object_set_new(o, "child_health_checks", kids);
        json_t *regions = json_array();
        for (size_t i = 0; i < cfg->checker_count; i++)
                json_array_append_new(regions, json_string(cfg->checkers[i]));
        json_object_set_new(o, "regions", regions);
        json_object_set_new(o, "status", status_name(c->healthy));
        json_object_set_new(o, "created_at", json_integer((json_int_t)c->created_ms));
        json_object_set_new(o, "updated_at", json_integer((json_int_t)c->updated_ms));
        return o;
}

static const char *cause_name(uint8_t cause)
{
        switch (cause) {
        case CS_HEALTH_CAUSE_VOTES:
                return "votes";
        case CS_HEALTH_CAUSE_MANUAL:
                return "manual";
        case CS_HEALTH_CAUSE_HEARTBEAT:
                return "heartbeat";
        case CS_HEALTH_CAUSE_CHILDREN:
                return "children";
        case CS_HEALTH_CAUSE_CONFIG:
                return "config";
        default:
                return "unknown";
        }
}

static json_t *micros_json(uint32_t us)
{
        return us == UINT32_MAX ? json_null() : json_real((double)us / 1000.0);
}

static json_t *status_json(struct node_api *api, const struct cs_health_check *c)
{
        uint64_t now = node_now_ms();
        int64_t fresh_ms = health_rule_fresh_ms(&c->cfg);
        char id[CS_HEALTH_ID_TEXT];
        cs_health_id_text(c->id, id);
        json_t *votes = json_array();
        for (size_t i = 0; i < c->n_votes; i++) {
                const struct cs_health_vote *v = &c->votes[i];
                const struct cs_member *m =
                    cs_state_member_get(&api->cluster->state, v->node);
                int64_t age = now > v->time_ms ? (int64_t)(now - v->time_ms) : 0;
                json_t *o = json_pack(
                    "{s:I, s:s, s:o, s:I, s:o, s:o, s:I, s:b, s:I}", "node",
                    (json_int_t)v->node, "name", m ? m->name : "", "status",
                    status_name(v->healthy), "http_status", (json_int_t)v->status,
                    "connect_ms", micros_json(v->connect_us), "first_byte_ms",
                    micros_json(v->first_byte_us), "age_ms", (json_int_t)age, "fresh",
                    age <= fresh_ms, "voted_at", (json_int_t)v->time_ms);
                if (v->reason)
                        json_object_set_new(o, "reason", json_string(v->reason));
                json_array_append_new(votes, o);
        }
        json_t *history = json_array();
        for (size_t i = c->hist_count; i-- > 0;) { /* newest first */
                const struct cs_health_transition *t = cs_health_check_transition(c, i);
                json_array_append_new(
                    history,
                    json_pack("{s:I, s:o, s:o, s:s, s:I, s:I}", "time",
                              (json_int_t)t->time_ms, "from", status_name(t->from), "to",
                              status_name(t->to), "cause", cause_name(t->cause),
                              "fresh_votes", (json_int_t)t->fresh, "healthy_votes",
                              (json_int_t)t->healthy));
        }
        json_t *o =
            json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:o, s:o}", "id", id, "type",
                      health_check_type_name(c->cfg.type), "status",
                      status_name(c->healthy), "changed_at", (json_int_t)c->changed_ms,
                      "fresh_votes", (json_int_t)c->tally.fresh, "healthy_votes",
                      (json_int_t)c->tally.healthy, "votes", votes, "history", history);
        if (c->cfg.type == HEALTH_CHECK_HEARTBEAT)
                json_object_set_new(o, "last_heartbeat_at",
                                    c->last_beat_ms < 0 ? json_null()
                                                        : json_integer(c->last_beat_ms));
        const struct health_local *l = node_health_local(api->health, c->id);
        if (l != NULL && l->probing) {
                json_t *local =
                    json_pack("{s:o, s:b, s:I, s:I}", "status", status_name(l->healthy),
                              "voting", l->decided, "probes", (json_int_t)l->probes,
                              "skipped", (json_int_t)l->skipped);
                if (l->has_result)
                        json_object_set_new(
                            local, "last_result",
                            json_string(l->last.ok ? "ok" : l->last.text));
                json_object_set_new(o, "this_node", local);
        }
        return o;
}

/* ---- reads
 * ------------------------------------------------------------------------------ */

/* The check named by the path, or NULL after answering 400/404. */
static const struct cs_health_check *
check_param(struct node_api *api, struct node_http_request *r, uint64_t *id)
{
        if (cs_health_id_parse(r->param[0], id) != 0) {
                node_http_reply_error(r, 400, "InvalidInput", "id",
                                      "'%s' is not a health check id (16 lowercase hex "
                                      "digits)",
                                      r->param[0]);
                return NULL;
        }
        const struct cs_health_check *c = cs_state_health_get(&api->cluster->state, *id);
        if (c == NULL)
                node_http_reply_error(r, 404, "NoSuchHealthCheck", "id",
                                      "no health check %s", r->param[0]);
        return c;
}

void node_api_healthchecks_list(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        json_t *list = json_array();
        for (size_t i = 0; i < cs_state_health_count(&api->cluster->state); i++)
                json_array_append_new(
                    list, check_json(cs_state_health_at(&api->cluster->state, i)));
        node_http_reply_json(r, 200, json_pack("{s:o}", "healthchecks", list));
}

void node_api_healthcheck_get(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint64_t id;
        const struct cs_health_check *c = check_param(api, r, &id);
        if (c != NULL)
                node_http_reply_json(r, 200,
                                     json_pack("{s:o}", "healthcheck", check_json(c)));
}

void node_api_healthcheck_status(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint64_t id;
        const struct cs_health_check *c = check_param(api, r, &id);
        if (c != NULL)
                node_http_reply_json(r, 200, status_json(api, c));
}

/* ---- writes
 * ----------------------------------------------------------------------------- */

struct hc_wait {
        struct node_http_request *r;
        struct node_api *api;
        uint64_t id;
        int created; /* 201 with the check */
        bool with_check;
        /* A create: its definition, to tell a retry that raced the first
         * request to the leader (the same) from a reused key (another). */
        struct health_check_config *cfg;
};

/* A create whose id (its Idempotency-Key's) names a check that exists: the
 * same definition is a retry, answered 200 with the check it made; another
 * is the key reused, refused as every route refuses it. */
static void reply_known(struct node_http_request *r, const struct cs_health_check *known,
                        const struct health_check_config *cfg)
{
        char text[CS_HEALTH_ID_TEXT];
        int same = cs_health_config_same(&known->cfg, cfg);
        if (same < 0) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        if (same) {
                node_http_reply_json(
                    r, 200, json_pack("{s:o}", "healthcheck", check_json(known)));
                return;
        }
        char what[CS_HEALTH_ID_TEXT + 16];
        cs_health_id_text(known->id, text);
        snprintf(what, sizeof(what), "health check %s", text);
        node_api_reply_key_reused(r, what);
}

static void on_applied(void *ctx, int status, const struct cs_result *res)
{
        struct hc_wait *w = ctx;
        const struct cs_health_check *c =
            cs_state_health_get(&w->api->cluster->state, w->id);
        if (status == 0 && res != NULL && res->status == -EEXIST && w->cfg != NULL &&
            c != NULL) {
                reply_known(w->r, c, w->cfg);
        } else if (status != 0 || res == NULL || res->status != 0) {
                if (status == 0 && res != NULL && res->status == -EBUSY) {
                        node_http_reply_error(w->r, 409, "HealthCheckInUse", "id", "%s",
                                              res->message);
                } else if (status == 0 && res != NULL && res->n_errors > 0) {
                        json_t *list = json_array();
                        for (size_t i = 0; i < res->n_errors; i++)
                                json_array_append_new(
                                    list,
                                    json_pack("{s:s, s:s}", "field", res->errors[i].field,
                                              "message", res->errors[i].message));
                        node_api_reply_errors(w->r, list);
                        json_decref(list);
                } else {
                        node_api_reply_result(w->r, status, res);
                }
        } else {
                json_t *out = json_object();
                if (c != NULL && w->with_check)
                        json_object_set_new(out, "healthcheck", check_json(c));
                else if (c != NULL)
                        json_object_set_new(out, "status", status_name(c->healthy));
                node_http_reply_json(w->r, w->created ? 201 : 200, out);
        }
        node_http_release(w->r);
        if (w->cfg != NULL)
                health_check_config_free(w->cfg);
        free(w->cfg);
        free(w);
}

/* cfg: a create's definition (copied), else NULL. */
static void propose(struct node_api *api, struct node_http_request *r,
                    struct cs_command *cmd, uint64_t id, bool created, bool with_check,
                    const struct health_check_config *cfg)
{
        struct hc_wait *w = calloc(1, sizeof(*w));
        struct health_check_config *copy = cfg ? malloc(sizeof(*copy)) : NULL;
        if (w == NULL ||
            (cfg != NULL && (copy == NULL || health_check_config_copy(copy, cfg) != 0))) {
                free(w);
                free(copy);
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        *w = (struct hc_wait){.r = r,
                              .api = api,
                              .id = id,
                              .created = created,
                              .with_check = with_check,
                              .cfg = copy};
        node_http_hold(r);
        node_cluster_propose(api->cluster, cmd, on_applied, w);
}

/* FNV-1a of the request id's Idempotency-Key (all of a random id), never 0:
 * a create sent again with its key (by the client, or by a follower whose
 * relay lost the leader) names the same check, whatever its body. */
static uint64_t id_of_request(const char *rid)
{
        uint64_t h = 0xcbf29ce484222325ull;
        size_t n = cs_request_key_len(rid);
        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char)rid[i]) * 0x100000001b3ull;
        return h ? h : 1;
}

static void put_check(struct node_http_request *r, struct node_api *api, bool create)
{
        uint64_t id = 0;
        char rid[CS_REQUEST_ID_MAXLEN + 1];
        /* Writes are judged by the leader: a follower may not have applied
         * the check's creation yet. */
        if (node_api_forward_if_follower(api, r))
                return;
        if (!create && check_param(api, r, &id) == NULL)
                return;
        if (create) {
                if (node_api_request_id(r, rid, sizeof(rid)) != 0)
                        return;
                id = id_of_request(rid);
        }
        json_t *body = node_http_body_json(r);
        if (body == NULL)
                return;
        /* A retried create is compared with the check it made, not judged
         * again against the checks there are now. */
        const struct cs_health_check *known =
            create ? cs_state_health_get(&api->cluster->state, id) : NULL;
        struct api_errors errs;
        struct health_check_config cfg;
        api_errors_init(&errs);
        node_health_config_parse(body, &cfg, id, known ? NULL : &api->cluster->state,
                                 &errs);
        json_decref(body);
        if (api_errors_count(&errs) > 0) {
                node_api_reply_errors(r, errs.list);
                json_decref(errs.list);
                health_check_config_free(&cfg);
                return;
        }
        json_decref(errs.list);
        if (known != NULL) {
                reply_known(r, known, &cfg);
        } else {
                struct cs_command cmd = {.type = CS_CMD_HEALTH_PUT};
                cmd.u.health_put =
                    (struct cs_health_put){.id = id, .create = create, .cfg = &cfg};
                /* encoded at once: cfg can go */
                propose(api, r, &cmd, id, create, true, create ? &cfg : NULL);
        }
        health_check_config_free(&cfg);
}

void node_api_healthcheck_create(struct node_http_request *r, void *ctx)
{
        put_check(r, ctx, true);
}

void node_api_healthcheck_update(struct node_http_request *r, void *ctx)
{
        put_check(r, ctx, false);
}

void node_api_healthcheck_delete(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint64_t id;
        if (node_api_forward_if_follower(api, r) || check_param(api, r, &id) == NULL)
                return;
        struct cs_command cmd = {.type = CS_CMD_HEALTH_DELETE, .u.health_id = id};
        propose(api, r, &cmd, id, false, false, NULL);
}

void node_api_healthcheck_manual(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint64_t id;
        if (node_api_forward_if_follower(api, r))
                return;
        const struct cs_health_check *c = check_param(api, r, &id);
        if (c == NULL)
                return;
        if (c->cfg.type != HEALTH_CHECK_MANUAL) {
                node_http_reply_error(r, 400, "InvalidInput", "id",
                                      "health check %s is of type %s: only MANUAL checks "
                                      "are set by hand",
                                      r->param[0], health_check_type_name(c->cfg.type));
                return;
        }
        json_t *body = node_http_body_json(r);
        if (body == NULL)
                return;
        const char *s = json_string_value(json_object_get(body, "status"));
        bool healthy = s != NULL && strcmp(s, "HEALTHY") == 0;
        if (s == NULL || (!healthy && strcmp(s, "UNHEALTHY") != 0)) {
                json_decref(body);
                node_http_reply_error(r, 400, "InvalidInput", "status",
                                      "status must be \"HEALTHY\" or \"UNHEALTHY\"");
                return;
        }
        json_decref(body);
        struct cs_command cmd = {.type = CS_CMD_HEALTH_MANUAL};
        cmd.u.health_manual.id = id;
        cmd.u.health_manual.healthy = healthy;
        propose(api, r, &cmd, id, false, false, NULL);
}

void node_api_healthcheck_heartbeat(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint64_t id;
        if (node_api_forward_if_follower(api, r))
                return;
        const struct cs_health_check *c = check_param(api, r, &id);
        if (c == NULL)
                return;
        if (c->cfg.type != HEALTH_CHECK_HEARTBEAT) {
                node_http_reply_error(
                    r, 400, "InvalidInput", "id",
                    "health check %s is of type %s: only HEARTBEAT checks "
                    "take heartbeats",
                    r->param[0], health_check_type_name(c->cfg.type));
                return;
        }
        struct cs_command cmd = {.type = CS_CMD_HEALTH_HEARTBEAT, .u.health_id = id};
        propose(api, r, &cmd, id, false, false, NULL);
}

/* A follower's votes (node/health.c): proposed as that node's VOTES. */
void node_api_healthcheck_votes(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        if (!node_cluster_is_leader(api->cluster)) {
                node_http_reply_error(
                    r, 503, "NotLeader", NULL,
                    "this node does not lead: send votes to the leader");
                return;
        }
        json_t *body = node_http_body_json(r);
        if (body == NULL)
                return;
        struct cs_health_votes votes;
        struct cs_health_vote_spec *list;
        char err[256];
        if (node_health_votes_parse(body, &votes, &list, err, sizeof(err)) != 0) {
                json_decref(body);
                node_http_reply_error(r, 400, "InvalidInput", "votes", "%s", err);
                return;
        }
        /* Over the side channel a node speaks for itself only. */
        if (r->peer_id != 0 && votes.node != r->peer_id) {
                json_decref(body);
                free(list);
                node_http_reply_error(r, 403, "Forbidden", "node",
                                      "node %" PRIu64 " cannot vote as node %" PRIu64,
                                      r->peer_id, votes.node);
                return;
        }
        struct cs_command cmd = {.type = CS_CMD_HEALTH_VOTES, .u.health_votes = votes};
        propose(api, r, &cmd, 0, false, false, NULL);
        json_decref(body);
        free(list);
}
