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

#include "dns/db.h"
#include "node/api_json.h"
#include "node/cluster.h"
#include "node/http.h"

struct node_api {
        uv_loop_t *loop;
        struct node_cluster *cluster;
        const struct node_config *cfg;
};

const struct node_http_route *node_api_routes(size_t *count);

/* Shared by the api_*.c files. */
bool node_api_forward_if_follower(struct node_api *api, struct node_http_request *r);
void node_api_reply_result(struct node_http_request *r, int status,
                           const struct cs_result *result);
/* The "error" object node_api_reply_result would send and its HTTP status,
 * or NULL when the command succeeded. */
json_t *node_api_result_error(int status, const struct cs_result *res, int *http);
/* 400 InvalidInput naming the first problem, with all of them in "errors"
 * (list is borrowed). */
void node_api_reply_errors(struct node_http_request *r, json_t *list);
int node_api_zone_param(struct node_http_request *r, uint8_t *origin);
void node_api_request_id(struct node_http_request *r, char *out, size_t size);
json_t *node_api_change_json(struct node_api *api, const struct cs_change *change);
json_t *node_api_zone_json(const struct cs_zone *zone);

/* A zone creation parsed from a JSON object (POST /v1/zones, and each item
 * of POST /v1/zones/bulk); field names in errors start with prefix. */
struct node_api_zone_spec {
        uint8_t origin[256];
        size_t origin_len;
        uint8_t soa_rdata[600];
        uint16_t soa_len;
        uint8_t ns[16][256];
        size_t ns_count;
        uint32_t ttl;
        char comment[CS_COMMENT_MAXLEN + 1];
        char zone_id[32];
        struct cs_rdata soa_value, ns_values[16];
};
int node_api_zone_spec_parse(json_t *body, const char *prefix, long index,
                             struct node_api_zone_spec *z, struct api_errors *errs);
/* The ZONE_CREATE command (with a new random zone id); points into z. */
void node_api_zone_spec_command(struct node_api_zone_spec *z, const char *request_id,
                                struct cs_command *cmd);

/* A master file parsed for an import into the zone origin: one UPSERT per
 * record set, pointing into a private db (im owns everything).  0, -EINVAL
 * (errors: [{"field": prefix "line N", "line": N, "message"}], at most
 * 100), -EIO (cannot stage the text) or -ENOMEM.  Free it either way. */
struct node_api_import {
        struct dns_db db;
        struct dns_txn txn;
        const struct dns_zone *zone; /* the parsed zone */
        struct cs_action *actions;
        size_t n, cap;
        size_t records;
        json_t *errors;
        const char *field_prefix;
        void **chunks; /* owner copies and value arrays */
        size_t nchunks, capchunks;
};
int node_api_import_parse(struct node_api_import *im, const uint8_t *origin,
                          const void *text, size_t len, const char *field_prefix);
void node_api_import_free(struct node_api_import *im);

/* Route handlers (api_cluster.c, api_zones.c, api_changes.c). */
void node_api_health(struct node_http_request *r, void *ctx);
void node_api_cluster(struct node_http_request *r, void *ctx);
void node_api_member_add(struct node_http_request *r, void *ctx);
void node_api_member_remove(struct node_http_request *r, void *ctx);
void node_api_leave(struct node_http_request *r, void *ctx);
void node_api_zones_list(struct node_http_request *r, void *ctx);
void node_api_zone_create(struct node_http_request *r, void *ctx);
void node_api_zones_bulk(struct node_http_request *r, void *ctx); /* api_bulk.c */
void node_api_zone_get(struct node_http_request *r, void *ctx);
void node_api_zone_delete(struct node_http_request *r, void *ctx);
void node_api_zone_export(struct node_http_request *r, void *ctx);
void node_api_zone_import(struct node_http_request *r, void *ctx);
void node_api_rrsets_list(struct node_http_request *r, void *ctx);
void node_api_rrset_get(struct node_http_request *r, void *ctx);
void node_api_changes_post(struct node_http_request *r, void *ctx);
void node_api_change_get(struct node_http_request *r, void *ctx);

#endif
