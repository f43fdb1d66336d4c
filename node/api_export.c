/*
 * api_export.c — GET /v1/zones/{zone}/export, formatted off the loop.
 *
 * Sorting and formatting a large zone took the loop hundreds of ms (a
 * 300,000-record zone: longer than the election timeout).  Now the loop
 * only collects a pointer to each of the zone's record sets and pins the
 * state (node_cluster_state_hold: record sets are never changed in place,
 * and what the state lets go of meanwhile stays allocated until the last
 * pin goes, closing included); a job on libuv's thread pool sorts the
 * pointers and writes the master file; back on the loop the text is
 * answered and the state released.  One export runs on the pool at a time
 * (the others wait in a FIFO on the API object), so raft's disk writes,
 * which share the pool, always keep three threads.  The export shows the
 * zone as it was when its job started.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/name.h"
#include "dns/text.h"
#include "dns/wire.h"
#include "node/api.h"

struct node_export {
        uv_work_t work;
        struct node_api *api;
        struct node_http_request *r;
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        /* filled on the loop when the job starts */
        const struct cs_rrset **items;
        size_t n, cap;
        uint32_t serial;
        /* filled on the pool */
        char *text;
        size_t len, text_cap;
        int rc;
        struct node_export *next;
};

static int collect(const struct cs_rrset *rrset, void *arg)
{
        struct node_export *x = arg;
        if (x->n == x->cap) {
                size_t cap = x->cap ? x->cap * 2 : 256;
                const struct cs_rrset **grown = realloc(x->items, cap * sizeof(*grown));
                if (grown == NULL)
                        return -ENOMEM;
                x->items = grown;
                x->cap = cap;
        }
        x->items[x->n++] = rrset;
        return 0;
}

static int append(struct node_export *x, const char *s)
{
        size_t n = strlen(s);
        if (x->len + n + 1 > x->text_cap) {
                size_t cap = (x->len + n + 1) * 2;
                char *grown = realloc(x->text, cap);
                if (grown == NULL)
                        return -ENOMEM;
                x->text = grown;
                x->text_cap = cap;
        }
        memcpy(x->text + x->len, s, n + 1);
        x->len += n;
        return 0;
}

/* On the pool: reads only the pinned record sets. */
static void format_zone(uv_work_t *work)
{
        struct node_export *x = work->data;
        char line[1400], name[1024], type[32];
        node_api_rrsets_sort(x->items, x->n);
        snprintf(line, sizeof(line), "; zone %s exported by quorumdns, serial %u\n",
                 dns_name_to_text(x->origin, name, sizeof(name)), x->serial);
        int rc = append(x, line);
        /* SOA first, as every master file starts. */
        for (int pass = 0; pass < 2 && rc == 0; pass++) {
                for (size_t i = 0; i < x->n && rc == 0; i++) {
                        const struct cs_rrset *s = x->items[i];
                        if ((pass == 0) != (s->type == DNS_TYPE_SOA))
                                continue;
                        dns_name_to_text(s->owner, name, sizeof(name));
                        dns_type_to_text(s->type, type, sizeof(type));
                        for (size_t k = 0; k < s->count && rc == 0; k++) {
                                char *rdata = dns_rdata_to_text(
                                    s->type, s->values[k].data, s->values[k].len);
                                snprintf(line, sizeof(line), "%s\t%u\tIN\t%s\t", name,
                                         s->ttl, type);
                                rc = append(x, line);
                                if (rc == 0)
                                        rc = append(x, rdata ? rdata : "");
                                if (rc == 0)
                                        rc = append(x, "\n");
                                free(rdata);
                        }
                }
        }
        x->rc = rc;
}

static void start_next(struct node_api *api);

static void export_free(struct node_export *x)
{
        node_http_release(x->r);
        free(x->items);
        free(x->text);
        free(x);
}

/* Back on the loop. */
static void on_formatted(uv_work_t *work, int status)
{
        struct node_export *x = work->data;
        struct node_api *api = x->api;
        node_cluster_state_release(api->cluster);
        if (status != 0 || x->rc != 0)
                node_http_reply_error(x->r, 500, "Internal", NULL,
                                      "out of memory exporting the zone");
        else
                node_http_reply_text(x->r, 200, "text/dns", x->text, x->len);
        export_free(x);
        api->exporting = false;
        start_next(api);
}

/* Starts the first waiting export on the pool, if none runs. */
static void start_next(struct node_api *api)
{
        while (!api->exporting && api->exports != NULL) {
                struct node_export *x = api->exports;
                api->exports = x->next;
                if (api->exports == NULL)
                        api->exports_tail = NULL;
                const struct cs_zone *zone =
                    api->cluster->running
                        ? cs_state_zone_get(&api->cluster->state, x->origin,
                                            (size_t)dns_name_wire_len(x->origin, 256))
                        : NULL;
                if (zone == NULL) { /* deleted while waiting, or stopping */
                        node_http_reply_error(
                            x->r, api->cluster->running ? 404 : 503,
                            api->cluster->running ? "NoSuchZone" : "NoQuorum", "zone",
                            "the zone is gone, or the node stops");
                        export_free(x);
                        continue;
                }
                x->serial = zone->serial;
                if (cs_zone_foreach_rrset(zone, collect, x) != 0) {
                        node_http_reply_error(x->r, 500, "Internal", NULL,
                                              "out of memory exporting the zone");
                        export_free(x);
                        continue;
                }
                x->work.data = x;
                node_cluster_state_hold(api->cluster);
                if (uv_queue_work(api->loop, &x->work, format_zone, on_formatted) != 0) {
                        node_cluster_state_release(api->cluster);
                        node_http_reply_error(x->r, 500, "Internal", NULL,
                                              "cannot start the export");
                        export_free(x);
                        continue;
                }
                api->exporting = true;
        }
}

void node_api_zone_export(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        if (node_api_zone_or_404(api, r, origin) == NULL)
                return;
        struct node_export *x = calloc(1, sizeof(*x));
        if (x == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        x->api = api;
        x->r = r;
        memcpy(x->origin, origin, sizeof(x->origin));
        node_http_hold(r);
        if (api->exports_tail != NULL)
                api->exports_tail->next = x;
        else
                api->exports = x;
        api->exports_tail = x;
        start_next(api);
}
