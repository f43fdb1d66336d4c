/*
 * api.h — the /v1 HTTP API of a cluster node (docs/API.md).
 *
 * Reads are answered from this node's replica.  Writes are validated here
 * (every problem of a request reported at once), then proposed through Raft
 * when this node leads, or relayed to the leader's API when it follows, and
 * answered when the command has been applied (committed) — never before.
 */
#ifndef NODE_API_H
#define NODE_API_H

#include <stddef.h>
#include <uv.h>

#include "node/cluster.h"
#include "node/http.h"

struct node_api {
        uv_loop_t *loop;
        struct node_cluster *cluster;
        const struct node_config *cfg;
        /* The DNS listeners' counters for /v1/health (NULL: none); a new
         * object owned by the caller. */
        json_t *(*dns_stats)(void *ctx);
        void *dns_stats_ctx;
};

const struct node_http_route *node_api_routes(size_t *count);

/* Shared by the api_*.c files. */
bool node_api_forward_if_follower(struct node_api *api, struct node_http_request *r);
void node_api_reply_result(struct node_http_request *r, int status,
                           const struct cs_result *result);
/* 400 InvalidInput naming the first problem, with all of them in "errors"
 * (list is borrowed). */
void node_api_reply_errors(struct node_http_request *r, json_t *list);
int node_api_zone_param(struct node_http_request *r, uint8_t *origin);
void node_api_request_id(struct node_http_request *r, char *out, size_t size);
json_t *node_api_change_json(struct node_api *api, const struct cs_change *change);
json_t *node_api_zone_json(const struct cs_zone *zone);

/* Route handlers (api_cluster.c, api_zones.c, api_changes.c). */
void node_api_health(struct node_http_request *r, void *ctx);
void node_api_cluster(struct node_http_request *r, void *ctx);
void node_api_member_add(struct node_http_request *r, void *ctx);
void node_api_member_remove(struct node_http_request *r, void *ctx);
void node_api_leave(struct node_http_request *r, void *ctx);
void node_api_zones_list(struct node_http_request *r, void *ctx);
void node_api_zone_create(struct node_http_request *r, void *ctx);
void node_api_zone_get(struct node_http_request *r, void *ctx);
void node_api_zone_delete(struct node_http_request *r, void *ctx);
void node_api_zone_export(struct node_http_request *r, void *ctx);
void node_api_zone_import(struct node_http_request *r, void *ctx);
void node_api_rrsets_list(struct node_http_request *r, void *ctx);
void node_api_rrset_get(struct node_http_request *r, void *ctx);
void node_api_changes_post(struct node_http_request *r, void *ctx);
void node_api_change_get(struct node_http_request *r, void *ctx);

#endif
