/*
 * join.c — --join: ask a member to add this node, every 2 s until this node
 * is a member (see join.h).
 *
 * With the authenticated transport the URL only locates a member: its
 * /v1/health says which node it is, and the request to add this node goes
 * over the side channel to that node's raft address (which proves it is a
 * node of our CA; nothing secret goes to the URL).  With the plaintext
 * transport the request goes to the URL with this node's admin token.
 */
#include "node/join.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "node/forward.h"

static void on_join_answer(void *ctx, int status, const char *type, const char *body,
                           size_t len)
{
        struct node_join *node = ctx;
        node->joining = false;
        if (status == 200 || status == 201) {
                LOG_INFO("joined the cluster through %s", node->cfg->join);
                if (!uv_is_closing((uv_handle_t *)&node->timer))
                        uv_timer_stop(&node->timer);
        } else {
                LOG_WARN("joining through %s: %s%.*s", node->cfg->join,
                         status < 0 ? uv_strerror(status) : "", status > 0 ? (int)len : 0,
                         body ? body : "");
        }
}

static void join_request(const struct node_config *cfg, char *body, size_t n,
                         struct node_forward_request *req)
{
        snprintf(body, n,
                 "{\"id\":%llu,\"name\":\"%s\",\"raft\":\"%s\",\"dns\":\"%s\","
                 "\"api\":\"%s\",\"role\":\"%s\"}",
                 cfg->node_id, cfg->node_name, cfg->raft_listen, cfg->listen_text[0],
                 cfg->api_listen, cfg->join_standby ? "standby" : "voter");
        *req = (struct node_forward_request){.method = "POST",
                                             .target = "/v1/cluster/members",
                                             .content_type = "application/json",
                                             .body = body,
                                             .body_len = strlen(body),
                                             .timeout_ms = 10000};
}

/* The member named by --join said who it is: ask that node, over the
 * authenticated side channel (which proves it is that node of our CA), to
 * add this one.  Nothing secret went to the URL. */
static void on_join_health(void *ctx, int status, const char *type, const char *body,
                           size_t len)
{
        struct node_join *node = ctx;
        json_t *root = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
        json_t *id = json_object_get(root, "node");
        json_t *raft = json_object_get(root, "raft");
        int rc = -EPROTO;
        if (json_is_integer(id) && json_integer_value(id) > 0 && json_is_string(raft)) {
                char text[512];
                struct node_forward_request req;
                join_request(node->cfg, text, sizeof(text), &req);
                req.call = &node->call;
                rc = node_cluster_call(node->cluster, (uint64_t)json_integer_value(id),
                                       json_string_value(raft), NULL, &req,
                                       on_join_answer, node);
        }
        json_decref(root);
        if (rc != 0) {
                node->joining = false;
                LOG_WARN("joining through %s: no node id and raft address in its "
                         "/v1/health (%s)",
                         node->cfg->join,
                         status < 0 ? uv_strerror(status) : "bad answer");
        }
}

static void on_join_timer(uv_timer_t *timer)
{
        struct node_join *node = timer->data;
        const struct node_config *cfg = node->cfg;
        if (node->joining || node->cluster->was_member) {
                if (node->cluster->was_member)
                        uv_timer_stop(timer);
                return;
        }
        const char *url = cfg->join;
        if (strncmp(url, "http://", 7) == 0)
                url += 7;
        else if (strncmp(url, "https://", 8) == 0)
                url += 8;
        char hostport[128];
        snprintf(hostport, sizeof(hostport), "%.*s", (int)strcspn(url, "/"), url);
        struct sockaddr_storage addr;
        const char *token = NULL;
        for (unsigned i = 0; i < cfg->token_count; i++)
                if (cfg->tokens[i].scope == 2)
                        token = cfg->tokens[i].secret;
        bool authenticated = node->cluster->replica.authenticated;
        if (node_parse_address(hostport, 80, &addr) != 0 ||
            (!authenticated && token == NULL)) {
                LOG_ERROR("--join %s: not http(s)://IP:PORT, or no admin token",
                          cfg->join);
                uv_timer_stop(timer);
                return;
        }
        node->joining = true;
        if (authenticated) {
                struct node_forward_request req = {.method = "GET",
                                                   .target = "/v1/health",
                                                   .timeout_ms = 5000,
                                                   .call = &node->call};
                node_forward(node->loop, (struct sockaddr *)&addr, &req, on_join_health,
                             node);
                return;
        }
        char body[512], auth[160];
        struct node_forward_request req;
        join_request(cfg, body, sizeof(body), &req);
        snprintf(auth, sizeof(auth), "Bearer %s", token);
        req.authorization = auth;
        req.call = &node->call;
        node_forward(node->loop, (struct sockaddr *)&addr, &req, on_join_answer, node);
}

void node_join_start(struct node_join *j, uv_loop_t *loop, const struct node_config *cfg,
                     struct node_cluster *cluster)
{
        *j = (struct node_join){.loop = loop, .cfg = cfg, .cluster = cluster};
        uv_timer_init(loop, &j->timer);
        j->timer.data = j;
        if (cfg->join[0] != '\0')
                uv_timer_start(&j->timer, on_join_timer, 200, 2000);
}

void node_join_close(struct node_join *j, struct node_closing *g)
{
        if (j->loop == NULL)
                return;
        if (j->call != NULL) {
                node_forward_cancel(j->call);
                j->call = NULL;
                j->joining = false;
        }
        node_closing_handle(g, (uv_handle_t *)&j->timer);
}
