/*
 * cluster.h — a node in cluster mode: the replicated state, its Raft
 * replica, and the DNS engine fed from it.
 *
 * The state machine (consensus/) applies commands on the node's loop; its
 * observer publishes every applied command to the DNS engine as one dns_db
 * transaction, so a change batch becomes visible to queries atomically.
 * The cluster also keeps what a node learns about its peers (leader, each
 * member's applied index and reachability, polled over the API), proposes
 * CHANGES_SYNCED when every member has applied a change (PENDING → INSYNC),
 * registers this node's addresses in the member table, and stops the node
 * when it is removed from the cluster.
 */
#ifndef NODE_CLUSTER_H
#define NODE_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "consensus/command.h"
#include "consensus/fsm.h"
#include "consensus/replica.h"
#include "consensus/state.h"
#include "dns/db.h"
#include "node/config.h"
#include "node/forward.h"
#include "node/http.h"
#include "node/identity.h"

#define NODE_CLUSTER_MAX_PEERS 16

/* The node's exit status after a fail-stop: a log write or an apply could
 * not complete (the node recovers from its log and snapshot on restart). */
#define NODE_EXIT_FAILSTOP 3

struct node_poller;
struct node_proposal;
struct node_index_wait;
struct node_dns_staging; /* publish.c */

struct node_peer {
        uint64_t id;
        struct node_poller *poller; /* authenticated transport: its poll channel */
        uint64_t applied;           /* last applied index it reported */
        bool reachable; /* answered a recent poll (a refused one: no at once) */
        bool polled;    /* a poll has ended, answered or not */
        bool polling;
        struct node_forward_call *call; /* plaintext transport: the poll in flight */
        void *call_ctx;                 /* and its context (freed if cancelled) */
        uint64_t last_seen_ms;          /* uv_now of its last answer */
};

struct node_cluster;

/* A zone whose publish to DNS failed (published again by the tick). */
#define NODE_CLUSTER_MAX_STALE 32
struct node_stale_zone {
        uint8_t origin[256]; /* wire name */
        uint16_t len;
};

/* Outcome of a proposal: status 0 and the FSM's result, or a negative error. */
typedef void (*node_cluster_cb)(void *ctx, int status, const struct cs_result *result);

struct node_cluster {
        uv_loop_t *loop;
        const struct node_config *cfg;
        struct dns_db *db;
        struct cs_state state;
        struct cs_fsm fsm;
        struct consensus_replica replica;
        struct node_identity identity; /* unless cfg->raft_plaintext */
        struct node_http *http;        /* serves the other nodes' calls */
        bool running;
        bool was_member; /* our id has been in the member table */
        /* loop ms when our id left the member table (0: it is there or never
         * was); a removal only once that lasts (see member_check) */
        uint64_t absent_since_ms;
        bool registered; /* member table holds our current addresses */
        bool registering;
        uint64_t leader_id;
        uint64_t leader_term; /* the term leader_id was seen leading in */
        uv_timer_t tick;
        struct node_proposal *refused; /* refused at once, reported from the loop */
        uv_timer_t refuse_timer;
        struct node_index_wait *index_waits; /* node_cluster_wait_* */
        uv_check_t index_check;              /* active while there are waiters */
        struct node_peer peers[NODE_CLUSTER_MAX_PEERS];
        unsigned peer_count;
        bool syncing;   /* a CHANGES_SYNCED proposal is in flight */
        char **set_ids; /* interned routing set ids; index + 1 = DNS set id */
        uint32_t set_id_count;
        /* Interned health check ids: index + 1 is the number a routed set
         * carries in the DNS engine, and status[index] of the health
         * version (dns/route.h) is that check's. */
        struct node_health_id **health_ids;
        uint32_t health_id_count;
        struct pmap_flat health_map; /* struct node_health_id by id */
        /* Interned CIDR collection ids and (collection, location) names:
         * the numbers IP-based sets and the tries carry (publish_cidr.c). */
        struct node_cidr_name **cidr_names;
        uint32_t cidr_name_count;
        struct pmap_flat cidr_map; /* struct node_cidr_name by key */
        bool cidr_stale;           /* a trie failed to publish: rebuild all */
        bool cidr_building;        /* a trie is being built off the loop */
        uint64_t cidr_generation;  /* of the latest collection change */
        /* Told when an id is interned (node/health.c publishes again). */
        void (*health_interned)(void *ctx);
        void *health_ctx;
        /* The node must stop: removed from the cluster (exit_code 0) or
         * failed (exit_code NODE_EXIT_FAILSTOP, the reason in error). */
        void (*removed_cb)(struct node_cluster *cluster);
        int exit_code;
        bool failing; /* a fail-stop waits for the next tick */
        struct node_stale_zone stale[NODE_CLUSTER_MAX_STALE];
        unsigned n_stale;
        bool stale_all; /* every zone must be published again */
        /* The whole state being published in slices (publish_all.c): an
         * idle handle runs them (a test build's pace: the timer), set up
         * once the replica started. */
        struct node_rebuild *rebuild;
        uv_idle_t rebuild_idle;
        uv_timer_t rebuild_timer;
        bool rebuild_timer_ready;
        unsigned publish_failures;
        /* Staged imports (node/stage.c): the DNS zone each builds
         * (publish.c), the ids this node's API drives as leader, and
         * whether an abort of another's is in flight. */
        struct node_dns_staging *dns_stagings;
        uint64_t stage_driven[CS_STAGING_MAX];
        unsigned n_stage_driven;
        bool stage_aborting;
        unsigned state_readers; /* off-loop readers of the pinned state */
        bool close_deferred;    /* the state is freed once they are done */
        bool removed;           /* removed from the cluster (DATA_DIR/removed says so) */
        bool stop_told;
        void (*closed_cb)(struct node_cluster *cluster);
        unsigned closing_handles; /* the tick, check and timers, until closed */
        struct node_poll_server *poll_served; /* the polls this node answers */
        /* Every node_cluster_call in flight, whoever made it: the closer
         * cancels those still running (their callbacks get -ECANCELED) and
         * waits for their callbacks before closed_cb. */
        struct node_forward_group calls;
        /* Keep-alive side channels per peer for those calls (call.c): closed
         * when the member leaves or moves, and by the closer. */
        struct node_call_peer *call_peers;
        /* node_publish_discard jobs queued on libuv's pool whose after-work
         * callback has not run: the node's stop runs the loop until none is
         * left (main.c), before it frees anything else. */
        unsigned discards;
        bool state_closed; /* the replica closed and the state freed */
        /* Restoring (node/ready.c): DNS opens once the state is restored. */
        void (*restored_cb)(struct node_cluster *cluster);
        uv_timer_t restore_timer;
        uint64_t restore_target;             /* last log index at start (or UINT64_MAX) */
        uint64_t started_ms, leader_seen_ms; /* uv_now */
        bool restored;
        bool restore_gave_up; /* served after --restore-wait without the rest */
        char error[512];
};

/*
 * Calls node `id`'s API: over the authenticated side channel to its raft
 * address (no token; see call.c), or, with the plaintext transport, over
 * HTTP(S) to api_address with this node's admin token.  Returns 0 (cb runs
 * exactly once, as with node_forward) or a negative error (it never runs):
 * -ESHUTDOWN once the cluster is closing.  A call still running when the
 * cluster closes is cancelled: cb runs with -ECANCELED, before the
 * cluster's closed_cb, so that no call completes after its owner is gone.
 */
int node_cluster_call(struct node_cluster *c, uint64_t id, const char *raft_address,
                      const char *api_address, const struct node_forward_request *req,
                      node_forward_cb cb, void *ctx);

/*
 * POSTs the JSON text `body` to `target` on the leader's API, through
 * node_cluster_call.  Returns 0 (cb runs exactly once) or a negative error
 * (it never runs): -EAGAIN while there is no known leader.
 */
int node_cluster_post_leader(struct node_cluster *c, const char *target, const char *body,
                             node_forward_cb cb, void *ctx);

/* The API server that answers the other nodes' calls (borrowed). */
void node_cluster_serve_calls(struct node_cluster *c, struct node_http *http);

/* Starts the replica and everything around it; c->error gets a one-line
 * reason.  restored_cb runs once, later on the loop, when the snapshot and
 * log are applied (node/ready.c): serve DNS from then on.  A node removed
 * from the cluster (DATA_DIR/removed, written when it learnt of its
 * removal, or a raft configuration without it) does not start: -ECANCELED
 * with c->removed set (the node exits 0). */
int node_cluster_start(struct node_cluster *c, uv_loop_t *loop,
                       const struct node_config *cfg, struct dns_db *db,
                       void (*removed_cb)(struct node_cluster *c),
                       void (*restored_cb)(struct node_cluster *c));
/* Ends waits and polls (cancelled), closes the cluster's handles and the
 * replica; closed_cb (may be NULL) once all of it is closed.  -EALREADY (and
 * no callback) when not running. */
int node_cluster_close(struct node_cluster *c, void (*closed_cb)(struct node_cluster *c));
/* Frees what raft keeps after its close (consensus_replica_release): after
 * the loop has run dry.  A cluster never started has nothing to free. */
void node_cluster_release(struct node_cluster *c);

bool node_cluster_is_leader(struct node_cluster *c);
/* True while this node's log holds no raft configuration: a node started
 * with an empty data directory that waits to be added (--join). */
bool node_cluster_awaits_join(struct node_cluster *c);
/* The leader's id as this node knows it (0: none) and its raft address. */
uint64_t node_cluster_leader(struct node_cluster *c, const char **raft_address);
const char *node_cluster_leader_api(struct node_cluster *c);
uint64_t node_cluster_applied(struct node_cluster *c);
/* The applied index DNS serves in full, as the other nodes count it for
 * INSYNC: 0 while the node restores, while a whole-state publish
 * (publish_all.c) builds the catalog aside, and while a zone whose publish
 * failed waits for its retry — the served catalog is then behind the
 * applied state. */
uint64_t node_cluster_served(struct node_cluster *c);

/*
 * The number the DNS engine knows a health check by (1 + its index in a
 * health version, dns/route.h), interned on first use; 0 for NULL or "" (no
 * check) or when out of memory.  The health wiring builds each published
 * version with status[n - 1] for check n.
 */
uint32_t node_cluster_health_index(struct node_cluster *c, const char *check_id);
/* The check id interned as number (1-based), or NULL. */
const char *node_cluster_health_id(const struct node_cluster *c, uint32_t number);

/*
 * Proposes cmd (stamped with the leader's clock here).  cb runs once, later,
 * from the loop, with the FSM's result (valid during the call), or with a
 * negative errno or consensus_error (consensus/replica.h): e.g.
 * CONSENSUS_E_NOT_LEADER, or CONSENSUS_E_LEADERSHIP_LOST (the outcome is
 * then unknown: retry with the same request id).
 */
void node_cluster_propose(struct node_cluster *c, struct cs_command *cmd,
                          node_cluster_cb cb, void *ctx);

/*
 * The same, for a write whose answer goes to a client: a successful result
 * is reported once this node's DNS serves the change's zone
 * (node_cluster_change_served), so that whoever gets the answer can query
 * this node and see the change.  A publish of that zone that lags (it
 * failed and the tick publishes it again, or a restored state is still
 * being published) is waited for at most NODE_CLUSTER_SERVE_WAIT_MS; the
 * entry is committed and applied either way.
 */
#define NODE_CLUSTER_SERVE_WAIT_MS 1000
void node_cluster_propose_served(struct node_cluster *c, struct cs_command *cmd,
                                 node_cluster_cb cb, void *ctx);

/*
 * Whether this node has applied raft index `index`, where change
 * `change_id` was made, and its DNS serves that change's zone (or the
 * change concerns no zone, or its record is gone).
 */
bool node_cluster_change_served(struct node_cluster *c, uint64_t index,
                                const char *change_id);

/*
 * Waits until this node has applied raft index `index`
 * (node_cluster_wait_applied), or until node_cluster_change_served(c,
 * index, change_id) (node_cluster_wait_served): cb(ctx, 0) then,
 * -ETIMEDOUT after timeout_ms, -ECANCELED when the cluster closes.  cb runs
 * from the loop (checked after each loop iteration), never from inside the
 * call.  Returns the wait, for node_cluster_wait_cancel (cb then never
 * runs), or NULL when out of memory (cb never runs).
 */
struct node_index_wait *node_cluster_wait_applied(struct node_cluster *c, uint64_t index,
                                                  uint64_t timeout_ms,
                                                  void (*cb)(void *ctx, int status),
                                                  void *ctx);
struct node_index_wait *node_cluster_wait_served(struct node_cluster *c, uint64_t index,
                                                 const char *change_id,
                                                 uint64_t timeout_ms,
                                                 void (*cb)(void *ctx, int status),
                                                 void *ctx);
void node_cluster_wait_cancel(struct node_index_wait *wait);

/* Adds a member through raft (leader only), then records it. */
void node_cluster_member_add(struct node_cluster *c, const struct cs_member_spec *spec,
                             node_cluster_cb cb, void *ctx);
void node_cluster_member_remove(struct node_cluster *c, uint64_t id, node_cluster_cb cb,
                                void *ctx);

/* This node was removed from the cluster (told by the leader): stop. */
void node_cluster_leave(struct node_cluster *c);

/*
 * A reader off the loop (an export on a worker thread) pins the state
 * (cs_state_pin) and holds the cluster: closing frees the state only after
 * the last release.  Both on the loop.
 */
void node_cluster_state_hold(struct node_cluster *c);
void node_cluster_state_release(struct node_cluster *c);

const struct node_peer *node_cluster_peer(struct node_cluster *c, uint64_t id);

/*
 * Which members have not applied index (reachable ones, and ones never
 * polled yet) and which are unreachable: each a JSON array of
 * {"id","name","applied_index"} (new references).  Spares are not counted.
 */
void node_cluster_lagging(struct node_cluster *c, uint64_t index, json_t **pending,
                          json_t **unreachable);

/* Milliseconds since the epoch (the leader's stamp for commands). */
uint64_t node_now_ms(void);

#endif
