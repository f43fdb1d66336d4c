/*
 * cmd_change.c — change batches and their status.
 *
 * "change wait" polls GET /v1/changes/ID with a growing interval (0.2 s up to
 * 2 s) until the status is INSYNC or --timeout (default 300 s) has passed,
 * printing (on stderr) the members that have not applied it and the ones
 * that are unreachable whenever that list changes.  Reads are answered from
 * the polled node's replica, which may not have applied the change yet when
 * it was just accepted elsewhere: a change id is C + the raft index in 16
 * hex digits, so NoSuchChange is final at once for an id of another shape
 * or when the node has applied that index (GET /v1/health), and is taken as
 * "not visible yet" otherwise for the first few seconds.  Transport errors
 * and 5xx are retried until the deadline (then the exit code says which:
 * 4 still PENDING, 3 no server answered).
 */
#include "tools/quorumctl/cmd_change.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/progress.h"
#include "tools/quorumctl/table.h"

#define WAIT_DEFAULT_SECS 300.0
#define NOT_FOUND_GRACE   5.0

int quorumctl_change_apply(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        const char *zone = args->pos[0], *path_arg = args->pos[1];
        struct quorumctl_file file;
        if (quorumctl_client_read_file(ctx, path_arg, &file) != 0)
                return QUORUMCTL_EXIT_USAGE;
        json_error_t jerr;
        json_t *batch = json_loadb(file.data, file.len, 0, &jerr);
        quorumctl_client_file_free(&file);
        if (!json_is_object(batch)) {
                if (batch == NULL)
                        quorumctl_client_error(ctx, "%s:%d:%d: %s", path_arg, jerr.line,
                                               jerr.column, jerr.text);
                else
                        quorumctl_client_error(ctx, "%s: not a JSON object", path_arg);
                json_decref(batch);
                return QUORUMCTL_EXIT_API;
        }
        char *path = quorumctl_client_zone_path(zone, "/changes");
        json_t *answer = NULL;
        int code = path != NULL ? quorumctl_client_call(ctx, "POST", path, batch, &answer)
                                : QUORUMCTL_EXIT_UNAVAILABLE;
        if (code == QUORUMCTL_EXIT_OK) {
                json_t *change = json_object_get(answer, "change");
                if (ctx->json || !json_is_object(change))
                        quorumctl_client_print_json(ctx, answer);
                else
                        quorumctl_table_print_object(change, ctx->out);
        }
        json_decref(answer);
        json_decref(batch);
        free(path);
        return code;
}

static char *change_path(const char *id)
{
        char *escaped = quorumctl_http_escape(id);
        char *path = NULL;
        if (escaped != NULL && asprintf(&path, "/v1/changes/%s", escaped) < 0)
                path = NULL;
        free(escaped);
        return path;
}

int quorumctl_change_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char *path = change_path(args->pos[0]);
        int code = quorumctl_client_show(ctx, path);
        free(path);
        return code;
}

static void sleep_for(double secs)
{
        struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
        while (nanosleep(&ts, &ts) != 0)
                ;
}

static bool is_not_found(const struct quorumctl_http_response *resp)
{
        if (resp->status != 404)
                return false;
        json_t *root = json_loadb(resp->body, resp->len, 0, NULL);
        json_t *code = json_object_get(json_object_get(root, "error"), "code");
        bool yes =
            json_is_string(code) && strcmp(json_string_value(code), "NoSuchChange") == 0;
        json_decref(root);
        return yes;
}

/* The raft index in a change id C<16 hex digits>, or 0 for another shape. */
static uint64_t change_index(const char *id)
{
        if (id[0] != 'C' || strlen(id) != 17)
                return 0;
        uint64_t v = 0;
        for (const char *p = id + 1; *p; p++) {
                int d = *p >= '0' && *p <= '9'   ? *p - '0'
                        : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                                 : -1;
                if (d < 0)
                        return 0;
                v = v << 4 | (uint64_t)d;
        }
        return v;
}

/* NoSuchChange is final when the id cannot be one, or the answering node
 * has applied the change's index (then it would know it). */
static bool surely_absent(struct quorumctl_ctx *ctx, const char *id)
{
        uint64_t index = change_index(id);
        if (index == 0)
                return true;
        struct quorumctl_http_response resp;
        int rc = quorumctl_http_request(&ctx->http, "GET", "/v1/health", NULL, NULL, 0,
                                        NULL, &resp);
        bool yes = false;
        if (rc == 0 && (resp.status == 200 || resp.status == 503)) {
                json_t *root = json_loadb(resp.body, resp.len, 0, NULL);
                json_t *applied = json_object_get(root, "applied_index");
                yes = json_is_integer(applied) &&
                      (uint64_t)json_integer_value(applied) >= index;
                json_decref(root);
        }
        quorumctl_http_response_free(&resp);
        return yes;
}

/* "n2 (applied 40), n3" from [{"id","name","applied_index"}]. */
static void member_list(const json_t *list, char *out, size_t size)
{
        size_t used = 0;
        out[0] = '\0';
        size_t i;
        const json_t *m;
        json_array_foreach(list, i, m)
        {
                const char *name = json_string_value(json_object_get(m, "name"));
                json_int_t id = json_integer_value(json_object_get(m, "id"));
                int n = name != NULL && name[0] != '\0'
                            ? snprintf(out + used, size - used, "%s%s (applied %lld)",
                                       i ? ", " : "", name,
                                       (long long)json_integer_value(
                                           json_object_get(m, "applied_index")))
                            : snprintf(out + used, size - used, "%sid %lld",
                                       i ? ", " : "", (long long)id);
                if (n < 0 || (size_t)n >= size - used)
                        break;
                used += (size_t)n;
        }
}

/* While waiting: who has not applied the change, printed when it changes. */
static void report_waiting(struct quorumctl_ctx *ctx, const json_t *answer, char *last,
                           size_t size)
{
        char pending[512], down[512], line[1100];
        member_list(json_object_get(answer, "pending_members"), pending, sizeof(pending));
        member_list(json_object_get(answer, "unreachable_members"), down, sizeof(down));
        snprintf(line, sizeof(line), "%s%s%s%s%s", pending[0] ? "waiting for " : "",
                 pending, pending[0] && down[0] ? "; " : "",
                 down[0] ? "unreachable: " : "", down);
        if (line[0] == '\0' || strcmp(line, last) == 0)
                return;
        snprintf(last, size, "%s", line);
        fprintf(ctx->err, "quorumctl: change PENDING: %s\n", line);
}

/* What the last poll saw, for the message at the deadline. */
enum poll_result { POLL_PENDING, POLL_UNREACHABLE };

int quorumctl_change_wait(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char err[160];
        double limit = WAIT_DEFAULT_SECS;
        if (quorumctl_args_get_seconds(args, "timeout", &limit, err, sizeof(err)) != 0) {
                quorumctl_client_error(ctx, "%s", err);
                return QUORUMCTL_EXIT_USAGE;
        }
        const char *id = args->pos[0];
        char *path = change_path(id);
        if (path == NULL)
                return QUORUMCTL_EXIT_UNAVAILABLE;
        long request_ms = ctx->http.timeout_ms;
        double start = quorumctl_progress_now(), interval = 0.2;
        enum poll_result last = POLL_PENDING;
        char last_error[1200] = "", last_wait[1100] = "";
        int code = QUORUMCTL_EXIT_TIMEOUT;

        for (;;) {
                double left = limit - (quorumctl_progress_now() - start);
                long ms =
                    left * 1000 < (double)request_ms ? (long)(left * 1000) : request_ms;
                ctx->http.timeout_ms = ms > 500 ? ms : 500;
                struct quorumctl_http_response resp;
                int rc = quorumctl_http_request(&ctx->http, "GET", path, NULL, NULL, 0,
                                                NULL, &resp);
                double elapsed = quorumctl_progress_now() - start;
                if (rc == 0 && resp.status == 200) {
                        json_t *answer = json_loadb(resp.body, resp.len, 0, NULL);
                        json_t *status = json_object_get(answer, "status");
                        if (json_is_string(status) &&
                            strcmp(json_string_value(status), "INSYNC") == 0) {
                                if (ctx->json)
                                        quorumctl_client_print_json(ctx, answer);
                                else
                                        fprintf(ctx->out,
                                                "change %s INSYNC after %.1f s\n", id,
                                                elapsed);
                                json_decref(answer);
                                quorumctl_http_response_free(&resp);
                                code = QUORUMCTL_EXIT_OK;
                                break;
                        }
                        report_waiting(ctx, answer, last_wait, sizeof(last_wait));
                        json_decref(answer);
                        last = POLL_PENDING;
                } else if (rc == 0 && is_not_found(&resp) && elapsed < NOT_FOUND_GRACE &&
                           !surely_absent(ctx, id)) {
                        last = POLL_PENDING;
                } else if (rc == 0 && resp.status >= 400 && resp.status < 500) {
                        char *text =
                            quorumctl_error_format(resp.status, resp.body, resp.len);
                        quorumctl_client_error(ctx, "%s", text != NULL ? text : "error");
                        free(text);
                        quorumctl_http_response_free(&resp);
                        code = QUORUMCTL_EXIT_API;
                        break;
                } else if (rc == -ENOMEM) {
                        quorumctl_http_response_free(&resp);
                        code = QUORUMCTL_EXIT_UNAVAILABLE;
                        break;
                } else {
                        last = POLL_UNREACHABLE;
                        if (rc == 0) {
                                char *text = quorumctl_error_format(resp.status,
                                                                    resp.body, resp.len);
                                snprintf(last_error, sizeof(last_error), "%s",
                                         text != NULL ? text : "server error");
                                free(text);
                        } else {
                                snprintf(last_error, sizeof(last_error),
                                         "no server reachable (%s)", ctx->http.error);
                        }
                }
                quorumctl_http_response_free(&resp);
                if (elapsed >= limit) {
                        if (last == POLL_UNREACHABLE) {
                                quorumctl_client_error(ctx, "%s", last_error);
                                code = QUORUMCTL_EXIT_UNAVAILABLE;
                        } else {
                                quorumctl_client_error(
                                    ctx, "change %s is not INSYNC after %g s%s%s", id,
                                    limit, last_wait[0] ? ": " : "", last_wait);
                        }
                        break;
                }
                sleep_for(limit - elapsed < interval ? limit - elapsed : interval);
                interval = interval * 1.5 < 2.0 ? interval * 1.5 : 2.0;
        }
        ctx->http.timeout_ms = request_ms;
        free(path);
        return code;
}
