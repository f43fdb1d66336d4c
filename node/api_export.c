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
 * answered and the state released.  Jobs go through the API's offload
 * queue (node/offload.h: one at a time on the pool).  The export shows the
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
#include "node/api_routing.h"

struct node_export {
        struct node_offload_job job; /* first: the job is the export */
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
        bool held; /* the state is pinned for us */
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
static void format_zone(struct node_offload_job *job)
{
        struct node_export *x = (struct node_export *)job;
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
                        if (api_rrset_is_routed(s)) { /* a ;quorumdns-rrset line */
                                char *routed = api_routed_line(s);
                                rc = routed != NULL ? append(x, routed) : -ENOMEM;
                                free(routed);
                                continue;
                        }
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

static void export_free(struct node_export *x)
{
        if (x->held)
                node_cluster_state_release(x->api->cluster);
        node_http_release(x->r);
        free(x->items);
        free(x->text);
        free(x);
}

/* On the loop, when its turn comes: the zone as it is now. */
static int start_export(struct node_offload_job *job)
{
        struct node_export *x = (struct node_export *)job;
        struct node_api *api = x->api;
        const struct cs_zone *zone =
            api->cluster->running
                ? cs_state_zone_get(&api->cluster->state, x->origin,
                                    (size_t)dns_name_wire_len(x->origin, 256))
                : NULL;
        if (zone == NULL) { /* deleted while waiting, or stopping */
                if (api->cluster->running)
                        node_http_reply_error(x->r, 404, "NoSuchZone", "zone",
                                              "the zone was deleted");
                else
                        node_http_reply_error(x->r, 503, "NoQuorum", NULL,
                                              "this node is stopping");
                export_free(x);
                return -1;
        }
        x->serial = zone->serial;
        if (cs_zone_foreach_rrset(zone, collect, x) != 0) {
                node_http_reply_error(x->r, 500, "Internal", NULL,
                                      "out of memory exporting the zone");
                export_free(x);
                return -1;
        }
        node_cluster_state_hold(api->cluster);
        x->held = true;
        return 0;
}

/* Back on the loop. */
static void on_formatted(struct node_offload_job *job, int status)
{
        struct node_export *x = (struct node_export *)job;
        if (status != 0 || x->rc != 0)
                node_http_reply_error(x->r, 500, "Internal", NULL,
                                      "out of memory exporting the zone");
        else
                node_http_reply_text(x->r, 200, "text/dns", x->text, x->len);
        export_free(x);
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
        x->job.start = start_export;
        x->job.work_cb = format_zone;
        x->job.done = on_formatted;
        node_http_hold(r);
        node_api_offload(api, &x->job);
}
