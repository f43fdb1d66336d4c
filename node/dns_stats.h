/*
 * dns_stats.h — the DNS listeners' counters, summed for GET /v1/health
 * ("dns"), GET /metrics and the "DNS limits" log line.
 *
 * Each UDP server counts its rate-limiting and cookie outcomes (atomics,
 * bumped on its thread), each TCP server its connections (on the loop),
 * the query log and dnstap their lines and frames; the node names them in a
 * struct node_dns_sources and these functions read them, on the loop, into
 * one struct node_dns_totals (node/api_metrics.h) that the callers turn
 * into JSON, a log line, or — with every server's struct dns_metrics
 * merged — the /metrics families.
 */
#ifndef NODE_DNS_STATS_H
#define NODE_DNS_STATS_H

#include <jansson.h>
#include <stdbool.h>

#include "dns/metrics.h"
#include "dns/server.h"
#include "node/api_metrics.h"

/* What the node serves with: servers[0..servers-1] of udp and tcp, the
 * query log and dnstap (NULL: off). */
struct node_dns_sources {
        const struct dns_udp_server *udp;
        const struct dns_tcp_server *tcp;
        unsigned servers;
        struct dns_qlog *qlog;
        struct dns_dnstap *dnstap;
};

/* Everything the sources counted since start, into *t. */
void node_dns_stats_totals(const struct node_dns_sources *src, struct node_dns_totals *t);

/* Adds every server's per-thread query counters into *sum. */
void node_dns_stats_merge(const struct node_dns_sources *src, struct dns_metrics *sum);

/* /v1/health "dns": rate limiting, cookies and TCP (a new reference). */
json_t *node_dns_stats_json(const struct node_dns_totals *t);

/* Whether what the limits refused changed between *logged and *now (the
 * counters of normal life, such as connections and idle timeouts, do not
 * count): the periodic check before a warning. */
bool node_dns_stats_limits_changed(const struct node_dns_totals *now,
                                   const struct node_dns_totals *logged);

/* One log line of what the limits did since *since (a warning), or since
 * start when since is NULL (information, at shut-down). */
void node_dns_stats_log_limits(const struct node_dns_totals *now,
                               const struct node_dns_totals *since);

#endif
