/*
 * latency.h — a cluster node's latency wiring: the replicated latency map
 * (consensus/latency.h) compiled for the query path, and this node's own
 * RTT measurements proposed to it.
 *
 *   state --latency changed--> (coalesced on a zero timer) every entry's
 *       effective RTT copied -> dns_latency_compile on libuv's pool (one at a
 *       time) -> dns_db_latency_publish back on the loop
 *   TCP server --dns_rtt_record (one per connection)--> the node's
 *       dns_rtt_table (dns/rtt.h)
 *   every latency-report-interval: the busiest CS_LATENCY_MEASURED_BATCH_MAX
 *       networks of the table -> one LATENCY_MEASURED command for this
 *       node's --region: proposed here when leading, else POSTed to the
 *       leader's /v1/latency-map/measured; the leader also proposes an
 *       empty one when measured values are due to age out.
 *
 * A node without --region measures nothing (its RTTs would be for no
 * region) but still compiles and serves the map.  The JSON bodies of the
 * API (node/api_latency.c) are parsed by node_latency_body_parse(), also
 * the fuzz target's entry point.
 */
#ifndef NODE_LATENCY_H
#define NODE_LATENCY_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "consensus/latency.h"
#include "dns/rtt.h"
#include "node/api_json.h"
#include "node/closing.h"
#include "node/cluster.h"

struct node_latency;

/* Starts compiling the map and, with rtt (borrowed, may be NULL: nothing
 * measured) and a --region, reporting.  0 or -ENOMEM. */
int node_latency_start(struct node_latency **out, struct node_cluster *c, uv_loop_t *loop,
                       const struct node_config *cfg, struct dns_rtt_table *rtt);
/* Stops the timers and forgets the observer; frees l once they closed and
 * no report is in flight, then releases g (held meanwhile; may be NULL).
 * NULL l is a no-op. */
void node_latency_close(struct node_latency *l, struct node_closing *g);

/* Counters for the API: reports proposed or sent, prefixes in them, and the
 * prefixes of the published map. */
json_t *node_latency_stats(const struct node_latency *l);

enum node_latency_body {
        NODE_LATENCY_BODY_PUT,      /* {"entries":[{prefix, region, rtt_ms}]} */
        NODE_LATENCY_BODY_DELETE,   /* {"entries":[{prefix, region?}]} */
        NODE_LATENCY_BODY_MEASURED, /* {"node","region","entries":[{prefix,
                                       rtt_us, samples}]} */
};

/*
 * Parses an API body into a batch (strings borrowed from body; *items is
 * malloc'ed, the caller frees it): every problem goes to errs with its
 * field ("entries[3].prefix"): prefixes "ADDRESS/LENGTH" with no bits set
 * past the length, regions that this node knows (--region-coordinates; any
 * well-formed name for MEASURED), RTTs 0.001..60000 ms.  0, or -EINVAL
 * (errors added) or -ENOMEM.
 */
int node_latency_body_parse(json_t *body, enum node_latency_body mode,
                            struct cs_latency_batch *out, struct cs_latency_item **items,
                            struct api_errors *errs);

/* "192.0.2.0/24" or "2001:db8::/48" into p: 0, or -EINVAL with why. */
int node_latency_prefix_parse(const char *text, struct cs_latency_prefix *p, char *why,
                              size_t whylen);
void node_latency_prefix_text(const struct cs_latency_prefix *p, char *out, size_t size);

#endif
