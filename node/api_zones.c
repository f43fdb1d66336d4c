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

#include "dns/db.h"
#include "dns/name.h"
#include "dns/text.h"
#include "dns/wire.h"
#include "dns/zonefile.h"
#include "node/api.h"
#include "node/api_json.h"
#include "node/api_routing.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX     1000

static const struct cs_zone *zone_or_404(struct node_api *api,
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

struct zone_list {
        const struct cs_zone **items;
        size_t n, cap;
};

static int collect_zone(const struct cs_zone *zone, void *arg)
{
        struct zone_list *l = arg;
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 64;
                l->items = realloc(l->items, l->cap * sizeof(*l->items));
        }
        l->items[l->n++] = zone;
        return 0;
}

static int cmp_text(const char *a, const char *b)
{
        return strcasecmp(a, b);
}

static int zone_cmp(const void *a, const void *b)
{
        char ta[1024], tb[1024];
        dns_name_to_text((*(const struct cs_zone **)a)->origin, ta, sizeof(ta));
        dns_name_to_text((*(const struct cs_zone **)b)->origin, tb, sizeof(tb));
        return cmp_text(ta, tb);
}

static unsigned page_limit(struct node_http_request *r)
{
        const char *limit = node_http_query(r, "limit");
        long n = limit ? strtol(limit, NULL, 10) : PAGE_DEFAULT;
        return n <= 0 ? PAGE_DEFAULT : n > PAGE_MAX ? PAGE_MAX : (unsigned)n;
}

void node_api_zones_list(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        struct zone_list l = {0};
        cs_state_foreach_zone(&api->cluster->state, collect_zone, &l);
        if (l.n > 1) /* items is NULL when there is nothing to sort */
                qsort(l.items, l.n, sizeof(*l.items), zone_cmp);
        const char *marker = node_http_query(r, "marker");
        unsigned limit = page_limit(r);
        json_t *zones = json_array();
        json_t *next = json_null();
        for (size_t i = 0; i < l.n; i++) {
                char text[1024];
                dns_name_to_text(l.items[i]->origin, text, sizeof(text));
                if (marker != NULL && cmp_text(text, marker) <= 0)
                        continue;
                if (json_array_size(zones) == limit) {
                        json_decref(next);
                        dns_name_to_text(l.items[i - 1]->origin, text, sizeof(text));
                        next = json_string(text);
                        break;
                }
                json_array_append_new(zones, node_api_zone_json(l.items[i]));
        }
        free(l.items);
        node_http_reply_json(
            r, 200, json_pack("{s:o, s:o}", "zones", zones, "next_marker", next));
}

void node_api_zone_get(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[256];
        const struct cs_zone *zone = zone_or_404(api, r, origin);
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
                l->cap = l->cap ? l->cap * 2 : 256;
                l->items = realloc(l->items, l->cap * sizeof(*l->items));
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

static void rrsets_sorted(const struct cs_zone *zone, struct rrset_list *l)
{
        cs_zone_foreach_rrset(zone, collect_rrset, l);
        if (l->n > 1)
                qsort(l->items, l->n, sizeof(*l->items), rrset_cmp);
}

/* Paging marker: "name type set_id" of the last set returned. */
static void marker_of(const struct cs_rrset *s, char *out, size_t size)
{
        char name[1024], type[32];
        snprintf(out, size, "%s %s %s", dns_name_to_text(s->owner, name, sizeof(name)),
                 dns_type_to_text(s->type, type, sizeof(type)), s->set_id);
}

void node_api_rrsets_list(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[256], name[256];
        const struct cs_zone *zone = zone_or_404(api, r, origin);
        if (zone == NULL)
                return;
        struct rrset_list l = {0};
        char err[256];
        const char *qname = node_http_query(r, "name");
        const char *qtype = node_http_query(r, "type");
        if (qname != NULL) {
                if (dns_name_parse_text(qname, name, err, sizeof(err)) != 0) {
                        node_http_reply_error(r, 400, "InvalidInput", "name", "%s", err);
                        return;
                }
                l.name = name;
        }
        if (qtype != NULL && dns_type_from_text(qtype, &l.type) != 0) {
                node_http_reply_error(r, 400, "InvalidInput", "type",
                                      "'%s' is not a record type", qtype);
                return;
        }
        l.set_id = node_http_query(r, "set_identifier");
        rrsets_sorted(zone, &l);
        const char *marker = node_http_query(r, "marker");
        unsigned limit = page_limit(r);
        size_t start = 0;
        if (marker != NULL) {
                char m[1200];
                for (start = 0; start < l.n; start++) {
                        marker_of(l.items[start], m, sizeof(m));
                        if (strcmp(m, marker) == 0) {
                                start++;
                                break;
                        }
                }
        }
        json_t *items = json_array();
        json_t *next = json_null();
        for (size_t i = start; i < l.n; i++) {
                if (json_array_size(items) == limit) {
                        char m[1200];
                        marker_of(l.items[i - 1], m, sizeof(m));
                        json_decref(next);
                        next = json_string(m);
                        break;
                }
                json_array_append_new(items, api_rrset_json(l.items[i]));
        }
        free(l.items);
        node_http_reply_json(
            r, 200, json_pack("{s:o, s:o}", "rrsets", items, "next_marker", next));
}

void node_api_rrset_get(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[256], name[256];
        char err[256];
        const struct cs_zone *zone = zone_or_404(api, r, origin);
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

/* ---- export -------------------------------------------------------------------------
 */

struct text_buf {
        char *data;
        size_t len, cap;
};

static void text_append(struct text_buf *b, const char *s)
{
        size_t n = strlen(s);
        if (b->len + n + 1 > b->cap) {
                b->cap = (b->len + n + 1) * 2;
                b->data = realloc(b->data, b->cap);
        }
        memcpy(b->data + b->len, s, n + 1);
        b->len += n;
}

void node_api_zone_export(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[256];
        const struct cs_zone *zone = zone_or_404(api, r, origin);
        if (zone == NULL)
                return;
        struct rrset_list l = {0};
        rrsets_sorted(zone, &l);
        struct text_buf b = {0};
        char line[1400], name[1024], type[32];
        snprintf(line, sizeof(line), "; zone %s exported by quorumdns, serial %u\n",
                 dns_name_to_text(zone->origin, name, sizeof(name)), zone->serial);
        text_append(&b, line);
        /* SOA first, as every master file starts. */
        for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i < l.n; i++) {
                        const struct cs_rrset *s = l.items[i];
                        if ((pass == 0) != (s->type == DNS_TYPE_SOA))
                                continue;
                        if (api_rrset_is_routed(s)) { /* a comment line */
                                char *routed = api_routed_line(s);
                                text_append(&b, routed ? routed : "");
                                free(routed);
                                continue;
                        }
                        dns_name_to_text(s->owner, name, sizeof(name));
                        dns_type_to_text(s->type, type, sizeof(type));
                        for (size_t k = 0; k < s->count; k++) {
                                char *rdata = dns_rdata_to_text(
                                    s->type, s->values[k].data, s->values[k].len);
                                snprintf(line, sizeof(line), "%s\t%u\tIN\t%s\t", name,
                                         s->ttl, type);
                                text_append(&b, line);
                                text_append(&b, rdata ? rdata : "");
                                text_append(&b, "\n");
                                free(rdata);
                        }
                }
        }
        free(l.items);
        node_http_reply_text(r, 200, "text/dns", b.data, b.len);
        free(b.data);
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

static int name_field(json_t *v, const char *field, uint8_t *out, struct api_errors *errs)
{
        char err[256];
        if (!json_is_string(v)) {
                api_errors_add(errs, -1, field, "must be a domain name string");
                return -1;
        }
        if (dns_name_parse_text(json_string_value(v), out, err, sizeof(err)) != 0) {
                api_errors_add(errs, -1, field, "%s", err);
                return -1;
        }
        return 0;
}

static uint32_t u32_field(json_t *obj, const char *key, uint32_t dflt, const char *field,
                          struct api_errors *errs)
{
        json_t *v = json_object_get(obj, key);
        if (v == NULL)
                return dflt;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > CS_TTL_MAX) {
                api_errors_add(errs, -1, field, "must be 0..2147483647");
                return dflt;
        }
        return (uint32_t)json_integer_value(v);
}

static size_t put_name(uint8_t *out, const uint8_t *name)
{
        size_t n = (size_t)dns_name_wire_len(name, 256);
        memcpy(out, name, n);
        return n;
}

void node_api_zone_create(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        json_t *body = node_http_body_json(r);
        if (body == NULL)
                return;
        struct api_errors errs;
        api_errors_init(&errs);
        uint8_t origin[256] = {0}, mname[256], rname[256];
        uint8_t ns[16][256];
        size_t ns_count = 0;
        name_field(json_object_get(body, "name"), "name", origin, &errs);
        json_t *comment = json_object_get(body, "comment");
        if (comment != NULL &&
            (!json_is_string(comment) || json_string_length(comment) > CS_COMMENT_MAXLEN))
                api_errors_add(&errs, -1, "comment",
                               "must be a string of at most %d bytes", CS_COMMENT_MAXLEN);
        uint32_t ttl = u32_field(body, "ttl", 3600, "ttl", &errs);
        json_t *servers = json_object_get(body, "nameservers");
        char text[1200];
        if (servers != NULL) {
                if (!json_is_array(servers) || json_array_size(servers) == 0 ||
                    json_array_size(servers) > 16) {
                        api_errors_add(&errs, -1, "nameservers",
                                       "must be an array of 1..16 names");
                } else {
                        for (size_t i = 0; i < json_array_size(servers); i++) {
                                char field[64];
                                snprintf(field, sizeof(field), "nameservers[%zu]", i);
                                if (name_field(json_array_get(servers, i), field,
                                               ns[ns_count], &errs) == 0)
                                        ns_count++;
                        }
                }
        }
        json_t *soa = json_object_get(body, "soa");
        if (soa != NULL && !json_is_object(soa)) {
                api_errors_add(&errs, -1, "soa", "must be an object");
                soa = NULL;
        }
        if (api_errors_count(&errs) > 0) {
                node_api_reply_errors(r, errs.list);
                json_decref(errs.list);
                json_decref(body);
                return;
        }
        if (ns_count == 0) {
                dns_name_to_text(origin, text, sizeof(text));
                snprintf((char *)text + strlen(text), sizeof(text) - strlen(text), "%s",
                         "");
                char first[1200];
                snprintf(first, sizeof(first), "ns1.%s", text);
                char err[256];
                if (dns_name_parse_text(first, ns[0], err, sizeof(err)) == 0)
                        ns_count = 1;
        }
        memcpy(mname, ns[0], (size_t)dns_name_wire_len(ns[0], 256));
        dns_name_to_text(origin, text, sizeof(text));
        char hostmaster[1200];
        snprintf(hostmaster, sizeof(hostmaster), "hostmaster.%s", text);
        char err[256];
        if (dns_name_parse_text(hostmaster, rname, err, sizeof(err)) != 0)
                memcpy(rname, origin, (size_t)dns_name_wire_len(origin, 256));
        if (soa != NULL) {
                json_t *m = json_object_get(soa, "mname"),
                       *rn = json_object_get(soa, "rname");
                if (m != NULL)
                        name_field(m, "soa.mname", mname, &errs);
                if (rn != NULL)
                        name_field(rn, "soa.rname", rname, &errs);
        }
        uint32_t refresh =
            soa ? u32_field(soa, "refresh", 7200, "soa.refresh", &errs) : 7200;
        uint32_t retry = soa ? u32_field(soa, "retry", 3600, "soa.retry", &errs) : 3600;
        uint32_t expire =
            soa ? u32_field(soa, "expire", 1209600, "soa.expire", &errs) : 1209600;
        uint32_t minimum =
            soa ? u32_field(soa, "minimum", 300, "soa.minimum", &errs) : 300;
        if (api_errors_count(&errs) > 0) {
                node_api_reply_errors(r, errs.list);
                json_decref(errs.list);
                json_decref(body);
                return;
        }
        json_decref(errs.list);
        uint8_t soa_rdata[600];
        size_t n = put_name(soa_rdata, mname);
        n += put_name(soa_rdata + n, rname);
        uint32_t fields[5] = {1, refresh, retry, expire, minimum};
        for (int i = 0; i < 5; i++, n += 4)
                wire_put32(soa_rdata + n, fields[i]);
        struct cs_rdata soa_value = {soa_rdata, (uint16_t)n};
        struct cs_rdata ns_values[16];
        for (size_t i = 0; i < ns_count; i++)
                ns_values[i] =
                    (struct cs_rdata){ns[i], (uint16_t)dns_name_wire_len(ns[i], 256)};
        char comment_text[CS_COMMENT_MAXLEN + 1] = "";
        if (comment != NULL)
                snprintf(comment_text, sizeof(comment_text), "%s",
                         json_string_value(comment));
        json_decref(body);
        if (node_api_forward_if_follower(api, r))
                return;
        size_t origin_len = (size_t)dns_name_wire_len(origin, 256);
        if (cs_state_zone_get(&api->cluster->state, origin, origin_len) != NULL) {
                char request_id[CS_REQUEST_ID_MAXLEN + 1];
                node_api_request_id(r, request_id, sizeof(request_id));
                const struct cs_change *dup =
                    cs_state_change_by_request(&api->cluster->state, request_id);
                if (dup == NULL) {
                        node_http_reply_error(r, 409, "ZoneAlreadyExists", "name",
                                              "zone %s already exists", text);
                        return;
                }
        }
        unsigned char rnd[8];
        char zone_id[32];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                memset(rnd, 0, sizeof(rnd));
        snprintf(zone_id, sizeof(zone_id), "Z%02X%02X%02X%02X%02X%02X%02X%02X", rnd[0],
                 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        char request_id[CS_REQUEST_ID_MAXLEN + 1];
        node_api_request_id(r, request_id, sizeof(request_id));
        struct cs_command cmd = {.type = CS_CMD_ZONE_CREATE, .request_id = request_id};
        cmd.u.zone_create = (struct cs_zone_spec){
            .origin = origin,
            .origin_len = origin_len,
            .zone_id = zone_id,
            .comment = comment_text,
            .soa = {origin, origin_len, DNS_TYPE_SOA, "", ttl, &soa_value, 1, {0}},
            .ns = {origin, origin_len, DNS_TYPE_NS, "", ttl, ns_values, ns_count, {0}},
        };
        struct zone_wait *w = calloc(1, sizeof(*w));
        if (w == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        w->r = r;
        w->api = api;
        memcpy(w->origin, origin, origin_len);
        node_http_hold(r);
        node_cluster_propose(api->cluster, &cmd, on_zone_applied, w);
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
        if (cs_state_zone_get(&api->cluster->state, origin, origin_len) == NULL) {
                node_http_reply_error(r, 404, "NoSuchZone", "zone", "no zone %s",
                                      r->param[0]);
                return;
        }
        char request_id[CS_REQUEST_ID_MAXLEN + 1];
        node_api_request_id(r, request_id, sizeof(request_id));
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
        node_cluster_propose(api->cluster, &cmd, on_zone_applied, w);
}
