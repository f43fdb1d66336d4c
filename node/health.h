/*
 * health.h — a cluster node's health wiring: the replicated check
 * definitions feed this node's scheduler (health/sched.h), its verdicts go
 * back through the log as votes, and the replicated aggregate goes to the
 * DNS query path as health versions.
 *
 *   state (consensus/health.h) --check_changed--> health_sched_put/delete
 *   health_sched --on_state/on_refresh--> one VOTES command per round:
 *       proposed here on the leader, sent to the leader's
 *       POST /v1/healthchecks/votes on a follower
 *   state --status_changed--> a new struct dns_health -> dns_db_health_publish
 *
 * A round sends this node's verdict on every check it probes whose vote in
 * the replicated state is missing, says otherwise, or is older than the
 * check's interval (so votes stay fresh); rounds run at most every
 * NODE_HEALTH_COALESCE_MS after a local flip and every
 * NODE_HEALTH_REFRESH_MS otherwise, one at a time.  Probes leave from the
 * node's API address (each node has its own), or any address when that is
 * a wildcard.
 */
#ifndef NODE_HEALTH_H
#define NODE_HEALTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "consensus/health.h"
#include "health/probe.h"
#include "node/api_json.h"
#include "node/api_metrics.h"
#include "node/closing.h"
#include "node/cluster.h"

#define NODE_HEALTH_COALESCE_MS 200
#define NODE_HEALTH_REFRESH_MS  1000

struct node_health;

/* What this node's probes and vote rounds counted since start (GET /metrics). */
struct node_health_stats {
        uint64_t probes;                        /* finished */
        uint64_t failures[HEALTH_REASON_COUNT]; /* by the probe's reason, not inverted */
        struct node_latency probe_time;         /* a probe's start to its verdict */
        uint64_t votes_proposed;                /* votes in the VOTES this node sent */
        uint64_t rounds_applied, rounds_failed; /* those VOTES: applied, or not */
};

/* Starts probing what the replicated state defines; *out on success.  0 or
 * a negative error (nothing started). */
int node_health_start(struct node_health **out, struct node_cluster *c, uv_loop_t *loop,
                      const struct node_config *cfg);

/* Stops every probe (cancelled) and timer and forgets the state's observer;
 * frees h once its handles have closed and its votes are answered, then
 * releases g (held meanwhile; may be NULL).  NULL h is a no-op. */
void node_health_close(struct node_health *h, struct node_closing *g);

/* The JSON body of a follower's votes ({"node": id, "votes": [...]}), and
 * its parse into a command (strings borrowed from body; *votes is malloc'ed
 * and freed by the caller).  0 or -EINVAL with err naming the field. */
json_t *node_health_votes_json(uint64_t node, const struct cs_health_vote_spec *votes,
                               size_t n);
int node_health_votes_parse(json_t *body, struct cs_health_votes *out,
                            struct cs_health_vote_spec **votes, char *err, size_t errlen);

/*
 * A health check's JSON definition (the API's, node/api_health.c) into cfg
 * (initialised here; free it with health_check_config_free): every problem
 * goes to e with its field — unknown fields, types, ranges, children that
 * do not exist in st (NULL: not looked up), what health_check_validate
 * finds.  self: the id the check has or will have.
 */
void node_health_config_parse(json_t *body, struct health_check_config *cfg,
                              uint64_t self, const struct cs_state *st,
                              struct api_errors *e);

/* The counters above; NULL when h is NULL (no health wiring). */
const struct node_health_stats *node_health_stats(const struct node_health *h);

/* This node's local view of a check (for the status API), or NULL. */
const struct health_local *node_health_local(const struct node_health *h, uint64_t id);

#endif
