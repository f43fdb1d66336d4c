/*
 * cmd_cluster.c — cluster membership and state.
 *
 * "cluster status" shows the cluster as the answering node sees it: leader,
 * term, commit index and one line per member with its role, addresses,
 * applied index and whether the node can reach it.  "join" adds a member
 * (voter, or standby with --standby) and "remove" takes one out.
 */
#include "tools/quorumctl/cmd_cluster.h"

#include <stdlib.h>
#include <string.h>

#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/table.h"

static void print_members(struct quorumctl_ctx *ctx, const json_t *cluster)
{
        json_t *leader = json_object_get(cluster, "leader");
        static const char *const top[] = {"leader", "term", "commit_index"};
        for (size_t i = 0; i < 3; i++) {
                char *text = quorumctl_table_cell(json_object_get(cluster, top[i]));
                fprintf(ctx->out, "%s%s: %s", i > 0 ? "  " : "", top[i],
                        text != NULL && text[0] != '\0' ? text : "-");
                free(text);
        }
        fputs("\n\n", ctx->out);

        static const char *const headers[] = {">ID", "NAME", "ROLE",     "RAFT",
                                              "DNS", "API",  ">APPLIED", "REACHABLE"};
        static const char *const keys[] = {"id",  "name", "role",          "raft",
                                           "dns", "api",  "applied_index", "reachable"};
        struct quorumctl_table t;
        quorumctl_table_init(&t, 8, headers);
        size_t i;
        json_t *member;
        json_array_foreach(json_object_get(cluster, "members"), i, member)
        {
                char *cells[8];
                for (size_t c = 0; c < 8; c++) {
                        json_t *v = json_object_get(member, keys[c]);
                        cells[c] = v != NULL ? quorumctl_table_cell(v) : NULL;
                }
                json_t *id = json_object_get(member, "id");
                if (json_is_integer(leader) && json_equal(id, leader) &&
                    cells[2] != NULL) {
                        char *role = NULL;
                        if (asprintf(&role, "%s (leader)", cells[2]) >= 0) {
                                free(cells[2]);
                                cells[2] = role;
                        }
                }
                quorumctl_table_add(&t, (const char *const *)cells);
                for (size_t c = 0; c < 8; c++)
                        free(cells[c]);
        }
        quorumctl_table_print(&t, ctx->out);
        quorumctl_table_free(&t);
}

int quorumctl_cluster_status(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        json_t *answer = NULL;
        int code = quorumctl_client_call(ctx, "GET", "/v1/cluster", NULL, &answer);
        if (code == QUORUMCTL_EXIT_OK) {
                if (ctx->json || !json_is_object(answer))
                        quorumctl_client_print_json(ctx, answer);
                else
                        print_members(ctx, answer);
        }
        json_decref(answer);
        return code;
}

/* A node that is not ready answers 503 with its health (and a reason): that
 * is an answer to show, not a server to retry for seconds.  Exit 0 when
 * ready, 3 otherwise. */
int quorumctl_cluster_health(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        long retry_ms = ctx->http.retry_ms;
        ctx->http.retry_ms = 0;
        struct quorumctl_http_response resp;
        int rc = quorumctl_http_request(&ctx->http, "GET", "/v1/health", NULL, NULL, 0,
                                        NULL, &resp);
        ctx->http.retry_ms = retry_ms;
        json_t *answer = rc == 0 && (resp.status == 200 || resp.status == 503)
                             ? json_loadb(resp.body, resp.len, 0, NULL)
                             : NULL;
        int code;
        if (json_is_object(answer) && json_object_get(answer, "status") != NULL) {
                if (!ctx->json)
                        fprintf(ctx->out, "server: %s\n", resp.server);
                quorumctl_client_print_object(ctx, answer);
                code =
                    resp.status == 200 ? QUORUMCTL_EXIT_OK : QUORUMCTL_EXIT_UNAVAILABLE;
        } else if (rc == 0) {
                char *text = quorumctl_error_format(resp.status, resp.body, resp.len);
                quorumctl_client_error(ctx, "%s", text != NULL ? text : "out of memory");
                free(text);
                code = quorumctl_exit_from_status(resp.status);
        } else {
                quorumctl_client_error(ctx, "no server reachable (%s)", ctx->http.error);
                code = QUORUMCTL_EXIT_UNAVAILABLE;
        }
        json_decref(answer);
        quorumctl_http_response_free(&resp);
        return code;
}

int quorumctl_cluster_join(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        static const char *const required[] = {"id", "name", "raft", "dns", "api"};
        for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
                if (!quorumctl_args_has(args, required[i])) {
                        quorumctl_client_error(ctx, "cluster join needs --%s",
                                               required[i]);
                        return QUORUMCTL_EXIT_USAGE;
                }
        }
        char err[160];
        unsigned long id = 0;
        if (quorumctl_args_get_uint(args, "id", 1, 0x7fffffffffffffffUL, &id, err,
                                    sizeof(err)) != 0) {
                quorumctl_client_error(ctx, "%s", err);
                return QUORUMCTL_EXIT_USAGE;
        }
        json_t *body = json_pack(
            "{s:I,s:s,s:s,s:s,s:s,s:s}", "id", (json_int_t)id, "name",
            quorumctl_args_get(args, "name"), "raft", quorumctl_args_get(args, "raft"),
            "dns", quorumctl_args_get(args, "dns"), "api",
            quorumctl_args_get(args, "api"), "role",
            quorumctl_args_has(args, "standby") ? "standby" : "voter");
        json_t *answer = NULL;
        int code =
            body != NULL
                ? quorumctl_client_call(ctx, "POST", "/v1/cluster/members", body, &answer)
                : QUORUMCTL_EXIT_UNAVAILABLE;
        if (code == QUORUMCTL_EXIT_OK) {
                if (!ctx->json)
                        fprintf(ctx->out, "member %lu joined\n", id);
                quorumctl_client_print_object(ctx, answer);
        }
        json_decref(answer);
        json_decref(body);
        return code;
}

int quorumctl_cluster_remove(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        const char *id = args->pos[0];
        char *end;
        unsigned long long n = strtoull(id, &end, 10);
        if (id[0] == '\0' || id[0] == '-' || *end != '\0' || n == 0) {
                quorumctl_client_error(ctx, "cluster remove: '%s' is not a member id",
                                       id);
                return QUORUMCTL_EXIT_USAGE;
        }
        char path[64];
        snprintf(path, sizeof(path), "/v1/cluster/members/%llu", n);
        json_t *answer = NULL;
        int code = quorumctl_client_call(ctx, "DELETE", path, NULL, &answer);
        if (code == QUORUMCTL_EXIT_OK) {
                if (ctx->json)
                        quorumctl_client_print_json(ctx, answer);
                else
                        fprintf(ctx->out, "member %llu removed\n", n);
        }
        json_decref(answer);
        return code;
}
