/*
 * api_metrics.h — GET /metrics: the node's counters in the Prometheus text
 * exposition format 0.0.4 (README "Metrics" lists every family).
 *
 * The DNS servers count on their own threads (dns/metrics.h) and the node
 * hands their sum to the endpoint through node_api.dns_collect; the API's
 * own figures (change batches, relays, loop stalls) are counted here on the
 * loop, in struct node_api_metrics; raft and the replicated state are read
 * when the endpoint is scraped.  Health checks: their published status is
 * read from the replicated state, this node's verdicts, probes and vote
 * rounds from node/health.c (node_health_stats, node_health_local).
 */
#ifndef NODE_API_METRICS_H
#define NODE_API_METRICS_H

#include <stdint.h>
#include <uv.h>

#include "consensus/state.h"
#include "node/closing.h"
#include "node/http.h"

/* What the DNS listeners have counted since start, summed over addresses. */
struct node_dns_totals {
        uint64_t rrl_dropped, rrl_slipped;
        uint64_t cookie_valid, cookie_client_only, cookie_bad, badcookie_sent;
        uint64_t tcp_accepted, tcp_refused, tcp_evicted_total, tcp_evicted_per_source;
        uint64_t tcp_idle_timeouts, tcp_message_timeouts;
        uint64_t tcp_open; /* a gauge: connections open now */
        uint64_t qlog_on, qlog_written, qlog_dropped, qlog_reopens; /* dns/qlog.h */
        uint64_t dnstap_on, dnstap_queries, dnstap_responses;       /* dns/dnstap.h */
        uint64_t dnstap_dropped, dnstap_lost, dnstap_reopens;
};

enum node_batch_outcome {
        NODE_BATCH_ACCEPTED,
        NODE_BATCH_INVALID,   /* failed validation (400) */
        NODE_BATCH_NOT_FOUND, /* no such zone or set (404) */
        NODE_BATCH_CONFLICT,  /* 409 */
        NODE_BATCH_NO_QUORUM, /* leadership lost while applying (503) */
        NODE_BATCH_STORAGE,   /* the log write failed (503) */
        NODE_BATCH_INTERNAL,
        NODE_BATCH_OUTCOMES
};

#define NODE_STALL_BUCKETS 11

/* A latency histogram on the loop: per-bucket counts (1 ms .. 5 s, +Inf). */
struct node_latency {
        uint64_t bucket[NODE_STALL_BUCKETS + 1];
        uint64_t sum_ns;
};

/* Counts a duration of ns in h. */
void node_latency_add(struct node_latency *h, uint64_t ns);

/* Counted on the loop. */
struct node_api_metrics {
        uint64_t batches[NODE_BATCH_OUTCOMES];
        struct node_latency commit; /* a proposed batch: proposal to applied */
        uint64_t relays_answered, relays_unknown; /* answered by the leader, or not */
        struct node_latency relay;
        /* Loop stalls: how late a 100 ms timer fires (histogram, ms). */
        uv_timer_t stall_timer;
        bool stall_running;
        uint64_t stall_due_ns;
        struct node_latency stall;
        /* Elections this node has seen: the term's increases. */
        uint64_t last_term;
        uint64_t elections;
};

struct node_api;
struct dns_metrics;

/* The route table of a --metrics-listen listener: GET /metrics alone. */
const struct node_http_route *node_api_metrics_routes(size_t *count);

/* Starts the loop-stall timer of api->metrics. */
void node_api_metrics_start(struct node_api *api);
/* Closes the loop-stall timer through g. */
void node_api_metrics_stop(struct node_api *api, struct node_closing *g);

/* A change batch's outcome, as node_api_reply_result answers it. */
void node_api_metrics_batch(struct node_api *api, int status,
                            const struct cs_result *res);
/* A proposed batch was applied `ns` after it was proposed. */
void node_api_metrics_commit(struct node_api *api, uint64_t ns);
/* A relayed write ended after `ms`; answered: the leader's answer reached
 * the client. */
void node_api_metrics_relay(struct node_api *api, bool answered, uint64_t ms);

#endif
