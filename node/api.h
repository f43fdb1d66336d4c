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
#include "dns/zonefile.h"
#include "node/api_body.h"
#include "node/api_json.h"
#include "node/api_metrics.h"
#include "node/cluster.h"
#include "node/http.h"
#include "node/offload.h"

struct node_api_relay;
struct node_import; /* api_imports.c */
struct node_health; /* health.c */

struct node_geoip;

struct node_latency;

struct node_api {
        uv_loop_t *loop;
        struct node_cluster *cluster;
        const struct node_config *cfg;
        struct node_api_relay *relays; /* writes relayed to the leader (api_relay.c) */
        struct node_import *imports;   /* staged on this node while it leads */
        /* The DNS listeners' counters for /v1/health (NULL: none); a new
         * object owned by the caller. */
        json_t *(*dns_stats)(void *ctx);
        void *dns_stats_ctx;
        /* For /metrics (NULL: none): the DNS listeners' totals and the sum
         * of their per-thread counters, into the caller's t and sum. */
        void (*dns_collect)(void *ctx, struct node_dns_totals *t,
                            struct dns_metrics *sum);
        struct node_api_metrics metrics; /* api_metrics.c */
        struct node_offload offload;     /* exports and import parsing, off the loop */
        struct node_health *health;      /* this node's probes (NULL: none) */
        struct node_geoip *geoip;        /* /v1/health, /v1/geoip/reload; NULL: none */
        struct node_latency *latency;    /* this node's latency wiring (NULL: none) */
};

/* Queues a job on the API's offload queue (node/offload.h). */
static inline void node_api_offload(struct node_api *api, struct node_offload_job *job)
{
        node_offload_submit(&api->offload, api->loop, job);
}

const struct node_http_route *node_api_routes(size_t *count);

/*
 * On a follower, relays the request to the leader and answers it (true);
 * on the leader, false.  A relay whose leader is lost is sent again to the
 * new leader with the same idempotency key (the client's, or one made for
 * the relay), or answered 503 once no leader has been known for 1 s; never
 * later than 30 s.
 */
bool node_api_forward_if_follower(struct node_api *api, struct node_http_request *r);
/* A stopping node answers every relay in flight (503) and ends it. */
void node_api_relays_cancel(struct node_api *api);

/* Shared by the api_*.c files. */
void node_api_reply_result(struct node_http_request *r, int status,
                           const struct cs_result *result);
/* Same for a change batch (borrowed): a DELETE that does not match says what
 * the set holds now. */
void node_api_reply_batch_result(struct node_http_request *r, int status,
                                 const struct cs_result *result, struct node_api *api,
                                 const struct cs_batch *batch);
/* The "error" object node_api_reply_result would send and its HTTP status,
 * or NULL when the command succeeded. */
json_t *node_api_result_error(int status, const struct cs_result *res, int *http);
/* 400 InvalidInput naming the first problem, with all of them in "errors"
 * (list is borrowed). */
void node_api_reply_errors(struct node_http_request *r, json_t *list);
int node_api_zone_param(struct node_http_request *r, uint8_t *origin);
/* Idempotency keys: 1..NODE_API_KEY_MAXLEN printable characters. */
#define NODE_API_KEY_MAXLEN 159 /* with "\n" and 32 hex digits: CS_REQUEST_ID_MAXLEN */
/* The request id of a write (out: CS_REQUEST_ID_MAXLEN + 1 bytes); -1 after
 * answering 400 for a malformed Idempotency-Key. */
int node_api_request_id(struct node_http_request *r, char *out, size_t size);
/* Its two halves, for a route that hashes a large body off the loop: the
 * key's check (-1 after answering 400), and the id from copies of the key
 * (NULL: none, a random id), method, target and body, on any thread (-1:
 * the hash failed). */
int node_api_request_key_check(struct node_http_request *r);
/* 409 IdempotencyKeyMismatch naming Idempotency-Key: the key made `what`
 * ("change C1", "health check 9c1d2e3f4a5b6c7d") for another request. */
void node_api_reply_key_reused(struct node_http_request *r, const char *what);
int node_api_request_id_of(const char *key, const char *method, const char *target,
                           const char *body, size_t body_len, char *out, size_t size);
/* Answers a retried write (200 with the change it made, with the zone when
 * with_zone; like a first answer, once this node's DNS serves that change:
 * r may be held up to NODE_CLUSTER_SERVE_WAIT_MS) or a reused key (409
 * IdempotencyKeyMismatch); false when the request id is new. */
bool node_api_answer_duplicate(struct node_api *api, struct node_http_request *r,
                               const char *request_id, bool with_zone);
json_t *node_api_change_json(struct node_api *api, const struct cs_change *change);
json_t *node_api_zone_json(const struct cs_zone *zone);

/* The ZONE_CREATE command (with a new random zone id); points into z. */
void node_api_zone_spec_command(struct node_api_zone_spec *z, const char *request_id,
                                struct cs_command *cmd);

/* A master file parsed for an import into the zone origin: one UPSERT per
 * record set, with its own copy of the record data (im owns everything),
 * and the parsed zone in a private db until node_api_import_drop_zone; its
 * routed sets (;quorumdns-rrset lines) are parsed too, and added as UPSERTs
 * by node_api_import_add_routed.  0, -EINVAL
 * (errors: [{"field": prefix "line N", "line": N, "message"}], at most
 * 100), -EIO (this node could not read the text) or -ENOMEM.  Free it
 * either way. */
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
        struct api_rrset *routed; /* the text's ;quorumdns-rrset sets (api_routing.h) */
        size_t n_routed;
        bool zone_dropped; /* db and txn freed (node_api_import_drop_zone) */
};
int node_api_import_parse(struct node_api_import *im, const uint8_t *origin,
                          const void *text, size_t len, const char *field_prefix);
/* Appends the routed sets' UPSERTs to the actions (after any DELETE of a
 * replace, as their group rules expect); 0 or -ENOMEM. */
int node_api_import_add_routed(struct node_api_import *im);
/* Frees the parsed zone (about 95 KB however small the text) once the
 * actions, which hold copies of what they need, are all that is used. */
void node_api_import_drop_zone(struct node_api_import *im);
void node_api_import_free(struct node_api_import *im);

/* Route handlers (api_cluster.c, api_zones.c, api_changes.c). */
void node_api_health(struct node_http_request *r, void *ctx);
void node_api_metrics(struct node_http_request *r, void *ctx); /* api_metrics.c */
void node_api_cluster(struct node_http_request *r, void *ctx);
void node_api_geoip_reload(struct node_http_request *r, void *ctx);
void node_api_geoip(struct node_http_request *r, void *ctx);
void node_api_member_add(struct node_http_request *r, void *ctx);
void node_api_member_remove(struct node_http_request *r, void *ctx);
void node_api_leave(struct node_http_request *r, void *ctx);
void node_api_zones_list(struct node_http_request *r, void *ctx);
void node_api_zone_create(struct node_http_request *r, void *ctx);
void node_api_zones_bulk(struct node_http_request *r, void *ctx); /* api_bulk.c */
void node_api_zone_get(struct node_http_request *r, void *ctx);
void node_api_zone_delete(struct node_http_request *r, void *ctx);
/* GET …/export: formatted off the loop (api_export.c). */
void node_api_zone_export(struct node_http_request *r, void *ctx);
/* The zone named by the request, or NULL once answered 404 (api_zones.c). */
const struct cs_zone *node_api_zone_or_404(struct node_api *api,
                                           struct node_http_request *r, uint8_t *origin);
/* Record sets in listing order: owner (DNSSEC canonical), type, set id.
 * Any thread: reads only the sets. */
void node_api_rrsets_sort(const struct cs_rrset **items, size_t n);
void node_api_zone_import(struct node_http_request *r, void *ctx);
/* GET …/explain: what every node answers a client, and why (api_explain.c). */
void node_api_zone_explain(struct node_http_request *r, void *ctx);
void node_api_rrsets_list(struct node_http_request *r, void *ctx);
void node_api_rrset_get(struct node_http_request *r, void *ctx);
void node_api_changes_post(struct node_http_request *r, void *ctx);
void node_api_change_get(struct node_http_request *r, void *ctx);
/* api_health.c */
void node_api_healthchecks_list(struct node_http_request *r, void *ctx);
void node_api_healthcheck_create(struct node_http_request *r, void *ctx);
void node_api_healthcheck_get(struct node_http_request *r, void *ctx);
void node_api_healthcheck_update(struct node_http_request *r, void *ctx);
void node_api_healthcheck_delete(struct node_http_request *r, void *ctx);
void node_api_healthcheck_status(struct node_http_request *r, void *ctx);
void node_api_healthcheck_manual(struct node_http_request *r, void *ctx);
void node_api_healthcheck_heartbeat(struct node_http_request *r, void *ctx);
void node_api_healthcheck_votes(struct node_http_request *r, void *ctx);

/* api_latency.c */
void node_api_latency_list(struct node_http_request *r, void *ctx);
void node_api_latency_put(struct node_http_request *r, void *ctx);
void node_api_latency_delete(struct node_http_request *r, void *ctx);
void node_api_latency_measured(struct node_http_request *r, void *ctx);
/*
 * A large import as a staged import (node/stage.c): batch->actions applied
 * through several raft entries of NODE_STAGE_CHUNK actions, switched in at
 * once; used instead of one change batch from NODE_STAGE_MIN_ACTIONS on.
 * Answers r (held meanwhile).  release(owner), if not NULL, runs once the
 * actions are no longer read (what they point into may then go).
 */
#define NODE_STAGE_CHUNK       512
#define NODE_STAGE_MIN_ACTIONS 4096
void node_api_stage_import(struct node_api *api, struct node_http_request *r,
                           const struct cs_batch *batch, const char *request_id,
                           size_t records, void (*release)(void *owner), void *owner);

/* api_cidr.c */
void node_api_cidr_list(struct node_http_request *r, void *ctx);
void node_api_cidr_create(struct node_http_request *r, void *ctx);
void node_api_cidr_get(struct node_http_request *r, void *ctx);
void node_api_cidr_delete(struct node_http_request *r, void *ctx);
void node_api_cidr_locations(struct node_http_request *r, void *ctx);
void node_api_cidr_blocks(struct node_http_request *r, void *ctx);
void node_api_cidr_change(struct node_http_request *r, void *ctx);
void node_api_import_create(struct node_http_request *r, void *ctx);
void node_api_import_chunk(struct node_http_request *r, void *ctx);
void node_api_import_commit(struct node_http_request *r, void *ctx);
void node_api_import_abort(struct node_http_request *r, void *ctx);
/* Discards the imports still staged (at exit). */
void node_api_imports_free(struct node_api *api);

/* Loads master-file text (borrowed) into origin's zone of txn, adding to it
 * (dns_zonefile_load_part, from memory): 0, -EINVAL (problems reported), or
 * -EIO when this node could not read it (out of memory). */
int node_api_load_text(struct dns_txn *txn, const uint8_t *origin, const char *text,
                       size_t len, dns_zonefile_report_fn report, void *ctx,
                       struct dns_zonefile_stats *stats);

/* Checks batch (borrowed; encoded before return) against the state and
 * proposes it; the answer is the change, or every problem (api_changes.c). */
void node_api_propose_batch(struct node_api *api, struct node_http_request *r,
                            const struct cs_batch *batch, const char *request_id,
                            size_t records);

#endif
