/*
 * api_bulk.c — POST /v1/zones/bulk: many zone creations (each optionally
 * with a master file to import) and deletions in one request (docs/API.md).
 *
 * Every item is checked first — its fields, its master file, its records
 * against a scratch state holding only the new zone (on libuv's pool,
 * node/offload.h: 1,000 zone files held the leader's loop 250-550 ms, past
 * an election timeout at 800,000 zones), then on the loop its name against
 * the other items and against the zones that exist — and every problem of
 * every item is reported in the answer.  The valid items are then proposed
 * BULK_WINDOW at a time (raft pipelines them): one ZONE_CREATE per zone
 * carrying its records, which the state machine applies to the new zone
 * before anyone sees it, so each zone is created and served with all its
 * records or not at all, in one change; one ZONE_DELETE per deletion.  The
 * answer comes when every item has its outcome: 200 with one result per
 * item, in request order.
 *
 * Each item's command carries a request id derived from the request's
 * Idempotency-Key, so a retried bulk request does not create twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/pmap.h"
#include "consensus/wire.h"
#include "dns/name.h"
#include "dns/text.h"
#include "node/api.h"
#include "node/api_json.h"

#define BULK_MAX 1000
/* Items in flight at once: raft applies what commits together in one go on
 * the loop, and 1,000 zone creations in a row held it ~400 ms under ASan
 * (an election timeout).  A window keeps each burst short and lets other
 * clients' writes in between. */
#define BULK_WINDOW 128

enum item_kind { ITEM_CREATE, ITEM_DELETE };

struct bulk;

struct bulk_item {
        struct bulk *bulk;
        enum item_kind kind;
        size_t index;
        char name[1024];
        uint8_t origin[256];
        size_t origin_len;
        bool force;
        struct node_api_zone_spec *spec;  /* create */
        struct node_api_import *import;   /* create with a master file, or NULL */
        json_t *error;                    /* set: the item failed */
        int http;                         /* its status */
        char change_id[CS_ID_MAXLEN + 1]; /* the last change it made */
        char request_id[CS_REQUEST_ID_MAXLEN + 1];
};

struct bulk {
        struct node_offload_job job; /* first: the job is the bulk request */
        /* Until the parse: copies of the body (h2o's, which a client gone
         * frees) and of the Idempotency-Key (NULL: none), and the request
         * id they give. */
        char *text, *key;
        size_t text_len;
        char base[CS_REQUEST_ID_MAXLEN + 1];
        /* A request the parse refused as a whole: its answer. */
        int refused;
        const char *refused_code, *refused_field;
        char refused_message[400];
        json_t *body; /* until the items are parsed */
        struct node_http_request *r;
        struct node_api *api;
        struct bulk_item *items;
        size_t n;
        size_t next;     /* the next item to propose */
        size_t inflight; /* items proposed and not finished */
        bool pumping, replied;
        /* Proposals wait for this timer (0 ms) when they follow an applied
         * command: raft_apply from inside raft's apply callback crashed
         * libraft 0.15. */
        uv_timer_t timer;
};

/* error NULL (out of memory making it): the item still fails, with a 500
 * and a null error. */
static void item_fail(struct bulk_item *it, int http, json_t *error)
{
        json_decref(it->error);
        it->error = error != NULL ? error : json_null();
        it->http = error != NULL ? http : 500;
}

static json_t *simple_error(const char *code, const char *field, const char *message)
{
        json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
        if (field != NULL)
                json_object_set_new(e, "field", json_string(field));
        return e;
}

static json_t *invalid_input(json_t *list)
{
        json_t *first = json_array_get(list, 0);
        return json_pack("{s:s, s:O, s:O, s:O}", "code", "InvalidInput", "message",
                         json_object_get(first, "message"), "field",
                         json_object_get(first, "field"), "errors", list);
}

static void bulk_free(struct bulk *b)
{
        free(b->text);
        free(b->key);
        json_decref(b->body);
        for (size_t i = 0; i < b->n; i++) {
                struct bulk_item *it = &b->items[i];
                if (it->import != NULL)
                        node_api_import_free(it->import);
                free(it->import);
                free(it->spec);
                json_decref(it->error);
        }
        free(b->items);
        free(b);
}

static void bulk_closed(uv_handle_t *handle)
{
        bulk_free(handle->data);
}

static void bulk_reply(struct bulk *b)
{
        json_t *results = json_array();
        size_t ok = 0;
        for (size_t i = 0; i < b->n; i++) {
                struct bulk_item *it = &b->items[i];
                json_t *res = json_pack("{s:s, s:s, s:i}", "name", it->name, "action",
                                        it->kind == ITEM_CREATE ? "create" : "delete",
                                        "status", it->http);
                if (it->error != NULL) {
                        json_object_set(res, "error", it->error);
                } else {
                        ok++;
                        const struct cs_change *c =
                            cs_state_change_get(&b->api->cluster->state, it->change_id);
                        if (c != NULL)
                                json_object_set_new(res, "change",
                                                    node_api_change_json(b->api, c));
                        if (it->import != NULL)
                                json_object_set_new(
                                    res, "records",
                                    json_integer((json_int_t)it->import->records));
                }
                json_array_append_new(results, res);
        }
        node_http_reply_json(b->r, 200,
                             json_pack("{s:o, s:i, s:i}", "results", results, "succeeded",
                                       (json_int_t)ok, "failed",
                                       (json_int_t)(b->n - ok)));
        node_http_release(b->r);
        b->replied = true;
        uv_close((uv_handle_t *)&b->timer, bulk_closed);
}

static void propose_item(struct bulk_item *it);

/* Proposes items until the window is full; answers when all are done.  A
 * proposal may finish at once (its callback runs inside): the loop then
 * simply goes on. */
static void pump(struct bulk *b)
{
        if (b->pumping)
                return;
        b->pumping = true;
        while (b->inflight < BULK_WINDOW && b->next < b->n) {
                struct bulk_item *it = &b->items[b->next++];
                if (it->error != NULL)
                        continue;
                b->inflight++;
                propose_item(it);
        }
        b->pumping = false;
        if (b->inflight == 0 && b->next == b->n && !b->replied)
                bulk_reply(b);
}

static void deferred(uv_timer_t *timer)
{
        pump(timer->data);
}

static void schedule(struct bulk *b)
{
        if (!uv_is_active((uv_handle_t *)&b->timer))
                uv_timer_start(&b->timer, deferred, 0, 0);
}

static void bulk_done_one(struct bulk *b)
{
        b->inflight--;
        if (b->pumping)
                return; /* pump() goes on and checks for the end */
        schedule(b);
}

static void on_item_applied(void *ctx, int status, const struct cs_result *res)
{
        struct bulk_item *it = ctx;
        struct bulk *b = it->bulk;
        int http = 0;
        if (status != 0 || res == NULL || res->status != 0) {
                json_t *err = node_api_result_error(status, res, &http);
                item_fail(it, http, err); /* err NULL: a 500 */
        } else {
                snprintf(it->change_id, sizeof(it->change_id), "%s", res->change_id);
                if (it->kind == ITEM_CREATE && res->duplicate)
                        it->http = 200; /* a retry: made before, as POST /v1/zones */
        }
        bulk_done_one(b);
}

/*
 * The request id of an item's command: the request's key with the item
 * appended ("KEY#cc3", "KEY#dc0"), then the request's fingerprint
 * ("KEY#cc3\nFINGERPRINT", api.c) — the state machine finds ids by the part
 * before the newline, so every item has its own, and a key reused with
 * another body is refused item by item (409 IdempotencyKeyMismatch).  A key
 * of more than 150 bytes becomes its first 133, "~" and 16 hex digits of a
 * hash of all of it, leaving room for the suffix and the fingerprint: keys
 * that share their first 150 bytes stay apart.
 */
static void item_request_id(const struct bulk_item *it, char *out, size_t size)
{
        const char *nl = strchr(it->request_id, '\n');
        size_t key_len = cs_request_key_len(it->request_id);
        char key[151];
        if (key_len <= 150)
                snprintf(key, sizeof(key), "%.*s", (int)key_len, it->request_id);
        else
                snprintf(key, sizeof(key), "%.133s~%016llx", it->request_id,
                         (unsigned long long)hash_bytes(it->request_id, key_len, 0));
        snprintf(out, size, "%s#%cc%zu%s", key, it->kind == ITEM_CREATE ? 'c' : 'd',
                 it->index, nl ? nl : "");
}

/* An item's command; a create carries its zone file's records. */
static void item_command(struct bulk_item *it, const char *rid, struct cs_command *cmd)
{
        if (it->kind == ITEM_DELETE) {
                *cmd = (struct cs_command){.type = CS_CMD_ZONE_DELETE, .request_id = rid};
                cmd->u.zone_delete.origin = it->origin;
                cmd->u.zone_delete.origin_len = it->origin_len;
                cmd->u.zone_delete.force = it->force;
                return;
        }
        node_api_zone_spec_command(it->spec, rid, cmd);
        if (it->import != NULL) {
                cmd->u.zone_create.actions = it->import->actions;
                cmd->u.zone_create.n_actions = it->import->n;
        }
}

static void propose_item(struct bulk_item *it)
{
        struct bulk *b = it->bulk;
        char rid[CS_REQUEST_ID_MAXLEN + 1];
        struct cs_command cmd;
        item_request_id(it, rid, sizeof(rid));
        item_command(it, rid, &cmd);
        node_cluster_propose_served(b->api->cluster, &cmd, on_item_applied, it);
}

/* ---- checking -------------------------------------------------------------------------
 */

struct seen_key {
        const uint8_t *origin;
        size_t len;
};

static bool seen_match(const void *item, const void *key)
{
        const struct bulk_item *it = item;
        const struct seen_key *k = key;
        return it->origin_len == k->len && memcmp(it->origin, k->origin, k->len) == 0;
}

/* The zone with its records, created in an empty scratch state: what the
 * state machine would say when the creation is applied. */
static void check_import(struct bulk_item *it)
{
        struct cs_state scratch;
        struct cs_result res;
        struct cs_command cmd;
        cs_state_init(&scratch);
        cs_result_init(&res);
        item_command(it, "", &cmd);
        struct cs_ctx ctx = {.index = 1};
        cs_state_zone_create(&scratch, &ctx, &cmd.u.zone_create, &res);
        int http = 0;
        json_t *err = node_api_result_error(0, &res, &http);
        if (err != NULL)
                item_fail(it, http, err);
        cs_result_fini(&res);
        cs_state_fini(&scratch);
}

static void parse_create(struct bulk *b, struct bulk_item *it, json_t *obj)
{
        char prefix[48];
        snprintf(prefix, sizeof(prefix), "create[%zu].", it->index);
        struct api_errors errs;
        api_errors_init(&errs);
        it->spec = malloc(sizeof(*it->spec));
        if (it->spec == NULL) {
                item_fail(it, 500, simple_error("Internal", NULL, "out of memory"));
                json_decref(errs.list);
                return;
        }
        json_t *name = json_object_get(obj, "name");
        if (json_is_string(name))
                snprintf(it->name, sizeof(it->name), "%s", json_string_value(name));
        if (node_api_zone_spec_parse(obj, prefix, (long)it->index, it->spec, &errs) !=
            0) {
                item_fail(it, 400, invalid_input(errs.list));
                json_decref(errs.list);
                return;
        }
        json_decref(errs.list);
        memcpy(it->origin, it->spec->origin, it->spec->origin_len);
        it->origin_len = it->spec->origin_len;
        dns_name_to_text(it->origin, it->name, sizeof(it->name));
        json_t *file = json_object_get(obj, "zone_file");
        if (file == NULL)
                return;
        char field[64];
        snprintf(field, sizeof(field), "%szone_file", prefix);
        if (!json_is_string(file)) {
                item_fail(
                    it, 400,
                    simple_error("InvalidInput", field, "must be master-file text"));
                return;
        }
        it->import = malloc(sizeof(*it->import));
        if (it->import == NULL) {
                item_fail(it, 500, simple_error("Internal", NULL, "out of memory"));
                return;
        }
        snprintf(field, sizeof(field), "%szone_file ", prefix);
        /* The prefix must outlive the parse only (errors are copied). */
        int rc = node_api_import_parse(it->import, it->origin, json_string_value(file),
                                       json_string_length(file), field);
        it->import->field_prefix = "";
        if (rc == 0)
                rc = node_api_import_add_routed(it->import);
        if (rc == -EINVAL)
                item_fail(it, 400, invalid_input(it->import->errors));
        else if (rc != 0)
                item_fail(it, 500,
                          simple_error("Internal", NULL, "cannot parse the zone file"));
        else if (it->import->n > 0)
                check_import(it);
        /* The item waits for its proposal with only its actions. */
        node_api_import_drop_zone(it->import);
        (void)b;
}

static void parse_delete(struct bulk_item *it, json_t *obj)
{
        char field[48], err[256];
        json_t *name = json_is_string(obj) ? obj : json_object_get(obj, "name");
        json_t *force = json_is_object(obj) ? json_object_get(obj, "force") : NULL;
        snprintf(field, sizeof(field), "delete[%zu]%s", it->index,
                 json_is_string(obj) ? "" : ".name");
        if (!json_is_string(name)) {
                item_fail(
                    it, 400,
                    simple_error("InvalidInput", field, "must be a domain name string"));
                return;
        }
        snprintf(it->name, sizeof(it->name), "%s", json_string_value(name));
        if (dns_name_parse_text(json_string_value(name), it->origin, err, sizeof(err)) !=
            0) {
                item_fail(it, 400, simple_error("InvalidInput", field, err));
                return;
        }
        if (force != NULL && !json_is_boolean(force)) {
                snprintf(field, sizeof(field), "delete[%zu].force", it->index);
                item_fail(it, 400,
                          simple_error("InvalidInput", field, "must be a boolean"));
                return;
        }
        it->force = force != NULL && json_is_true(force);
        it->origin_len = (size_t)dns_name_wire_len(it->origin, 256);
        dns_name_to_text(it->origin, it->name, sizeof(it->name));
}

/* Against the state and the other items. */
static void check_names(struct bulk *b)
{
        const struct cs_state *st = &b->api->cluster->state;
        struct pmap_flat seen;
        pmap_flat_init(&seen);
        if (pmap_flat_reserve(&seen, b->n) != 0) {
                pmap_flat_fini(&seen);
                for (size_t i = 0; i < b->n; i++)
                        if (b->items[i].error == NULL)
                                item_fail(
                                    &b->items[i], 500,
                                    simple_error("Internal", NULL, "out of memory"));
                return;
        }
        for (size_t i = 0; i < b->n; i++) {
                struct bulk_item *it = &b->items[i];
                if (it->error != NULL)
                        continue;
                struct seen_key k = {it->origin, it->origin_len};
                uint64_t h = hash_bytes(it->origin, it->origin_len, 0);
                if (pmap_flat_get(&seen, h, &k, seen_match) != NULL) {
                        char field[48];
                        snprintf(field, sizeof(field), "%s[%zu]%s",
                                 it->kind == ITEM_CREATE ? "create" : "delete", it->index,
                                 it->kind == ITEM_CREATE ? ".name" : "");
                        item_fail(
                            it, 400,
                            simple_error("InvalidInput", field,
                                         "this zone appears earlier in the request"));
                        continue;
                }
                pmap_flat_put(&seen, h, &k, it, seen_match);
                char rid[CS_REQUEST_ID_MAXLEN + 1];
                item_request_id(it, rid, sizeof(rid));
                if (cs_state_change_by_request(st, rid) != NULL)
                        continue; /* a retry: the state machine answers the first */
                bool exists = cs_state_zone_get(st, it->origin, it->origin_len) != NULL;
                if (it->kind == ITEM_CREATE && exists) {
                        char msg[1200];
                        snprintf(msg, sizeof(msg), "zone %s already exists", it->name);
                        item_fail(it, 409,
                                  simple_error("ZoneAlreadyExists", "name", msg));
                } else if (it->kind == ITEM_DELETE && !exists) {
                        char msg[1200];
                        snprintf(msg, sizeof(msg), "no zone %s", it->name);
                        item_fail(it, 404, simple_error("NoSuchZone", "name", msg));
                }
        }
        pmap_flat_fini(&seen);
}

/* Answers a request that proposed nothing and frees it (before
 * items_parsed sets up b->timer). */
static void bulk_refuse(struct bulk *b, int http, const char *code, const char *field,
                        const char *message)
{
        node_http_reply_error(b->r, http, code, field, "%s", message);
        node_http_release(b->r);
        bulk_free(b);
}

static const char stopping[] =
    "this node is stopping; no zone was created or deleted: retry on another node";

/* The parse reads only the request's body; a node that is stopping
 * answers at once. */
static int parse_start(struct node_offload_job *job)
{
        struct bulk *b = (struct bulk *)job;
        if (b->api->cluster->running)
                return 0;
        bulk_refuse(b, 503, "NoQuorum", NULL, stopping);
        return -1;
}

static void refuse_parse(struct bulk *b, int http, const char *code, const char *field,
                         const char *message)
{
        b->refused = http;
        b->refused_code = code;
        b->refused_field = field;
        snprintf(b->refused_message, sizeof(b->refused_message), "%s", message);
}

/* The request id (a hash of the body, with a key) and the body's JSON, its
 * items made: 0, or -1 with the request refused. */
static int parse_body(struct bulk *b)
{
        char err[320];
        if (node_api_request_id_of(b->key, b->r->method, b->r->target, b->text,
                                   b->text_len, b->base, sizeof(b->base)) != 0) {
                refuse_parse(b, 500, "Internal", NULL, "cannot hash the request");
                return -1;
        }
        b->body = node_http_json_object(b->text, b->text_len, err, sizeof(err));
        free(b->text);
        b->text = NULL;
        if (b->body == NULL) {
                refuse_parse(b, 400, "InvalidInput", NULL, err);
                return -1;
        }
        json_t *create = json_object_get(b->body, "create");
        json_t *del = json_object_get(b->body, "delete");
        size_t nc = json_array_size(create), nd = json_array_size(del);
        if ((create != NULL && !json_is_array(create)) ||
            (del != NULL && !json_is_array(del)) || nc + nd == 0 || nc + nd > BULK_MAX) {
                snprintf(err, sizeof(err),
                         "create and delete must be arrays holding 1..%d zones together",
                         BULK_MAX);
                refuse_parse(b, 400, "InvalidInput", create ? "create" : "delete", err);
                return -1;
        }
        b->items = calloc(nc + nd, sizeof(*b->items));
        if (b->items == NULL) {
                refuse_parse(b, 500, "Internal", NULL, "out of memory");
                return -1;
        }
        b->n = nc + nd;
        for (size_t i = 0; i < b->n; i++) {
                struct bulk_item *it = &b->items[i];
                it->bulk = b;
                it->kind = i < nc ? ITEM_CREATE : ITEM_DELETE;
                it->index = i < nc ? i : i - nc;
                it->http = it->kind == ITEM_CREATE ? 201 : 200;
                snprintf(it->request_id, sizeof(it->request_id), "%s", b->base);
        }
        return 0;
}

/* On libuv's pool: the body (hashed and parsed: 64 MiB held a loop for
 * a good part of a second), every item's fields and master file, each
 * file's records against a scratch state (check_import); nothing of the
 * node's but the held request's method and target. */
static void parse_items(struct node_offload_job *job)
{
        struct bulk *b = (struct bulk *)job;
        if (parse_body(b) != 0) {
                json_decref(b->body); /* here, not on the loop */
                b->body = NULL;
                return;
        }
        json_t *create = json_object_get(b->body, "create");
        json_t *del = json_object_get(b->body, "delete");
        for (size_t i = 0; i < b->n; i++) {
                struct bulk_item *it = &b->items[i];
                if (it->kind == ITEM_CREATE)
                        parse_create(b, it, json_array_get(create, it->index));
                else
                        parse_delete(it, json_array_get(del, it->index));
        }
        json_decref(b->body);
        b->body = NULL;
}

/* Back on the loop: the names against each other and the zones there are,
 * then the proposals. */
static void items_parsed(struct node_offload_job *job, int status)
{
        struct bulk *b = (struct bulk *)job;
        if (status != 0) {
                bulk_refuse(b, 500, "Internal", NULL,
                            "cannot parse the request; nothing was created or deleted");
        } else if (b->refused != 0) {
                bulk_refuse(b, b->refused, b->refused_code, b->refused_field,
                            b->refused_message);
        } else if (!b->api->cluster->running) {
                bulk_refuse(b, 503, "NoQuorum", NULL, stopping);
        } else if (!node_cluster_is_leader(b->api->cluster)) {
                /* The parse waited behind other long work; the body is gone. */
                bulk_refuse(b, 503, "NoQuorum", NULL,
                            "leadership changed while the request was parsed; no zone "
                            "was created or deleted: retry");
        } else {
                uv_timer_init(b->api->loop, &b->timer);
                b->timer.data = b;
                check_names(b);
                pump(b);
        }
}

void node_api_zones_bulk(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        if (node_api_forward_if_follower(api, r) || node_api_request_key_check(r) != 0)
                return;
        const char *key = node_http_header(r, "idempotency-key");
        struct bulk *b = calloc(1, sizeof(*b));
        if (b != NULL) {
                b->text_len = r->body_len;
                b->text = malloc(r->body_len ? r->body_len : 1);
                b->key = key ? strdup(key) : NULL;
        }
        if (b == NULL || b->text == NULL || (key != NULL && b->key == NULL)) {
                if (b != NULL)
                        bulk_free(b);
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        if (r->body_len > 0)
                memcpy(b->text, r->body, r->body_len);
        b->r = r;
        b->api = api;
        node_http_hold(r);
        b->job.start = parse_start;
        b->job.work_cb = parse_items;
        b->job.done = items_parsed;
        node_api_offload(api, &b->job);
}
