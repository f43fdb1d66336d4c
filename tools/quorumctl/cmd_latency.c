/*
 * cmd_latency.c — the latency map from the command line (see
 * cmd_latency.h).  "load" reads a file of operator RTTs and sends it in
 * requests of at most CHUNK entries (each applied all or nothing by the
 * cluster, every problem listed with its entry); "show" prints the map as
 * a table; "delete" removes operator RTTs of prefixes (measured ones age
 * out by themselves).
 */
#include "tools/quorumctl/cmd_latency.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/table.h"

#define CHUNK 100000 /* the API's largest batch */

const struct quorumctl_opt quorumctl_latency_show_opts[] = {
    {"prefix", 0, QUORUMCTL_OPT_VALUE, "PREFIX", "only this prefix (192.0.2.0/24)"},
    {"region", 0, QUORUMCTL_OPT_VALUE, "NAME", "only this region"},
    {"limit", 0, QUORUMCTL_OPT_VALUE, "N", "at most N entries (default 1000)"},
    {NULL, 0, 0, NULL, NULL},
};

const struct quorumctl_opt quorumctl_latency_delete_opts[] = {
    {"region", 0, QUORUMCTL_OPT_VALUE, "NAME",
     "only this region's RTT (default: every\nregion of each PREFIX)"},
    {NULL, 0, 0, NULL, NULL},
};

json_t *quorumctl_latency_parse(const char *name, const char *text, size_t len, char *err,
                                size_t errlen)
{
        size_t at = 0;
        while (at < len && (text[at] == ' ' || text[at] == '\n' || text[at] == '\t' ||
                            text[at] == '\r'))
                at++;
        if (at < len && text[at] == '{') {
                json_error_t je;
                json_t *doc = json_loadb(text, len, 0, &je);
                json_t *list = doc ? json_object_get(doc, "entries") : NULL;
                if (!json_is_array(list)) {
                        snprintf(err, errlen, "%s:%d: %s", name, doc ? 1 : je.line,
                                 doc ? "no \"entries\" array" : je.text);
                        json_decref(doc);
                        return NULL;
                }
                json_incref(list);
                json_decref(doc);
                return list;
        }
        json_t *list = json_array();
        unsigned line = 0;
        for (size_t pos = 0; list != NULL && pos < len;) {
                const char *start = text + pos;
                const char *nl = memchr(start, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - start) : len - pos;
                pos += n + (nl ? 1 : 0);
                line++;
                char buf[512], prefix[128], region[128], rtt[64], extra[2];
                if (n >= sizeof(buf)) {
                        snprintf(err, errlen, "%s:%u: line too long", name, line);
                        goto bad;
                }
                memcpy(buf, start, n);
                buf[n] = '\0';
                char *hash = strchr(buf, '#');
                if (hash)
                        *hash = '\0';
                int got = sscanf(buf, "%127s %127s %63s %1s", prefix, region, rtt, extra);
                if (got <= 0)
                        continue;
                char *end;
                double ms = got == 3 ? strtod(rtt, &end) : 0;
                if (got != 3 || *end != '\0') {
                        snprintf(err, errlen,
                                 "%s:%u: expected PREFIX REGION RTT_MS (192.0.2.0/24 "
                                 "eu-west 12.5)",
                                 name, line);
                        goto bad;
                }
                json_array_append_new(list, json_pack("{s:s, s:s, s:f}", "prefix", prefix,
                                                      "region", region, "rtt_ms", ms));
        }
        if (list == NULL)
                snprintf(err, errlen, "out of memory");
        return list;
bad:
        json_decref(list);
        return NULL;
}

int quorumctl_latency_load(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        struct quorumctl_file file;
        if (quorumctl_client_read_file(ctx, args->pos[0], &file) != 0)
                return QUORUMCTL_EXIT_USAGE;
        char err[600];
        json_t *list =
            quorumctl_latency_parse(args->pos[0], file.data, file.len, err, sizeof(err));
        quorumctl_client_file_free(&file);
        /* A syntax error in an input file, or one with nothing in it: 1. */
        if (list == NULL) {
                quorumctl_client_error(ctx, "%s", err);
                return strcmp(err, "out of memory") == 0 ? QUORUMCTL_EXIT_UNAVAILABLE
                                                         : QUORUMCTL_EXIT_API;
        }
        size_t total = json_array_size(list), sent = 0;
        int code = QUORUMCTL_EXIT_OK;
        if (total == 0) {
                quorumctl_client_error(ctx, "%s: no entries", args->pos[0]);
                json_decref(list);
                return QUORUMCTL_EXIT_API;
        }
        while (sent < total && code == QUORUMCTL_EXIT_OK) {
                size_t n = total - sent < CHUNK ? total - sent : CHUNK;
                json_t *part = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append(part, json_array_get(list, sent + i));
                json_t *body = json_pack("{s:o}", "entries", part), *answer = NULL;
                code =
                    quorumctl_client_call(ctx, "POST", "/v1/latency-map", body, &answer);
                if (code == QUORUMCTL_EXIT_OK && ctx->json)
                        quorumctl_client_print_json(ctx, answer);
                json_decref(answer);
                json_decref(body);
                if (code == QUORUMCTL_EXIT_OK)
                        sent += n;
        }
        if (!ctx->json)
                fprintf(code == QUORUMCTL_EXIT_OK ? ctx->out : stderr,
                        "loaded %zu of %zu latency entries\n", sent, total);
        json_decref(list);
        return code;
}

/* A table cell for a field that may be missing (operator entries have no
 * samples). */
static char *cell(const json_t *v)
{
        return v != NULL ? quorumctl_table_cell(v) : NULL;
}

int quorumctl_latency_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char *path = NULL, *q = NULL;
        static const char *const params[] = {"prefix", "region", "limit"};
        size_t cap = 64;
        for (int i = 0; i < 3; i++) {
                const char *v = quorumctl_args_get(args, params[i]);
                if (v != NULL)
                        cap += strlen(params[i]) + 3 * strlen(v) + 2;
        }
        path = malloc(cap);
        if (path == NULL)
                return QUORUMCTL_EXIT_USAGE;
        strcpy(path, "/v1/latency-map");
        char sep = '?';
        for (int i = 0; i < 3; i++) {
                const char *v = quorumctl_args_get(args, params[i]);
                if (v == NULL)
                        continue;
                size_t at = strlen(path);
                at += (size_t)sprintf(path + at, "%c%s=", sep, params[i]);
                for (const char *p = v; *p; p++) /* '/' and ':' need no escape */
                        at += (size_t)(((*p >= '0' && *p <= '9') ||
                                        (*p >= 'a' && *p <= 'z') ||
                                        (*p >= 'A' && *p <= 'Z') || strchr("./:-_", *p))
                                           ? sprintf(path + at, "%c", *p)
                                           : sprintf(path + at, "%%%02X",
                                                     (unsigned char)*p));
                sep = '&';
        }
        json_t *answer = NULL;
        int code = quorumctl_client_call(ctx, "GET", path, NULL, &answer);
        free(path);
        free(q);
        if (code != QUORUMCTL_EXIT_OK || ctx->json) {
                if (code == QUORUMCTL_EXIT_OK)
                        quorumctl_client_print_json(ctx, answer);
                json_decref(answer);
                return code;
        }
        static const char *const headers[] = {"PREFIX", "REGION", ">RTT_MS", "SOURCE",
                                              ">SAMPLES"};
        struct quorumctl_table t;
        quorumctl_table_init(&t, 5, headers);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(answer, "entries"), i, e)
        {
                char rtt[32];
                snprintf(rtt, sizeof(rtt), "%.3f",
                         json_number_value(json_object_get(e, "rtt_ms")));
                char *cells[5] = {cell(json_object_get(e, "prefix")),
                                  cell(json_object_get(e, "region")), strdup(rtt),
                                  cell(json_object_get(e, "source")),
                                  cell(json_object_get(e, "samples"))};
                quorumctl_table_add(&t, (const char *const *)cells);
                for (size_t c = 0; c < 5; c++)
                        free(cells[c]);
        }
        quorumctl_table_print(&t, ctx->out);
        quorumctl_table_free(&t);
        if (json_is_true(json_object_get(answer, "truncated")))
                fprintf(ctx->out, "(%lld entries match; --limit shows more)\n",
                        (long long)json_integer_value(json_object_get(answer, "count")));
        json_decref(answer);
        return code;
}

int quorumctl_latency_delete(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        const char *region = quorumctl_args_get(args, "region");
        json_t *list = json_array();
        for (size_t i = 0; i < args->npos; i++) {
                json_t *e = json_pack("{s:s}", "prefix", args->pos[i]);
                if (region != NULL)
                        json_object_set_new(e, "region", json_string(region));
                json_array_append_new(list, e);
        }
        json_t *body = json_pack("{s:o}", "entries", list), *answer = NULL;
        int code =
            quorumctl_client_call(ctx, "POST", "/v1/latency-map/delete", body, &answer);
        if (code == QUORUMCTL_EXIT_OK) {
                if (ctx->json)
                        quorumctl_client_print_json(ctx, answer);
                else
                        fprintf(ctx->out, "%s\n",
                                json_string_value(json_object_get(answer, "message")));
        }
        json_decref(answer);
        json_decref(body);
        return code;
}
