/*
 * api_cidr.c — /v1/cidrcollections (see api_cidr.h).
 *
 * Reads come from this node's replica.  Writes are relayed to the leader
 * when this node follows, proposed as one CIDR command and answered once
 * applied: a new collection's id follows from the request id, so a create
 * retried with its Idempotency-Key finds the collection it made.  Errors
 * map onto Route 53's: 404 NoSuchCidrCollection, 409
 * CidrCollectionVersionMismatch (the change named another version), 409
 * CidrCollectionInUse / CidrBlockInUse (a record set names it), 409
 * CidrCollectionAlreadyExists (the name), 400 InvalidInput naming fields.
 */
#include "node/api_cidr.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/api.h"

#define LIST_DEFAULT 10000
#define LIST_MAX     100000

/* ---- the change body ----------------------------------------------------------- */

void node_cidr_change_free(struct node_cidr_change *c)
{
        free(c->actions);
        free(c->blocks);
        free(c->locations);
        memset(c, 0, sizeof(*c));
}

int node_cidr_change_parse(json_t *body, struct node_cidr_change *out,
                           struct api_errors *errs)
{
        size_t before = api_errors_count(errs);
        char path[96], err[256];
        memset(out, 0, sizeof(*out));
        if (!json_is_object(body)) {
                api_errors_add(errs, -1, "", "the body must be a JSON object");
                return -1;
        }
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v)
        {
                if (strcmp(key, "collection_version") != 0 && strcmp(key, "changes") != 0)
                        api_errors_add(errs, -1, key, "unknown field");
        }
        json_t *version = json_object_get(body, "collection_version");
        if (version != NULL && !json_is_null(version)) {
                if (!json_is_integer(version) || json_integer_value(version) < 1)
                        api_errors_add(errs, -1, "collection_version",
                                       "must be a collection version (an integer >= 1)");
                else {
                        out->change.has_version = true;
                        out->change.version = (uint64_t)json_integer_value(version);
                }
        }
        json_t *changes = json_object_get(body, "changes");
        size_t n = json_array_size(changes), total = 0;
        if (!json_is_array(changes) || n == 0) {
                api_errors_add(errs, -1, "changes",
                               "must be a non-empty array of {\"action\", "
                               "\"location_name\", \"cidr_list\"}");
                return -1;
        }
        if (n > 1000) {
                api_errors_add(errs, -1, "changes",
                               "at most 1000 changes in one request");
                return -1;
        }
        for (size_t i = 0; i < n; i++)
                total += json_array_size(
                    json_object_get(json_array_get(changes, i), "cidr_list"));
        if (total > CS_CIDR_CHANGE_MAX) {
                api_errors_add(errs, -1, "changes",
                               "%zu CIDR blocks in one request: at most %d", total,
                               CS_CIDR_CHANGE_MAX);
                return -1;
        }
        out->actions = calloc(n, sizeof(*out->actions));
        out->blocks = calloc(total ? total : 1, sizeof(*out->blocks));
        out->locations = calloc(n, sizeof(*out->locations));
        if (out->actions == NULL || out->blocks == NULL || out->locations == NULL) {
                api_errors_add(errs, -1, "changes", "out of memory");
                return -1;
        }
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
                json_t *c = json_array_get(changes, i);
                struct cs_cidr_action *a = &out->actions[i];
                snprintf(path, sizeof(path), "changes[%zu]", i);
                if (!json_is_object(c)) {
                        api_errors_add(errs, (long)i, path, "must be an object");
                        continue;
                }
                json_object_foreach(c, key, v)
                {
                        if (strcmp(key, "action") != 0 &&
                            strcmp(key, "location_name") != 0 &&
                            strcmp(key, "cidr_list") != 0) {
                                snprintf(path, sizeof(path), "changes[%zu].%s", i, key);
                                api_errors_add(errs, (long)i, path, "unknown field");
                        }
                }
                const char *action = json_string_value(json_object_get(c, "action"));
                snprintf(path, sizeof(path), "changes[%zu].action", i);
                if (action != NULL && strcmp(action, "PUT") == 0)
                        a->kind = CS_CIDR_PUT;
                else if (action != NULL && strcmp(action, "DELETE_IF_EXISTS") == 0)
                        a->kind = CS_CIDR_DELETE_IF_EXISTS;
                else
                        api_errors_add(errs, (long)i, path,
                                       "must be \"PUT\" or \"DELETE_IF_EXISTS\"");
                const char *loc = json_string_value(json_object_get(c, "location_name"));
                snprintf(path, sizeof(path), "changes[%zu].location_name", i);
                if (!cs_cidr_name_ok(loc, CS_CIDR_LOCATION_MAXLEN))
                        api_errors_add(
                            errs, (long)i, path,
                            "must be 1 to %d of A-Z a-z 0-9 _ - (\"*\" names "
                            "the default in record sets, it is not a location)",
                            CS_CIDR_LOCATION_MAXLEN);
                else
                        snprintf(out->locations[i], sizeof(out->locations[i]), "%s", loc);
                a->location = out->locations[i];
                json_t *list = json_object_get(c, "cidr_list");
                snprintf(path, sizeof(path), "changes[%zu].cidr_list", i);
                if (!json_is_array(list) || json_array_size(list) == 0) {
                        api_errors_add(errs, (long)i, path,
                                       "must be a non-empty array of CIDR blocks");
                        continue;
                }
                a->blocks = out->blocks + used;
                size_t bad = 0;
                for (size_t k = 0; k < json_array_size(list); k++) {
                        const char *text = json_string_value(json_array_get(list, k));
                        snprintf(path, sizeof(path), "changes[%zu].cidr_list[%zu]", i, k);
                        if (text == NULL) {
                                api_errors_add(errs, (long)i, path,
                                               "must be a CIDR block string");
                        } else if (cs_cidr_block_parse(text, &out->blocks[used], err,
                                                       sizeof(err)) != 0) {
                                api_errors_add(errs, (long)i, path, "%s", err);
                        } else {
                                used++;
                                a->count++;
                                continue;
                        }
                        if (++bad >= 20)
                                break; /* enough to see what is wrong */
                }
        }
        out->change.actions = out->actions;
        out->change.n_actions = n;
        return api_errors_count(errs) > before ? -1 : 0;
}

/* ---- JSON of a collection ------------------------------------------------------ */

static json_t *summary_json(const struct cs_cidr_collection *c)
{
        return json_pack(
            "{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "id", c->id, "name", c->name,
            "version", (json_int_t)c->version, "created_at", (json_int_t)c->created_ms,
            "updated_at", (json_int_t)c->updated_ms, "location_count",
            (json_int_t)c->n_locations, "cidr_count", (json_int_t)c->n_entries);
}

static json_t *locations_json(const struct cs_cidr_collection *c)
{
        uint32_t *order = malloc((c->n_locations + 1) * sizeof(*order));
        json_t *list = json_array();
        if (order == NULL)
                return list;
        cs_cidr_location_order(c, order);
        for (size_t i = 0; i < c->n_locations; i++) {
                const struct cs_cidr_location *l = &c->locations[order[i]];
                json_array_append_new(list,
                                      json_pack("{s:s, s:I}", "location_name", l->name,
                                                "cidr_count", (json_int_t)l->blocks));
        }
        free(order);
        return list;
}

/* The collection named by the path, or NULL after answering 404. */
static const struct cs_cidr_collection *collection_param(struct node_api *api,
                                                         struct node_http_request *r)
{
        const struct cs_cidr_collection *c =
            cs_state_cidr_get(&api->cluster->state, r->param[0]);
        if (c == NULL)
                node_http_reply_error(r, 404, "NoSuchCidrCollection", "id",
                                      "no CIDR collection '%s'", r->param[0]);
        return c;
}

/* ---- reads --------------------------------------------------------------------- */

void node_api_cidr_list(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        const struct cs_state *st = &api->cluster->state;
        json_t *list = json_array();
        for (size_t i = 0; i < cs_state_cidr_count(st); i++)
                json_array_append_new(list, summary_json(cs_state_cidr_at(st, i)));
        node_http_reply_json(r, 200, json_pack("{s:o}", "cidr_collections", list));
}

void node_api_cidr_get(struct node_http_request *r, void *ctx)
{
        const struct cs_cidr_collection *c = collection_param(ctx, r);
        if (c == NULL)
                return;
        json_t *o = summary_json(c);
        json_object_set_new(o, "locations", locations_json(c));
        node_http_reply_json(r, 200, json_pack("{s:o}", "cidr_collection", o));
}

void node_api_cidr_locations(struct node_http_request *r, void *ctx)
{
        const struct cs_cidr_collection *c = collection_param(ctx, r);
        if (c != NULL)
                node_http_reply_json(r, 200,
                                     json_pack("{s:s, s:I, s:o}", "collection_id", c->id,
                                               "collection_version",
                                               (json_int_t)c->version, "locations",
                                               locations_json(c)));
}

/* A count from the query string (0..max), or -1 after answering 400. */
static long query_count(struct node_http_request *r, const char *name, long dflt,
                        long max)
{
        const char *s = node_http_query(r, name);
        if (s == NULL)
                return dflt;
        char *end;
        long v = strtol(s, &end, 10);
        if (*s == '\0' || *end != '\0' || v < 0 || v > max) {
                node_http_reply_error(r, 400, "InvalidInput", name,
                                      "must be an integer from 0 to %ld", max);
                return -1;
        }
        return v;
}

/* The blocks of one location, in address order, max_results at a time:
 * next_token is where the next page starts. */
void node_api_cidr_blocks(struct node_http_request *r, void *ctx)
{
        const struct cs_cidr_collection *c = collection_param(ctx, r);
        if (c == NULL)
                return;
        const struct cs_cidr_location *loc = cs_cidr_location_get(c, r->param[1]);
        if (loc == NULL) {
                node_http_reply_error(r, 404, "NoSuchCidrLocation", "location_name",
                                      "collection '%s' has no location '%s'", c->name,
                                      r->param[1]);
                return;
        }
        long max = query_count(r, "max_results", LIST_DEFAULT, LIST_MAX);
        long from = max < 0 ? -1 : query_count(r, "next_token", 0, LONG_MAX);
        if (max < 0 || from < 0)
                return;
        uint32_t index = (uint32_t)(loc - c->locations);
        json_t *list = json_array();
        size_t i = (size_t)from;
        long taken = 0;
        for (; i < c->n_entries && taken < max; i++) {
                if (c->entries[i].location != index)
                        continue;
                char text[64];
                cs_cidr_block_text(&c->entries[i].block, text, sizeof(text));
                json_array_append_new(list, json_string(text));
                taken++;
        }
        while (i < c->n_entries && c->entries[i].location != index)
                i++;
        json_t *o = json_pack("{s:s, s:s, s:I, s:o}", "collection_id", c->id,
                              "location_name", loc->name, "collection_version",
                              (json_int_t)c->version, "cidr_list", list);
        if (i < c->n_entries) {
                char token[32];
                snprintf(token, sizeof(token), "%zu", i);
                json_object_set_new(o, "next_token", json_string(token));
        }
        node_http_reply_json(r, 200, o);
}

/* ---- writes -------------------------------------------------------------------- */

struct cidr_wait {
        struct node_http_request *r;
        struct node_api *api;
        char id[CS_CIDR_ID_MAXLEN + 1];
        int success; /* 200 or 201 */
        bool deleted;
        /* A create: its name, to tell a retry that raced the first request
         * to the leader (the same) from a reused key (another). */
        char name[CS_CIDR_NAME_MAXLEN + 1];
};

/* A create whose id (its Idempotency-Key's) names a collection that exists:
 * the same name is a retry, answered 200 with the collection it made;
 * another is the key reused, refused as every route refuses it. */
static void reply_known(struct node_http_request *r,
                        const struct cs_cidr_collection *known, const char *name)
{
        if (strcmp(known->name, name) == 0) {
                node_http_reply_json(
                    r, 200, json_pack("{s:o}", "cidr_collection", summary_json(known)));
                return;
        }
        char what[CS_CIDR_ID_MAXLEN + CS_CIDR_NAME_MAXLEN + 32];
        snprintf(what, sizeof(what), "CIDR collection %s, %s", known->id, known->name);
        node_api_reply_key_reused(r, what);
}

static void reply_failure(struct cidr_wait *w, int status, const struct cs_result *res)
{
        if (status != 0 || res == NULL) {
                node_api_reply_result(w->r, status, res);
                return;
        }
        if (res->n_errors > 0) {
                json_t *list = json_array();
                for (size_t i = 0; i < res->n_errors; i++) {
                        const struct cs_error *e = &res->errors[i];
                        char field[128];
                        if (e->action == CS_ERROR_BATCH)
                                snprintf(field, sizeof(field), "%s", e->field);
                        else
                                snprintf(field, sizeof(field), "changes[%u].%s",
                                         e->action, e->field);
                        json_array_append_new(list,
                                              json_pack("{s:s, s:s}", "field", field,
                                                        "message", e->message));
                }
                node_api_reply_errors(w->r, list);
                json_decref(list);
                return;
        }
        switch (res->status) {
        case -ENOENT:
                node_http_reply_error(w->r, 404, "NoSuchCidrCollection", "id", "%s",
                                      res->message);
                return;
        case -ESTALE:
                node_http_reply_error(w->r, 409, "CidrCollectionVersionMismatch",
                                      "collection_version", "%s", res->message);
                return;
        case -EBUSY:
                node_http_reply_error(
                    w->r, 409, w->deleted ? "CidrCollectionInUse" : "CidrBlockInUse",
                    w->deleted ? "id" : "changes", "%s", res->message);
                return;
        case -EEXIST:
                node_http_reply_error(w->r, 409, "CidrCollectionAlreadyExists", "name",
                                      "%s", res->message);
                return;
        case -ENOSPC:
                node_http_reply_error(w->r, 400, "LimitsExceeded", NULL, "%s",
                                      res->message);
                return;
        case -EINVAL:
                node_http_reply_error(w->r, 400, "InvalidInput", NULL, "%s",
                                      res->message);
                return;
        default:
                node_api_reply_result(w->r, status, res);
        }
}

static void on_applied(void *ctx, int status, const struct cs_result *res)
{
        struct cidr_wait *w = ctx;
        const struct cs_cidr_collection *known =
            w->name[0] ? cs_state_cidr_get(&w->api->cluster->state, w->id) : NULL;
        if (status == 0 && res != NULL && res->status == -EEXIST && known != NULL) {
                reply_known(w->r, known, w->name);
        } else if (status != 0 || res == NULL || res->status != 0) {
                reply_failure(w, status, res);
        } else if (w->deleted) {
                node_http_reply_json(w->r, 200, json_pack("{s:s}", "deleted", w->id));
        } else {
                const struct cs_cidr_collection *c =
                    cs_state_cidr_get(&w->api->cluster->state, w->id);
                json_t *o = json_object();
                if (c != NULL)
                        json_object_set_new(o, "cidr_collection", summary_json(c));
                node_http_reply_json(w->r, w->success, o);
        }
        node_http_release(w->r);
        free(w);
}

static void propose(struct node_api *api, struct node_http_request *r,
                    struct cs_command *cmd, const char *id, int success, bool deleted)
{
        const char *name = cmd->type == CS_CMD_CIDR_CREATE ? cmd->u.cidr_create.name : "";
        struct cidr_wait *w = calloc(1, sizeof(*w));
        if (w == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        w->r = r;
        w->api = api;
        snprintf(w->id, sizeof(w->id), "%s", id);
        w->success = success;
        w->deleted = deleted;
        snprintf(w->name, sizeof(w->name), "%s", name);
        node_http_hold(r);
        node_cluster_propose(api->cluster, cmd, on_applied, w);
}

/* A collection id from the request id's Idempotency-Key (all of a random
 * id): 128 bits of two FNV-1a hashes in the 8-4-4-4-12 form of Route 53's
 * ids.  A create sent again with its key names the same collection,
 * whatever its body. */
static void id_of_request(const char *rid, char out[CS_CIDR_ID_MAXLEN + 1])
{
        uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
        size_t n = cs_request_key_len(rid);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)rid[i];
                a = (a ^ c) * 0x100000001b3ull;
                b = (b ^ c ^ 0x5a) * 0x100000001b3ull;
        }
        snprintf(out, CS_CIDR_ID_MAXLEN + 1,
                 "%08" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
                 (uint32_t)(a >> 32), (uint32_t)(a >> 16) & 0xffff, (uint32_t)a & 0xffff,
                 (uint32_t)(b >> 48), (uint64_t)(b & 0xffffffffffffull));
}

void node_api_cidr_create(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        if (node_api_forward_if_follower(api, r))
                return;
        json_t *body = node_http_body_json(r);
        if (body == NULL)
                return;
        char rid[CS_REQUEST_ID_MAXLEN + 1], id[CS_CIDR_ID_MAXLEN + 1], name[80];
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v)
        {
                if (strcmp(key, "name") != 0) {
                        json_decref(body);
                        node_http_reply_error(
                            r, 400, "InvalidInput", key,
                            "unknown field '%s' (a new collection takes "
                            "only \"name\")",
                            key);
                        return;
                }
        }
        const char *n = json_string_value(json_object_get(body, "name"));
        if (!cs_cidr_name_ok(n, CS_CIDR_NAME_MAXLEN)) {
                json_decref(body);
                node_http_reply_error(r, 400, "InvalidInput", "name",
                                      "must be 1 to %d of A-Z a-z 0-9 _ -",
                                      CS_CIDR_NAME_MAXLEN);
                return;
        }
        snprintf(name, sizeof(name), "%s", n);
        json_decref(body);
        if (node_api_request_id(r, rid, sizeof(rid)) != 0)
                return;
        id_of_request(rid, id);
        const struct cs_cidr_collection *known =
            cs_state_cidr_get(&api->cluster->state, id);
        if (known != NULL) {
                reply_known(r, known, name);
                return;
        }
        struct cs_command cmd = {.type = CS_CMD_CIDR_CREATE};
        cmd.u.cidr_create.id = id;
        cmd.u.cidr_create.name = name;
        propose(api, r, &cmd, id, 201, false);
}

void node_api_cidr_delete(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        if (node_api_forward_if_follower(api, r) || collection_param(api, r) == NULL)
                return;
        struct cs_command cmd = {.type = CS_CMD_CIDR_DELETE, .u.cidr_id = r->param[0]};
        propose(api, r, &cmd, r->param[0], 200, true);
}

void node_api_cidr_change(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        if (node_api_forward_if_follower(api, r) || collection_param(api, r) == NULL)
                return;
        json_t *body = node_http_body_json(r);
        if (body == NULL)
                return;
        struct api_errors errs;
        struct node_cidr_change change;
        api_errors_init(&errs);
        int rc = node_cidr_change_parse(body, &change, &errs);
        json_decref(body);
        if (rc != 0) {
                node_api_reply_errors(r, errs.list);
                json_decref(errs.list);
                node_cidr_change_free(&change);
                return;
        }
        json_decref(errs.list);
        struct cs_command cmd = {.type = CS_CMD_CIDR_CHANGE};
        cmd.u.cidr_change = change.change;
        cmd.u.cidr_change.id = r->param[0];
        propose(api, r, &cmd, r->param[0], 200, false); /* encoded at once */
        node_cidr_change_free(&change);
}
