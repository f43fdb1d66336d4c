/*
 * api_changes.c — change batches, change status, and zone import (which is
 * a change batch built from a master file).
 *
 * A batch is checked three times: here for syntax (every problem of every
 * action listed), on the leader against the current state before it is
 * proposed (so doomed batches never reach the log), and by the state
 * machine on every node when it applies (batches that raced can conflict).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/db.h"
#include "dns/name.h"
#include "dns/rrset.h"
#include "dns/text.h"
#include "dns/wire.h"
#include "dns/zonefile.h"
#include "node/api.h"
#include "node/api_body.h"
#include "node/api_json.h"
#include "node/api_routing.h"
#include "node/offload.h"

struct batch_wait {
        struct node_http_request *r;
        struct node_api *api;
        size_t records;
        uint64_t proposed_ns; /* for /metrics */
};

static void on_batch_applied(void *ctx, int status, const struct cs_result *res)
{
        struct batch_wait *w = ctx;
        node_api_metrics_batch(w->api, status, res);
        if (status == 0)
                node_api_metrics_commit(w->api, uv_hrtime() - w->proposed_ns);
        if (status != 0 || res == NULL || res->status != 0) {
                node_api_reply_result(w->r, status, res);
        } else {
                const struct cs_change *change =
                    cs_state_change_get(&w->api->cluster->state, res->change_id);
                json_t *out = json_object();
                if (change != NULL)
                        json_object_set_new(out, "change",
                                            node_api_change_json(w->api, change));
                if (w->records)
                        json_object_set_new(out, "records",
                                            json_integer((json_int_t)w->records));
                node_http_reply_json(w->r, 200, out);
        }
        node_http_release(w->r);
        free(w);
}

/* Checks against the state, then proposes; the batch is encoded before return. */
static void propose_batch(struct node_api *api, struct node_http_request *r,
                          const struct cs_batch *batch, const char *request_id,
                          size_t records)
{
        struct cs_result check;
        cs_result_init(&check);
        cs_state_batch_check(&api->cluster->state, batch, &check);
        if (check.status != 0) {
                node_api_metrics_batch(api, 0, &check);
                node_api_reply_batch_result(r, 0, &check, api, batch);
                cs_result_fini(&check);
                return;
        }
        cs_result_fini(&check);
        struct cs_command cmd = {.type = CS_CMD_CHANGE_BATCH, .request_id = request_id};
        cmd.u.batch = *batch;
        struct batch_wait *w = calloc(1, sizeof(*w));
        if (w == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        w->r = r;
        w->api = api;
        w->records = records;
        w->proposed_ns = uv_hrtime();
        node_http_hold(r);
        node_cluster_propose_served(api->cluster, &cmd, on_batch_applied, w);
}

void node_api_changes_post(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[256];
        if (node_api_zone_param(r, origin) != 0)
                return;
        json_t *body = node_http_body_json(r);
        if (body == NULL)
                return;
        struct api_errors errs;
        api_errors_init(&errs);
        struct api_batch parsed;
        if (api_batch_parse(body, origin, &parsed, &errs) != 0) {
                json_t *err =
                    json_pack("{s:s, s:s, s:O}", "code", "InvalidChangeBatch", "message",
                              "the change batch has problems", "errors", errs.list);
                node_http_reply_json(r, 400, json_pack("{s:o}", "error", err));
        } else if (!node_api_forward_if_follower(api, r)) {
                char request_id[CS_REQUEST_ID_MAXLEN + 1];
                size_t origin_len = (size_t)dns_name_wire_len(origin, 256);
                if (node_api_request_id(r, request_id, sizeof(request_id)) == 0 &&
                    !node_api_answer_duplicate(api, r, request_id, false)) {
                        if (cs_state_zone_get(&api->cluster->state, origin, origin_len) ==
                            NULL) {
                                node_http_reply_error(r, 404, "NoSuchZone", "zone",
                                                      "no zone %s", r->param[0]);
                        } else {
                                struct cs_batch batch = {origin, origin_len,
                                                         parsed.comment, parsed.actions,
                                                         parsed.n};
                                propose_batch(api, r, &batch, request_id, 0);
                        }
                }
        }
        api_batch_free(&parsed);
        json_decref(errs.list);
        json_decref(body);
}

/* A change this node has not applied yet (its index is above the applied
 * one): asked right after a write to another node, it is usually applied
 * within a heartbeat, so the answer waits for it (at most CHANGE_WAIT_MS).
 * Its status says whether every node's DNS serves it. */
#define CHANGE_WAIT_MS 1000

struct change_wait {
        struct node_http_request *r;
        struct node_api *api;
};

static void change_reply(struct node_api *api, struct node_http_request *r)
{
        const struct cs_change *change =
            cs_state_change_get(&api->cluster->state, r->param[0]);
        if (change == NULL) {
                node_http_reply_error(r, 404, "NoSuchChange", "id",
                                      "no change %s (change "
                                      "records are kept for the last 100,000 changes)",
                                      r->param[0]);
                return;
        }
        node_http_reply_json(r, 200, node_api_change_json(api, change));
}

/* Applied, or CHANGE_WAIT_MS passed (the reply says what is known), or the
 * node is stopping: the client asks another node (this one has not applied
 * the change, and an unanswered request would hold the stop). */
static void on_change_applied(void *ctx, int status)
{
        struct change_wait *w = ctx;
        if (status != -ECANCELED)
                change_reply(w->api, w->r);
        else
                node_http_reply_error(w->r, 503, "NoQuorum", NULL,
                                      "this node is stopping: ask another node");
        node_http_release(w->r);
        free(w);
}

/* The raft index in a change id ("C" and 16 hex digits), or 0. */
static uint64_t change_id_index(const char *id)
{
        if (id[0] != 'C' || strlen(id) != 17 ||
            strspn(id + 1, "0123456789abcdefABCDEF") != 16)
                return 0;
        return strtoull(id + 1, NULL, 16);
}

void node_api_change_get(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint64_t index = change_id_index(r->param[0]);
        struct change_wait *w = NULL;
        if (cs_state_change_get(&api->cluster->state, r->param[0]) != NULL ||
            index <= node_cluster_applied(api->cluster) ||
            (w = calloc(1, sizeof(*w))) == NULL) {
                change_reply(api, r);
                return;
        }
        w->r = r;
        w->api = api;
        node_http_hold(r);
        if (node_cluster_wait_applied(api->cluster, index, CHANGE_WAIT_MS,
                                      on_change_applied, w) == NULL) {
                change_reply(api, r);
                node_http_release(r);
                free(w);
        }
}

/* ---- import -------------------------------------------------------------------------
 */

static void import_report(void *ctx, const char *file, unsigned line, const char *message)
{
        struct node_api_import *im = ctx;
        char field[160];
        snprintf(field, sizeof(field), "%sline %u", im->field_prefix, line);
        if (json_array_size(im->errors) < 100)
                json_array_append_new(im->errors,
                                      json_pack("{s:s, s:s, s:i}", "field", field,
                                                "message", message, "line", line));
}

static int keep_chunk(struct node_api_import *im, void *chunk)
{
        if (im->nchunks == im->capchunks) {
                size_t cap = im->capchunks ? im->capchunks * 2 : 8;
                void **grown = realloc(im->chunks, cap * sizeof(*grown));
                if (grown == NULL)
                        return -ENOMEM;
                im->chunks = grown;
                im->capchunks = cap;
        }
        im->chunks[im->nchunks++] = chunk;
        return 0;
}

static int add_action(struct node_api_import *im, struct cs_action action)
{
        if (im->n == im->cap) {
                /* Small first: a bulk request holds 1,000 imports of a
                 * few records each until they are proposed. */
                size_t cap = im->cap ? im->cap * 2 : 8;
                struct cs_action *grown = realloc(im->actions, cap * sizeof(*grown));
                if (grown == NULL)
                        return -ENOMEM;
                im->actions = grown;
                im->cap = cap;
        }
        im->actions[im->n++] = action;
        return 0;
}

static int import_owner(const uint8_t *owner, const struct dns_rrsets *sets, void *arg)
{
        struct node_api_import *im = arg;
        /* The walker reuses its name buffer: keep a copy for the batch. */
        size_t owner_len = (size_t)dns_name_wire_len(owner, 256);
        uint8_t *copy = malloc(owner_len);
        if (copy == NULL || keep_chunk(im, copy) != 0) {
                free(copy);
                return -ENOMEM;
        }
        memcpy(copy, owner, owner_len);
        owner = copy;
        for (unsigned s = 0; s < sets->count; s++) {
                const struct dns_rrset_info *info = &sets->set[s];
                /* The values and a copy of their data in one chunk: the
                 * batch does not need the parsed zone, which a bulk request
                 * frees (node_api_import_drop_zone). */
                size_t bytes = info->count * sizeof(struct cs_rdata);
                for (const uint8_t *rr = dns_rrset_next(sets, info, NULL); rr != NULL;
                     rr = dns_rrset_next(sets, info, rr))
                        bytes += dns_rr_rdlen(rr);
                struct cs_rdata *values = malloc(bytes ? bytes : 1);
                if (values == NULL || keep_chunk(im, values) != 0) {
                        free(values);
                        return -ENOMEM;
                }
                uint8_t *data = (uint8_t *)(values + info->count);
                size_t k = 0;
                for (const uint8_t *rr = dns_rrset_next(sets, info, NULL); rr != NULL;
                     rr = dns_rrset_next(sets, info, rr)) {
                        uint16_t len = dns_rr_rdlen(rr);
                        memcpy(data, dns_rr_rdata(rr), len);
                        values[k++] = (struct cs_rdata){data, len};
                        data += len;
                }
                if (add_action(im, (struct cs_action){CS_ACTION_UPSERT,
                                                      {owner,
                                                       owner_len,
                                                       info->type,
                                                       "",
                                                       info->ttl,
                                                       values,
                                                       info->count,
                                                       {0}}}))
                        return -ENOMEM;
                im->records += info->count;
        }
        return 0;
}

int node_api_import_parse(struct node_api_import *im, const uint8_t *origin,
                          const void *text, size_t len, const char *field_prefix)
{
        memset(im, 0, sizeof(*im));
        im->errors = json_array();
        im->field_prefix = field_prefix;
        dns_db_init(&im->db);
        dns_txn_begin(&im->db, &im->txn);
        /* Parse with the zone-file loader into a private db. */
        dns_txn_zone_create(&im->txn, origin, true);
        struct dns_zonefile_stats stats;
        if (node_api_load_text(&im->txn, origin, text, len, import_report, im, &stats) ==
            -EIO)
                return -EIO;
        /* The ;quorumdns-rrset lines (routed sets), their errors named
         * like the file's. */
        json_t *routed_errors = json_array();
        if (routed_errors == NULL ||
            api_routed_parse(text, len, origin, &im->routed, NULL, &im->n_routed,
                             routed_errors) != 0) {
                json_decref(routed_errors);
                return -ENOMEM;
        }
        size_t i;
        json_t *e;
        json_array_foreach(routed_errors, i, e)
        {
                json_t *line = json_object_get(e, "line");
                import_report(im, NULL, (unsigned)json_integer_value(line),
                              json_string_value(json_object_get(e, "message")));
        }
        json_decref(routed_errors);
        if (json_array_size(im->errors) > 0)
                return -EINVAL;
        im->zone = dns_txn_zone(&im->txn, origin);
        if (im->zone != NULL && dns_zone_walk(im->zone, import_owner, im) != 0)
                return -ENOMEM;
        return 0;
}

int node_api_import_add_routed(struct node_api_import *im)
{
        for (size_t i = 0; i < im->n_routed; i++) {
                if (add_action(im, (struct cs_action){CS_ACTION_UPSERT,
                                                      api_rrset_spec(&im->routed[i])}))
                        return -ENOMEM;
                im->records += im->routed[i].count;
        }
        return 0;
}

void node_api_import_drop_zone(struct node_api_import *im)
{
        if (im->zone_dropped)
                return;
        dns_txn_abort(&im->txn);
        dns_db_fini(&im->db);
        im->zone = NULL;
        im->zone_dropped = true;
}

void node_api_import_free(struct node_api_import *im)
{
        for (size_t i = 0; i < im->n_routed; i++)
                api_rrset_free(&im->routed[i]);
        free(im->routed);
        for (size_t i = 0; i < im->nchunks; i++)
                free(im->chunks[i]);
        free(im->chunks);
        free(im->actions);
        json_decref(im->errors);
        node_api_import_drop_zone(im);
        memset(im, 0, sizeof(*im));
}

struct stale {
        struct node_api_import *im;
        const struct dns_zone *file; /* what the imported text holds */
        const uint8_t *origin;
};

/*
 * replace=true: every plain record set the file does not hold is deleted
 * (the apex SOA and NS stay; routing-policy sets, which master files cannot
 * express, stay too).
 */
static int delete_stale(const struct cs_rrset *rrset, void *arg)
{
        struct stale *st = arg;
        if (api_rrset_is_routed(rrset))
                return 0;
        bool apex = dns_name_equal(rrset->owner, st->origin);
        if (apex && (rrset->type == DNS_TYPE_SOA || rrset->type == DNS_TYPE_NS))
                return 0;
        struct dns_lname name;
        if (dns_lname_from_wire(&name, rrset->owner, DNS_NAME_MAXLEN + 1) < 0)
                return 0;
        const struct dns_node *node = dns_zone_find(st->file, &name);
        if (node != NULL && dns_rrsets_get(node->rrsets, rrset->type, 0) != NULL)
                return 0;
        return add_action(st->im, (struct cs_action){CS_ACTION_DELETE,
                                                     {rrset->owner,
                                                      rrset->owner_len,
                                                      rrset->type,
                                                      "",
                                                      rrset->ttl,
                                                      rrset->values,
                                                      rrset->count,
                                                      {0}}});
}

/*
 * A single-shot import: the master file (and its ;quorumdns-rrset lines) is
 * parsed into a private db and turned into UPSERT actions on libuv's pool
 * (node/offload.h), which used to hold the leader's loop over a second for
 * 300,000 records; the actions against the zone (replace=true), the check
 * and the proposal follow on the loop.
 */
struct import_job {
        struct node_offload_job job; /* first: the job is the import */
        struct node_api *api;
        struct node_http_request *r;
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        size_t origin_len;
        char request_id[CS_REQUEST_ID_MAXLEN + 1];
        bool replace;
        char *body;
        size_t body_len;
        struct node_api_import im; /* filled on the pool */
        int rc;
};

static int import_start(struct node_offload_job *job)
{
        return 0; /* the parse reads only the job */
}

static void import_parse(struct node_offload_job *job)
{
        struct import_job *j = (struct import_job *)job;
        j->rc = node_api_import_parse(&j->im, j->origin, j->body, j->body_len, "");
        free(j->body);
        j->body = NULL;
        /* Only a replace compares the zone with the file (import_parsed). */
        if (!j->replace)
                node_api_import_drop_zone(&j->im);
}

static void import_job_free(struct import_job *j)
{
        node_api_import_free(&j->im);
        free(j->body);
        node_http_release(j->r);
        free(j);
}

/* After a staged import: the parsed file (300,000 records took the loop
 * tens of ms to free) is freed on the pool, the rest back on the loop. */
static int import_free_start(struct node_offload_job *job)
{
        return 0;
}

static void import_free_work(struct node_offload_job *job)
{
        node_api_import_free(&((struct import_job *)job)->im);
}

static void import_free_done(struct node_offload_job *job, int status)
{
        struct import_job *j = (struct import_job *)job;
        if (status != 0)
                node_api_import_free(&j->im);
        free(j->body);
        node_http_release(j->r);
        free(j);
}

static void import_job_release(void *owner)
{
        struct import_job *j = owner;
        if (!j->api->cluster->running) {
                import_job_free(j);
                return;
        }
        j->job.start = import_free_start;
        j->job.work_cb = import_free_work;
        j->job.done = import_free_done;
        node_api_offload(j->api, &j->job);
}

/* Back on the loop: the zone as it is now, then the proposal (a large one
 * staged: node/stage.c). */
static void import_parsed(struct node_offload_job *job, int status)
{
        struct import_job *j = (struct import_job *)job;
        struct node_http_request *r = j->r;
        struct node_api *api = j->api;
        const struct cs_zone *current =
            api->cluster->running
                ? cs_state_zone_get(&api->cluster->state, j->origin, j->origin_len)
                : NULL;
        if (status != 0 || j->rc == -EIO) {
                node_http_reply_error(r, 500, "Internal", NULL,
                                      "this node could not read the import");
        } else if (j->rc == -EINVAL) {
                node_api_reply_errors(r, j->im.errors);
        } else if (j->rc != 0) {
                node_http_reply_error(r, 500, "Internal", NULL,
                                      "out of memory parsing the import");
        } else if (!api->cluster->running) {
                node_http_reply_error(r, 503, "NoQuorum", NULL,
                                      "this node is stopping; nothing was imported: "
                                      "retry on another node");
        } else if (current == NULL) {
                node_http_reply_error(r, 404, "NoSuchZone", "zone",
                                      "the zone was deleted during the import");
        } else {
                if (j->im.zone != NULL && j->replace) {
                        struct stale stale = {&j->im, j->im.zone, j->origin};
                        cs_zone_foreach_rrset(current, delete_stale, &stale);
                }
                if (node_api_import_add_routed(&j->im) != 0) {
                        node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                } else if (j->im.n == 0) {
                        node_http_reply_error(r, 400, "InvalidInput", "body",
                                              "no records in the body");
                } else if (j->im.n >= NODE_STAGE_MIN_ACTIONS) {
                        /* Several bounded entries, switched in at once. */
                        struct cs_batch batch = {j->origin, j->origin_len, "import",
                                                 j->im.actions, j->im.n};
                        node_api_stage_import(api, r, &batch, j->request_id,
                                              j->im.records, import_job_release, j);
                        return; /* j goes with the driver */
                } else {
                        struct cs_batch batch = {j->origin, j->origin_len, "import",
                                                 j->im.actions, j->im.n};
                        propose_batch(api, r, &batch, j->request_id, j->im.records);
                }
        }
        import_job_free(j);
}

void node_api_zone_import(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[256];
        if (node_api_zone_param(r, origin) != 0)
                return;
        size_t origin_len = (size_t)dns_name_wire_len(origin, 256);
        if (r->body_len == 0) {
                node_http_reply_error(r, 400, "InvalidInput", "body",
                                      "the body must be master-file text (text/dns)");
                return;
        }
        if (node_api_forward_if_follower(api, r))
                return;
        char request_id[CS_REQUEST_ID_MAXLEN + 1];
        if (node_api_request_id(r, request_id, sizeof(request_id)) != 0 ||
            node_api_answer_duplicate(api, r, request_id, false))
                return;
        if (cs_state_zone_get(&api->cluster->state, origin, origin_len) == NULL) {
                node_http_reply_error(r, 404, "NoSuchZone", "zone",
                                      "no zone %s: create it first", r->param[0]);
                return;
        }
        struct import_job *j = calloc(1, sizeof(*j));
        char *body = malloc(r->body_len);
        if (j == NULL || body == NULL) {
                free(j);
                free(body);
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        /* The body lives in h2o's memory only until this route returns. */
        memcpy(body, r->body, r->body_len);
        j->body = body;
        j->body_len = r->body_len;
        j->api = api;
        j->r = r;
        memcpy(j->origin, origin, origin_len);
        j->origin_len = origin_len;
        snprintf(j->request_id, sizeof(j->request_id), "%s", request_id);
        const char *replace = node_http_query(r, "replace");
        j->replace = replace != NULL &&
                     (strcmp(replace, "true") == 0 || strcmp(replace, "1") == 0);
        j->job.start = import_start;
        j->job.work_cb = import_parse;
        j->job.done = import_parsed;
        node_http_hold(r);
        node_api_offload(api, &j->job);
}

/* For staged imports (api_imports.c): the same path as a change batch. */
void node_api_propose_batch(struct node_api *api, struct node_http_request *r,
                            const struct cs_batch *batch, const char *request_id,
                            size_t records)
{
        propose_batch(api, r, batch, request_id, records);
}
