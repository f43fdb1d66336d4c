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
#include "node/api_json.h"
#include "node/api_routing.h"

struct batch_wait {
        struct node_http_request *r;
        struct node_api *api;
        size_t records;
};

static void on_batch_applied(void *ctx, int status, const struct cs_result *res)
{
        struct batch_wait *w = ctx;
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

/* The answer to a retried request: the change the first attempt made. */
static bool answer_duplicate(struct node_api *api, struct node_http_request *r,
                             const char *request_id)
{
        const struct cs_change *dup =
            cs_state_change_by_request(&api->cluster->state, request_id);
        if (dup == NULL)
                return false;
        node_http_reply_json(
            r, 200, json_pack("{s:o}", "change", node_api_change_json(api, dup)));
        return true;
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
                node_api_reply_result(r, 0, &check);
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
        node_http_hold(r);
        node_cluster_propose(api->cluster, &cmd, on_batch_applied, w);
}

static const char *const action_names[] = {"", "CREATE", "DELETE", "UPSERT"};

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
        json_t *changes = json_object_get(body, "changes");
        json_t *comment = json_object_get(body, "comment");
        if (comment != NULL &&
            (!json_is_string(comment) || json_string_length(comment) > CS_COMMENT_MAXLEN))
                api_errors_add(&errs, -1, "comment",
                               "must be a string of at most %d bytes", CS_COMMENT_MAXLEN);
        size_t n = json_is_array(changes) ? json_array_size(changes) : 0;
        if (n == 0)
                api_errors_add(&errs, -1, "changes", "must be a non-empty array");
        struct api_rrset *sets = calloc(n ? n : 1, sizeof(*sets));
        struct cs_action *actions = calloc(n ? n : 1, sizeof(*actions));
        size_t values = 0;
        for (size_t i = 0; i < n; i++) {
                json_t *item = json_array_get(changes, i);
                char field[64];
                snprintf(field, sizeof(field), "changes[%zu]", i);
                json_t *action = json_object_get(item, "action");
                const char *a = json_is_string(action) ? json_string_value(action) : "";
                for (int k = 1; k <= 3; k++)
                        if (strcmp(a, action_names[k]) == 0)
                                actions[i].kind = (enum cs_action_kind)k;
                if (actions[i].kind == 0) {
                        char f[80];
                        snprintf(f, sizeof(f), "%s.action", field);
                        api_errors_add(&errs, (long)i, f,
                                       "must be \"CREATE\", \"DELETE\" or \"UPSERT\"");
                }
                snprintf(field, sizeof(field), "changes[%zu].rrset", i);
                if (api_rrset_parse(json_object_get(item, "rrset"), origin, field,
                                    (long)i, 1, &sets[i], &errs) == 0 &&
                    actions[i].kind != CS_ACTION_DELETE)
                        api_rrset_check_write(&sets[i], field, (long)i, &errs);
                actions[i].rrset = api_rrset_spec(&sets[i]);
                values += sets[i].count;
        }
        char comment_text[CS_COMMENT_MAXLEN + 1] = "";
        if (json_is_string(comment))
                snprintf(comment_text, sizeof(comment_text), "%s",
                         json_string_value(comment));
        if (api_errors_count(&errs) > 0) {
                json_t *err =
                    json_pack("{s:s, s:s, s:O}", "code", "InvalidChangeBatch", "message",
                              "the change batch has problems", "errors", errs.list);
                node_http_reply_json(r, 400, json_pack("{s:o}", "error", err));
        } else if (!node_api_forward_if_follower(api, r)) {
                char request_id[CS_REQUEST_ID_MAXLEN + 1];
                node_api_request_id(r, request_id, sizeof(request_id));
                size_t origin_len = (size_t)dns_name_wire_len(origin, 256);
                if (!answer_duplicate(api, r, request_id)) {
                        if (cs_state_zone_get(&api->cluster->state, origin, origin_len) ==
                            NULL) {
                                node_http_reply_error(r, 404, "NoSuchZone", "zone",
                                                      "no zone %s", r->param[0]);
                        } else {
                                struct cs_batch batch = {origin, origin_len, comment_text,
                                                         actions, n};
                                propose_batch(api, r, &batch, request_id, 0);
                        }
                }
        }
        (void)values;
        for (size_t i = 0; i < n; i++)
                api_rrset_free(&sets[i]);
        free(sets);
        free(actions);
        json_decref(errs.list);
        json_decref(body);
}

void node_api_change_get(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
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

/* ---- import -------------------------------------------------------------------------
 */

struct import {
        struct cs_action *actions;
        size_t n, cap;
        struct cs_rdata *values; /* all values, pointing into the parsed zone */
        size_t nvalues, capvalues;
        size_t records;
        json_t *errors;
};

static void import_report(void *ctx, const char *file, unsigned line, const char *message)
{
        struct import *im = ctx;
        char field[32];
        snprintf(field, sizeof(field), "line %u", line);
        if (json_array_size(im->errors) < 100)
                json_array_append_new(im->errors,
                                      json_pack("{s:s, s:s, s:i}", "field", field,
                                                "message", message, "line", line));
}

struct import_walk {
        struct import *im;
        struct cs_rdata **chunks; /* value arrays and owner copies, freed at the end */
        size_t nchunks, capchunks;
};

static int import_owner(const uint8_t *owner, const struct dns_rrsets *sets, void *arg)
{
        struct import_walk *iw = arg;
        struct import *im = iw->im;
        /* The walker reuses its name buffer: keep a copy for the batch. */
        size_t owner_len = (size_t)dns_name_wire_len(owner, 256);
        uint8_t *copy = malloc(owner_len);
        if (copy == NULL)
                return -ENOMEM;
        memcpy(copy, owner, owner_len);
        if (iw->nchunks == iw->capchunks) {
                iw->capchunks = iw->capchunks ? iw->capchunks * 2 : 256;
                iw->chunks = realloc(iw->chunks, iw->capchunks * sizeof(*iw->chunks));
        }
        iw->chunks[iw->nchunks++] = (struct cs_rdata *)copy;
        owner = copy;
        for (unsigned s = 0; s < sets->count; s++) {
                const struct dns_rrset_info *info = &sets->set[s];
                struct cs_rdata *values = calloc(info->count, sizeof(*values));
                if (values == NULL)
                        return -ENOMEM;
                size_t k = 0;
                for (const uint8_t *rr = dns_rrset_next(sets, info, NULL); rr != NULL;
                     rr = dns_rrset_next(sets, info, rr))
                        values[k++] =
                            (struct cs_rdata){dns_rr_rdata(rr), dns_rr_rdlen(rr)};
                if (iw->nchunks == iw->capchunks) {
                        iw->capchunks = iw->capchunks ? iw->capchunks * 2 : 256;
                        iw->chunks =
                            realloc(iw->chunks, iw->capchunks * sizeof(*iw->chunks));
                }
                iw->chunks[iw->nchunks++] = values;
                if (im->n == im->cap) {
                        im->cap = im->cap ? im->cap * 2 : 256;
                        im->actions =
                            realloc(im->actions, im->cap * sizeof(*im->actions));
                }
                im->actions[im->n++] =
                    (struct cs_action){CS_ACTION_UPSERT,
                                       {owner,
                                        (size_t)dns_name_wire_len(owner, 256),
                                        info->type,
                                        "",
                                        info->ttl,
                                        values,
                                        info->count,
                                        {0}}};
                im->records += info->count;
        }
        return 0;
}

struct stale {
        struct import *im;
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
        struct import *im = st->im;
        if (im->n == im->cap) {
                im->cap = im->cap ? im->cap * 2 : 256;
                im->actions = realloc(im->actions, im->cap * sizeof(*im->actions));
        }
        im->actions[im->n++] = (struct cs_action){CS_ACTION_DELETE,
                                                  {rrset->owner,
                                                   rrset->owner_len,
                                                   rrset->type,
                                                   "",
                                                   rrset->ttl,
                                                   rrset->values,
                                                   rrset->count,
                                                   {0}}};
        return 0;
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
        node_api_request_id(r, request_id, sizeof(request_id));
        if (answer_duplicate(api, r, request_id))
                return;
        if (cs_state_zone_get(&api->cluster->state, origin, origin_len) == NULL) {
                node_http_reply_error(r, 404, "NoSuchZone", "zone",
                                      "no zone %s: create it first", r->param[0]);
                return;
        }
        /* Parse with the zone-file loader into a private db. */
        char path[] = "/tmp/quorumdns-import-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0 || write(fd, r->body, r->body_len) != (ssize_t)r->body_len) {
                if (fd >= 0) {
                        close(fd);
                        unlink(path);
                }
                node_http_reply_error(r, 500, "Internal", NULL,
                                      "cannot stage the import");
                return;
        }
        close(fd);
        struct dns_db db;
        struct dns_txn txn;
        struct import im = {.errors = json_array()};
        struct import_walk iw = {.im = &im};
        struct api_rrset *routed = NULL;
        size_t n_routed = 0;
        dns_db_init(&db);
        dns_txn_begin(&db, &txn);
        dns_txn_zone_create(&txn, origin, true);
        struct dns_zonefile_stats stats;
        dns_zonefile_load_part(&txn, path, origin, import_report, &im, &stats);
        unlink(path);
        if (api_routed_parse(r->body, r->body_len, origin, &routed, NULL, &n_routed,
                             im.errors) != 0)
                import_report(&im, path, 0, "out of memory reading routed record sets");
        if (json_array_size(im.errors) > 0) {
                node_api_reply_errors(r, im.errors);
        } else {
                const struct dns_zone *zone = dns_txn_zone(&txn, origin);
                if (zone != NULL)
                        dns_zone_walk(zone, import_owner, &iw);
                const char *replace = node_http_query(r, "replace");
                if (zone != NULL && replace != NULL &&
                    (strcmp(replace, "true") == 0 || strcmp(replace, "1") == 0)) {
                        struct stale stale = {&im, zone, origin};
                        cs_zone_foreach_rrset(
                            cs_state_zone_get(&api->cluster->state, origin, origin_len),
                            delete_stale, &stale);
                }
                for (size_t i = 0; i < n_routed; i++) {
                        if (im.n == im.cap) {
                                im.cap = im.cap ? im.cap * 2 : 256;
                                im.actions =
                                    realloc(im.actions, im.cap * sizeof(*im.actions));
                        }
                        im.actions[im.n++] = (struct cs_action){
                            CS_ACTION_UPSERT, api_rrset_spec(&routed[i])};
                        im.records += routed[i].count;
                }
                if (im.n == 0) {
                        node_http_reply_error(r, 400, "InvalidInput", "body",
                                              "no records in the body");
                } else {
                        struct cs_batch batch = {origin, origin_len, "import", im.actions,
                                                 im.n};
                        propose_batch(api, r, &batch, request_id, im.records);
                }
        }
        for (size_t i = 0; i < n_routed; i++)
                api_rrset_free(&routed[i]);
        free(routed);
        for (size_t i = 0; i < iw.nchunks; i++)
                free(iw.chunks[i]);
        free(iw.chunks);
        free(im.actions);
        json_decref(im.errors);
        dns_txn_abort(&txn);
        dns_db_fini(&db);
}
