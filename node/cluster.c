/*
 * cluster.c — cluster mode, composed (see cluster.h and cluster_priv.h).
 *
 * Starts the replica (consensus/replica.h) with the state machine, whose
 * observer publishes to DNS (publish.c); proposes commands; and runs a tick
 * (every TICK_MS) that publishes stale zones again, notices a removal or a
 * fail-stop, follows the leader, polls the peers and advances INSYNC
 * (peers.c), and registers this node's addresses (members.c).  Everything
 * runs on the node's loop.  A proposal refused at once reports its error
 * from the loop (a zero timer), never from inside node_cluster_propose.
 */
#include "node/cluster.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/zalloc.h"
#include "node/cluster_priv.h"
#include "node/heap.h"
#include "node/poll.h"
#include "node/ready.h"

uint64_t node_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_tick(uv_timer_t *timer);
static void on_replica_closed(struct consensus_replica *r);

/* The owner's stop runs from the tick, never from inside raft's apply. */
void node_cluster_schedule_tick(struct node_cluster *c)
{
        if (c->running && uv_is_active((uv_handle_t *)&c->tick))
                uv_timer_start(&c->tick, on_tick, 0, TICK_MS);
}

/* ---- proposals ----------------------------------------------------------------------
 */

struct node_proposal {
        struct node_cluster *c;
        node_cluster_cb cb;
        void *ctx;
        int status;                 /* refused at once: the error to report */
        bool served;                /* answered once DNS serves the entry */
        struct cs_result *held;     /* applied; its result while DNS catches up */
        struct node_proposal *next; /* on c->refused */
};

/* DNS serves the change, or NODE_CLUSTER_SERVE_WAIT_MS passed, or the cluster
 * closes: the entry is committed and applied in every case. */
static void on_served(void *ctx, int status)
{
        struct node_proposal *p = ctx;
        (void)status;
        p->cb(p->ctx, 0, p->held);
        free(p->held);
        free(p);
}

/* A change applied while the publish of its zone lags (it failed and the
 * tick publishes the zone again, or a restored or installed state is still
 * being published) is answered once DNS serves it: whoever gets the answer
 * can query this node and see the change.  Other zones' lag costs nothing. */
static bool hold_until_served(struct node_proposal *p, const struct cs_result *res)
{
        if (res == NULL || res->status != 0 || res->n_errors != 0 ||
            node_cluster_change_served(p->c, res->index, res->change_id))
                return false;
        p->held = malloc(sizeof(*p->held));
        if (p->held == NULL)
                return false;
        *p->held = *res;
        p->held->errors = NULL; /* none: n_errors is 0 */
        p->held->cap_errors = 0;
        if (node_cluster_wait_served(p->c, res->index, res->change_id,
                                     NODE_CLUSTER_SERVE_WAIT_MS, on_served, p) != NULL)
                return true;
        free(p->held);
        p->held = NULL;
        return false;
}

static void on_proposed(void *ctx, int status, void *result)
{
        struct node_proposal *p = ctx;
        if (status == 0 && p->served && hold_until_served(p, result))
                return;
        p->cb(p->ctx, status, result);
        free(p);
}

/* Reports every refused proposal, oldest first. */
static void report_refused(struct node_cluster *c)
{
        struct node_proposal *list = NULL;
        while (c->refused != NULL) { /* reverse: the list is newest first */
                struct node_proposal *p = c->refused;
                c->refused = p->next;
                p->next = list;
                list = p;
        }
        while (list != NULL) {
                struct node_proposal *p = list;
                list = p->next;
                p->cb(p->ctx, p->status, NULL);
                free(p);
        }
}

static void on_refused(uv_timer_t *timer)
{
        report_refused(timer->data);
}

static void refuse(struct node_cluster *c, struct node_proposal *p, int status)
{
        p->status = status;
        p->next = c->refused;
        c->refused = p;
        if (c->running)
                uv_timer_start(&c->refuse_timer, on_refused, 0, 0);
        else /* after node_cluster_close: no timer left to wait for */
                report_refused(c);
}

void node_cluster_refuse(struct node_cluster *c, int status, node_cluster_cb cb,
                         void *ctx)
{
        struct node_proposal *p = zalloc(1, sizeof(*p));
        if (p == NULL) {
                /* no memory even to defer: the one synchronous report */
                cb(ctx, status, NULL);
                return;
        }
        p->cb = cb;
        p->ctx = ctx;
        refuse(c, p, status);
}

static void propose(struct node_cluster *c, struct cs_command *cmd, bool served,
                    node_cluster_cb cb, void *ctx)
{
        struct node_proposal *p = zalloc(1, sizeof(*p));
        if (p == NULL) {
                cb(ctx, -ENOMEM, NULL); /* no memory even to defer */
                return;
        }
        p->c = c;
        p->served = served;
        p->cb = cb;
        p->ctx = ctx;
        cmd->timestamp_ms = node_now_ms();
        struct raft_buffer buf;
        int rc = c->running ? cs_command_encode(cmd, &buf) : CONSENSUS_E_SHUTDOWN;
        if (rc == 0)
                rc = consensus_replica_propose(&c->replica, buf.base, buf.len,
                                               on_proposed, p);
        if (rc != 0)
                refuse(c, p, rc);
}

void node_cluster_propose(struct node_cluster *c, struct cs_command *cmd,
                          node_cluster_cb cb, void *ctx)
{
        propose(c, cmd, false, cb, ctx);
}

void node_cluster_propose_served(struct node_cluster *c, struct cs_command *cmd,
                                 node_cluster_cb cb, void *ctx)
{
        propose(c, cmd, true, cb, ctx);
}

/* ---- waiting until an index is applied, or a change served -------------------------
 *
 * Waiters are a list; a check handle (run once per loop iteration, after
 * I/O, while the list is not empty) wakes those whose wait is over, and
 * each has a timer for its deadline. */

struct node_index_wait {
        struct node_cluster *c;
        uint64_t index;
        char change_id[CS_ID_MAXLEN + 1]; /* "": applied is enough */
        uv_timer_t deadline;
        void (*cb)(void *ctx, int status);
        void *ctx;
        struct node_index_wait *prev, *next;
};

static void on_wait_freed(uv_handle_t *handle)
{
        free(handle->data);
}

/* Unlinks w and frees it (once its timer is closed); cb not called. */
void node_cluster_wait_cancel(struct node_index_wait *w)
{
        struct node_cluster *c = w->c;
        if (w->prev != NULL)
                w->prev->next = w->next;
        else
                c->index_waits = w->next;
        if (w->next != NULL)
                w->next->prev = w->prev;
        if (c->index_waits == NULL && uv_is_active((uv_handle_t *)&c->index_check))
                uv_check_stop(&c->index_check);
        uv_timer_stop(&w->deadline);
        uv_close((uv_handle_t *)&w->deadline, on_wait_freed);
}

static void wait_end(struct node_index_wait *w, int status)
{
        void (*cb)(void *, int) = w->cb;
        void *ctx = w->ctx;
        node_cluster_wait_cancel(w);
        cb(ctx, status);
}

static void on_wait_deadline(uv_timer_t *timer)
{
        wait_end(timer->data, -ETIMEDOUT);
}

static void on_index_check(uv_check_t *check)
{
        struct node_cluster *c = check->data;
        uint64_t applied = node_cluster_applied(c);
        struct node_index_wait *w = c->index_waits;
        while (w != NULL) {
                struct node_index_wait *next = w->next;
                if (w->change_id[0] != '\0'
                        ? node_cluster_change_served(c, w->index, w->change_id)
                        : w->index <= applied)
                        wait_end(w, 0);
                w = next;
        }
}

static struct node_index_wait *wait_start(struct node_cluster *c, uint64_t index,
                                          const char *change_id, uint64_t timeout_ms,
                                          void (*cb)(void *ctx, int status), void *ctx)
{
        if (!c->running)
                return NULL;
        struct node_index_wait *w = zalloc(1, sizeof(*w));
        if (w == NULL)
                return NULL;
        *w = (struct node_index_wait){.c = c, .index = index, .cb = cb, .ctx = ctx};
        if (change_id != NULL)
                snprintf(w->change_id, sizeof(w->change_id), "%s", change_id);
        uv_timer_init(c->loop, &w->deadline);
        w->deadline.data = w;
        uv_timer_start(&w->deadline, on_wait_deadline, timeout_ms, 0);
        w->next = c->index_waits;
        if (w->next != NULL)
                w->next->prev = w;
        c->index_waits = w;
        if (!uv_is_active((uv_handle_t *)&c->index_check))
                uv_check_start(&c->index_check, on_index_check);
        return w;
}

struct node_index_wait *node_cluster_wait_applied(struct node_cluster *c, uint64_t index,
                                                  uint64_t timeout_ms,
                                                  void (*cb)(void *ctx, int status),
                                                  void *ctx)
{
        return wait_start(c, index, NULL, timeout_ms, cb, ctx);
}

struct node_index_wait *node_cluster_wait_served(struct node_cluster *c, uint64_t index,
                                                 const char *change_id,
                                                 uint64_t timeout_ms,
                                                 void (*cb)(void *ctx, int status),
                                                 void *ctx)
{
        return wait_start(c, index, change_id, timeout_ms, cb, ctx);
}

bool node_cluster_change_served(struct node_cluster *c, uint64_t index,
                                const char *change_id)
{
        if (index > node_cluster_applied(c))
                return false;
        const struct cs_change *change = cs_state_change_get(&c->state, change_id);
        /* gone (evicted) or of no zone: nothing of it for DNS to serve */
        return change == NULL || change->origin == NULL ||
               node_publish_current(c, change->origin, change->origin_len);
}

bool node_cluster_is_leader(struct node_cluster *c)
{
        return c->running && consensus_replica_is_leader(&c->replica);
}

uint64_t node_cluster_applied(struct node_cluster *c)
{
        return consensus_replica_applied(&c->replica);
}

uint64_t node_cluster_served(struct node_cluster *c)
{
        return node_publish_current(c, NULL, 0) ? node_cluster_applied(c) : 0;
}

uint64_t node_cluster_leader(struct node_cluster *c, const char **raft_address)
{
        const char *address = NULL;
        uint64_t id = consensus_replica_leader(&c->replica, &address);
        *raft_address = id != 0 ? address : NULL;
        return id;
}

const char *node_cluster_leader_api(struct node_cluster *c)
{
        uint64_t id = consensus_replica_leader(&c->replica, NULL);
        if (id == 0)
                return NULL;
        if (id == c->cfg->node_id)
                return c->cfg->api_listen;
        const struct cs_member *m = cs_state_member_get(&c->state, id);
        return m != NULL && m->api_address[0] != '\0' ? m->api_address : NULL;
}

/* Fail-stop: the node stops with NODE_EXIT_FAILSTOP (from the tick, never
 * from inside raft). */
static void failstop(struct node_cluster *c, const char *why)
{
        if (c->exit_code != 0 || !c->running)
                return;
        c->exit_code = NODE_EXIT_FAILSTOP;
        snprintf(c->error, sizeof(c->error), "%s", why);
        LOG_ERROR("stopping: %s", why);
        if (c->removed_cb != NULL)
                c->removed_cb(c);
}

static void on_replica_failed(struct consensus_replica *r)
{
        struct node_cluster *c =
            (struct node_cluster *)((char *)r - offsetof(struct node_cluster, replica));
        /* An apply that failed makes raft unavailable too: its own reason
         * first. */
        failstop(c, c->failing ? c->fsm.failmsg : r->failure);
}

/* Runs inside raft's apply: only schedules the stop. */
static void on_fsm_failed(struct cs_fsm *fsm)
{
        struct node_cluster *c =
            (struct node_cluster *)((char *)fsm - offsetof(struct node_cluster, fsm));
        c->failing = true;
        node_cluster_schedule_tick(c);
}

static void on_tick(uv_timer_t *timer)
{
        struct node_cluster *c = timer->data;
        if (c->failing) {
                failstop(c, c->fsm.failmsg);
                return;
        }
        node_publish_retry(c);
        node_members_confirm_removal(c);
        if (c->removed) {
                if (!c->stop_told) {
                        c->stop_told = true;
                        LOG_INFO("%s", c->error);
                        if (c->removed_cb != NULL)
                                c->removed_cb(c);
                }
                return;
        }
        uint64_t leader = consensus_replica_leader(&c->replica, NULL);
        uint64_t term = consensus_replica_term(&c->replica);
        if (leader != c->leader_id) {
                c->leader_id = leader;
                c->leader_term = term;
                if (leader == c->cfg->node_id)
                        LOG_INFO("this node is the leader (term %llu)",
                                 (unsigned long long)term);
                else if (leader != 0)
                        LOG_INFO("leader is node %llu", (unsigned long long)leader);
        } else if (leader != 0 && term != c->leader_term) {
                /* An election between two ticks that the same node won: its
                 * loop, or the followers', missed the heartbeats for an
                 * election timeout. */
                c->leader_term = term;
                LOG_WARN("node %llu is the leader again, in term %llu: there was an "
                         "election",
                         (unsigned long long)leader, (unsigned long long)term);
        }
        node_ready_tick(c);
        node_heap_tick(c->loop, node_cluster_applied(c), uv_now(c->loop));
        node_peers_poll(c);
        node_calls_prune(c);
        node_members_register(c);
        if (node_cluster_is_leader(c)) {
                node_peers_advance_sync(c);
                node_stage_abort_orphans(c);
        }
}

/* ---- start and stop
 * ---------------------------------------------------------------------- */

int node_cluster_start(struct node_cluster *c, uv_loop_t *loop,
                       const struct node_config *cfg, struct dns_db *db,
                       void (*removed_cb)(struct node_cluster *c),
                       void (*restored_cb)(struct node_cluster *c))
{
        memset(c, 0, sizeof(*c));
        c->loop = loop;
        c->cfg = cfg;
        c->db = db;
        c->removed_cb = removed_cb;
        c->restored_cb = restored_cb;
        if (node_members_removed_before(c))
                return -ECANCELED;
        cs_state_init(&c->state);
        node_publish_observe(c);
        if (cs_fsm_init(&c->fsm, &c->state) != 0) {
                snprintf(c->error, sizeof(c->error), "out of memory");
                return -ENOMEM;
        }
        c->fsm.failed_cb = on_fsm_failed;
        if (cfg->raft_plaintext) {
                LOG_WARN("raft-transport plaintext: raft traffic on %s is NEITHER "
                         "AUTHENTICATED NOR ENCRYPTED; anyone who reaches it can commit "
                         "changes to every zone",
                         cfg->raft_listen);
        } else {
                int rc = node_identity_load(&c->identity, cfg->node_id, cfg->node_ca,
                                            cfg->node_cert, cfg->node_key, c->error,
                                            sizeof(c->error));
                if (rc != 0) {
                        cs_fsm_close(&c->fsm);
                        cs_state_fini(&c->state);
                        return rc;
                }
                LOG_INFO("raft: connections authenticated with %s (CA %s)",
                         cfg->node_cert, cfg->node_ca);
        }
        struct consensus_member members[NODE_MAX_BOOTSTRAP];
        for (unsigned i = 0; i < cfg->bootstrap_count; i++)
                members[i] =
                    (struct consensus_member){(raft_id)cfg->bootstrap[i].id,
                                              cfg->bootstrap[i].raft, CONSENSUS_VOTER};
        struct consensus_replica_config rc_cfg = {
            .id = cfg->node_id,
            .address = cfg->raft_listen,
            .data_dir = cfg->data_dir,
            .bootstrap = members,
            .bootstrap_count = cfg->bootstrap_count,
            .channel = cfg->raft_plaintext ? NULL : &c->identity.channel,
        };
        c->running = true; /* the replica may apply (replay) during start */
        /* Applies and a restore during start ask raft for the index, and a
         * restore paces the threshold: raft_init (in start) sets it up
         * before either can happen. */
        c->fsm.raft = &c->replica.raft;
        int rc =
            consensus_replica_start(&c->replica, loop, &c->fsm.raft_fsm, &rc_cfg, NULL);
        if (rc != 0) {
                c->running = false;
                c->fsm.raft = NULL;
                snprintf(c->error, sizeof(c->error), "%s", c->replica.error);
                node_rebuild_free(c);
                node_identity_free(&c->identity);
                cs_fsm_close(&c->fsm);
                cs_state_fini(&c->state);
                return rc;
        }
        cs_fsm_set_raft(&c->fsm, &c->replica.raft);
        c->replica.failed_cb = on_replica_failed;
        if (c->removed || node_members_removed_by_configuration(c)) {
                c->running = false; /* closes asynchronously: main runs the loop */
                consensus_replica_close(&c->replica, on_replica_closed);
                return -ECANCELED;
        }
        node_ready_start(c);
        uv_timer_init(loop, &c->refuse_timer);
        c->refuse_timer.data = c;
        uv_check_init(loop, &c->index_check);
        c->index_check.data = c;
        uv_timer_init(loop, &c->tick);
        c->tick.data = c;
        uv_timer_start(&c->tick, on_tick, 0, TICK_MS);
        uv_timer_init(loop, &c->rebuild_timer);
        c->rebuild_timer.data = c;
        uv_idle_init(loop, &c->rebuild_idle);
        c->rebuild_idle.data = c;
        c->rebuild_timer_ready = true;
        node_rebuild_resume(c);     /* a snapshot restored inside raft_start */
        c->failing = c->fsm.failed; /* an apply during start failed */
        return 0;
}

static void close_state(struct node_cluster *c);

static void on_replica_closed(struct consensus_replica *r)
{
        struct node_cluster *c =
            (struct node_cluster *)((char *)r - offsetof(struct node_cluster, replica));
        if (c->state_readers > 0) {
                c->close_deferred = true; /* the last release closes */
                return;
        }
        close_state(c);
}

void node_cluster_state_hold(struct node_cluster *c)
{
        cs_state_pin(&c->state);
        c->state_readers++;
}

void node_cluster_state_release(struct node_cluster *c)
{
        cs_state_unpin(&c->state);
        if (--c->state_readers == 0 && c->close_deferred) {
                c->close_deferred = false;
                close_state(c);
        }
}

/* Closed when the replica is closed, its state freed and our handles too. */
static void maybe_closed(struct node_cluster *c)
{
        if (c->state_closed && c->closing_handles == 0 && c->closed_cb != NULL)
                c->closed_cb(c);
}

static void close_state(struct node_cluster *c)
{
        node_identity_free(&c->identity);
        cs_fsm_close(&c->fsm);
        cs_state_fini(&c->state);
        node_publish_fini(c);
        c->state_closed = true;
        maybe_closed(c);
}

static void on_handle_closed(uv_handle_t *h)
{
        struct node_cluster *c = h->data;
        c->closing_handles--;
        maybe_closed(c);
}

/* A pool of kept side channels is closed and freed. */
static void on_calls_pool_closed(struct node_cluster *c)
{
        c->closing_handles--;
        maybe_closed(c);
}

/* The last call cancelled by the close has had its callback. */
static void on_calls_ended(struct node_forward_group *g)
{
        struct node_cluster *c =
            (struct node_cluster *)((char *)g - offsetof(struct node_cluster, calls));
        c->closing_handles--;
        maybe_closed(c);
}

int node_cluster_close(struct node_cluster *c, void (*closed_cb)(struct node_cluster *c))
{
        if (!c->running)
                return -EALREADY;
        /* A failure the tick has not reported yet still decides the exit. */
        if (c->failing)
                failstop(c, c->fsm.failmsg);
        else if (c->replica.fence.failed)
                failstop(c, c->replica.fence.message);
        c->running = false;
        c->closed_cb = closed_cb;
        c->closing_handles = 6;
        uv_close((uv_handle_t *)&c->tick, on_handle_closed);
        uv_close((uv_handle_t *)&c->rebuild_timer, on_handle_closed);
        uv_close((uv_handle_t *)&c->rebuild_idle, on_handle_closed);
        c->rebuild_timer_ready = false;
        uv_close((uv_handle_t *)&c->refuse_timer, on_handle_closed);
        report_refused(c); /* as libuv does with requests cut short by a close */
        while (c->index_waits != NULL)
                wait_end(c->index_waits, -ECANCELED);
        uv_close((uv_handle_t *)&c->index_check, on_handle_closed);
        node_ready_close(c, on_handle_closed);
        node_peers_close(c);
        /* Calls to other nodes (votes, reports, relays, polls, member
         * notices) do not hold the stop: their callbacks run with
         * -ECANCELED, before closed_cb. */
        if (node_forward_group_cancel(&c->calls, on_calls_ended) > 0)
                c->closing_handles++;
        c->closing_handles += node_calls_close(c, on_calls_pool_closed);
        node_poll_serve_close_all(&c->poll_served);
        cs_fsm_cancel_snapshot(&c->fsm);
        consensus_replica_close(&c->replica, on_replica_closed);
        return 0;
}

void node_cluster_release(struct node_cluster *c)
{
        consensus_replica_release(&c->replica);
}
