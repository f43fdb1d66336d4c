/*
 * api_geoip.c — the GeoIP databases of the cluster's nodes.
 *
 * POST /v1/geoip/reload: this node opens and compiles its --geoip-db file
 * again (node/geoip.c, on the thread pool), as SIGHUP does, and answers
 * with what is loaded once the new database serves queries.  The
 * database is a node setting, not replicated state: each node reloads its
 * own, and the call is never relayed.  A file that does not open leaves the
 * loaded database in place and answers 422 with the reason.
 *
 * GET /v1/geoip: asks every other member for its /v1/health
 * (node/api_fanout.h) and answers, once all have answered or failed, each
 * node's database and whether the reachable ones agree (same type, build
 * time and size; none anywhere agrees too).
 */
#include <stdlib.h>
#include <string.h>

#include "node/api.h"
#include "node/api_fanout.h"
#include "node/geoip.h"

/* What must agree between nodes: "type@epoch/size", or "" for none. */
static char *fingerprint(json_t *geoip)
{
        char *out = NULL;
        if (!json_is_object(geoip) || !json_is_true(json_object_get(geoip, "loaded")))
                return strdup("");
        const char *type = json_string_value(json_object_get(geoip, "database_type"));
        if (asprintf(&out, "%s@%lld/%lld", type ? type : "",
                     (long long)json_integer_value(json_object_get(geoip, "build_epoch")),
                     (long long)json_integer_value(json_object_get(geoip, "size"))) < 0)
                return NULL;
        return out;
}

static void finish(struct node_http_request *r, json_t *nodes, void *ctx)
{
        (void)ctx;
        char *first = NULL;
        bool consistent = true;
        size_t i;
        json_t *item;
        json_array_foreach(nodes, i, item)
        {
                if (!json_is_true(json_object_get(item, "reachable")))
                        continue;
                char *fp = fingerprint(json_object_get(item, "geoip"));
                if (fp == NULL)
                        continue;
                if (first == NULL)
                        first = fp;
                else {
                        consistent &= strcmp(first, fp) == 0;
                        free(fp);
                }
        }
        free(first);
        node_http_reply_json(
            r, 200, json_pack("{s:O, s:b}", "nodes", nodes, "consistent", consistent));
}

static json_t *self(struct node_api *api, void *ctx)
{
        (void)ctx;
        return node_geoip_json(api->geoip);
}

/* A member's /v1/health: its "geoip" (null when it has none). */
static json_t *member(int status, json_t *body, void *ctx)
{
        (void)ctx;
        if ((status != 200 && status != 503) || !json_is_object(body))
                return NULL;
        json_t *geoip = json_object_get(body, "geoip");
        return geoip ? json_incref(geoip) : json_null();
}

void node_api_geoip(struct node_http_request *r, void *ctx)
{
        struct node_api_fanout spec = {.target = "/v1/health",
                                       .key = "geoip",
                                       .timeout_ms = 2000,
                                       .self = self,
                                       .member = member,
                                       .finish = finish};
        node_api_fanout(ctx, r, &spec);
}

struct reload {
        struct node_http_request *r;
        struct node_geoip *g;
};

static void reloaded(void *ctx, int rc)
{
        struct reload *re = ctx;
        struct node_geoip *g = re->g;
        if (rc != 0) {
                json_t *body = node_geoip_json(g);
                node_http_reply_json(re->r, 422,
                                     json_pack("{s:{s:s, s:s, s:o}}", "error", "code",
                                               "GeoIPReloadFailed", "message", g->error,
                                               "geoip", body));
        } else {
                node_http_reply_json(re->r, 200,
                                     json_pack("{s:o}", "geoip", node_geoip_json(g)));
        }
        node_http_release(re->r);
        free(re);
}

void node_api_geoip_reload(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        struct node_geoip *g = api->geoip;
        if (g == NULL || g->path[0] == '\0') {
                node_http_reply_json(r, 409,
                                     json_pack("{s:{s:s, s:s}}", "error", "code",
                                               "NoGeoIPDatabase", "message",
                                               "this node has no --geoip-db to reload"));
                return;
        }
        struct reload *re = calloc(1, sizeof(*re));
        if (re == NULL) {
                node_http_reply_error(r, 503, "OutOfMemory", NULL, "out of memory");
                return;
        }
        re->r = r;
        re->g = g;
        node_http_hold(r);
        if (node_geoip_reload_then(g, reloaded, re) != 0) {
                free(re);
                node_http_reply_error(r, 503, "OutOfMemory", NULL, "out of memory");
                node_http_release(r);
        }
}
