/*
 * api_fanout.h — one API request answered with every member's view.
 *
 * node_api_fanout() asks each other member of the cluster for `target`
 * (node_cluster_call: the authenticated side channel, or HTTP with this
 * node's token on a plaintext cluster), puts this node's own item in
 * without a call, and once every member has answered or failed calls
 * `finish` with the list [{id, name, reachable, <key>: item}] in member
 * order.  GET /v1/geoip and GET /v1/zones/{zone}/explain use it.
 */
#ifndef NODE_API_FANOUT_H
#define NODE_API_FANOUT_H

#include <jansson.h>
#include <stdbool.h>

#include "node/api.h"

struct node_api_fanout {
        const char *target; /* path and query asked of the others (copied) */
        const char *key;    /* field of each member that holds its item (copied) */
        unsigned timeout_ms;
        /* The calls carry the client's request (authorized here), as a
         * relayed one: needed for routes that take a token. */
        bool relay;
        /* This node's item: a new reference (NULL: unreachable). */
        json_t *(*self)(struct node_api *api, void *ctx);
        /* A member's item from its answer (HTTP status, body parsed or
         * NULL): a new reference, NULL when it gave none. */
        json_t *(*member)(int status, json_t *body, void *ctx);
        /* Answers r from the list (borrowed) and frees ctx. */
        void (*finish)(struct node_http_request *r, json_t *nodes, void *ctx);
        void *ctx;
};

/* Starts the calls; r is held until finish has answered it (with memory
 * short, at once with an empty list). */
void node_api_fanout(struct node_api *api, struct node_http_request *r,
                     const struct node_api_fanout *spec);

#endif
