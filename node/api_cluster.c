/*
 * api_cluster.c — /v1/health and /v1/cluster: this node's view of the
 * cluster, and adding and removing members (through the leader).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/api.h"
#include "node/api_json.h"
#include "node/geoip.h"
#include "node/ready.h"

static const char *role_name(int role)
{
        switch (role) {
        case CONSENSUS_VOTER:
                return "voter";
        case CONSENSUS_STANDBY:
                return "standby";
        default:
                return "spare";
        }
}

void node_api_health(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        struct node_cluster *c = api->cluster;
        uint64_t leader = consensus_replica_leader(&c->replica, NULL);
        char reason[256];
        bool ready = node_ready_check(c, reason, sizeof(reason));
        json_t *body = json_pack(
            "{s:s, s:b, s:b, s:I, s:s, s:s, s:s, s:I, s:I, s:I}", "status",
            ready ? "ok" : "not ready", "ready", ready, "restored", c->restored, "node",
            (json_int_t)api->cfg->node_id, "name", api->cfg->node_name, "raft",
            api->cfg->raft_listen, "role",
            consensus_state_name(consensus_replica_state(&c->replica)), "leader",
            (json_int_t)leader, "applied_index", (json_int_t)node_cluster_applied(c),
            "term", (json_int_t)consensus_replica_term(&c->replica));
        if (body != NULL)
                json_object_set_new(body, "served_index",
                                    json_integer((json_int_t)node_cluster_served(c)));
        if (!ready)
                json_object_set_new(body, "reason", json_string(reason));
        if (body != NULL && api->geoip != NULL)
                json_object_set_new(body, "geoip", node_geoip_json(api->geoip));
        if (body != NULL && api->dns_stats != NULL)
                json_object_set_new(body, "dns", api->dns_stats(api->dns_stats_ctx));
        node_http_reply_json(r, ready ? 200 : 503, body);
}

void node_api_cluster(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        struct node_cluster *c = api->cluster;
        uint64_t leader = consensus_replica_leader(&c->replica, NULL);
        json_t *members = json_array();
        for (size_t i = 0; i < consensus_replica_member_count(&c->replica); i++) {
                struct consensus_member member;
                const struct consensus_member *s = &member;
                consensus_replica_member_at(&c->replica, i, &member);
                const struct cs_member *m = cs_state_member_get(&c->state, s->id);
                bool self = s->id == api->cfg->node_id;
                const struct node_peer *p = node_cluster_peer(c, s->id);
                uint64_t applied = self ? node_cluster_applied(c) : p ? p->applied : 0;
                bool reachable = self || (p != NULL && p->reachable);
                json_t *item =
                    json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:b}", "id",
                              (json_int_t)s->id, "name", m ? m->name : "", "role",
                              role_name(s->role), "raft", s->address, "dns",
                              m ? m->dns_address : "", "api", m ? m->api_address : "",
                              "applied_index", (json_int_t)applied, "reachable",
                              reachable, "leader", s->id == leader);
                /* How old the figures are: a member last heard of long ago
                 * (or never) has stale ones. */
                uint64_t now = uv_now(api->loop);
                bool heard = self || (p != NULL && p->last_seen_ms != 0);
                json_object_set_new(
                    item, "seen_ms_ago",
                    heard ? json_integer(self ? 0 : (json_int_t)(now - p->last_seen_ms))
                          : json_null());
                json_object_set_new(item, "stale", json_boolean(!reachable));
                json_array_append_new(members, item);
        }
        node_http_reply_json(
            r, 200,
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "node",
                      (json_int_t)api->cfg->node_id, "leader", (json_int_t)leader, "term",
                      (json_int_t)c->replica.raft.current_term, "commit_index",
                      (json_int_t)c->replica.raft.commit_index, "synced_index",
                      (json_int_t)c->state.synced_index, "members", members));
}

struct member_wait {
        struct node_http_request *r;
        struct node_api *api;
        uint64_t id;
        int removing;
};

static void on_member_done(void *ctx, int status, const struct cs_result *result)
{
        struct member_wait *w = ctx;
        if (status == 0 && result != NULL && result->status == 0) {
                const struct cs_member *m =
                    cs_state_member_get(&w->api->cluster->state, w->id);
                if (w->removing || m == NULL)
                        node_http_reply_json(w->r, 200,
                                             json_pack("{s:I, s:s}", "id",
                                                       (json_int_t)w->id, "status",
                                                       "removed"));
                else
                        node_http_reply_json(
                            w->r, 201,
                            json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id",
                                      (json_int_t)m->id, "name", m->name, "raft",
                                      m->raft_address, "dns", m->dns_address, "api",
                                      m->api_address, "role",
                                      m->role == CS_ROLE_STANDBY ? "standby" : "voter"));
        } else if (status != 0 && status != CONSENSUS_E_NOT_LEADER &&
                   !consensus_outcome_unknown(status) && status != CONSENSUS_E_SHUTDOWN) {
                node_http_reply_error(w->r, 409, "Conflict", NULL,
                                      "membership change refused: %s",
                                      consensus_strerror(status));
        } else {
                node_api_reply_result(w->r, status, result);
        }
        node_http_release(w->r);
        free(w);
}

static int text_field(json_t *body, const char *key, char *out, size_t size,
                      bool need_addr, struct api_errors *errs)
{
        json_t *v = json_object_get(body, key);
        struct sockaddr_storage ss;
        if (!json_is_string(v) || strlen(json_string_value(v)) >= size ||
            json_string_length(v) == 0 ||
            (need_addr && (node_parse_address(json_string_value(v), 0, &ss) != 0 ||
                           strchr(json_string_value(v), ':') == NULL))) {
                api_errors_add(errs, -1, key,
                               need_addr ? "must be an address IP:PORT"
                                         : "must be a string");
                return -1;
        }
        strcpy(out, json_string_value(v));
        return 0;
}

void node_api_member_add(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        json_t *body = node_http_body_json(r);
        if (body == NULL)
                return;
        struct api_errors errs;
        api_errors_init(&errs);
        json_t *id = json_object_get(body, "id");
        if (!json_is_integer(id) || json_integer_value(id) <= 0)
                api_errors_add(&errs, -1, "id", "must be a positive integer");
        char name[64] = "", raft[64], dns[64], apiaddr[64];
        if (json_object_get(body, "name") != NULL)
                text_field(body, "name", name, sizeof(name), false, &errs);
        text_field(body, "raft", raft, sizeof(raft), true, &errs);
        text_field(body, "dns", dns, sizeof(dns), true, &errs);
        text_field(body, "api", apiaddr, sizeof(apiaddr), true, &errs);
        json_t *role = json_object_get(body, "role");
        bool standby = false;
        if (role != NULL) {
                if (json_is_string(role) &&
                    strcmp(json_string_value(role), "standby") == 0)
                        standby = true;
                else if (!json_is_string(role) ||
                         strcmp(json_string_value(role), "voter") != 0)
                        api_errors_add(&errs, -1, "role",
                                       "must be \"voter\" or \"standby\"");
        }
        if (api_errors_count(&errs) > 0) {
                node_api_reply_errors(r, errs.list);
                json_decref(errs.list);
                json_decref(body);
                return;
        }
        json_decref(errs.list);
        uint64_t member_id = (uint64_t)json_integer_value(id);
        json_decref(body);
        if (r->peer_id != 0 && r->peer_id != member_id &&
            node_http_header(r, "x-quorumdns-forwarded") == NULL) {
                node_http_reply_error(
                    r, 403, "Forbidden", "id",
                    "node %llu may add or register only itself, not %llu",
                    (unsigned long long)r->peer_id, (unsigned long long)member_id);
                return;
        }
        if (node_api_forward_if_follower(api, r))
                return;
        if (name[0] == '\0')
                snprintf(name, sizeof(name), "n%llu", (unsigned long long)member_id);
        struct cs_member_spec spec = {
            member_id, name,    raft,
            dns,       apiaddr, standby ? CS_ROLE_STANDBY : CS_ROLE_VOTER};
        struct member_wait *w = calloc(1, sizeof(*w));
        if (w == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        w->r = r;
        w->api = api;
        w->id = member_id;
        node_http_hold(r);
        node_cluster_member_add(api->cluster, &spec, on_member_done, w);
}

void node_api_member_remove(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        char *end;
        unsigned long long id = strtoull(r->param[0], &end, 10);
        if (*end != '\0' || id == 0) {
                node_http_reply_error(r, 400, "InvalidInput", "id",
                                      "'%s' is not a member id", r->param[0]);
                return;
        }
        if (node_api_forward_if_follower(api, r))
                return;
        if (id == api->cfg->node_id) {
                node_http_reply_error(
                    r, 409, "Conflict", "id",
                    "node %llu is the leader; stop it (another node takes "
                    "over) and remove it from the new leader",
                    id);
                return;
        }
        bool known = cs_state_member_get(&api->cluster->state, id) != NULL ||
                     consensus_replica_member_find(&api->cluster->replica, id, NULL);
        if (!known) {
                node_http_reply_error(r, 404, "NoSuchMember", "id", "no member %llu", id);
                return;
        }
        struct member_wait *w = calloc(1, sizeof(*w));
        if (w == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        w->r = r;
        w->api = api;
        w->id = id;
        w->removing = 1;
        node_http_hold(r);
        node_cluster_member_remove(api->cluster, id, on_member_done, w);
}

static void on_leave_timer(uv_timer_t *timer)
{
        struct node_api *api = timer->data;
        uv_close((uv_handle_t *)timer, (uv_close_cb)free);
        node_cluster_leave(api->cluster);
}

/*
 * The leader removed this node: answer, then stop shortly after.  A node
 * that is not in any configuration yet (started again with an empty data
 * directory, at the same address, to rejoin) ignores a leave that was meant
 * for its former self and arrives late (the leader tries for 3 s).
 */
void node_api_leave(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        if (node_cluster_is_leader(api->cluster)) {
                node_http_reply_error(r, 409, "Conflict", NULL,
                                      "this node leads the cluster; it cannot leave");
                return;
        }
        if (node_cluster_awaits_join(api->cluster)) {
                node_http_reply_error(r, 409, "NotMember", NULL,
                                      "this node is not a member yet; it waits to join");
                return;
        }
        node_http_reply_json(r, 200, json_pack("{s:s}", "status", "leaving"));
        uv_timer_t *timer = malloc(sizeof(*timer));
        if (timer == NULL)
                return;
        uv_timer_init(api->loop, timer);
        timer->data = api;
        uv_timer_start(timer, on_leave_timer, 100, 0);
}
