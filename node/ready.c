/*
 * ready.c — when a cluster node may serve DNS, and whether it is ready.
 *
 * Restored: starting the replica restores the snapshot synchronously, but the log
 * entries after it are applied only once a leader tells this node they are
 * committed (with several voters).  Serving before then answers REFUSED for
 * zones created in that tail and older data for the rest.  So the node
 * notes the last index of its log at start (the restore target) and counts
 * as restored when it has applied up to it, or — when its tail was never
 * committed and the leader replaces it — when it has applied what the
 * leader had applied at its last poll (a member answers polls with 0 until
 * it is restored itself, node/call.c: when every node restarts at once, the
 * new leader may still be applying its own log, and what it has applied so
 * far is not the whole).  A node with an empty log that did
 * not bootstrap (a joiner) can only be restored by the leader rule.  If no
 * leader confirms the tail within --restore-wait seconds, DNS opens anyway
 * with what is applied (logged, and /v1/health keeps saying so).
 *
 * The restored snapshot is published to DNS in slices (publish_all.c): the
 * node counts as restored only once that is done, so DNS opens on the whole
 * state; a snapshot installed later leaves DNS on the state before it until
 * its publish is done, and the node is not ready meanwhile.
 *
 * Ready (issue 10, part 3): restored, a member, a leader known within the
 * last few election timeouts, and not more than --ready-max-lag entries
 * behind what the leader had applied at its last poll.
 *
 * A 10 ms timer checks the restore condition until it holds; the node's
 * 200 ms tick keeps the time a leader was last seen.
 */
#include "node/ready.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "node/cluster.h"
#include "node/cluster_priv.h"

#define RESTORE_CHECK_MS 10

/* An election timeout is 400 ms (consensus/replica.c); three of them. */
#define NO_LEADER_GRACE_MS 1200

static uint64_t leader_applied(struct node_cluster *c, uint64_t leader)
{
        const struct node_peer *p = node_cluster_peer(c, leader);
        return p != NULL && p->reachable ? p->applied : 0;
}

static void restored(struct node_cluster *c, const char *how)
{
        c->restored = true;
        uv_timer_stop(&c->restore_timer);
        LOG_INFO("restored (%s): applied index %" PRIu64 ", log at start %" PRIu64
                 ", after %" PRIu64 " ms",
                 how, node_cluster_applied(c),
                 c->restore_target == UINT64_MAX ? 0 : c->restore_target,
                 uv_now(c->loop) - c->started_ms);
        if (c->restored_cb != NULL)
                c->restored_cb(c);
}

static void on_restore_check(uv_timer_t *timer)
{
        struct node_cluster *c = timer->data;
        if (c->restored || !c->running)
                return;
        if (c->rebuild != NULL || c->stale_all)
                return; /* DNS opens on the whole restored state, not a part
                         * (a failed build starts again from the tick) */
        uint64_t applied = node_cluster_applied(c);
        if (applied >= c->restore_target) {
                restored(c, "the log is applied");
                return;
        }
        uint64_t leader = consensus_replica_leader(&c->replica, NULL);
        uint64_t target =
            leader != 0 && leader != c->cfg->node_id ? leader_applied(c, leader) : 0;
        if (target > 0 && applied >= target) {
                restored(c, "caught up with the leader");
                return;
        }
        unsigned wait = c->cfg->restore_wait_s;
        if (wait > 0 && uv_now(c->loop) - c->started_ms >= (uint64_t)wait * 1000) {
                LOG_WARN("no leader confirmed the log after %u s: serving DNS with "
                         "index %" PRIu64 " of %" PRIu64 " applied (older data)",
                         wait, applied, c->restore_target);
                c->restore_gave_up = true;
                restored(c, "gave up waiting");
        }
}

int node_ready_start(struct node_cluster *c)
{
        c->started_ms = uv_now(c->loop);
        c->leader_seen_ms = c->started_ms;
        c->restore_target = consensus_replica_last_index(&c->replica);
        if (c->restore_target == 0 && c->cfg->bootstrap_count == 0)
                c->restore_target = UINT64_MAX; /* a joiner: the leader tells */
        int rc = uv_timer_init(c->loop, &c->restore_timer);
        if (rc != 0)
                return rc;
        c->restore_timer.data = c;
        return uv_timer_start(&c->restore_timer, on_restore_check, 0, RESTORE_CHECK_MS);
}

void node_ready_tick(struct node_cluster *c)
{
        if (c->leader_id != 0)
                c->leader_seen_ms = uv_now(c->loop);
}

bool node_ready_check(struct node_cluster *c, char *reason, size_t size)
{
        uint64_t applied = node_cluster_applied(c);
        size_t done, total;
        const char *what;
        if (node_rebuild_progress(c, &done, &total, &what)) {
                if (!c->restored)
                        snprintf(reason, size,
                                 "restoring: publishing the restored state to DNS "
                                 "(%zu of %zu zones)",
                                 done, total);
                else
                        snprintf(reason, size,
                                 "publishing %s to DNS (%zu of %zu zones); DNS serves "
                                 "the state before it until then",
                                 what, done, total);
                return false;
        }
        if (!c->restored) {
                if (c->restore_target == UINT64_MAX)
                        snprintf(reason, size,
                                 "restoring: waiting for the leader's log and snapshot "
                                 "(applied index %" PRIu64 ")",
                                 applied);
                else
                        snprintf(reason, size,
                                 "restoring: applied index %" PRIu64 " of %" PRIu64
                                 " (the rest waits for a leader)",
                                 applied, c->restore_target);
                return false;
        }
        if (c->restore_gave_up && applied < c->restore_target) {
                snprintf(reason, size,
                         "serving unconfirmed data: applied index %" PRIu64 " of %" PRIu64
                         ", no leader has confirmed the rest",
                         applied, c->restore_target);
                return false;
        }
        if (cs_state_member_get(&c->state, c->cfg->node_id) == NULL) {
                snprintf(reason, size,
                         c->was_member ? "removed from the cluster"
                                       : "not a member of the cluster yet");
                return false;
        }
        uint64_t leader = consensus_replica_leader(&c->replica, NULL);
        uint64_t now = uv_now(c->loop);
        if (leader == 0 && now - c->leader_seen_ms > NO_LEADER_GRACE_MS) {
                snprintf(reason, size, "no leader for %" PRIu64 " ms",
                         now - c->leader_seen_ms);
                return false;
        }
        uint64_t ahead =
            leader != 0 && leader != c->cfg->node_id ? leader_applied(c, leader) : 0;
        if (ahead > applied && ahead - applied > c->cfg->ready_max_lag) {
                snprintf(reason, size,
                         "lagging: applied index %" PRIu64 ", the leader's %" PRIu64
                         " (more than %u behind)",
                         applied, ahead, c->cfg->ready_max_lag);
                return false;
        }
        return true;
}

void node_ready_close(struct node_cluster *c, uv_close_cb cb)
{
        uv_close((uv_handle_t *)&c->restore_timer, cb);
}
