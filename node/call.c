/*
 * call.c — the nodes' API calls to each other (see cluster.h,
 * node_cluster_call), and the listening end of them.
 *
 * With the authenticated raft transport, a call to node N goes over a side
 * channel of that transport to N's raft address: TLS with both nodes'
 * certificates, N's proven by its certificate, ours shown to N, who serves
 * it with the API's routes (node_http_accept_peer) and needs no token.  So
 * no node sends the operator's token to another, and a member entry naming
 * a wrong address reaches nobody but the node that holds N's key.
 *
 * The side channels are kept open between calls (forward.h's pools, one
 * per peer, HTTP/1.1 keep-alive; the peer's h2o keeps its end), so a relayed
 * write costs no TLS handshake: a pool is made at the first call to a peer
 * (keyed by its id and raft address), closed when the member leaves the
 * member table (the tick's prune) or is called at another raft address,
 * and by the
 * cluster's closer, whose stop waits until every channel is closed and
 * freed.
 *
 * With --raft-transport plaintext there is no side channel: calls go to the
 * member's API address over HTTP(S) with this node's admin token, as the
 * whole cluster is unauthenticated then anyway.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/cluster_priv.h"
#include "node/config.h"
#include "node/poll.h"

#include <unistd.h>

struct side_connect {
        void (*done)(void *arg, int status, int fd);
        void *arg;
};

/* The kept channels to one peer. */
struct node_call_peer {
        struct node_cluster *c;
        uint64_t id;
        char raft[64];
        struct node_forward_pool *pool;
        struct node_call_peer *next;
        void (*closed)(struct node_cluster *c); /* the closer's, once closed */
};

static void on_side(void *ctx, int status, raft_id peer, int fd)
{
        struct side_connect *s = ctx;
        s->done(s->arg, status, fd);
        free(s);
}

/* The pool's connector: a new side channel to the peer. */
static int side_connect(void *ctx, void (*done)(void *arg, int status, int fd), void *arg)
{
        struct node_call_peer *p = ctx;
        struct side_connect *s = malloc(sizeof(*s));
        if (s == NULL)
                return -ENOMEM;
        s->done = done;
        s->arg = arg;
        int rc = consensus_transport_side_connect(
            &p->c->replica.transport, NODE_SIDE_HTTP, p->id, p->raft, on_side, s);
        if (rc != 0)
                free(s);
        return rc;
}

static void on_pool_closed(void *arg)
{
        struct node_call_peer *p = arg;
        void (*closed)(struct node_cluster *) = p->closed;
        struct node_cluster *c = p->c;
        free(p);
        if (closed != NULL)
                closed(c);
}

/* Unlinked already: closes its pool (exchanges in flight run on, their
 * channels closed when they end) and frees it with it.  True when the
 * pool is still closing (closed runs later). */
static bool peer_close(struct node_call_peer *p, void (*closed)(struct node_cluster *c))
{
        p->closed = closed;
        if (node_forward_pool_close(p->pool, on_pool_closed, p) > 0)
                return true;
        free(p);
        return false;
}

/* The pool for node id at raft address, made at the first call. */
static struct node_call_peer *peer_get(struct node_cluster *c, uint64_t id,
                                       const char *raft)
{
        for (struct node_call_peer **pp = &c->call_peers; *pp != NULL;
             pp = &(*pp)->next) {
                struct node_call_peer *p = *pp;
                if (p->id != id)
                        continue;
                if (strcmp(p->raft, raft) == 0)
                        return p;
                *pp = p->next; /* the member moved: a new pool */
                peer_close(p, NULL);
                break;
        }
        struct node_call_peer *p = calloc(1, sizeof(*p));
        if (p == NULL)
                return NULL;
        p->c = c;
        p->id = id;
        snprintf(p->raft, sizeof(p->raft), "%s", raft);
        p->pool = node_forward_pool_new(
            c->loop, side_connect, p,
            node_forward_pool_idle_ms(c->cfg->api_limits.request_timeout_ms));
        if (p->pool == NULL) {
                free(p);
                return NULL;
        }
        p->next = c->call_peers;
        c->call_peers = p;
        return p;
}

void node_calls_prune(struct node_cluster *c)
{
        for (struct node_call_peer **pp = &c->call_peers; *pp != NULL;) {
                struct node_call_peer *p = *pp;
                const struct cs_member *m = cs_state_member_get(&c->state, p->id);
                /* The state names no members before its first apply: kept.
                 * A member that moved gets a new pool at its next call. */
                if (c->state.n_members == 0 || m != NULL) {
                        pp = &p->next;
                        continue;
                }
                *pp = p->next;
                LOG_DEBUG("calls: channels to node %llu closed (no longer a member)",
                          (unsigned long long)p->id);
                peer_close(p, NULL);
        }
}

unsigned node_calls_close(struct node_cluster *c, void (*closed)(struct node_cluster *c))
{
        unsigned closing = 0;
        while (c->call_peers != NULL) {
                struct node_call_peer *p = c->call_peers;
                c->call_peers = p->next;
                closing += peer_close(p, closed);
        }
        return closing;
}

static const char *admin_token(const struct node_config *cfg)
{
        for (unsigned i = 0; i < cfg->token_count; i++)
                if (cfg->tokens[i].scope == 2)
                        return cfg->tokens[i].secret;
        return NULL;
}

int node_cluster_call(struct node_cluster *c, uint64_t id, const char *raft_address,
                      const char *api_address, const struct node_forward_request *req,
                      node_forward_cb cb, void *ctx)
{
        if (c->calls.cancelled)
                return -ESHUTDOWN;
        struct node_forward_request tracked = *req;
        tracked.group = &c->calls; /* the cluster's closer ends it */
        if (c->replica.authenticated) {
                if (raft_address == NULL || strlen(raft_address) >= 64)
                        return -EINVAL;
                struct node_call_peer *p = peer_get(c, id, raft_address);
                if (p == NULL)
                        return -ENOMEM;
                tracked.authorization = NULL; /* the certificates speak for us */
                return node_forward_pooled(p->pool, &tracked, cb, ctx);
        }
        struct sockaddr_storage addr;
        const char *token = admin_token(c->cfg);
        if (api_address == NULL || node_parse_address(api_address, 0, &addr) != 0)
                return -EINVAL;
        char auth[160];
        if (req->authorization == NULL && token != NULL) {
                snprintf(auth, sizeof(auth), "Bearer %s", token);
                tracked.authorization = auth;
        }
        return node_forward(c->loop, (struct sockaddr *)&addr, &tracked, cb, ctx);
}

int node_cluster_post_leader(struct node_cluster *c, const char *target, const char *body,
                             node_forward_cb cb, void *ctx)
{
        const char *raft = NULL;
        uint64_t leader = node_cluster_leader(c, &raft);
        const struct cs_member *m =
            leader ? cs_state_member_get(&c->state, leader) : NULL;
        if (leader == 0 || m == NULL)
                return -EAGAIN;
        struct node_forward_request req = {.method = "POST",
                                           .target = target,
                                           .content_type = "application/json",
                                           .body = body,
                                           .body_len = strlen(body),
                                           .timeout_ms = 3000};
        return node_cluster_call(c, leader, raft ? raft : m->raft_address, m->api_address,
                                 &req, cb, ctx);
}

/* What this node answers to the others' polls: node_cluster_served, 0 until
 * it is restored (its snapshot and log applied and published, DNS open) and
 * while DNS serves less than it applied.  A restarting member
 * must not count for INSYNC, and a node restarting with it must not take
 * its half-applied log for the whole (ready.c's "caught up with the
 * leader" rule: when every node restarts at once, the new leader may still
 * be applying its own log). */
static uint64_t applied_index(void *ctx)
{
        struct node_cluster *c = ctx;
        return node_cluster_served(c);
}

static void on_side_accepted(void *ctx, unsigned kind, raft_id peer, int fd)
{
        struct node_cluster *c = ctx;
        if (c->http == NULL || !c->running) {
                close(fd); /* stopping: no new calls or polls (their peers retry) */
                return;
        }
        if (kind == NODE_SIDE_HTTP)
                node_http_accept_peer(c->http, fd, peer);
        else if (kind == NODE_SIDE_POLL)
                node_poll_serve(c->loop, fd, applied_index, c, &c->poll_served);
        else
                close(fd);
}

void node_cluster_serve_calls(struct node_cluster *c, struct node_http *http)
{
        c->http = http; /* NULL: the API is closing, side channels are refused */
        if (http != NULL && c->replica.authenticated)
                consensus_transport_side_listen(&c->replica.transport, on_side_accepted,
                                                c);
}
