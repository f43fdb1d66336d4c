/*
 * cluster_priv.h — how the parts of cluster mode call each other.
 *
 * cluster.c composes the node: it starts and stops the replica and the
 * state machine, proposes commands, and runs the tick, which calls into
 * the three jobs around them, each in its own file:
 *   publish.c  the state machine's observer: applied commands into the DNS
 *              engine, stale zones published again;
 *   publish_all.c  the whole state into the DNS engine in slices (after a
 *              snapshot restore), taking the changes applied meanwhile;
 *   members.c  registration, membership changes, removal;
 *   peers.c    what the other members have applied, and INSYNC;
 *   stage.c    staged imports: the leader's driver, orphans aborted;
 *   call.c     the nodes' API calls to each other, over kept channels.
 * Everything runs on the node's loop.
 */
#ifndef NODE_CLUSTER_PRIV_H
#define NODE_CLUSTER_PRIV_H

#include "node/cluster.h"

#define TICK_MS 200

/* cluster.c: runs the tick at once (the owner's stop runs from the tick,
 * never from inside raft's apply). */
void node_cluster_schedule_tick(struct node_cluster *c);
/* Reports status to cb from the loop, as a refused proposal is. */
void node_cluster_refuse(struct node_cluster *c, int status, node_cluster_cb cb,
                         void *ctx);

/* call.c: the keep-alive side channels of node_cluster_call, per peer.
 * prune closes those of members gone or moved (from the tick); close
 * closes them all (the closer) and returns how many pools are still
 * closing: closed(c) runs once for each. */
void node_calls_prune(struct node_cluster *c);
unsigned node_calls_close(struct node_cluster *c, void (*closed)(struct node_cluster *c));

/* publish.c */
void node_publish_observe(struct node_cluster *c); /* install the observer */
int node_publish_all(struct node_cluster *c, const char *what);
void node_publish_retry(struct node_cluster *c); /* the stale zones, from the tick */
/* Whether DNS serves the zone (wire name, lowercased; NULL: every zone) as
 * replicated: the state restored, no whole-state publish under way, and no
 * failed publish of it waiting for the tick. */
bool node_publish_current(const struct node_cluster *c, const uint8_t *origin,
                          size_t len);
void node_publish_fini(struct node_cluster *c);
/* One zone or set into txn (a set that cannot be served is logged and
 * skipped: 0); and fn(arg) on libuv's pool (inline when it cannot queue). */
int node_publish_zone(struct node_cluster *c, struct dns_txn *txn,
                      const struct cs_zone *zone);
int node_publish_rrset(struct node_cluster *c, struct dns_txn *txn, const uint8_t *origin,
                       const uint8_t *owner, uint16_t type, const char *set_id,
                       const struct cs_rrset *rrset);
void node_publish_discard(struct node_cluster *c, void (*fn)(void *arg), void *arg);

/* publish_all.c: starts publishing the whole state (replacing a publish
 * under way; slices run once c->rebuild_timer_ready, see resume); the served
 * catalog changes once, when it is done.  0 or -ENOMEM (stale_all set). */
int node_rebuild_start(struct node_cluster *c, const char *what);
void node_rebuild_resume(struct node_cluster *c); /* the timer is ready now */
void node_rebuild_free(struct node_cluster *c);
/* While a publish is under way: zones published so far, of how many, and
 * what is published ("a restored snapshot"). */
bool node_rebuild_progress(const struct node_cluster *c, size_t *done, size_t *total,
                           const char **what);
/* Observer events during a publish: true when it takes them (the served db
 * must not be written then).  A zone created, deleted or replaced... */
bool node_rebuild_zone(struct node_cluster *c, const uint8_t *origin, size_t len);
/* ...and a batch of changed sets. */
bool node_rebuild_changes(struct node_cluster *c, const struct cs_zone *zone,
                          const struct cs_rrset_change *changes, size_t n);
/* IP-based routing (publish_cidr.c): the collection observer, the numbers
 * of a set's collection and location, and a rebuild of every trie. */
void node_publish_cidr_observe(struct node_cluster *c);
void node_publish_cidr_fini(struct node_cluster *c);
void node_publish_cidr_ref(struct node_cluster *c, const struct cs_routing *r,
                           uint32_t *collection, uint32_t *location);
int node_publish_cidr_all(struct node_cluster *c);

/* stage.c, from the tick: the leader aborts the stagings it does not drive
 * (their driver was on a node that lost the leadership). */
void node_stage_abort_orphans(struct node_cluster *c);

/* members.c */
bool node_members_removed_before(struct node_cluster *c); /* DATA_DIR/removed */
/* After the replica started: a configuration that no longer holds us. */
bool node_members_removed_by_configuration(struct node_cluster *c);
void node_members_check(struct node_cluster *c);           /* the member table changed */
void node_members_confirm_removal(struct node_cluster *c); /* from the tick */
void node_members_register(struct node_cluster *c);        /* from the tick */

/* peers.c, from the tick */
void node_peers_poll(struct node_cluster *c);
/* Closing: ends every poll (their callbacks never run). */
void node_peers_close(struct node_cluster *c);
void node_peers_advance_sync(struct node_cluster *c); /* leader */

#endif
