/*
 * api_zones.c — hosted zones and their record sets: create, list, show,
 * delete, export and import (docs/API.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "consensus/wire.h"
#include "dns/db.h"
#include "dns/name.h"
#include "dns/text.h"
#include "dns/wire.h"
#include "dns/zonefile.h"
#include "node/api.h"
#include "node/api_body.h"
#include "node/api_json.h"
#include "node/api_routing.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX     1000

const struct cs_zone *node_api_zone_or_404(struct node_api *api,
                                           struct node_http_request *r, uint8_t *origin)
{
        if (node_api_zone_param(r, origin) != 0)
                return NULL;
        const struct cs_zone *zone = cs_state_zone_get(
            &api->cluster->state, origin, (size_t)dns_name_wire_len(origin, 256));
        if (zone == NULL)
                node_http_reply_error(r, 404, "NoSuchZone", "zone", "no zone %s",
                                      r->param[0]);
        return zone;
}

/* ---- listing ------------------------------------------------------------------------
 */

/* The page's size from ?limit= (default PAGE_DEFAULT; above PAGE_MAX it is
 * PAGE_MAX), or 0 after answering 400 for one that is not a whole number
 * from 1 up. */
static unsigned page_limit(struct node_http_request *r)
{
        const char *limit = node_http_query(r, "limit");
        if (limit == NULL)
                return PAGE_DEFAULT;
        char *end = NULL;
        errno = 0;
        long long n = *limit >= '0' && *limit <= '9' ? strtoll(limit, &end, 10) : 0;
        if (end == NULL || *end != '\0' || n < 1) {
                node_http_reply_error(r, 400, "InvalidInput", "limit",
                                      "limit must be a whole number from 1 to %d",
                                      PAGE_MAX);
                return 0;
        }
        return errno == ERANGE || n > PAGE_MAX ? PAGE_MAX : (unsigned)n;
}

/* A page from the state's name-ordered index: O(log n + limit). */
void node_api_zones_list(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        const char *marker = node_http_query(r, "marker");
        unsigned limit = page_limit(r);
        if (limit == 0)
                return;
        json_t *zones = json_array();
        json_t *next = json_null();
        const struct cs_zone *last = NULL;
        for (const struct cs_zone *z = cs_state_zone_after(&api->cluster->state, marker);
             z != NULL; z = cs_state_zone_next(z)) {
                if (json_array_size(zones) == limit) {
                        char text[1024];
                        json_decref(next);
                        next = json_string(cs_name_text(last->origin, last->origin_len,
                                                        text, sizeof(text)));
                        break;
                }
                json_array_append_new(zones, node_api_zone_json(z));
                last = z;
        }
        node_http_reply_json(
            r, 200, json_pack("{s:o, s:o}", "zones", zones, "next_marker", next));
}

void node_api_zone_get(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[256];
        const struct cs_zone *zone = node_api_zone_or_404(api, r, origin);
        if (zone != NULL)
                node_http_reply_json(r, 200, node_api_zone_json(zone));
}

struct rrset_list {
        const struct cs_rrset **items;
        size_t n, cap;
        const uint8_t *name; /* filter, or NULL */
        uint16_t type;       /* filter, or 0 */
        const char *set_id;  /* filter, or NULL */
};

static int collect_rrset(const struct cs_rrset *rrset, void *arg)
{
        struct rrset_list *l = arg;
        if (l->name && !dns_name_equal(l->name, rrset->owner))
                return 0;
        if (l->type && l->type != rrset->type)
                return 0;
        if (l->set_id && strcmp(l->set_id, rrset->set_id) != 0)
                return 0;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 256;
                const struct cs_rrset **grown = realloc(l->items, cap * sizeof(*grown));
                if (grown == NULL)
                        return -ENOMEM;
                l->items = grown;
                l->cap = cap;
        }
        l->items[l->n++] = rrset;
        return 0;
}

/* Owner names in DNSSEC canonical order (RFC 4034 §6.1), then type, set id. */
static int canonical_name_cmp(const uint8_t *a, const uint8_t *b)
{
        const uint8_t *la[128], *lb[128];
        unsigned na = 0, nb = 0;
        for (const uint8_t *p = a; *p; p += 1 + *p)
                la[na++] = p;
        for (const uint8_t *p = b; *p; p += 1 + *p)
                lb[nb++] = p;
        while (na > 0 && nb > 0) {
                const uint8_t *x = la[--na], *y = lb[--nb];
                unsigned n = x[0] < y[0] ? x[0] : y[0];
                int c = memcmp(x + 1, y + 1, n); /* owners are lowercased */
                if (c != 0)
                        return c;
                if (x[0] != y[0])
                        return x[0] < y[0] ? -1 : 1;
        }
        return na == nb ? 0 : na < nb ? -1 : 1;
}

static int rrset_cmp(const void *a, const void *b)
{
        const struct cs_rrset *x = *(const struct cs_rrset **)a;
        const struct cs_rrset *y = *(const struct cs_rrset **)b;
        int c = canonical_name_cmp(x->owner, y->owner);
        if (c != 0)
                return c;
        if (x->type != y->type)
                return x->type < y->type ? -1 : 1;
        return strcmp(x->set_id, y->set_id);
}

void node_api_rrsets_sort(const struct cs_rrset **items, size_t n)
{
        if (n > 1)
                qsort(items, n, sizeof(*items), rrset_cmp);
}

/* Paging marker: "name type set_id" of the last set returned. */
static void marker_of(const struct cs_rrset *s, char *out, size_t size)
{
        char name[1024], type[32];
        snprintf(out, size, "%s %s %s", dns_name_to_text(s->owner, name, sizeof(name)),
                 dns_type_to_text(s->type, type, sizeof(type)), s->set_id);
}

/*
 * GET …/rrsets: the sets matching the filters are collected on the loop (a
 * pointer each) with the state pinned; sorting them, finding the marker and
 * building the page run on libuv's pool through the API's offload queue
 * (sorting 300,000 sets took the loop 0.26 s per page).  Still a sort per
 * request, off the loop: a sorted index would make a page O(log n + limit).
 */
struct rrsets_job {
        struct node_offload_job job; /* first: the job is the listing */
        struct node_api *api;
        struct node_http_request *r;
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        uint8_t name[DNS_NAME_MAXLEN + 1];
        struct rrset_list l;
        char *set_id, *marker;
        unsigned limit;
        bool held;
        json_t *page; /* built on the pool */
};

static void rrsets_job_free(struct rrsets_job *j)
{
        if (j->held)
                node_cluster_state_release(j->api->cluster);
        node_http_release(j->r);
        free(j->l.items);
        free(j->set_id);
        free(j->marker);
        json_decref(j->page);
        free(j);
}

static int rrsets_start(struct node_offload_job *job)
{
        struct rrsets_job *j = (struct rrsets_job *)job;
        struct node_api *api = j->api;
        const struct cs_zone *zone =
            api->cluster->running
                ? cs_state_zone_get(&api->cluster->state, j->origin,
                                    (size_t)dns_name_wire_len(j->origin, 256))
                : NULL;
        if (zone == NULL) {
                if (api->cluster->running)
                        node_http_reply_error(j->r, 404, "NoSuchZone", "zone",
                                              "the zone was deleted");
                else
                        node_http_reply_error(j->r, 503, "NoQuorum", NULL,
                                              "this node is stopping");
                rrsets_job_free(j);
                return -1;
        }
        if (cs_zone_foreach_rrset(zone, collect_rrset, &j->l) != 0) {
                node_http_reply_error(j->r, 500, "Internal", NULL,
                                      "out of memory listing the record sets");
                rrsets_job_free(j);
                return -1;
        }
        node_cluster_state_hold(api->cluster);
        j->held = true;
        return 0;
}

/* On the pool: reads only the pinned sets. */
static void rrsets_page(struct node_offload_job *job)
{
        struct rrsets_job *j = (struct rrsets_job *)job;
        struct rrset_list *l = &j->l;
        node_api_rrsets_sort(l->items, l->n);
        size_t start = 0;
        if (j->marker != NULL) {
                char m[1200];
                for (start = 0; start < l->n; start++) {
                        marker_of(l->items[start], m, sizeof(m));
                        if (strcmp(m, j->marker) == 0) {
                                start++;
                                break;
                        }
                }
        }
        json_t *items = json_array();
        json_t *next = json_null();
        for (size_t i = start; i < l->n; i++) {
                if (json_array_size(items) == j->limit) {
                        char m[1200];
                        marker_of(l->items[i - 1], m, sizeof(m));
                        json_decref(next);
                        next = json_string(m);
                        break;
                }
                json_array_append_new(items, api_rrset_json(l->items[i]));
        }
        j->page = json_pack("{s:o, s:o}", "rrsets", items, "next_marker", next);
}

static void rrsets_done(struct node_offload_job *job, int status)
{
        struct rrsets_job *j = (struct rrsets_job *)job;
        if (status != 0 || j->page == NULL) {
                node_http_reply_error(j->r, 500, "Internal", NULL,
                                      "out of memory listing the record sets");
        } else {
                node_http_reply_json(j->r, 200, j->page); /* takes the page */
                j->page = NULL;
        }
        rrsets_job_free(j);
}

void node_api_rrsets_list(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[256];
        if (node_api_zone_or_404(api, r, origin) == NULL)
                return;
        unsigned limit = page_limit(r);
        if (limit == 0)
                return;
        struct rrsets_job *j = calloc(1, sizeof(*j));
        if (j == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        char err[256];
        const char *qname = node_http_query(r, "name");
        const char *qtype = node_http_query(r, "type");
        if (qname != NULL) {
                if (dns_name_parse_text(qname, j->name, err, sizeof(err)) != 0) {
                        free(j);
                        node_http_reply_error(r, 400, "InvalidInput", "name", "%s", err);
                        return;
                }
                j->l.name = j->name;
        }
        if (qtype != NULL && dns_type_from_text(qtype, &j->l.type) != 0) {
                free(j);
                node_http_reply_error(r, 400, "InvalidInput", "type",
                                      "'%s' is not a record type", qtype);
                return;
        }
        /* Query values live in h2o's memory only until the route returns. */
        const char *set_id = node_http_query(r, "set_identifier");
        const char *marker = node_http_query(r, "marker");
        j->set_id = set_id ? strdup(set_id) : NULL;
        j->marker = marker ? strdup(marker) : NULL;
        if ((set_id && !j->set_id) || (marker && !j->marker)) {
                free(j->set_id);
                free(j->marker);
                free(j);
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        j->l.set_id = j->set_id;
        j->limit = limit;
        j->api = api;
        j->r = r;
        memcpy(j->origin, origin, sizeof(j->origin));
        j->job.start = rrsets_start;
        j->job.work_cb = rrsets_page;
        j->job.done = rrsets_done;
        node_http_hold(r);
        node_api_offload(api, &j->job);
}

void node_api_rrset_get(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[256], name[256];
        char err[256];
        const struct cs_zone *zone = node_api_zone_or_404(api, r, origin);
        if (zone == NULL)
                return;
        uint16_t type;
        if (dns_name_parse_text(r->param[1], name, err, sizeof(err)) != 0) {
                node_http_reply_error(r, 400, "InvalidInput", "name", "%s", err);
                return;
        }
        if (dns_type_from_text(r->param[2], &type) != 0) {
                node_http_reply_error(r, 400, "InvalidInput", "type",
                                      "'%s' is not a record type", r->param[2]);
                return;
        }
        const char *set_id = node_http_query(r, "set_identifier");
        const struct cs_rrset *rrset = cs_zone_rrset_get(
            zone, name, (size_t)dns_name_wire_len(name, 256), type, set_id);
        if (rrset == NULL) {
                node_http_reply_error(r, 404, "NoSuchRecordSet", "name",
                                      "no %s record set at %s", r->param[2], r->param[1]);
                return;
        }
        node_http_reply_json(r, 200, api_rrset_json(rrset));
}

/* ---- create and delete ---------------------------------------------------------------
 */

struct zone_wait {
        struct node_http_request *r;
        struct node_api *api;
        uint8_t origin[256];
        int deleting;
};

static void on_zone_applied(void *ctx, int status, const struct cs_result *res)
{
        struct zone_wait *w = ctx;
        if (status != 0 || res == NULL || res->status != 0) {
                node_api_reply_result(w->r, status, res);
        } else {
                const struct cs_change *change =
                    cs_state_change_get(&w->api->cluster->state, res->change_id);
                const struct cs_zone *zone =
                    cs_state_zone_get(&w->api->cluster->state, w->origin,
                                      (size_t)dns_name_wire_len(w->origin, 256));
                json_t *out = json_object();
                if (change != NULL)
                        json_object_set_new(out, "change",
                                            node_api_change_json(w->api, change));
                if (zone != NULL && !w->deleting)
                        json_object_set_new(out, "zone", node_api_zone_json(zone));
                node_http_reply_json(w->r, w->deleting || res->duplicate ? 200 : 201,
                                     out);
        }
        node_http_release(w->r);
        free(w);
}

void node_api_zone_spec_command(struct node_api_zone_spec *z, const char *request_id,
                                struct cs_command *cmd)
{
        unsigned char rnd[8];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                memset(rnd, 0, sizeof(rnd));
        snprintf(z->zone_id, sizeof(z->zone_id), "Z%02X%02X%02X%02X%02X%02X%02X%02X",
                 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        *cmd = (struct cs_command){.type = CS_CMD_ZONE_CREATE, .request_id = request_id};
        cmd->u.zone_create = node_api_zone_spec_view(z, z->zone_id);
}

void node_api_zone_create(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        json_t *body = node_http_body_json(r);
        if (body == NULL)
                return;
        struct api_errors errs;
        api_errors_init(&errs);
        struct node_api_zone_spec *z = malloc(sizeof(*z));
        if (z == NULL) {
                json_decref(body);
                json_decref(errs.list);
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        int rc = node_api_zone_spec_parse(body, "", -1, z, &errs);
        json_decref(body);
        if (rc != 0) {
                node_api_reply_errors(r, errs.list);
                json_decref(errs.list);
                free(z);
                return;
        }
        json_decref(errs.list);
        char request_id[CS_REQUEST_ID_MAXLEN + 1];
        if (node_api_forward_if_follower(api, r) ||
            node_api_request_id(r, request_id, sizeof(request_id)) != 0 ||
            node_api_answer_duplicate(api, r, request_id, true)) {
                free(z);
                return;
        }
        if (cs_state_zone_get(&api->cluster->state, z->origin, z->origin_len) != NULL) {
                char text[1100];
                dns_name_to_text(z->origin, text, sizeof(text));
                node_http_reply_error(r, 409, "ZoneAlreadyExists", "name",
                                      "zone %s already exists", text);
                free(z);
                return;
        }
        struct cs_command cmd;
        node_api_zone_spec_command(z, request_id, &cmd);
        struct zone_wait *w = calloc(1, sizeof(*w));
        if (w == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                free(z);
                return;
        }
        w->r = r;
        w->api = api;
        memcpy(w->origin, z->origin, z->origin_len);
        node_http_hold(r);
        node_cluster_propose_served(api->cluster, &cmd, on_zone_applied, w);
        free(z);
}

void node_api_zone_delete(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[256];
        if (node_api_zone_param(r, origin) != 0)
                return;
        const char *force = node_http_query(r, "force");
        bool forced =
            force != NULL && (strcmp(force, "true") == 0 || strcmp(force, "1") == 0);
        if (node_api_forward_if_follower(api, r))
                return;
        size_t origin_len = (size_t)dns_name_wire_len(origin, 256);
        /* A retried deletion gets its change, although the zone is gone. */
        char request_id[CS_REQUEST_ID_MAXLEN + 1];
        if (node_api_request_id(r, request_id, sizeof(request_id)) != 0)
                return;
        if (node_api_answer_duplicate(api, r, request_id, false))
                return;
        if (cs_state_zone_get(&api->cluster->state, origin, origin_len) == NULL) {
                node_http_reply_error(r, 404, "NoSuchZone", "zone", "no zone %s",
                                      r->param[0]);
                return;
        }
        struct cs_command cmd = {.type = CS_CMD_ZONE_DELETE, .request_id = request_id};
        cmd.u.zone_delete.origin = origin;
        cmd.u.zone_delete.origin_len = origin_len;
        cmd.u.zone_delete.force = forced;
        struct zone_wait *w = calloc(1, sizeof(*w));
        if (w == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        w->r = r;
        w->api = api;
        w->deleting = 1;
        memcpy(w->origin, origin, origin_len);
        node_http_hold(r);
        node_cluster_propose_served(api->cluster, &cmd, on_zone_applied, w);
}
