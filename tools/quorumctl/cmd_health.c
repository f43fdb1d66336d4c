/*
 * cmd_health.c — health checks from the command line (/v1/healthchecks).
 *
 * "create" builds the definition's JSON from options (the API validates
 * and names the field of every problem); "status" shows one check's
 * aggregate, votes and transitions, or without an id a table of checks by
 * nodes — each cell a node's latest vote — which --watch redraws every
 * second (or --every SECS) until interrupted or --count redraws were made.
 */
#include "tools/quorumctl/cmd_health.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/table.h"

#define MAX_NODES (QUORUMCTL_TABLE_MAX_COLS - 3)

const struct quorumctl_opt quorumctl_health_create_opts[] = {
    {"ip", 0, QUORUMCTL_OPT_VALUE, "ADDR", "the endpoint's IP address"},
    {"port", 0, QUORUMCTL_OPT_VALUE, "N", "its port (HTTP 80, HTTPS 443)"},
    {"path", 0, QUORUMCTL_OPT_VALUE, "PATH", "resource path (default /)"},
    {"fqdn", 0, QUORUMCTL_OPT_VALUE, "NAME",
     "Host header and SNI name; the target\nwhen there is no --ip"},
    {"search", 0, QUORUMCTL_OPT_VALUE, "TEXT",
     "*_STR_MATCH: text the first 5,120 bytes\nof the body must hold"},
    {"interval", 0, QUORUMCTL_OPT_VALUE, "SECS", "request interval, 1-300 (default 30)"},
    {"threshold", 0, QUORUMCTL_OPT_VALUE, "N", "failure threshold, 1-10 (default 3)"},
    {"percent", 0, QUORUMCTL_OPT_VALUE, "N",
     "healthy when more than N% of the fresh\nvotes say so (default 18)"},
    {"inverted", 0, QUORUMCTL_OPT_FLAG, NULL, "invert the status"},
    {"disabled", 0, QUORUMCTL_OPT_FLAG, NULL, "always healthy, not probed"},
    {"verify-certificate", 0, QUORUMCTL_OPT_FLAG, NULL, "HTTPS: check the certificate"},
    {"child", 0, QUORUMCTL_OPT_MULTI, "ID", "CALCULATED: a child check (repeatable)"},
    {"health-threshold", 0, QUORUMCTL_OPT_VALUE, "N",
     "CALCULATED: healthy children needed"},
    {"region", 0, QUORUMCTL_OPT_MULTI, "NAME",
     "only these nodes (ids) or regions probe\n(repeatable; default: every node)"},
    {"heartbeat-ttl", 0, QUORUMCTL_OPT_VALUE, "SECS", "HEARTBEAT: seconds between calls"},
    {NULL, 0, 0, NULL, NULL},
};

const struct quorumctl_opt quorumctl_health_status_opts[] = {
    {"watch", 'w', QUORUMCTL_OPT_FLAG, NULL, "redraw the table until interrupted"},
    {"every", 0, QUORUMCTL_OPT_VALUE, "SECS", "--watch: seconds between redraws (1)",
     "watch"},
    {"count", 0, QUORUMCTL_OPT_VALUE, "N", "--watch: stop after N redraws", "watch"},
    {NULL, 0, 0, NULL, NULL},
};

static char *check_path(const char *id, const char *suffix)
{
        char *p = NULL;
        if (asprintf(&p, "/v1/healthchecks/%s%s", id, suffix) < 0)
                return NULL;
        return p;
}

static int usage(struct quorumctl_ctx *ctx, const char *msg)
{
        quorumctl_client_error(ctx, "%s", msg);
        return QUORUMCTL_EXIT_USAGE;
}

int quorumctl_health_create(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        static const struct {
                const char *opt, *field;
        } strings[] = {{"ip", "ip_address"},
                       {"path", "resource_path"},
                       {"fqdn", "fully_qualified_domain_name"},
                       {"search", "search_string"}};
        static const struct {
                const char *opt, *field;
        } numbers[] = {{"port", "port"},
                       {"interval", "request_interval"},
                       {"threshold", "failure_threshold"},
                       {"percent", "aggregation_percent"},
                       {"health-threshold", "health_threshold"},
                       {"heartbeat-ttl", "heartbeat_ttl"}};
        json_t *body = json_pack("{s:s}", "type", args->pos[0]);
        char err[200];
        for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
                const char *v = quorumctl_args_get(args, strings[i].opt);
                if (v != NULL)
                        json_object_set_new(body, strings[i].field, json_string(v));
        }
        for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
                unsigned long n = 0;
                if (!quorumctl_args_has(args, numbers[i].opt))
                        continue;
                if (quorumctl_args_get_uint(args, numbers[i].opt, 0, 4294967295ul, &n,
                                            err, sizeof(err)) != 0) {
                        json_decref(body);
                        return usage(ctx, err);
                }
                json_object_set_new(body, numbers[i].field, json_integer((json_int_t)n));
        }
        static const char *const flags[][2] = {
            {"inverted", "inverted"},
            {"disabled", "disabled"},
            {"verify-certificate", "verify_certificate"}};
        for (size_t i = 0; i < 3; i++)
                if (quorumctl_args_has(args, flags[i][0]))
                        json_object_set_new(body, flags[i][1], json_true());
        static const char *const lists[][2] = {{"child", "child_health_checks"},
                                               {"region", "regions"}};
        for (size_t i = 0; i < 2; i++) {
                if (!quorumctl_args_has(args, lists[i][0]))
                        continue;
                json_t *a = json_array();
                const char *v;
                for (size_t k = 0;
                     (v = quorumctl_args_get_nth(args, lists[i][0], k)) != NULL; k++)
                        json_array_append_new(a, json_string(v));
                json_object_set_new(body, lists[i][1], a);
        }
        json_t *answer = NULL;
        int code = quorumctl_client_call(ctx, "POST", "/v1/healthchecks", body, &answer);
        if (code == QUORUMCTL_EXIT_OK) {
                json_t *hc = json_object_get(answer, "healthcheck");
                if (ctx->json) {
                        quorumctl_client_print_json(ctx, answer);
                } else {
                        fprintf(ctx->out, "created health check %s\n",
                                json_string_value(json_object_get(hc, "id")));
                        quorumctl_table_print_object(hc, ctx->out);
                }
        }
        json_decref(answer);
        json_decref(body);
        return code;
}

int quorumctl_health_list(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        (void)args;
        json_t *answer = NULL;
        int code = quorumctl_client_call(ctx, "GET", "/v1/healthchecks", NULL, &answer);
        if (code != QUORUMCTL_EXIT_OK || ctx->json) {
                if (code == QUORUMCTL_EXIT_OK)
                        quorumctl_client_print_json(ctx, answer);
                json_decref(answer);
                return code;
        }
        static const char *const headers[] = {"ID",     "TYPE",      "STATUS",
                                              "TARGET", ">INTERVAL", ">THRESHOLD"};
        struct quorumctl_table t;
        quorumctl_table_init(&t, 6, headers);
        size_t i;
        json_t *hc;
        json_array_foreach(json_object_get(answer, "healthchecks"), i, hc)
        {
                const char *ip = json_string_value(json_object_get(hc, "ip_address"));
                const char *fqdn =
                    json_string_value(json_object_get(hc, "fully_qualified_domain_name"));
                char target[300] = "";
                if (ip || fqdn)
                        snprintf(
                            target, sizeof(target), "%s:%lld%s", ip ? ip : fqdn,
                            (long long)json_integer_value(json_object_get(hc, "port")),
                            json_string_value(json_object_get(hc, "resource_path"))
                                ? json_string_value(json_object_get(hc, "resource_path"))
                                : "");
                char *cells[6] = {
                    quorumctl_table_cell(json_object_get(hc, "id")),
                    quorumctl_table_cell(json_object_get(hc, "type")),
                    quorumctl_table_cell(json_object_get(hc, "status")),
                    target[0] ? strdup(target) : NULL,
                    quorumctl_table_cell(json_object_get(hc, "request_interval")),
                    quorumctl_table_cell(json_object_get(hc, "failure_threshold"))};
                quorumctl_table_add(&t, (const char *const *)cells);
                for (size_t c = 0; c < 6; c++)
                        free(cells[c]);
        }
        quorumctl_table_print(&t, ctx->out);
        quorumctl_table_free(&t);
        json_decref(answer);
        return code;
}

int quorumctl_health_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char *path = check_path(args->pos[0], "");
        int code = path ? quorumctl_client_show(ctx, path) : QUORUMCTL_EXIT_USAGE;
        free(path);
        return code;
}

static int write_call(struct quorumctl_ctx *ctx, const char *method, const char *id,
                      const char *suffix, json_t *body, const char *done)
{
        char *path = check_path(id, suffix);
        json_t *answer = NULL;
        int code = path ? quorumctl_client_call(ctx, method, path, body, &answer)
                        : QUORUMCTL_EXIT_USAGE;
        if (code == QUORUMCTL_EXIT_OK) {
                if (ctx->json)
                        quorumctl_client_print_json(ctx, answer);
                else
                        fprintf(ctx->out, "%s %s\n", done, id);
        }
        json_decref(answer);
        free(path);
        return code;
}

int quorumctl_health_delete(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        return write_call(ctx, "DELETE", args->pos[0], "", NULL, "deleted health check");
}

int quorumctl_health_set(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        const char *s = args->pos[1];
        if (strcasecmp(s, "healthy") != 0 && strcasecmp(s, "unhealthy") != 0)
                return usage(ctx, "the status must be HEALTHY or UNHEALTHY");
        json_t *body = json_pack("{s:s}", "status",
                                 strcasecmp(s, "healthy") == 0 ? "HEALTHY" : "UNHEALTHY");
        int code =
            write_call(ctx, "POST", args->pos[0], "/manual", body,
                       strcasecmp(s, "healthy") == 0 ? "set HEALTHY:" : "set UNHEALTHY:");
        json_decref(body);
        return code;
}

int quorumctl_health_heartbeat(struct quorumctl_ctx *ctx,
                               const struct quorumctl_args *args)
{
        return write_call(ctx, "POST", args->pos[0], "/heartbeat", NULL,
                          "heartbeat sent for");
}

/* ---- status ------------------------------------------------------------------ */

static void print_one(struct quorumctl_ctx *ctx, json_t *s)
{
        fprintf(ctx->out, "%s  %s  %s  (%lld of %lld fresh votes healthy)\n\n",
                json_string_value(json_object_get(s, "id")),
                json_string_value(json_object_get(s, "type")),
                json_string_value(json_object_get(s, "status")),
                (long long)json_integer_value(json_object_get(s, "healthy_votes")),
                (long long)json_integer_value(json_object_get(s, "fresh_votes")));
        static const char *const headers[] = {">NODE",       "NAME",     "VOTE",
                                              ">CONNECT MS", ">TTFB MS", ">AGE MS",
                                              "FRESH",       "REASON"};
        static const char *const keys[] = {"node",       "name",          "status",
                                           "connect_ms", "first_byte_ms", "age_ms",
                                           "fresh",      "reason"};
        struct quorumctl_table t;
        quorumctl_table_init(&t, 8, headers);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(s, "votes"), i, v)
        {
                char *cells[8];
                for (size_t c = 0; c < 8; c++) {
                        json_t *x = json_object_get(v, keys[c]);
                        cells[c] = x ? quorumctl_table_cell(x) : NULL;
                }
                quorumctl_table_add(&t, (const char *const *)cells);
                for (size_t c = 0; c < 8; c++)
                        free(cells[c]);
        }
        quorumctl_table_print(&t, ctx->out);
        quorumctl_table_free(&t);
        json_t *history = json_object_get(s, "history");
        if (json_array_size(history) == 0)
                return;
        fputs("\ntransitions (newest first):\n", ctx->out);
        json_array_foreach(history, i, v)
        {
                time_t secs =
                    (time_t)(json_integer_value(json_object_get(v, "time")) / 1000);
                struct tm tm;
                char when[32];
                gmtime_r(&secs, &tm);
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
                fprintf(
                    ctx->out, "  %s  %s -> %s  (%s; %lld of %lld healthy)\n", when,
                    json_string_value(json_object_get(v, "from")),
                    json_string_value(json_object_get(v, "to")),
                    json_string_value(json_object_get(v, "cause")),
                    (long long)json_integer_value(json_object_get(v, "healthy_votes")),
                    (long long)json_integer_value(json_object_get(v, "fresh_votes")));
        }
}

/* One table: a row per check, a column per node that voted on any. */
static int print_table(struct quorumctl_ctx *ctx)
{
        json_t *list = NULL;
        int code = quorumctl_client_call(ctx, "GET", "/v1/healthchecks", NULL, &list);
        if (code != QUORUMCTL_EXIT_OK)
                return code;
        json_t *rows = json_array();
        json_int_t nodes[MAX_NODES];
        char node_names[MAX_NODES][32];
        size_t n_nodes = 0, i;
        json_t *hc;
        json_array_foreach(json_object_get(list, "healthchecks"), i, hc)
        {
                char *path =
                    check_path(json_string_value(json_object_get(hc, "id")), "/status");
                json_t *s = NULL;
                code = path ? quorumctl_client_call(ctx, "GET", path, NULL, &s)
                            : QUORUMCTL_EXIT_USAGE;
                free(path);
                if (code != QUORUMCTL_EXIT_OK)
                        break;
                size_t k;
                json_t *v;
                json_array_foreach(json_object_get(s, "votes"), k, v)
                {
                        json_int_t id = json_integer_value(json_object_get(v, "node"));
                        size_t at = 0;
                        while (at < n_nodes && nodes[at] != id)
                                at++;
                        if (at == n_nodes && n_nodes < MAX_NODES) {
                                nodes[n_nodes] = id;
                                snprintf(node_names[n_nodes], sizeof(node_names[0]),
                                         "n%lld", (long long)id);
                                n_nodes++;
                        }
                }
                json_array_append_new(rows, s);
        }
        if (code == QUORUMCTL_EXIT_OK && ctx->json) {
                quorumctl_client_print_json(ctx, rows);
        } else if (code == QUORUMCTL_EXIT_OK) {
                const char *headers[QUORUMCTL_TABLE_MAX_COLS] = {"ID", "TYPE", "STATUS"};
                for (size_t n = 0; n < n_nodes; n++)
                        headers[3 + n] = node_names[n];
                struct quorumctl_table t;
                quorumctl_table_init(&t, 3 + n_nodes, headers);
                json_t *s;
                json_array_foreach(rows, i, s)
                {
                        char *cells[QUORUMCTL_TABLE_MAX_COLS] = {0};
                        cells[0] = quorumctl_table_cell(json_object_get(s, "id"));
                        cells[1] = quorumctl_table_cell(json_object_get(s, "type"));
                        cells[2] = quorumctl_table_cell(json_object_get(s, "status"));
                        size_t k;
                        json_t *v;
                        json_array_foreach(json_object_get(s, "votes"), k, v)
                        {
                                json_int_t id =
                                    json_integer_value(json_object_get(v, "node"));
                                for (size_t n = 0; n < n_nodes; n++) {
                                        if (nodes[n] != id)
                                                continue;
                                        const char *reason = json_string_value(
                                            json_object_get(v, "reason"));
                                        bool fresh =
                                            json_is_true(json_object_get(v, "fresh"));
                                        if (asprintf(&cells[3 + n], "%s%s%s%s",
                                                     json_string_value(
                                                         json_object_get(v, "status")),
                                                     fresh ? "" : " (stale)",
                                                     reason ? ": " : "",
                                                     reason ? reason : "") < 0)
                                                cells[3 + n] = NULL;
                                }
                        }
                        quorumctl_table_add(&t, (const char *const *)cells);
                        for (size_t c = 0; c < QUORUMCTL_TABLE_MAX_COLS; c++)
                                free(cells[c]);
                }
                quorumctl_table_print(&t, ctx->out);
                quorumctl_table_free(&t);
        }
        json_decref(rows);
        json_decref(list);
        return code;
}

int quorumctl_health_status(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char err[200];
        if (args->npos == 1 && quorumctl_args_has(args, "watch")) {
                quorumctl_client_error(ctx, "--watch redraws the table of every check: "
                                            "give no ID");
                return QUORUMCTL_EXIT_USAGE;
        }
        if (args->npos == 1) {
                char *path = check_path(args->pos[0], "/status");
                json_t *s = NULL;
                int code = path ? quorumctl_client_call(ctx, "GET", path, NULL, &s)
                                : QUORUMCTL_EXIT_USAGE;
                if (code == QUORUMCTL_EXIT_OK) {
                        if (ctx->json)
                                quorumctl_client_print_json(ctx, s);
                        else
                                print_one(ctx, s);
                }
                json_decref(s);
                free(path);
                return code;
        }
        if (!quorumctl_args_has(args, "watch"))
                return print_table(ctx);
        double every = 1.0;
        unsigned long count = 0;
        if (quorumctl_args_get_seconds(args, "every", &every, err, sizeof(err)) != 0 ||
            quorumctl_args_get_uint(args, "count", 1, 1000000, &count, err,
                                    sizeof(err)) != 0)
                return usage(ctx, err);
        bool tty = isatty(fileno(ctx->out));
        int code = QUORUMCTL_EXIT_OK;
        for (unsigned long n = 0; count == 0 || n < count; n++) {
                if (n > 0)
                        usleep((useconds_t)(every * 1e6));
                time_t now = time(NULL);
                struct tm tm;
                char when[32];
                gmtime_r(&now, &tm);
                strftime(when, sizeof(when), "%H:%M:%S", &tm);
                if (tty)
                        fputs("\033[H\033[2J", ctx->out); /* clear the screen */
                fprintf(ctx->out, "health checks at %s UTC (every %.3g s)\n", when,
                        every);
                code = print_table(ctx);
                if (!tty)
                        fputs("\n", ctx->out);
                fflush(ctx->out);
                if (code == QUORUMCTL_EXIT_USAGE)
                        return code;
        }
        return code; /* the last poll's, as a single run's */
}
