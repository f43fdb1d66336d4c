/*
 * members.c — this node's membership: registration of its addresses,
 * membership changes made on the leader, and removal (see cluster.h and
 * cluster_priv.h).
 *
 * Raft's configuration says who replicates; the member table (a replicated
 * part of the state) says where each member's DNS and API listen.  A node
 * registers its addresses once a leader exists (through the leader's API
 * when it is not the leader).  The leader adds a member to raft first, then
 * to the table, and removes it the other way; it then tells the removed
 * node to stop, since a removed node never sees the entries after its
 * removal.  A removal is recorded in DATA_DIR/removed, so that every later
 * start exits 0 instead of rejoining with a stale log.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "node/cluster_priv.h"

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
bool node_members_removed_before(struct node_cluster *c)
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

/* Whether raft's configuration (the newest in our log) holds us; true while
 * there is none yet (a node that waits to be added). */
static bool in_configuration(struct node_cluster *c)
{
        return consensus_replica_member_count(&c->replica) == 0 ||
               consensus_replica_member_find(&c->replica, c->cfg->node_id, NULL);
}

/* After the replica started: a configuration that no longer holds us. */
bool node_members_removed_by_configuration(struct node_cluster *c)
{
        if (in_configuration(c))
                return false;
        mark_removed(c, "the raft configuration in its log does not hold it");
        return true;
}

/*
 * Notices registration and removal of this node in the member table.  Our
 * id leaving the table is not yet a removal: a node that rejoins with the
 * same id and an empty data directory replays its former self's
 * registration and removal before its new registration.  The tick confirms
 * a removal once the id has stayed out for REMOVAL_CONFIRM_MS and raft's
 * configuration does not hold us either (a rejoining node's does, and
 * its new registration follows within a few heartbeats).
 */
#define REMOVAL_CONFIRM_MS 1000

void node_members_check(struct node_cluster *c)
{
        const struct node_config *cfg = c->cfg;
        const struct cs_member *self = cs_state_member_get(&c->state, cfg->node_id);
        if (self == NULL) {
                c->registered = false;
                if (c->was_member && c->absent_since_ms == 0)
                        c->absent_since_ms = node_now_ms();
                return;
        }
        c->was_member = true;
        c->absent_since_ms = 0;
        char dns[64];
        snprintf(dns, sizeof(dns), "%s", cfg->listen_text[0]);
        bool was_registered = c->registered;
        c->registered = strcmp(self->raft_address, cfg->raft_listen) == 0 &&
                        strcmp(self->api_address, cfg->api_listen) == 0 &&
                        strcmp(self->dns_address, dns) == 0 &&
                        strcmp(self->name, cfg->node_name) == 0;
        if (c->registered && !was_registered)
                LOG_INFO("this node's addresses are in the member table (%" PRIu64
                         " ms after start)",
                         uv_now(c->loop) - c->started_ms);
}

void node_members_confirm_removal(struct node_cluster *c)
{
        if (!c->removed && c->absent_since_ms != 0 &&
            node_now_ms() - c->absent_since_ms >= REMOVAL_CONFIRM_MS &&
            !in_configuration(c))
                mark_removed(c, "its log holds its removal");
}

bool node_cluster_awaits_join(struct node_cluster *c)
{
        return c->running && consensus_replica_member_count(&c->replica) == 0;
}

/* ---- membership changes (leader) ------------------------------------------------------
 */

struct member_op {
        struct node_cluster *c;
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

/* In raft's configuration (or already there): record it in the table. */
static void on_added(void *ctx, int status)
{
        struct member_op *op = ctx;
        if (status != 0) {
                member_op_done(op, status, NULL);
                return;
        }
        struct cs_command cmd = {.type = CS_CMD_MEMBER_PUT};
        cmd.u.member = op->spec;
        node_cluster_propose(op->c, &cmd, member_op_done, op);
}

static struct member_op *member_op_new(struct node_cluster *c, uint64_t id,
                                       node_cluster_cb cb, void *ctx)
{
        struct member_op *op = calloc(1, sizeof(*op));
        if (op == NULL)
                return NULL;
        op->c = c;
        op->id = id;
        op->cb = cb;
        op->ctx = ctx;
        return op;
}

/* A change that could not start: reported from the loop, as a refused
 * proposal is. */
static void member_op_refused(struct member_op *op, int status)
{
        node_cluster_refuse(op->c, status, op->cb, op->ctx);
        free(op);
}

void node_cluster_member_add(struct node_cluster *c, const struct cs_member_spec *spec,
                             node_cluster_cb cb, void *ctx)
{
        struct member_op *op = member_op_new(c, spec->id, cb, ctx);
        if (op == NULL) {
                node_cluster_refuse(c, -ENOMEM, cb, ctx);
                return;
        }
        snprintf(op->name, sizeof(op->name), "%s", spec->name);
        snprintf(op->raft, sizeof(op->raft), "%s", spec->raft_address);
        snprintf(op->dns, sizeof(op->dns), "%s", spec->dns_address);
        snprintf(op->api, sizeof(op->api), "%s", spec->api_address);
        op->spec = *spec;
        op->spec.name = op->name;
        op->spec.raft_address = op->raft;
        op->spec.dns_address = op->dns;
        op->spec.api_address = op->api;
        /* Already in raft's configuration (a bootstrap member re-registering,
         * or a retried join): only the member table is updated. */
        enum consensus_role role =
            spec->role == CS_ROLE_STANDBY ? CONSENSUS_STANDBY : CONSENSUS_VOTER;
        int rc = consensus_replica_member_add(&c->replica, spec->id, op->raft, role,
                                              on_added, op);
        if (rc != 0)
                member_op_refused(op, rc);
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

/* Out of raft's configuration (or never in it): out of the table. */
static void on_removed(void *ctx, int status)
{
        struct member_op *op = ctx;
        if (status != 0) {
                member_op_done(op, status, NULL);
                return;
        }
        struct cs_command cmd = {.type = CS_CMD_MEMBER_REMOVE};
        cmd.u.member_id = op->id;
        node_cluster_propose(op->c, &cmd, on_member_removed, op);
}

void node_cluster_member_remove(struct node_cluster *c, uint64_t id, node_cluster_cb cb,
                                void *ctx)
{
        struct member_op *op = member_op_new(c, id, cb, ctx);
        if (op == NULL) {
                node_cluster_refuse(c, -ENOMEM, cb, ctx);
                return;
        }
        const struct cs_member *m = cs_state_member_get(&c->state, id);
        if (m != NULL) {
                snprintf(op->api, sizeof(op->api), "%s", m->api_address);
                snprintf(op->raft, sizeof(op->raft), "%s", m->raft_address);
        }
        int rc = consensus_replica_member_remove(&c->replica, id, on_removed, op);
        if (rc != 0)
                member_op_refused(op, rc);
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
void node_members_register(struct node_cluster *c)
{
        const struct node_config *cfg = c->cfg;
        if (c->registered || c->registering || c->leader_id == 0)
                return;
        struct consensus_member self;
        if (!consensus_replica_member_find(&c->replica, cfg->node_id, &self))
                return; /* not (yet) a member: joining goes through the API */
        struct cs_member_spec spec = {
            cfg->node_id,
            cfg->node_name,
            cfg->raft_listen,
            cfg->listen_text[0],
            cfg->api_listen,
            self.role == CONSENSUS_STANDBY ? CS_ROLE_STANDBY : CS_ROLE_VOTER};
        c->registering = true;
        if (node_cluster_is_leader(c)) {
                struct cs_command cmd = {.type = CS_CMD_MEMBER_PUT};
                cmd.u.member = spec;
                node_cluster_propose(c, &cmd, on_registered_local, c);
                return;
        }
        const char *leader = node_cluster_leader_api(c);
        const char *leader_raft = NULL;
        uint64_t leader_id = consensus_replica_leader(&c->replica, &leader_raft);
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
