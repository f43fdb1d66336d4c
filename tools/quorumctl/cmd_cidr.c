/*
 * cmd_cidr.c — CIDR collections from the command line (/v1/cidrcollections).
 *
 * "put" and "delete-blocks" turn their arguments into one change of one
 * action each; an argument "@FILE" adds the blocks of FILE, one per line,
 * and many blocks go in several changes of --chunk blocks (each change is
 * all or nothing; the chunks before a failing one stay applied, and the
 * command says how many went in).  "blocks" follows next_token until the
 * location's last page.  The API checks every block and names the field of
 * each problem.
 */
#include "tools/quorumctl/cmd_cidr.h"

#include <stdlib.h>
#include <string.h>

#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/http.h"
#include "tools/quorumctl/table.h"

const struct quorumctl_opt quorumctl_cidr_change_opts[] = {
    {"collection-version", 0, QUORUMCTL_OPT_VALUE, "N",
     "apply only to this collection version\n(optimistic concurrency)"},
    {"chunk", 0, QUORUMCTL_OPT_VALUE, "N", "blocks per change (default 100000)"},
    {NULL, 0, 0, NULL, NULL},
};

static char *collection_path(const char *id, const char *suffix)
{
        char *escaped = quorumctl_http_escape(id);
        char *p = NULL;
        if (escaped == NULL ||
            asprintf(&p, "/v1/cidrcollections/%s%s", escaped, suffix) < 0)
                p = NULL;
        free(escaped);
        return p;
}

static int usage(struct quorumctl_ctx *ctx, const char *msg)
{
        quorumctl_client_error(ctx, "%s", msg);
        return QUORUMCTL_EXIT_USAGE;
}

int quorumctl_cidr_create(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        json_t *body = json_pack("{s:s}", "name", args->pos[0]);
        json_t *answer = NULL;
        int code =
            quorumctl_client_call(ctx, "POST", "/v1/cidrcollections", body, &answer);
        if (code == QUORUMCTL_EXIT_OK) {
                json_t *c = json_object_get(answer, "cidr_collection");
                if (ctx->json) {
                        quorumctl_client_print_json(ctx, answer);
                } else {
                        fprintf(ctx->out, "created CIDR collection %s\n",
                                json_string_value(json_object_get(c, "id")));
                        quorumctl_table_print_object(c, ctx->out);
                }
        }
        json_decref(answer);
        json_decref(body);
        return code;
}

int quorumctl_cidr_list(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        (void)args;
        json_t *answer = NULL;
        int code =
            quorumctl_client_call(ctx, "GET", "/v1/cidrcollections", NULL, &answer);
        if (code != QUORUMCTL_EXIT_OK || ctx->json) {
                if (code == QUORUMCTL_EXIT_OK)
                        quorumctl_client_print_json(ctx, answer);
                json_decref(answer);
                return code;
        }
        static const char *const headers[] = {"ID", "NAME", ">VERSION", ">LOCATIONS",
                                              ">CIDRS"};
        struct quorumctl_table t;
        quorumctl_table_init(&t, 5, headers);
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(answer, "cidr_collections"), i, c)
        {
                char *cells[5] = {
                    quorumctl_table_cell(json_object_get(c, "id")),
                    quorumctl_table_cell(json_object_get(c, "name")),
                    quorumctl_table_cell(json_object_get(c, "version")),
                    quorumctl_table_cell(json_object_get(c, "location_count")),
                    quorumctl_table_cell(json_object_get(c, "cidr_count"))};
                quorumctl_table_add(&t, (const char *const *)cells);
                for (size_t k = 0; k < 5; k++)
                        free(cells[k]);
        }
        quorumctl_table_print(&t, ctx->out);
        quorumctl_table_free(&t);
        json_decref(answer);
        return code;
}

int quorumctl_cidr_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char *path = collection_path(args->pos[0], "");
        int code = path ? quorumctl_client_show(ctx, path) : QUORUMCTL_EXIT_USAGE;
        free(path);
        return code;
}

int quorumctl_cidr_blocks(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char *escaped = quorumctl_http_escape(args->pos[1]);
        char *token = strdup("0");
        int code = QUORUMCTL_EXIT_OK;
        json_t *all = json_array();
        while (code == QUORUMCTL_EXIT_OK && token != NULL && escaped != NULL) {
                char *suffix = NULL, *path = NULL;
                if (asprintf(&suffix, "/locations/%s?next_token=%s", escaped, token) < 0)
                        suffix = NULL;
                path = suffix ? collection_path(args->pos[0], suffix) : NULL;
                free(suffix);
                free(token);
                token = NULL;
                json_t *answer = NULL;
                code = path ? quorumctl_client_call(ctx, "GET", path, NULL, &answer)
                            : QUORUMCTL_EXIT_USAGE;
                free(path);
                if (code == QUORUMCTL_EXIT_OK) {
                        json_array_extend(all, json_object_get(answer, "cidr_list"));
                        const char *next =
                            json_string_value(json_object_get(answer, "next_token"));
                        token = next ? strdup(next) : NULL;
                }
                json_decref(answer);
        }
        free(token);
        free(escaped);
        if (code == QUORUMCTL_EXIT_OK) {
                if (ctx->json) {
                        json_t *o = json_pack("{s:s, s:O}", "location_name", args->pos[1],
                                              "cidr_list", all);
                        quorumctl_client_print_json(ctx, o);
                        json_decref(o);
                } else {
                        size_t i;
                        json_t *b;
                        json_array_foreach(all, i, b)
                            fprintf(ctx->out, "%s\n", json_string_value(b));
                }
        }
        json_decref(all);
        return code;
}

/* The blocks of the arguments from index 2 on, "@FILE" read line by line. */
static int collect_blocks(struct quorumctl_ctx *ctx, const struct quorumctl_args *args,
                          json_t *out)
{
        for (size_t i = 2; i < args->npos; i++) {
                const char *a = args->pos[i];
                if (a[0] != '@') {
                        json_array_append_new(out, json_string(a));
                        continue;
                }
                struct quorumctl_file file;
                if (quorumctl_client_read_file(ctx, a + 1, &file) != 0)
                        return -1;
                const char *p = file.data, *end = file.data + file.len;
                while (p < end) {
                        const char *nl = memchr(p, '\n', (size_t)(end - p));
                        const char *stop = nl ? nl : end;
                        const char *s = p, *e = stop;
                        while (s < e && (*s == ' ' || *s == '\t'))
                                s++;
                        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                                e--;
                        if (e > s && *s != '#')
                                json_array_append_new(out,
                                                      json_stringn(s, (size_t)(e - s)));
                        p = stop + 1;
                }
                quorumctl_client_file_free(&file);
        }
        return 0;
}

static int change_blocks(struct quorumctl_ctx *ctx, const struct quorumctl_args *args,
                         const char *action)
{
        char err[160];
        unsigned long version = 0, chunk = 100000;
        bool has_version = quorumctl_args_has(args, "collection-version");
        if (has_version &&
            quorumctl_args_get_uint(args, "collection-version", 1, 1ul << 53, &version,
                                    err, sizeof(err)) != 0)
                return usage(ctx, err);
        if (quorumctl_args_has(args, "chunk") &&
            quorumctl_args_get_uint(args, "chunk", 1, 1000000, &chunk, err,
                                    sizeof(err)) != 0)
                return usage(ctx, err);
        json_t *blocks = json_array();
        if (collect_blocks(ctx, args, blocks) != 0) {
                json_decref(blocks);
                return QUORUMCTL_EXIT_USAGE;
        }
        char *path = collection_path(args->pos[0], "/changes");
        size_t total = json_array_size(blocks), done = 0;
        int code = path ? QUORUMCTL_EXIT_OK : QUORUMCTL_EXIT_USAGE;
        json_t *answer = NULL;
        while (code == QUORUMCTL_EXIT_OK && (done < total || total == 0)) {
                size_t n = total - done < chunk ? total - done : chunk;
                json_t *list = json_array();
                for (size_t k = 0; k < n; k++)
                        json_array_append(list, json_array_get(blocks, done + k));
                json_t *body =
                    json_pack("{s:[{s:s, s:s, s:o}]}", "changes", "action", action,
                              "location_name", args->pos[1], "cidr_list", list);
                /* Only the first chunk can know the version it was meant for. */
                if (has_version && done == 0)
                        json_object_set_new(body, "collection_version",
                                            json_integer((json_int_t)version));
                json_decref(answer);
                answer = NULL;
                code = quorumctl_client_call(ctx, "POST", path, body, &answer);
                json_decref(body);
                if (code == QUORUMCTL_EXIT_OK)
                        done += n;
                if (total == 0)
                        break;
        }
        if (code == QUORUMCTL_EXIT_OK) {
                json_t *c = json_object_get(answer, "cidr_collection");
                if (ctx->json)
                        quorumctl_client_print_json(ctx, answer);
                else
                        fprintf(
                            ctx->out, "collection %s: version %lld, %lld CIDR blocks\n",
                            json_string_value(json_object_get(c, "id")),
                            (long long)json_integer_value(json_object_get(c, "version")),
                            (long long)json_integer_value(
                                json_object_get(c, "cidr_count")));
        } else if (done > 0) {
                quorumctl_client_error(ctx,
                                       "%zu of %zu blocks were applied before the "
                                       "failing change",
                                       done, total);
        }
        json_decref(answer);
        json_decref(blocks);
        free(path);
        return code;
}

int quorumctl_cidr_put(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        return change_blocks(ctx, args, "PUT");
}

int quorumctl_cidr_delete_blocks(struct quorumctl_ctx *ctx,
                                 const struct quorumctl_args *args)
{
        return change_blocks(ctx, args, "DELETE_IF_EXISTS");
}

int quorumctl_cidr_apply(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        struct quorumctl_file file;
        if (quorumctl_client_read_file(ctx, args->pos[1], &file) != 0)
                return QUORUMCTL_EXIT_USAGE;
        json_error_t jerr;
        json_t *body = json_loadb(file.data, file.len, 0, &jerr);
        quorumctl_client_file_free(&file);
        if (!json_is_object(body)) {
                if (body == NULL)
                        quorumctl_client_error(ctx, "%s:%d:%d: %s", args->pos[1],
                                               jerr.line, jerr.column, jerr.text);
                else
                        quorumctl_client_error(ctx, "%s: not a JSON object",
                                               args->pos[1]);
                json_decref(body);
                return QUORUMCTL_EXIT_API;
        }
        char *path = collection_path(args->pos[0], "/changes");
        json_t *answer = NULL;
        int code = path ? quorumctl_client_call(ctx, "POST", path, body, &answer)
                        : QUORUMCTL_EXIT_USAGE;
        if (code == QUORUMCTL_EXIT_OK) {
                json_t *c = json_object_get(answer, "cidr_collection");
                if (ctx->json || !json_is_object(c))
                        quorumctl_client_print_json(ctx, answer);
                else
                        quorumctl_table_print_object(c, ctx->out);
        }
        json_decref(answer);
        json_decref(body);
        free(path);
        return code;
}

int quorumctl_cidr_delete(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char *path = collection_path(args->pos[0], "");
        json_t *answer = NULL;
        int code = path ? quorumctl_client_call(ctx, "DELETE", path, NULL, &answer)
                        : QUORUMCTL_EXIT_USAGE;
        if (code == QUORUMCTL_EXIT_OK) {
                if (ctx->json)
                        quorumctl_client_print_json(ctx, answer);
                else
                        fprintf(ctx->out, "deleted CIDR collection %s\n", args->pos[0]);
        }
        json_decref(answer);
        free(path);
        return code;
}
