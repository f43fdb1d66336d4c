/*
 * peers.c — what this node knows of the other members, and INSYNC (see
 * cluster.h and cluster_priv.h).
 *
 * Every tick polls each member for its applied index: over one long-lived
 * poll channel per member on the authenticated transport (poll.h), or over
 * the API with the plaintext one.  A refused or reset connection marks a
 * member unreachable at once, silence only after PEER_STALE_MS.  On the
 * leader, a change applied by every member (every reachable one under
 * --insync-rule reachable) becomes INSYNC through CHANGES_SYNCED.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/cluster_priv.h"
#include "node/poll.h"

#define PEER_STALE_MS 2000

const struct node_peer *node_cluster_peer(struct node_cluster *c, uint64_t id)
{
        for (unsigned i = 0; i < c->peer_count; i++)
                if (c->peers[i].id == id)
                        return &c->peers[i];
        return NULL;
}

static struct node_peer *peer_slot(struct node_cluster *c, uint64_t id)
{
        for (unsigned i = 0; i < c->peer_count; i++)
                if (c->peers[i].id == id)
                        return &c->peers[i];
        if (c->peer_count == NODE_CLUSTER_MAX_PEERS)
                return NULL;
        struct node_peer *p = &c->peers[c->peer_count++];
        memset(p, 0, sizeof(*p));
        p->id = id;
        return p;
}

struct poll {
        struct node_cluster *c;
        uint64_t id;
};

/* A refused or reset connection means the member is down now; a timeout
 * may be a busy member, so it counts only after PEER_STALE_MS. */
static bool down_now(int status)
{
        return status == UV_ECONNREFUSED || status == UV_ECONNRESET ||
               status == UV_EHOSTUNREACH || status == UV_ENETUNREACH;
}

static void on_polled(void *ctx, int status, const char *type, const char *body,
                      size_t len)
{
        struct poll *p = ctx;
        struct node_peer *peer = p->c->running ? peer_slot(p->c, p->id) : NULL;
        if (peer != NULL) {
                peer->polling = false;
                peer->polled = true;
                peer->call_ctx = NULL;
                json_t *root = status == 200 || status == 503
                                   ? json_loadb(body, len, 0, NULL)
                                   : NULL;
                json_t *applied = root ? json_object_get(root, "applied_index") : NULL;
                json_t *restored = root ? json_object_get(root, "restored") : NULL;
                json_t *served = root ? json_object_get(root, "served_index") : NULL;
                if (json_is_integer(applied)) {
                        /* what the member's DNS serves in full: nothing while
                         * it restores or publishes aside (call.c says why);
                         * a node without served_index, by restored */
                        peer->applied = json_is_integer(served)
                                            ? (uint64_t)json_integer_value(served)
                                        : json_is_false(restored)
                                            ? 0
                                            : (uint64_t)json_integer_value(applied);
                        peer->reachable = true;
                        peer->last_seen_ms = uv_now(p->c->loop);
                } else if (down_now(status) ||
                           uv_now(p->c->loop) - peer->last_seen_ms > PEER_STALE_MS) {
                        peer->reachable = false;
                }
                json_decref(root);
        }
        free(p);
}

static void on_poll_answer(void *ctx, uint64_t id, uint64_t applied, int status)
{
        struct node_cluster *c = ctx;
        struct node_peer *peer = c->running ? peer_slot(c, id) : NULL;
        if (peer == NULL)
                return;
        peer->polled = true;
        if (status != 0) { /* the channel failed or ended: down now */
                peer->reachable = false;
                return;
        }
        peer->applied = applied;
        peer->reachable = true;
        peer->last_seen_ms = uv_now(c->loop);
}

/* Authenticated transport: one long-lived poll channel per member (poll.h). */
static void poll_members(struct node_cluster *c)
{
        uint64_t now = uv_now(c->loop);
        for (unsigned k = 0; k < c->peer_count; k++) {
                struct node_peer *peer = &c->peers[k];
                const struct cs_member *m = cs_state_member_get(&c->state, peer->id);
                if (m == NULL && peer->poller != NULL) { /* removed */
                        node_poller_close(peer->poller);
                        peer->poller = NULL;
                }
                if (now - peer->last_seen_ms > PEER_STALE_MS)
                        peer->reachable = false;
        }
        for (size_t i = 0; i < c->state.n_members; i++) {
                const struct cs_member *m = &c->state.members[i];
                if (m->id == c->cfg->node_id || m->raft_address == NULL ||
                    m->raft_address[0] == '\0')
                        continue;
                struct node_peer *peer = peer_slot(c, m->id);
                if (peer == NULL)
                        continue;
                if (peer->poller == NULL)
                        peer->poller =
                            node_poller_new(c->loop, &c->replica.transport, m->id,
                                            m->raft_address, on_poll_answer, c);
                else
                        node_poller_set_address(peer->poller, m->raft_address);
                if (peer->poller != NULL)
                        node_poller_ask(peer->poller);
        }
}

void node_peers_poll(struct node_cluster *c)
{
        if (c->replica.authenticated) {
                poll_members(c);
                return;
        }
        for (size_t i = 0; i < c->state.n_members; i++) {
                const struct cs_member *m = &c->state.members[i];
                if (m->id == c->cfg->node_id || m->api_address[0] == '\0')
                        continue;
                struct node_peer *peer = peer_slot(c, m->id);
                if (peer == NULL || peer->polling)
                        continue;
                struct poll *p = malloc(sizeof(*p));
                if (p == NULL)
                        continue;
                p->c = c;
                p->id = m->id;
                peer->polling = true;
                struct node_forward_request req = {.method = "GET",
                                                   .target = "/v1/health",
                                                   .timeout_ms = 1000,
                                                   .call = &peer->call};
                if (node_cluster_call(c, m->id, m->raft_address, m->api_address, &req,
                                      on_polled, p) != 0) {
                        peer->polling = false;
                        free(p);
                } else {
                        peer->call_ctx = p;
                }
        }
}

void node_peers_close(struct node_cluster *c)
{
        for (unsigned i = 0; i < c->peer_count; i++) {
                struct node_peer *peer = &c->peers[i];
                node_poller_close(peer->poller);
                peer->poller = NULL;
                if (peer->call != NULL) {
                        node_forward_cancel(peer->call);
                        free(peer->call_ctx);
                        peer->call = NULL;
                        peer->call_ctx = NULL;
                        peer->polling = false;
                }
        }
}

static void on_synced(void *ctx, int status, const struct cs_result *result)
{
        struct node_cluster *c = ctx;
        c->syncing = false;
}

/* Spares are in the configuration but not replicated to. */
static bool counted(const struct consensus_member *s)
{
        return s->role != CONSENSUS_SPARE;
}

void node_cluster_lagging(struct node_cluster *c, uint64_t index, json_t **pending,
                          json_t **unreachable)
{
        *pending = json_array();
        *unreachable = json_array();
        for (size_t i = 0; i < consensus_replica_member_count(&c->replica); i++) {
                struct consensus_member member;
                const struct consensus_member *s = &member;
                consensus_replica_member_at(&c->replica, i, &member);
                if (!counted(s))
                        continue;
                bool self = s->id == c->cfg->node_id;
                const struct node_peer *p = self ? NULL : node_cluster_peer(c, s->id);
                uint64_t applied = self ? node_cluster_served(c) : p ? p->applied : 0;
                bool down = !self && p != NULL && p->polled && !p->reachable;
                if (applied >= index && !down)
                        continue;
                const struct cs_member *m = cs_state_member_get(&c->state, s->id);
                json_t *item = json_pack("{s:I, s:s, s:I}", "id", (json_int_t)s->id,
                                         "name", m != NULL ? m->name : "",
                                         "applied_index", (json_int_t)applied);
                if (down && applied < index)
                        json_array_append_new(*unreachable, item);
                else if (!down)
                        json_array_append_new(*pending, item);
                else
                        json_decref(item);
        }
}

/* Leader: a change applied by every member becomes INSYNC — by every
 * reachable one under --insync-rule reachable (as last polled). */
void node_peers_advance_sync(struct node_cluster *c)
{
        size_t changes = cs_state_change_count(&c->state);
        if (c->syncing || changes == 0)
                return;
        uint64_t newest = cs_state_change_at(&c->state, changes - 1)->index;
        if (newest <= c->state.synced_index)
                return;
        uint64_t low = node_cluster_served(c);
        for (size_t i = 0; i < consensus_replica_member_count(&c->replica); i++) {
                struct consensus_member s;
                consensus_replica_member_at(&c->replica, i, &s);
                if (s.id == c->cfg->node_id || !counted(&s))
                        continue;
                const struct node_peer *p = node_cluster_peer(c, s.id);
                if (c->cfg->insync_reachable && p != NULL && p->polled && !p->reachable)
                        continue; /* down: named in the change, not waited for */
                uint64_t applied = p && p->reachable ? p->applied : 0;
                if (applied < low)
                        low = applied;
        }
        if (low <= c->state.synced_index)
                return;
        struct cs_command cmd = {.type = CS_CMD_CHANGES_SYNCED};
        cmd.u.synced_index = low < newest ? low : newest;
        c->syncing = true;
        node_cluster_propose(c, &cmd, on_synced, c);
}
