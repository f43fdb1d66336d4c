/*
 * api_geoip.c — POST /v1/geoip/reload: this node opens its --geoip-db file
 * again (node/geoip.c), as SIGHUP does, and answers with what is loaded.
 *
 * The database is a node setting, not replicated state: each node reloads
 * its own, and the call is never relayed.  A file that does not open
 * leaves the loaded database in place and answers 422 with the reason.
 */
#include "node/api.h"
#include "node/geoip.h"

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
