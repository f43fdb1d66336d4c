/*
 * api_imports.c — staged zone imports: a master file of any size, uploaded
 * in chunks and committed as one change, or aborted (docs/API.md, "Staged
 * imports").
 *
 * Data flow: POST …/imports makes a staging object (a private dns_db with
 * the zone) on the leader — followers relay every request of an import to
 * the leader, like writes.  Each POST …/imports/ID/chunks parses its body
 * with the zone-file loader into that db; a chunk with errors answers them
 * all (lines of the chunk: the client maps them to the file) and marks the
 * import as failed, so the client can send the rest and learn every error
 * of the file before anything changes.  POST …/imports/ID/commit compares
 * the staged sets with the zone — create, replace, unchanged, and with
 * replace=true delete (plain sets the file lacks, except the apex SOA and
 * NS) — and proposes one change batch of UPSERTs and DELETEs (from
 * NODE_STAGE_MIN_ACTIONS on, a staged import: node/stage.c); with
 * dry_run=true it only answers that plan.  DELETE …/imports/ID discards it.
 *
 * Stagings live in the leader's memory: a leader change loses them (404
 * NoSuchImport: nothing has changed; upload again), and one idle for
 * IMPORT_IDLE_MS is dropped at the next import request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dns/db.h"
#include "dns/name.h"
#include "dns/rrset.h"
#include "dns/text.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "dns/zonefile.h"
#include "node/api.h"
#include "node/api_json.h"
#include "node/api_routing.h"

#define IMPORT_MAX      8
#define IMPORT_IDLE_MS  (10 * 60 * 1000)
#define IMPORT_MAX_LIST 10000 /* sets listed per kind in a plan */

struct node_import {
        char id[24];
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        struct dns_db db;
        struct dns_txn txn;
        unsigned chunks;
        size_t records;
        unsigned failed_chunks;   /* chunks answered with errors */
        struct api_rrset *routed; /* the chunks' ;quorumdns-rrset sets */
        size_t n_routed, cap_routed;
        uint64_t touched_ms;
        unsigned parsing; /* chunk jobs queued or running (node/offload.h) */
        bool dropped;     /* unlinked while parsing: the last job frees it */
        struct node_import *next;
};

/* Frees an unlinked staging, or leaves that to its last chunk job. */
static void staged_free(struct node_import *s)
{
        if (s->parsing > 0) {
                s->dropped = true;
                return;
        }
        for (size_t i = 0; i < s->n_routed; i++)
                api_rrset_free(&s->routed[i]);
        free(s->routed);
        dns_txn_abort(&s->txn);
        dns_db_fini(&s->db);
        free(s);
}

static void expire(struct node_api *api)
{
        uint64_t now = uv_now(api->loop);
        for (struct node_import **p = &api->imports; *p != NULL;) {
                if (now - (*p)->touched_ms > IMPORT_IDLE_MS) {
                        struct node_import *gone = *p;
                        *p = gone->next;
                        staged_free(gone);
                } else {
                        p = &(*p)->next;
                }
        }
}

/* The staging of r's {zone}/imports/{id}, or NULL after answering 404. */
static struct node_import *find(struct node_api *api, struct node_http_request *r,
                                const uint8_t *origin)
{
        expire(api);
        for (struct node_import *s = api->imports; s != NULL; s = s->next)
                if (strcmp(s->id, r->param[1]) == 0 &&
                    dns_name_equal(s->origin, origin)) {
                        s->touched_ms = uv_now(api->loop);
                        return s;
                }
        node_http_reply_error(r, 404, "NoSuchImport", "id",
                              "no import %s for zone %s on the leader (discarded after "
                              "10 minutes idle, a commit or an abort, or lost with a "
                              "leader change): nothing was changed; upload again",
                              r->param[1], r->param[0]);
        return NULL;
}

void node_api_imports_free(struct node_api *api)
{
        while (api->imports != NULL) {
                struct node_import *gone = api->imports;
                api->imports = gone->next;
                staged_free(gone);
        }
}

static void unlink_staged(struct node_api *api, struct node_import *gone)
{
        for (struct node_import **p = &api->imports; *p != NULL; p = &(*p)->next)
                if (*p == gone) {
                        *p = gone->next;
                        staged_free(gone);
                        return;
                }
}

/* Common start of every route: the zone, this node leads (or relays). */
static bool begin(struct node_api *api, struct node_http_request *r, uint8_t *origin)
{
        if (node_api_zone_param(r, origin) != 0)
                return false;
        if (node_api_forward_if_follower(api, r))
                return false;
        if (cs_state_zone_get(&api->cluster->state, origin,
                              (size_t)dns_name_wire_len(origin, 256)) == NULL) {
                node_http_reply_error(r, 404, "NoSuchZone", "zone",
                                      "no zone %s: create it first", r->param[0]);
                return false;
        }
        return true;
}

/* begin(), then the staging named by the route (NULL: answered). */
static struct node_import *begin_staged(struct node_api *api, struct node_http_request *r,
                                        uint8_t *origin)
{
        return begin(api, r, origin) ? find(api, r, origin) : NULL;
}

void node_api_import_create(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        if (!begin(api, r, origin))
                return;
        expire(api);
        unsigned n = 0;
        for (struct node_import *s = api->imports; s != NULL; s = s->next)
                n++;
        if (n >= IMPORT_MAX) {
                node_http_reply_error(r, 409, "TooManyImports", NULL,
                                      "%u imports are being staged on the leader; commit "
                                      "or abort one (or wait 10 minutes)",
                                      n);
                return;
        }
        struct node_import *s = calloc(1, sizeof(*s));
        unsigned char rnd[8];
        if (s == NULL || getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd) ||
            dns_db_init(&s->db) != 0) {
                free(s);
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        if (dns_txn_begin(&s->db, &s->txn) != 0 ||
            dns_txn_zone_create(&s->txn, origin, true) != 0) {
                dns_db_fini(&s->db);
                free(s);
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        s->id[0] = 'I';
        for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(s->id + 1 + 2 * i, 3, "%02X", rnd[i]);
        memcpy(s->origin, origin, (size_t)dns_name_wire_len(origin, 256));
        s->touched_ms = uv_now(api->loop);
        s->next = api->imports;
        api->imports = s;
        node_http_reply_json(r, 201,
                             json_pack("{s:s, s:s}", "id", s->id, "zone", r->param[0]));
}

int node_api_load_text(struct dns_txn *txn, const uint8_t *origin, const char *text,
                       size_t len, dns_zonefile_report_fn report, void *ctx,
                       struct dns_zonefile_stats *stats)
{
        int rc =
            dns_zonefile_load_part(txn, text, len, "request", origin, report, ctx, stats);
        return rc == 0 || rc == -EINVAL ? rc : -EIO;
}

static void chunk_report(void *ctx, const char *file, unsigned line, const char *message)
{
        json_t *errors = ctx;
        char field[32];
        snprintf(field, sizeof(field), "line %u", line);
        if (json_array_size(errors) < 100)
                json_array_append_new(errors,
                                      json_pack("{s:s, s:s, s:i}", "field", field,
                                                "message", message, "line", line));
}

/* Takes routed[0..n) (and the array) into s when keep, frees them otherwise. */
static int keep_routed(struct node_import *s, struct api_rrset *routed, size_t n,
                       bool keep)
{
        int rc = 0;
        if (keep && s->n_routed + n > s->cap_routed) {
                size_t cap = s->cap_routed ? s->cap_routed * 2 : 16;
                while (cap < s->n_routed + n)
                        cap *= 2;
                struct api_rrset *grown = realloc(s->routed, cap * sizeof(*grown));
                if (grown == NULL) {
                        rc = -ENOMEM;
                        keep = false;
                } else {
                        s->routed = grown;
                        s->cap_routed = cap;
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (keep) {
                        s->routed[s->n_routed++] = routed[i];
                        s->records += routed[i].count;
                } else {
                        api_rrset_free(&routed[i]);
                }
        }
        free(routed);
        return rc;
}

/*
 * A chunk is parsed into the staging's db on libuv's pool (one job at a
 * time through the API's offload queue): a chunk of a few MB used to hold
 * the leader's loop for as long.  While chunks of a staging are queued or
 * parsing, its commit is refused (409) and an abort or expiry only unlinks
 * it; the last chunk job frees it.
 */
struct chunk_job {
        struct node_offload_job job; /* first: the job is the chunk */
        struct node_api *api;
        struct node_http_request *r;
        struct node_import *s;
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        char *body;
        size_t body_len;
        json_t *errors;
        struct dns_zonefile_stats stats;
        int rc;
        struct api_rrset *routed; /* the chunk's ;quorumdns-rrset sets, until kept */
        size_t n_routed;
        int routed_rc;
};

static void chunk_job_free(struct chunk_job *j)
{
        struct node_import *s = j->s;
        if (--s->parsing == 0 && s->dropped)
                staged_free(s);
        node_http_release(j->r);
        json_decref(j->errors);
        for (size_t i = 0; i < j->n_routed; i++)
                api_rrset_free(&j->routed[i]);
        free(j->routed);
        free(j->body);
        free(j);
}

static int chunk_start(struct node_offload_job *job)
{
        struct chunk_job *j = (struct chunk_job *)job;
        if (!j->s->dropped)
                return 0;
        node_http_reply_error(j->r, 404, "NoSuchImport", "id",
                              "the import was discarded before this chunk was parsed: "
                              "nothing was changed; upload again");
        chunk_job_free(j);
        return -1;
}

static void chunk_parse(struct node_offload_job *job)
{
        struct chunk_job *j = (struct chunk_job *)job;
        j->rc = node_api_load_text(&j->s->txn, j->origin, j->body, j->body_len,
                                   chunk_report, j->errors, &j->stats);
        /* Routed sets (;quorumdns-rrset lines) are kept until the commit. */
        if (j->rc != -EIO)
                j->routed_rc =
                    api_routed_parse(j->body, j->body_len, j->origin, &j->routed, NULL,
                                     &j->n_routed, j->errors);
}

/* The chunk's routed sets go to its staging (kept only when the chunk has
 * no errors); either way the job no longer holds them. */
static int keep_chunk_routed(struct chunk_job *j)
{
        int rc =
            keep_routed(j->s, j->routed, j->n_routed, json_array_size(j->errors) == 0);
        j->routed = NULL;
        j->n_routed = 0;
        return rc;
}

static void chunk_parsed(struct node_offload_job *job, int status)
{
        struct chunk_job *j = (struct chunk_job *)job;
        struct node_import *s = j->s;
        struct node_http_request *r = j->r;
        if (status != 0 || j->rc == -EIO) {
                node_http_reply_error(r, 500, "Internal", NULL,
                                      "this node could not read the chunk");
        } else if (s->dropped) {
                node_http_reply_error(r, 404, "NoSuchImport", "id",
                                      "the import was discarded while this chunk was "
                                      "parsed: nothing was changed; upload again");
        } else if (j->routed_rc != 0 || keep_chunk_routed(j) != 0) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
        } else {
                s->chunks++;
                s->touched_ms = uv_now(j->api->loop);
                if (json_array_size(j->errors) > 0) {
                        s->failed_chunks++;
                        node_api_reply_errors(r, j->errors);
                } else {
                        s->records += j->stats.records;
                        node_http_reply_json(
                            r, 200,
                            json_pack("{s:s, s:I, s:I, s:I}", "id", s->id, "chunks",
                                      (json_int_t)s->chunks, "records",
                                      (json_int_t)j->stats.records, "staged_records",
                                      (json_int_t)s->records));
                }
        }
        chunk_job_free(j);
}

void node_api_import_chunk(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        struct node_import *s = begin_staged(api, r, origin);
        if (s == NULL)
                return;
        if (r->body_len == 0) {
                node_http_reply_error(r, 400, "InvalidInput", "body",
                                      "the body must be master-file text (text/dns)");
                return;
        }
        struct chunk_job *j = calloc(1, sizeof(*j));
        char *body = malloc(r->body_len);
        json_t *errors = json_array();
        if (j == NULL || body == NULL || errors == NULL) {
                free(j);
                free(body);
                json_decref(errors);
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        memcpy(body, r->body, r->body_len); /* h2o's copy ends with the route */
        j->api = api;
        j->r = r;
        j->s = s;
        memcpy(j->origin, origin, sizeof(j->origin));
        j->body = body;
        j->body_len = r->body_len;
        j->errors = errors;
        j->job.start = chunk_start;
        j->job.work_cb = chunk_parse;
        j->job.done = chunk_parsed;
        s->parsing++;
        node_http_hold(r);
        node_api_offload(api, &j->job);
}

void node_api_import_abort(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        struct node_import *s = begin_staged(api, r, origin);
        if (s == NULL)
                return;
        node_http_reply_json(r, 200,
                             json_pack("{s:s, s:s}", "id", s->id, "status", "aborted"));
        unlink_staged(api, s);
}

/* ---- the plan: staged sets against the zone --------------------------------------- */

struct plan {
        const struct cs_zone *zone;
        struct cs_action *actions;
        size_t n, cap;
        void **owned; /* owner copies and value arrays, freed with the plan */
        size_t nowned, capowned;
        size_t records, unchanged;
        size_t count[3]; /* create, replace, delete */
        json_t *list[3];
        int rc;
};

static const char *const kind_name[3] = {"create", "replace", "delete"};

static int own(struct plan *p, void *block)
{
        if (block == NULL)
                return -ENOMEM;
        if (p->nowned == p->capowned) {
                size_t cap = p->capowned ? p->capowned * 2 : 256;
                void **grown = realloc(p->owned, cap * sizeof(*grown));
                if (grown == NULL) {
                        free(block);
                        return -ENOMEM;
                }
                p->owned = grown;
                p->capowned = cap;
        }
        p->owned[p->nowned++] = block;
        return 0;
}

static int add_action(struct plan *p, int kind, enum cs_action_kind action,
                      const struct cs_rrset_spec *spec)
{
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 256;
                struct cs_action *grown = realloc(p->actions, cap * sizeof(*grown));
                if (grown == NULL)
                        return -ENOMEM;
                p->actions = grown;
                p->cap = cap;
        }
        p->actions[p->n++] = (struct cs_action){action, *spec};
        if (p->count[kind]++ < IMPORT_MAX_LIST) {
                char name[1024], type[32];
                dns_name_to_text(spec->owner, name, sizeof(name));
                json_array_append_new(
                    p->list[kind],
                    json_pack("{s:s, s:s}", "name", name, "type",
                              dns_type_to_text(spec->type, type, sizeof(type))));
        }
        return 0;
}

static bool rdata_in(const struct cs_rrset *set, const uint8_t *data, uint16_t len)
{
        for (size_t i = 0; i < set->count; i++)
                if (set->values[i].len == len &&
                    memcmp(set->values[i].data, data, len) == 0)
                        return true;
        return false;
}

static int plan_owner(const uint8_t *owner, const struct dns_rrsets *sets, void *arg)
{
        struct plan *p = arg;
        size_t owner_len = (size_t)dns_name_wire_len(owner, 256);
        uint8_t *copy = malloc(owner_len); /* the walker reuses its buffer */
        if (own(p, copy) != 0)
                return p->rc = -ENOMEM;
        memcpy(copy, owner, owner_len);
        for (unsigned i = 0; i < sets->count; i++) {
                const struct dns_rrset_info *info = &sets->set[i];
                struct cs_rdata *values =
                    calloc(info->count ? info->count : 1, sizeof(*values));
                if (own(p, values) != 0)
                        return p->rc = -ENOMEM;
                size_t k = 0;
                bool same = true;
                const struct cs_rrset *now =
                    cs_zone_rrset_get(p->zone, copy, owner_len, info->type, "");
                for (const uint8_t *rr = dns_rrset_next(sets, info, NULL); rr != NULL;
                     rr = dns_rrset_next(sets, info, rr)) {
                        values[k] = (struct cs_rdata){dns_rr_rdata(rr), dns_rr_rdlen(rr)};
                        same = same && now != NULL &&
                               rdata_in(now, values[k].data, values[k].len);
                        k++;
                }
                p->records += k;
                same = same && now->count == k && now->ttl == info->ttl &&
                       info->type != DNS_TYPE_SOA; /* the SOA's serial is the cluster's */
                if (same) {
                        p->unchanged++;
                        continue;
                }
                struct cs_rrset_spec spec = {copy,      owner_len, info->type, "",
                                             info->ttl, values,    k,          {0}};
                if (add_action(p, now ? 1 : 0, CS_ACTION_UPSERT, &spec) != 0)
                        return p->rc = -ENOMEM;
        }
        return 0;
}

struct stale {
        struct plan *plan;
        const struct dns_zone *file;
        const uint8_t *origin;
};

/* replace=true: a plain set of the zone the file lacks is deleted (the apex
 * SOA and NS stay, and routing-policy sets, which files cannot hold). */
static int plan_stale(const struct cs_rrset *set, void *arg)
{
        struct stale *st = arg;
        if (api_rrset_is_routed(set) ||
            (dns_name_equal(set->owner, st->origin) &&
             (set->type == DNS_TYPE_SOA || set->type == DNS_TYPE_NS)))
                return 0;
        struct dns_lname name;
        if (dns_lname_from_wire(&name, set->owner, DNS_NAME_MAXLEN + 1) < 0)
                return 0;
        const struct dns_node *node = dns_zone_find(st->file, &name);
        if (node != NULL && dns_rrsets_get(node->rrsets, set->type, 0) != NULL)
                return 0;
        struct cs_rrset_spec spec = {set->owner, set->owner_len, set->type,  "",
                                     set->ttl,   set->values,    set->count, {0}};
        return st->plan->rc = add_action(st->plan, 2, CS_ACTION_DELETE, &spec);
}

static void plan_fini(struct plan *p)
{
        for (size_t i = 0; i < p->nowned; i++)
                free(p->owned[i]);
        free(p->owned);
        free(p->actions);
        for (int k = 0; k < 3; k++)
                json_decref(p->list[k]);
}

static json_t *plan_json(const struct plan *p, const char *id, bool replace)
{
        json_t *out =
            json_pack("{s:s, s:b, s:I, s:I}", "id", id, "replacing", replace, "records",
                      (json_int_t)p->records, "unchanged", (json_int_t)p->unchanged);
        for (int k = 0; k < 3; k++) {
                json_object_set(out, kind_name[k], p->list[k]);
                char key[32];
                snprintf(key, sizeof(key), "%s_count", kind_name[k]);
                json_object_set_new(out, key, json_integer((json_int_t)p->count[k]));
        }
        return out;
}

/* A plan proposed as a staged import, with the staging it reads; both are
 * freed on libuv's pool once the import is done (200,000 staged records
 * took the loop tens of ms to free). */
struct staged_plan {
        uv_work_t req;
        uv_loop_t *loop;
        struct plan plan;
        struct node_import *s; /* unlinked, no chunk being parsed */
};

static void staged_plan_free_work(uv_work_t *req)
{
        struct staged_plan *sp = req->data;
        plan_fini(&sp->plan);
        staged_free(sp->s);
        sp->s = NULL;
}

static void staged_plan_freed(uv_work_t *req, int status)
{
        struct staged_plan *sp = req->data;
        if (sp->s != NULL)
                staged_plan_free_work(req);
        free(sp);
}

static void staged_plan_release(void *owner)
{
        struct staged_plan *sp = owner;
        sp->req.data = sp;
        if (uv_queue_work(sp->loop, &sp->req, staged_plan_free_work, staged_plan_freed) !=
            0)
                staged_plan_freed(&sp->req, -1);
}

/* Unlinks s from the list without freeing it. */
static void detach_staged(struct node_api *api, struct node_import *s)
{
        for (struct node_import **p = &api->imports; *p != NULL; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        return;
                }
}

void node_api_import_commit(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        if (!begin(api, r, origin))
                return;
        /* A retried commit gets the change the first one made, once DNS
         * serves it; a key used for another request is refused (409). */
        char request_id[CS_REQUEST_ID_MAXLEN + 1];
        if (node_api_request_id(r, request_id, sizeof(request_id)) != 0 ||
            node_api_answer_duplicate(api, r, request_id, false))
                return;
        struct node_import *s = find(api, r, origin);
        if (s == NULL)
                return;
        if (s->parsing > 0) {
                node_http_reply_error(
                    r, 409, "Conflict", "id",
                    "a chunk of import %s is still being parsed: commit "
                    "once every chunk is answered",
                    s->id);
                return;
        }
        if (s->failed_chunks > 0) {
                node_http_reply_error(r, 409, "ImportHasErrors", "id",
                                      "%u of the %u chunks of import %s had errors: "
                                      "nothing was changed; abort it and upload a fixed "
                                      "file",
                                      s->failed_chunks, s->chunks, s->id);
                return;
        }
        const char *q = node_http_query(r, "replace");
        bool replace = q != NULL && (strcmp(q, "true") == 0 || strcmp(q, "1") == 0);
        q = node_http_query(r, "dry_run");
        bool dry = q != NULL && (strcmp(q, "true") == 0 || strcmp(q, "1") == 0);
        size_t origin_len = (size_t)dns_name_wire_len(origin, 256);
        struct plan p = {.zone =
                             cs_state_zone_get(&api->cluster->state, origin, origin_len)};
        for (int k = 0; k < 3; k++)
                p.list[k] = json_array();
        const struct dns_zone *file = dns_txn_zone(&s->txn, origin);
        if (file != NULL)
                dns_zone_walk(file, plan_owner, &p);
        if (file != NULL && replace && p.rc == 0) {
                struct stale st = {&p, file, origin};
                cs_zone_foreach_rrset(p.zone, plan_stale, &st);
        }
        /* Routed sets after the DELETEs, as their group rules expect. */
        for (size_t i = 0; i < s->n_routed && p.rc == 0; i++) {
                struct cs_rrset_spec spec = api_rrset_spec(&s->routed[i]);
                bool now = cs_zone_rrset_get(p.zone, spec.owner, spec.owner_len,
                                             spec.type, spec.set_id) != NULL;
                p.records += spec.count;
                p.rc = add_action(&p, now ? 1 : 0, CS_ACTION_UPSERT, &spec);
        }
        if (p.rc != 0) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
        } else if (dry) {
                node_http_reply_json(r, 200, plan_json(&p, s->id, replace));
        } else if (p.records == 0) {
                node_http_reply_error(r, 400, "InvalidInput", "body",
                                      "import %s holds no records", s->id);
        } else if (p.n == 0) {
                node_http_reply_json(r, 200,
                                     json_pack("{s:n, s:I, s:I}", "change", "records",
                                               (json_int_t)p.records, "unchanged",
                                               (json_int_t)p.unchanged));
                unlink_staged(api, s);
        } else if (p.n >= NODE_STAGE_MIN_ACTIONS) {
                /* Several bounded entries (node/stage.c): the plan, and the
                 * staging its values point into, live until the driver ends. */
                struct staged_plan *sp = malloc(sizeof(*sp));
                if (sp == NULL) {
                        node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                } else {
                        struct cs_batch batch = {origin, origin_len, "import", p.actions,
                                                 p.n};
                        sp->loop = api->loop;
                        sp->plan = p;
                        sp->s = s;
                        detach_staged(api, s);
                        node_api_stage_import(api, r, &batch, request_id, p.records,
                                              staged_plan_release, sp);
                        return;
                }
        } else {
                struct cs_batch batch = {origin, origin_len, "import", p.actions, p.n};
                node_api_propose_batch(api, r, &batch, request_id, p.records);
                unlink_staged(api, s); /* the batch was encoded: nothing points into it */
        }
        plan_fini(&p);
}
