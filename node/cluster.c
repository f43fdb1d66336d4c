/*
 * cluster.c — cluster mode: replica + state machine + DNS publishing
 * (see cluster.h).
 *
 * Everything runs on the node's loop.  Apply order is log order on every
 * node, and each applied command becomes one dns_db transaction.  A timer
 * (every TICK_MS) refreshes what the node knows of its peers, registers the
 * node's addresses once a leader exists, and — on the leader — advances the
 * INSYNC mark when every member has applied a change.
 */
#include "node/cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "dns/name.h"
#include "dns/route.h"
#include "node/api_routing.h"
#include "node/forward.h"
#include "node/poll.h"
#include "node/ready.h"

#define TICK_MS       200
#define PEER_STALE_MS 2000

uint64_t node_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- publishing to the DNS engine ------------------------------------------------ */

/* Routing set ids are strings in the state and small numbers in the engine. */
static uint32_t set_id_of(struct node_cluster *c, const char *name)
{
        if (name == NULL || *name == '\0')
                return 0;
        for (uint32_t i = 0; i < c->set_id_count; i++)
                if (strcmp(c->set_ids[i], name) == 0)
                        return i + 1;
        char **grown = realloc(c->set_ids, (c->set_id_count + 1) * sizeof(*grown));
        if (grown == NULL)
                return 0;
        c->set_ids = grown;
        c->set_ids[c->set_id_count] = strdup(name);
        return ++c->set_id_count;
}

struct node_health_id {
        uint64_t hash;
        uint32_t number; /* index + 1 */
        char id[];
};

static bool health_id_match(const void *item, const void *key)
{
        return strcmp(((const struct node_health_id *)item)->id, key) == 0;
}

uint32_t node_cluster_health_index(struct node_cluster *c, const char *check_id)
{
        if (check_id == NULL || *check_id == '\0')
                return 0;
        uint64_t h = cs_hash_bytes(check_id, strlen(check_id), 0x6865616c7468);
        struct node_health_id *known =
            cs_hmap_get(&c->health_map, h, check_id, health_id_match);
        if (known != NULL)
                return known->number;
        size_t len = strlen(check_id);
        struct node_health_id *fresh = malloc(sizeof(*fresh) + len + 1);
        struct node_health_id **grown =
            realloc(c->health_ids, (c->health_id_count + 1) * sizeof(*grown));
        if (grown != NULL)
                c->health_ids = grown;
        if (fresh == NULL || grown == NULL || cs_hmap_reserve(&c->health_map, 1) != 0) {
                free(fresh);
                return 0;
        }
        fresh->hash = h;
        fresh->number = c->health_id_count + 1;
        memcpy(fresh->id, check_id, len + 1);
        c->health_ids[c->health_id_count++] = fresh;
        cs_hmap_put(&c->health_map, h, fresh->id, fresh, health_id_match);
        return fresh->number;
}

static int put_rrset(struct node_cluster *c, struct dns_txn *txn, const uint8_t *origin,
                     const uint8_t *owner, uint16_t type, const char *set_id,
                     const struct cs_rrset *rrset)
{
        struct dns_route route = {0};
        if (rrset != NULL && cs_routing_present(&rrset->routing)) {
                api_route_of(&rrset->routing,
                             node_cluster_health_index(c, rrset->routing.health_check_id),
                             &route);
                if (route.flags & DNS_ROUTE_ALIAS) {
                        /* The alias's one pseudo-record: its target's name. */
                        const uint8_t *target = rrset->routing.alias_name;
                        uint16_t target_len = (uint16_t)rrset->routing.alias_name_len;
                        int rc = dns_txn_rrset_put_route(txn, origin, owner, type,
                                                         set_id_of(c, set_id), rrset->ttl,
                                                         &target, &target_len, 1, &route);
                        if (rc == -EINVAL || rc == -E2BIG) {
                                LOG_ERROR("alias record set is replicated but cannot be "
                                          "served: %s",
                                          txn->error);
                                return 0;
                        }
                        return rc;
                }
        }
        size_t n = rrset ? rrset->count : 0;
        const uint8_t **data = calloc(n ? n : 1, sizeof(*data));
        uint16_t *len = calloc(n ? n : 1, sizeof(*len));
        int rc = -ENOMEM;
        if (data != NULL && len != NULL) {
                for (size_t i = 0; i < n; i++) {
                        data[i] = rrset->values[i].data;
                        len[i] = rrset->values[i].len;
                }
                rc = dns_txn_rrset_put_route(
                    txn, origin, owner, type, set_id_of(c, set_id),
                    rrset ? rrset->ttl : 0, data, len, n,
                    route.policy || route.flags || route.health || route.location ? &route
                                                                                  : NULL);
        }
        free(data);
        free(len);
        if (rc == -EINVAL || rc == -E2BIG) {
                char text[1024];
                LOG_ERROR("record set at %s is replicated but cannot be served: %s",
                          dns_name_to_text(owner, text, sizeof(text)), txn->error);
                return 0; /* the rest of the batch is still published */
        }
        return rc;
}

struct zone_fill {
        struct node_cluster *c;
        struct dns_txn *txn;
        const uint8_t *origin;
        int rc;
};

static int fill_rrset(const struct cs_rrset *rrset, void *arg)
{
        struct zone_fill *f = arg;
        f->rc = put_rrset(f->c, f->txn, f->origin, rrset->owner, rrset->type,
                          rrset->set_id, rrset);
        return f->rc;
}

static int publish_zone(struct node_cluster *c, struct dns_txn *txn,
                        const struct cs_zone *zone)
{
        if (dns_txn_zone_create(txn, zone->origin, true) != 0)
                return -ENOMEM;
        struct zone_fill f = {c, txn, zone->origin, 0};
        cs_zone_foreach_rrset(zone, fill_rrset, &f);
        return f.rc;
}

/* ---- failed publishes, redone from the replicated state ---------------------------
 *
 * A publish that fails (no memory for the transaction, a commit refused)
 * leaves the served view behind the state.  The zone is marked stale (every
 * zone when a whole-state publish failed, or when too many are) and the tick
 * publishes it again from the replicated state, zone by zone, until it
 * succeeds.  Later changes of a stale zone are published as usual meanwhile;
 * the republish replaces the zone as a whole. */

#ifdef QDNS_FAULT_HOOKS
/* Test builds: QDNS_FAULT_PUBLISH_FAIL=N:K fails K publishes in a row,
 * starting with the Nth publish of this process (K defaults to 1). */
static bool fault_publish_fails(void)
{
        static long first = -1, count, seen;
        if (first < 0) {
                const char *env = getenv("QDNS_FAULT_PUBLISH_FAIL");
                char *end = NULL;
                first = env != NULL ? strtol(env, &end, 10) : 0;
                count = end != NULL && *end == ':' ? strtol(end + 1, NULL, 10) : 1;
                if (first < 0)
                        first = 0;
        }
        seen++;
        return first > 0 && seen >= first && seen < first + count;
}
#endif

static void mark_stale(struct node_cluster *c, const uint8_t *origin, size_t len)
{
        if (origin == NULL || c->n_stale == NODE_CLUSTER_MAX_STALE) {
                c->stale_all = true;
                return;
        }
        for (unsigned i = 0; i < c->n_stale; i++)
                if (c->stale[i].len == len &&
                    memcmp(c->stale[i].origin, origin, len) == 0)
                        return;
        memcpy(c->stale[c->n_stale].origin, origin, len);
        c->stale[c->n_stale].len = (uint16_t)len;
        c->n_stale++;
}

/* Commits (rc == 0) or aborts txn; a failure marks origin (NULL: every
 * zone) stale for the tick to publish again.  Returns the outcome. */
static int publish_finish(struct node_cluster *c, struct dns_txn *txn, int rc,
                          const char *what, const uint8_t *origin, size_t origin_len)
{
#ifdef QDNS_FAULT_HOOKS
        if (rc == 0 && fault_publish_fails()) {
                rc = -ENOMEM;
                snprintf(txn->error, sizeof(txn->error),
                         "commit refused (injected: QDNS_FAULT_PUBLISH_FAIL)");
        }
#endif
        if (rc == 0)
                rc = dns_txn_commit(txn);
        else
                dns_txn_abort(txn);
        if (rc != 0) {
                if (c->publish_failures++ % 50 == 0)
                        LOG_ERROR("publishing %s to DNS failed: %s; served data lags the "
                                  "replicated state until it is published again",
                                  what, txn->error[0] ? txn->error : strerror(-rc));
                mark_stale(c, origin, origin_len);
        }
        return rc;
}

static int publish_begin(struct node_cluster *c, struct dns_txn *txn, const char *what,
                         const uint8_t *origin, size_t origin_len)
{
        int rc = dns_txn_begin(c->db, txn);
        if (rc != 0) {
                if (c->publish_failures++ % 50 == 0)
                        LOG_ERROR("publishing %s to DNS failed: cannot begin a "
                                  "transaction: %s",
                                  what, strerror(-rc));
                mark_stale(c, origin, origin_len);
        }
        return rc;
}

static void on_zone_created(void *ctx, const struct cs_zone *zone)
{
        struct node_cluster *c = ctx;
        struct dns_txn txn;
        if (publish_begin(c, &txn, "a new zone", zone->origin, zone->origin_len) != 0)
                return;
        publish_finish(c, &txn, publish_zone(c, &txn, zone), "a new zone", zone->origin,
                       zone->origin_len);
}

static void on_zone_deleted(void *ctx, const uint8_t *origin, uint16_t origin_len)
{
        struct node_cluster *c = ctx;
        struct dns_txn txn;
        if (publish_begin(c, &txn, "a zone deletion", origin, origin_len) != 0)
                return;
        int rc = dns_txn_zone_delete(&txn, origin);
        publish_finish(c, &txn, rc == -ENOENT ? 0 : rc, "a zone deletion", origin,
                       origin_len);
}

static void on_rrsets_changed(void *ctx, const struct cs_zone *zone,
                              const struct cs_rrset_change *changes, size_t n)
{
        struct node_cluster *c = ctx;
        struct dns_txn txn;
        if (publish_begin(c, &txn, "a change batch", zone->origin, zone->origin_len) != 0)
                return;
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++)
                rc = put_rrset(c, &txn, zone->origin, changes[i].owner, changes[i].type,
                               changes[i].set_id, changes[i].rrset);
        publish_finish(c, &txn, rc, "a change batch", zone->origin, zone->origin_len);
}

static int collect_origin(void *item, void *arg)
{
        const struct dns_zone *zone = item;
        struct dns_txn *txn = arg;
        return dns_txn_zone_delete(txn, zone->origin) == -ENOMEM ? -ENOMEM : 0;
}

struct restore_fill {
        struct node_cluster *c;
        struct dns_txn *txn;
        int rc;
};

static int restore_zone(const struct cs_zone *zone, void *arg)
{
        struct restore_fill *f = arg;
        f->rc = publish_zone(f->c, f->txn, zone);
        return f->rc;
}

/* The whole state replaces the whole served view, in one transaction. */
static int publish_all(struct node_cluster *c, const char *what)
{
        struct dns_txn txn;
        uint64_t started = node_now_ms();
        if (publish_begin(c, &txn, what, NULL, 0) != 0)
                return -ENOMEM;
        /* Delete every zone of the old catalog (deleting while walking the
         * transaction's own copy is safe: the walk reads the published one). */
        const struct dns_catalog *cur = dns_db_current(c->db);
        int rc = pmap_walk(&cur->zones, collect_origin, &txn);
        struct restore_fill f = {c, &txn, 0};
        if (rc == 0)
                cs_state_foreach_zone(&c->state, restore_zone, &f);
        rc = publish_finish(c, &txn, rc ? rc : f.rc, what, NULL, 0);
        /* Rare and proportional to the catalog: worth a line in the log. */
        LOG_INFO("published %s: %zu zones in %llu ms%s", what,
                 cs_state_zone_count(&c->state),
                 (unsigned long long)(node_now_ms() - started), rc ? " (failed)" : "");
        return rc;
}

/* One stale zone as the state has it now: replaced, or deleted when gone. */
static int republish_zone(struct node_cluster *c, const uint8_t *origin, size_t len)
{
        struct dns_txn txn;
        if (publish_begin(c, &txn, "a zone again", origin, len) != 0)
                return -ENOMEM;
        const struct cs_zone *zone = cs_state_zone_get(&c->state, origin, len);
        int rc;
        if (zone != NULL) {
                rc = publish_zone(c, &txn, zone);
        } else {
                rc = dns_txn_zone_delete(&txn, origin);
                rc = rc == -ENOENT ? 0 : rc;
        }
        return publish_finish(c, &txn, rc, "a zone again", origin, len);
}

/* From the tick: publish what is stale again until nothing is. */
static void republish_stale(struct node_cluster *c)
{
        if (!c->stale_all && c->n_stale == 0)
                return;
        if (c->stale_all) {
                c->stale_all = false;
                c->n_stale = 0;
                if (publish_all(c, "the whole state again") == 0)
                        LOG_INFO("DNS serves the replicated state again (every zone "
                                 "published again after %u failed publishes)",
                                 c->publish_failures);
                return;
        }
        unsigned n = c->n_stale;
        struct node_stale_zone todo[NODE_CLUSTER_MAX_STALE];
        memcpy(todo, c->stale, n * sizeof(todo[0]));
        c->n_stale = 0;
        for (unsigned i = 0; i < n; i++) {
                if (republish_zone(c, todo[i].origin, todo[i].len) == 0) {
                        char text[1024];
                        LOG_INFO("DNS serves zone %s as replicated again (published "
                                 "again after a failed publish)",
                                 dns_name_to_text(todo[i].origin, text, sizeof(text)));
                }
        }
        if (!c->stale_all && c->n_stale == 0)
                c->publish_failures = 0;
}

static void member_check(struct node_cluster *c);

static void on_restored(void *ctx, const struct cs_state *state)
{
        struct node_cluster *c = ctx;
        publish_all(c, "a restored snapshot");
        member_check(c);
}

static void on_members_changed(void *ctx, const struct cs_state *state)
{
        member_check(ctx);
}

/* ---- removal ------------------------------------------------------------------------
 *
 * A removed node never hears the entries after its removal (it may not even
 * hold the configuration without it), so the removal is recorded in
 * DATA_DIR/removed when the node learns of it; every later start reads it
 * and exits 0 instead of rejoining with a stale log. */

static void removed_path(const struct node_config *cfg, char *path, size_t size)
{
        snprintf(path, size, "%s/removed", cfg->data_dir);
}

static void mark_removed(struct node_cluster *c, const char *how)
{
        char path[600];
        removed_path(c->cfg, path, sizeof(path));
        if (!c->removed) {
                FILE *fp = fopen(path, "w");
                if (fp != NULL) {
                        fprintf(
                            fp,
                            "node %llu was removed from the cluster (%s) at %llu ms\n",
                            (unsigned long long)c->cfg->node_id, how,
                            (unsigned long long)node_now_ms());
                        fclose(fp);
                } else {
                        LOG_WARN("cannot write %s: %s", path, strerror(errno));
                }
        }
        c->removed = true;
        snprintf(c->error, sizeof(c->error),
                 "this node was removed from the cluster (%s); it stays out: to join "
                 "again, start it with an empty data directory",
                 how);
}

/* Before the replica starts: a removal recorded earlier. */
static bool removed_before(struct node_cluster *c)
{
        char path[600];
        removed_path(c->cfg, path, sizeof(path));
        if (access(path, F_OK) != 0)
                return false;
        c->removed = true;
        snprintf(
            c->error, sizeof(c->error),
            "this node was removed from the cluster (%.300s says so); it stays out: to "
            "join again, start it with an empty data directory",
            path);
        return true;
}

/* After the replica started: a configuration that no longer holds us. */
static bool removed_by_configuration(struct node_cluster *c)
{
        const struct raft_configuration *conf = &c->replica.raft.configuration;
        if (conf->n == 0)
                return false; /* nothing yet: a node that waits to be added */
        for (unsigned i = 0; i < conf->n; i++)
                if (conf->servers[i].id == c->cfg->node_id)
                        return false;
        mark_removed(c, "the raft configuration in its log does not hold it");
        return true;
}

static void on_tick(uv_timer_t *timer);
static void on_replica_closed(struct consensus_replica *r);

/* The owner's stop runs from the tick, never from inside raft's apply. */
static void schedule_tick(struct node_cluster *c)
{
        if (c->running && uv_is_active((uv_handle_t *)&c->tick))
                uv_timer_start(&c->tick, on_tick, 0, TICK_MS);
}

/* Notices registration and removal of this node in the member table. */
static void member_check(struct node_cluster *c)
{
        const struct node_config *cfg = c->cfg;
        const struct cs_member *self = cs_state_member_get(&c->state, cfg->node_id);
        if (self == NULL) {
                c->registered = false;
                if (c->was_member && c->running && !c->removed) {
                        mark_removed(c, "its log holds its removal");
                        schedule_tick(c);
                }
                return;
        }
        c->was_member = true;
        char dns[64];
        snprintf(dns, sizeof(dns), "%s", cfg->listen_text[0]);
        c->registered = strcmp(self->raft_address, cfg->raft_listen) == 0 &&
                        strcmp(self->api_address, cfg->api_listen) == 0 &&
                        strcmp(self->dns_address, dns) == 0 &&
                        strcmp(self->name, cfg->node_name) == 0;
}

/* ---- proposals ----------------------------------------------------------------------
 */

struct proposal {
        node_cluster_cb cb;
        void *ctx;
};

static void on_proposed(void *ctx, int status, void *result)
{
        struct proposal *p = ctx;
        p->cb(p->ctx, status, result);
        free(p);
}

void node_cluster_propose(struct node_cluster *c, struct cs_command *cmd,
                          node_cluster_cb cb, void *ctx)
{
        cmd->timestamp_ms = node_now_ms();
        struct raft_buffer buf;
        int rc = cs_command_encode(cmd, &buf);
        if (rc != 0) {
                cb(ctx, rc, NULL);
                return;
        }
        struct proposal *p = malloc(sizeof(*p));
        if (p == NULL) {
                raft_free(buf.base);
                cb(ctx, -ENOMEM, NULL);
                return;
        }
        p->cb = cb;
        p->ctx = ctx;
        rc = consensus_replica_propose(&c->replica, buf.base, buf.len, on_proposed, p);
        if (rc != 0) {
                free(p);
                cb(ctx, rc, NULL);
        }
}

bool node_cluster_is_leader(struct node_cluster *c)
{
        return c->running && consensus_replica_is_leader(&c->replica);
}

uint64_t node_cluster_applied(struct node_cluster *c)
{
        return raft_last_applied(&c->replica.raft);
}

uint64_t node_cluster_leader(struct node_cluster *c, const char **raft_address)
{
        raft_id id = 0;
        const char *address = NULL;
        raft_leader(&c->replica.raft, &id, &address);
        *raft_address = id != 0 ? address : NULL;
        return id;
}

const char *node_cluster_leader_api(struct node_cluster *c)
{
        raft_id id = 0;
        const char *address = NULL;
        raft_leader(&c->replica.raft, &id, &address);
        if (id == 0)
                return NULL;
        if (id == c->cfg->node_id)
                return c->cfg->api_listen;
        const struct cs_member *m = cs_state_member_get(&c->state, id);
        return m != NULL && m->api_address[0] != '\0' ? m->api_address : NULL;
}

const struct node_peer *node_cluster_peer(struct node_cluster *c, uint64_t id)
{
        for (unsigned i = 0; i < c->peer_count; i++)
                if (c->peers[i].id == id)
                        return &c->peers[i];
        return NULL;
}

/* ---- membership changes (leader) ------------------------------------------------------
 */

struct member_op {
        struct node_cluster *c;
        struct raft_change change;
        struct cs_member_spec spec;
        char name[64], raft[64], dns[64], api[64];
        uint64_t id;
        node_cluster_cb cb;
        void *ctx;
};

static void member_op_done(void *ctx, int status, const struct cs_result *result)
{
        struct member_op *op = ctx;
        op->cb(op->ctx, status, result);
        free(op);
}

static void member_put(struct member_op *op)
{
        struct cs_command cmd = {.type = CS_CMD_MEMBER_PUT};
        cmd.u.member = op->spec;
        node_cluster_propose(op->c, &cmd, member_op_done, op);
}

static void on_assigned(struct raft_change *req, int status)
{
        struct member_op *op = req->data;
        if (status != 0) {
                member_op_done(op, -status, NULL);
                return;
        }
        member_put(op);
}

static void on_added(struct raft_change *req, int status)
{
        struct member_op *op = req->data;
        if (status != 0) {
                member_op_done(op, -status, NULL);
                return;
        }
        int role = op->spec.role == CS_ROLE_STANDBY ? RAFT_STANDBY : RAFT_VOTER;
        int rc = raft_assign(&op->c->replica.raft, &op->change, op->spec.id, role,
                             on_assigned);
        if (rc != 0)
                member_op_done(op, -rc, NULL);
}

void node_cluster_member_add(struct node_cluster *c, const struct cs_member_spec *spec,
                             node_cluster_cb cb, void *ctx)
{
        struct member_op *op = calloc(1, sizeof(*op));
        if (op == NULL) {
                cb(ctx, -ENOMEM, NULL);
                return;
        }
        op->c = c;
        op->cb = cb;
        op->ctx = ctx;
        snprintf(op->name, sizeof(op->name), "%s", spec->name);
        snprintf(op->raft, sizeof(op->raft), "%s", spec->raft_address);
        snprintf(op->dns, sizeof(op->dns), "%s", spec->dns_address);
        snprintf(op->api, sizeof(op->api), "%s", spec->api_address);
        op->spec = *spec;
        op->spec.name = op->name;
        op->spec.raft_address = op->raft;
        op->spec.dns_address = op->dns;
        op->spec.api_address = op->api;
        op->change.data = op;
        /* Already in raft's configuration (a bootstrap member re-registering,
         * or a retried join): only the member table is updated. */
        const struct raft_configuration *conf = &c->replica.raft.configuration;
        for (unsigned i = 0; i < conf->n; i++) {
                if (conf->servers[i].id == spec->id) {
                        member_put(op);
                        return;
                }
        }
        int rc = raft_add(&c->replica.raft, &op->change, spec->id, op->raft, on_added);
        if (rc != 0)
                member_op_done(op, -rc, NULL);
}

static void on_leave_sent(void *ctx, int status, const char *type, const char *body,
                          size_t len)
{
        if (status != 200)
                LOG_WARN("a removed member did not confirm it stops (status %d)", status);
}

/* A removed node never sees the entries after its removal: tell it to stop. */
static void on_member_removed(void *ctx, int status, const struct cs_result *result)
{
        struct member_op *op = ctx;
        if (status == 0) {
                struct node_forward_request req = {
                    .method = "POST", .target = "/v1/cluster/leave", .timeout_ms = 3000};
                if (node_cluster_call(op->c, op->id, op->raft, op->api, &req,
                                      on_leave_sent, NULL) != 0)
                        LOG_WARN("cannot tell removed member %llu to stop",
                                 (unsigned long long)op->id);
        }
        member_op_done(op, status, result);
}

static void on_removed(struct raft_change *req, int status)
{
        struct member_op *op = req->data;
        if (status != 0) {
                member_op_done(op, -status, NULL);
                return;
        }
        struct cs_command cmd = {.type = CS_CMD_MEMBER_REMOVE};
        cmd.u.member_id = op->id;
        node_cluster_propose(op->c, &cmd, on_member_removed, op);
}

void node_cluster_member_remove(struct node_cluster *c, uint64_t id, node_cluster_cb cb,
                                void *ctx)
{
        struct member_op *op = calloc(1, sizeof(*op));
        if (op == NULL) {
                cb(ctx, -ENOMEM, NULL);
                return;
        }
        op->c = c;
        op->id = id;
        op->cb = cb;
        op->ctx = ctx;
        op->change.data = op;
        const struct cs_member *m = cs_state_member_get(&c->state, id);
        if (m != NULL) {
                snprintf(op->api, sizeof(op->api), "%s", m->api_address);
                snprintf(op->raft, sizeof(op->raft), "%s", m->raft_address);
        }
        const struct raft_configuration *conf = &c->replica.raft.configuration;
        bool in_raft = false;
        for (unsigned i = 0; i < conf->n; i++)
                in_raft |= conf->servers[i].id == id;
        if (!in_raft) {
                on_removed(&op->change, 0);
                return;
        }
        int rc = raft_remove(&c->replica.raft, &op->change, id, on_removed);
        if (rc != 0)
                member_op_done(op, -rc, NULL);
}

/* ---- the tick: peers, registration, INSYNC
 * ---------------------------------------------- */

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
                json_t *root = status == 200 || status == 503
                                   ? json_loadb(body, len, 0, NULL)
                                   : NULL;
                json_t *applied = root ? json_object_get(root, "applied_index") : NULL;
                if (json_is_integer(applied)) {
                        peer->applied = (uint64_t)json_integer_value(applied);
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

static void poll_peers(struct node_cluster *c)
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
                struct node_forward_request req = {
                    .method = "GET", .target = "/v1/health", .timeout_ms = 1000};
                if (node_cluster_call(c, m->id, m->raft_address, m->api_address, &req,
                                      on_polled, p) != 0) {
                        peer->polling = false;
                        free(p);
                }
        }
}

static void on_synced(void *ctx, int status, const struct cs_result *result)
{
        struct node_cluster *c = ctx;
        c->syncing = false;
}

static bool counted(const struct raft_server *s)
{
        return s->role != RAFT_SPARE;
}

void node_cluster_lagging(struct node_cluster *c, uint64_t index, json_t **pending,
                          json_t **unreachable)
{
        *pending = json_array();
        *unreachable = json_array();
        const struct raft_configuration *conf = &c->replica.raft.configuration;
        for (unsigned i = 0; i < conf->n; i++) {
                const struct raft_server *s = &conf->servers[i];
                if (!counted(s))
                        continue;
                bool self = s->id == c->cfg->node_id;
                const struct node_peer *p = self ? NULL : node_cluster_peer(c, s->id);
                uint64_t applied = self ? node_cluster_applied(c) : p ? p->applied : 0;
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
static void advance_sync(struct node_cluster *c)
{
        size_t changes = cs_state_change_count(&c->state);
        if (c->syncing || changes == 0)
                return;
        uint64_t newest = cs_state_change_at(&c->state, changes - 1)->index;
        if (newest <= c->state.synced_index)
                return;
        uint64_t low = node_cluster_applied(c);
        const struct raft_configuration *conf = &c->replica.raft.configuration;
        for (unsigned i = 0; i < conf->n; i++) {
                if (conf->servers[i].id == c->cfg->node_id || !counted(&conf->servers[i]))
                        continue;
                const struct node_peer *p = node_cluster_peer(c, conf->servers[i].id);
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

static void on_registered(void *ctx, int status, const char *type, const char *body,
                          size_t len)
{
        struct node_cluster *c = ctx;
        c->registering = false;
        if (status != 200 && status != 201)
                LOG_DEBUG("registering this node's addresses: status %d", status);
}

static void on_registered_local(void *ctx, int status, const struct cs_result *result)
{
        struct node_cluster *c = ctx;
        c->registering = false;
}

/* Puts this node's addresses into the member table (once a leader exists). */
static void register_self(struct node_cluster *c)
{
        const struct node_config *cfg = c->cfg;
        if (c->registered || c->registering || c->leader_id == 0)
                return;
        const struct raft_configuration *conf = &c->replica.raft.configuration;
        int role = -1;
        for (unsigned i = 0; i < conf->n; i++)
                if (conf->servers[i].id == cfg->node_id)
                        role = conf->servers[i].role;
        if (role < 0)
                return; /* not (yet) a member: joining goes through the API */
        struct cs_member_spec spec = {
            cfg->node_id,     cfg->node_name,
            cfg->raft_listen, cfg->listen_text[0],
            cfg->api_listen,  role == RAFT_STANDBY ? CS_ROLE_STANDBY : CS_ROLE_VOTER};
        c->registering = true;
        if (node_cluster_is_leader(c)) {
                struct cs_command cmd = {.type = CS_CMD_MEMBER_PUT};
                cmd.u.member = spec;
                node_cluster_propose(c, &cmd, on_registered_local, c);
                return;
        }
        const char *leader = node_cluster_leader_api(c);
        raft_id leader_id = 0;
        const char *leader_raft = NULL;
        raft_leader(&c->replica.raft, &leader_id, &leader_raft);
        if (leader_id == 0 || leader_raft == NULL) {
                c->registering = false;
                return;
        }
        json_t *body = json_pack(
            "{s:I, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)spec.id, "name",
            spec.name, "raft", spec.raft_address, "dns", spec.dns_address, "api",
            spec.api_address, "role", spec.role == CS_ROLE_STANDBY ? "standby" : "voter");
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        struct node_forward_request req = {.method = "POST",
                                           .target = "/v1/cluster/members",
                                           .content_type = "application/json",
                                           .body = text,
                                           .body_len = strlen(text),
                                           .timeout_ms = 5000};
        if (node_cluster_call(c, leader_id, leader_raft, leader, &req, on_registered,
                              c) != 0)
                c->registering = false;
        free(text);
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
        failstop(c, r->fence.message);
}

/* Runs inside raft's apply: only schedules the stop. */
static void on_fsm_failed(struct cs_fsm *fsm)
{
        struct node_cluster *c =
            (struct node_cluster *)((char *)fsm - offsetof(struct node_cluster, fsm));
        c->failing = true;
        schedule_tick(c);
}

static void on_tick(uv_timer_t *timer)
{
        struct node_cluster *c = timer->data;
        if (c->failing) {
                failstop(c, c->fsm.failmsg);
                return;
        }
        republish_stale(c);
        if (c->removed) {
                if (!c->stop_told) {
                        c->stop_told = true;
                        LOG_INFO("%s", c->error);
                        if (c->removed_cb != NULL)
                                c->removed_cb(c);
                }
                return;
        }
        raft_id leader = 0;
        const char *address = NULL;
        raft_leader(&c->replica.raft, &leader, &address);
        if (leader != c->leader_id) {
                c->leader_id = leader;
                if (leader == c->cfg->node_id)
                        LOG_INFO("this node is the leader (term %llu)",
                                 (unsigned long long)c->replica.raft.current_term);
                else if (leader != 0)
                        LOG_INFO("leader is node %llu", (unsigned long long)leader);
        }
        node_ready_tick(c);
        poll_peers(c);
        register_self(c);
        if (node_cluster_is_leader(c))
                advance_sync(c);
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
        if (removed_before(c))
                return -ECANCELED;
        cs_state_init(&c->state);
        struct cs_observer obs = {.ctx = c,
                                  .zone_created = on_zone_created,
                                  .zone_deleted = on_zone_deleted,
                                  .rrsets_changed = on_rrsets_changed,
                                  .members_changed = on_members_changed,
                                  .restored = on_restored};
        cs_state_set_observer(&c->state, &obs);
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
                members[i] = (struct consensus_member){
                    (raft_id)cfg->bootstrap[i].id, cfg->bootstrap[i].raft, RAFT_VOTER};
        struct consensus_replica_config rc_cfg = {
            .id = cfg->node_id,
            .address = cfg->raft_listen,
            .data_dir = cfg->data_dir,
            .bootstrap = members,
            .bootstrap_count = cfg->bootstrap_count,
            .channel = cfg->raft_plaintext ? NULL : &c->identity.channel,
        };
        c->running = true; /* the replica may apply (replay) during start */
        int rc =
            consensus_replica_start(&c->replica, loop, &c->fsm.raft_fsm, &rc_cfg, NULL);
        if (rc != 0) {
                c->running = false;
                snprintf(c->error, sizeof(c->error), "%s", c->replica.error);
                node_identity_free(&c->identity);
                cs_fsm_close(&c->fsm);
                cs_state_fini(&c->state);
                return rc;
        }
        cs_fsm_set_raft(&c->fsm, &c->replica.raft);
        c->replica.failed_cb = on_replica_failed;
        if (c->removed || removed_by_configuration(c)) {
                c->running = false; /* closes asynchronously: main runs the loop */
                consensus_replica_close(&c->replica, on_replica_closed);
                return -ECANCELED;
        }
        node_ready_start(c);
        uv_timer_init(loop, &c->tick);
        c->tick.data = c;
        uv_timer_start(&c->tick, on_tick, 0, TICK_MS);
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

static void close_state(struct node_cluster *c)
{
        node_identity_free(&c->identity);
        cs_fsm_close(&c->fsm);
        cs_state_fini(&c->state);
        for (uint32_t i = 0; i < c->set_id_count; i++)
                free(c->set_ids[i]);
        for (uint32_t i = 0; i < c->health_id_count; i++)
                free(c->health_ids[i]);
        free(c->health_ids);
        c->health_ids = NULL;
        c->health_id_count = 0;
        cs_hmap_fini(&c->health_map);
        free(c->set_ids);
        if (c->closed_cb != NULL)
                c->closed_cb(c);
}

void node_cluster_close(struct node_cluster *c, void (*closed_cb)(struct node_cluster *c))
{
        if (!c->running)
                return;
        c->running = false;
        c->closed_cb = closed_cb;
        uv_close((uv_handle_t *)&c->tick, NULL);
        node_ready_close(c);
        for (unsigned i = 0; i < c->peer_count; i++) {
                node_poller_close(c->peers[i].poller);
                c->peers[i].poller = NULL;
        }
        consensus_replica_close(&c->replica, on_replica_closed);
}

void node_cluster_leave(struct node_cluster *c)
{
        if (!c->running || c->stop_told)
                return;
        mark_removed(c, "the leader said so");
        c->stop_told = true;
        LOG_INFO("%s", c->error);
        if (c->removed_cb != NULL)
                c->removed_cb(c);
}
