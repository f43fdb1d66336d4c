/*
 * api_geoip.c — the GeoIP databases of the cluster's nodes.
 *
 * POST /v1/geoip/reload: this node opens its --geoip-db file again
 * (node/geoip.c), as SIGHUP does, and answers with what is loaded.  The
 * database is a node setting, not replicated state: each node reloads its
 * own, and the call is never relayed.  A file that does not open leaves the
 * loaded database in place and answers 422 with the reason.
 *
 * GET /v1/geoip: asks every other member for its /v1/health (the nodes'
 * calls, node_cluster_call) and answers, once all have answered or failed,
 * each node's database and whether the reachable ones agree (same type,
 * build time and size; none anywhere agrees too).
 */
#include <stdlib.h>
#include <string.h>

#include "node/api.h"
#include "node/cluster.h"
#include "node/geoip.h"

struct fanout {
        struct node_http_request *r; /* held */
        json_t *nodes;
        unsigned pending;
};

struct ask {
        struct fanout *f;
        json_t *item; /* borrowed from f->nodes */
};

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

static void finish(struct fanout *f)
{
        char *first = NULL;
        bool consistent = true;
        size_t i;
        json_t *item;
        json_array_foreach(f->nodes, i, item)
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
            f->r, 200,
            json_pack("{s:o, s:b}", "nodes", f->nodes, "consistent", consistent));
        node_http_release(f->r);
        free(f);
}

static void on_health(void *ctx, int status, const char *type, const char *body,
                      size_t len)
{
        struct ask *a = ctx;
        json_t *root =
            status == 200 || status == 503 ? json_loadb(body, len, 0, NULL) : NULL;
        json_t *geoip = root ? json_object_get(root, "geoip") : NULL;
        json_object_set_new(a->item, "reachable", json_boolean(root != NULL));
        json_object_set(a->item, "geoip", geoip ? geoip : json_null());
        json_decref(root);
        struct fanout *f = a->f;
        free(a);
        if (--f->pending == 0)
                finish(f);
}

void node_api_geoip(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        struct node_cluster *c = api->cluster;
        struct fanout *f = calloc(1, sizeof(*f));
        if (f == NULL) {
                node_http_reply_json(r, 500,
                                     json_pack("{s:{s:s, s:s}}", "error", "code",
                                               "InternalError", "message",
                                               "out of memory"));
                return;
        }
        f->r = r;
        f->nodes = json_array();
        f->pending = 1; /* this call's own share, dropped at the end */
        node_http_hold(r);
        for (size_t i = 0; i < c->state.n_members; i++) {
                const struct cs_member *m = &c->state.members[i];
                json_t *item =
                    json_pack("{s:I, s:s}", "id", (json_int_t)m->id, "name", m->name);
                json_array_append_new(f->nodes, item);
                if (m->id == api->cfg->node_id) {
                        json_object_set_new(item, "reachable", json_true());
                        json_object_set_new(item, "geoip", node_geoip_json(api->geoip));
                        continue;
                }
                struct ask *a = malloc(sizeof(*a));
                struct node_forward_request req = {
                    .method = "GET", .target = "/v1/health", .timeout_ms = 2000};
                if (a != NULL) {
                        *a = (struct ask){f, item};
                        f->pending++;
                        if (node_cluster_call(c, m->id, m->raft_address, m->api_address,
                                              &req, on_health, a) == 0)
                                continue;
                        f->pending--;
                        free(a);
                }
                json_object_set_new(item, "reachable", json_false());
                json_object_set_new(item, "geoip", json_null());
        }
        if (--f->pending == 0)
                finish(f);
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
        if (node_geoip_reload(g) != 0) {
                json_t *body = node_geoip_json(g);
                node_http_reply_json(r, 422,
                                     json_pack("{s:{s:s, s:s, s:o}}", "error", "code",
                                               "GeoIPReloadFailed", "message", g->error,
                                               "geoip", body));
                return;
        }
        node_http_reply_json(r, 200, json_pack("{s:o}", "geoip", node_geoip_json(g)));
}
