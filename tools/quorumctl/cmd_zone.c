/*
 * cmd_zone.c — the "zone" commands.
 *
 * Each command builds one request (list follows next_marker pages; import
 * sends one request per chunk of the master file), prints the answer as
 * the API's JSON with --json or as text for people, and returns the exit
 * code.  Import checks the whole file's syntax before sending anything, so
 * a typo on the last line does not leave a half-imported zone; the chunks
 * after that are separate changes, and an error names the chunk, its lines
 * in the file and how many records were already imported.
 */
#include "tools/quorumctl/cmd_zone.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/quorumctl/chunker.h"
#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/progress.h"
#include "tools/quorumctl/table.h"

static const char *json_text(const json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Prints "what NAME (change ID STATUS)" for an answer holding a change. */
static void print_change_line(struct quorumctl_ctx *ctx, const char *what,
                              const char *name, const json_t *answer)
{
        json_t *change = json_object_get(answer, "change");
        const char *id = json_text(change, "id");
        const char *status = json_text(change, "status");
        fprintf(ctx->out, "%s %s", what, name);
        if (id != NULL)
                fprintf(ctx->out, " (change %s %s)", id, status != NULL ? status : "");
        fputc('\n', ctx->out);
}

int quorumctl_zone_create(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char err[160];
        unsigned long ttl = 0;
        if (quorumctl_args_get_uint(args, "ttl", 0, 2147483647UL, &ttl, err,
                                    sizeof(err)) != 0) {
                quorumctl_client_error(ctx, "%s", err);
                return QUORUMCTL_EXIT_USAGE;
        }
        char *name = quorumctl_client_absolute(args->pos[0]);
        json_t *body = json_object();
        json_t *answer = NULL;
        int code = QUORUMCTL_EXIT_UNAVAILABLE;
        if (name == NULL || body == NULL)
                goto out;
        json_object_set_new(body, "name", json_string(name));
        const char *comment = quorumctl_args_get(args, "comment");
        if (comment != NULL)
                json_object_set_new(body, "comment", json_string(comment));
        if (quorumctl_args_has(args, "ns")) {
                json_t *ns = json_array();
                const char *v;
                for (size_t i = 0; (v = quorumctl_args_get_nth(args, "ns", i)) != NULL;
                     i++)
                        json_array_append_new(ns, json_string(v));
                json_object_set_new(body, "nameservers", ns);
        }
        if (quorumctl_args_has(args, "ttl"))
                json_object_set_new(body, "ttl", json_integer((json_int_t)ttl));

        code = quorumctl_client_call(ctx, "POST", "/v1/zones", body, &answer);
        if (code != QUORUMCTL_EXIT_OK)
                goto out;
        if (ctx->json) {
                quorumctl_client_print_json(ctx, answer);
        } else {
                print_change_line(ctx, "created zone", name, answer);
                json_t *zone = json_object_get(answer, "zone");
                if (json_is_object(zone))
                        quorumctl_table_print_object(zone, ctx->out);
        }
out:
        json_decref(answer);
        json_decref(body);
        free(name);
        return code;
}

int quorumctl_zone_list(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        json_t *zones;
        int code =
            quorumctl_client_fetch_all(ctx, "/v1/zones", "zones", (size_t)-1, &zones);
        if (code != QUORUMCTL_EXIT_OK)
                return code;
        if (ctx->json) {
                json_t *out = json_pack("{s:O,s:n}", "zones", zones, "next_marker");
                quorumctl_client_print_json(ctx, out);
                json_decref(out);
                json_decref(zones);
                return code;
        }
        static const char *const headers[] = {"NAME", "ID", ">SERIAL", ">RECORD SETS",
                                              "COMMENT"};
        static const char *const keys[] = {"name", "id", "serial", "record_set_count",
                                           "comment"};
        struct quorumctl_table t;
        quorumctl_table_init(&t, 5, headers);
        size_t i;
        json_t *zone;
        json_array_foreach(zones, i, zone)
        {
                char *cells[5];
                for (size_t c = 0; c < 5; c++) {
                        json_t *v = json_object_get(zone, keys[c]);
                        cells[c] = v != NULL ? quorumctl_table_cell(v) : NULL;
                }
                quorumctl_table_add(&t, (const char *const *)cells);
                for (size_t c = 0; c < 5; c++)
                        free(cells[c]);
        }
        quorumctl_table_print(&t, ctx->out);
        quorumctl_table_free(&t);
        json_decref(zones);
        return code;
}

int quorumctl_zone_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char *path = quorumctl_client_zone_path(args->pos[0], "");
        int code = quorumctl_client_show(ctx, path);
        free(path);
        return code;
}

int quorumctl_zone_delete(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        bool force = quorumctl_args_has(args, "force");
        char *path = quorumctl_client_zone_path(args->pos[0], force ? "?force=true" : "");
        json_t *answer = NULL;
        int code = path != NULL
                       ? quorumctl_client_call(ctx, "DELETE", path, NULL, &answer)
                       : QUORUMCTL_EXIT_UNAVAILABLE;
        if (code == QUORUMCTL_EXIT_OK) {
                if (ctx->json)
                        quorumctl_client_print_json(ctx, answer);
                else
                        print_change_line(ctx, "deleted zone", args->pos[0], answer);
        }
        json_decref(answer);
        free(path);
        return code;
}

int quorumctl_zone_export(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char *path = quorumctl_client_zone_path(args->pos[0], "/export");
        const char *file = quorumctl_args_get(args, "output");
        struct quorumctl_http_response resp = {0};
        int code = path != NULL ? quorumctl_client_call_raw(ctx, "GET", path, NULL, NULL,
                                                            0, NULL, &resp)
                                : QUORUMCTL_EXIT_UNAVAILABLE;
        if (code != QUORUMCTL_EXIT_OK)
                goto out;
        if (file == NULL || strcmp(file, "-") == 0) {
                fwrite(resp.body, 1, resp.len, ctx->out);
                goto out;
        }
        /* Written next to the target and renamed: never a half-written file. */
        char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp.%d", file, (int)getpid()) < 0) {
                code = QUORUMCTL_EXIT_UNAVAILABLE;
                goto out;
        }
        FILE *f = fopen(tmp, "w");
        bool ok = f != NULL && fwrite(resp.body, 1, resp.len, f) == resp.len;
        ok = f != NULL && fclose(f) == 0 && ok;
        if (!ok || rename(tmp, file) != 0) {
                quorumctl_client_error(ctx, "%s: %s", file, strerror(errno));
                unlink(tmp);
                code = QUORUMCTL_EXIT_USAGE;
        }
        free(tmp);
out:
        quorumctl_http_response_free(&resp);
        free(path);
        return code;
}

struct import_state {
        struct quorumctl_ctx *ctx;
        const char *file;
        size_t total, sent, server_records, chunks;
        unsigned last_line; /* of the last chunk imported */
        json_t *changes;    /* the change of each chunk */
};

static int send_chunk(struct import_state *st, const char *path,
                      const struct quorumctl_chunk *chunk)
{
        char context[256];
        snprintf(context, sizeof(context), "chunk %zu (%s lines %u-%u%s)", st->chunks + 1,
                 st->file, chunk->first_line, chunk->last_line,
                 chunk->header_lines > 0 ? ", after our $ORIGIN/$TTL header lines" : "");
        struct quorumctl_http_response resp;
        int code = quorumctl_client_call_raw(st->ctx, "POST", path, "text/dns",
                                             chunk->text, chunk->len, context, &resp);
        if (code == QUORUMCTL_EXIT_OK) {
                json_t *answer = json_loadb(resp.body, resp.len, 0, NULL);
                json_t *records = json_object_get(answer, "records");
                st->server_records += json_is_integer(records)
                                          ? (size_t)json_integer_value(records)
                                          : chunk->records;
                json_t *change = json_object_get(answer, "change");
                if (change != NULL)
                        json_array_append(st->changes, change);
                json_decref(answer);
                st->chunks++;
                st->sent += chunk->records;
                st->last_line = chunk->last_line;
        } else if (chunk->header_lines > 0) {
                quorumctl_client_error(st->ctx,
                                       "line numbers in that message count %u added "
                                       "line(s): file line = chunk line + %d",
                                       chunk->header_lines,
                                       (int)chunk->first_line - 1 -
                                           (int)chunk->header_lines);
        }
        quorumctl_http_response_free(&resp);
        return code;
}

static void print_import(struct import_state *st, const char *zone)
{
        if (st->ctx->json) {
                json_t *out = json_pack("{s:s,s:I,s:I,s:O}", "zone", zone, "records",
                                        (json_int_t)st->server_records, "chunks",
                                        (json_int_t)st->chunks, "changes", st->changes);
                quorumctl_client_print_json(st->ctx, out);
                json_decref(out);
                return;
        }
        fprintf(st->ctx->out, "imported %zu records into %s in %zu chunk%s\n",
                st->server_records, zone, st->chunks, st->chunks == 1 ? "" : "s");
        size_t i;
        json_t *change;
        json_array_foreach(st->changes, i, change)
        {
                const char *id = json_text(change, "id");
                const char *status = json_text(change, "status");
                fprintf(st->ctx->out, "change %s %s\n", id != NULL ? id : "?",
                        status != NULL ? status : "");
        }
}

int quorumctl_zone_import(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        const char *zone = args->pos[0];
        char err[256];
        unsigned long max_records = QUORUMCTL_CHUNK_RECORDS;
        if (quorumctl_args_get_uint(args, "chunk-records", 1, 10000000UL, &max_records,
                                    err, sizeof(err)) != 0) {
                quorumctl_client_error(ctx, "%s", err);
                return QUORUMCTL_EXIT_USAGE;
        }
        if (!quorumctl_args_has(args, "timeout"))
                ctx->http.timeout_ms = 300000; /* a big chunk takes a while to commit */

        struct import_state st = {.ctx = ctx, .file = args->pos[1]};
        struct quorumctl_file file;
        if (quorumctl_client_read_file(ctx, st.file, &file) != 0)
                return QUORUMCTL_EXIT_USAGE;
        unsigned line = 0;
        int rc = quorumctl_chunker_count(file.data, file.len, zone, &st.total, &line, err,
                                         sizeof(err));
        if (rc != 0) {
                if (rc == -EINVAL)
                        quorumctl_client_error(ctx, "%s:%u: %s", st.file, line, err);
                else
                        quorumctl_client_error(ctx, "out of memory");
                quorumctl_client_file_free(&file);
                return rc == -EINVAL ? QUORUMCTL_EXIT_API : QUORUMCTL_EXIT_UNAVAILABLE;
        }

        int code = QUORUMCTL_EXIT_UNAVAILABLE;
        struct quorumctl_chunker ch;
        char *replace_path = quorumctl_client_zone_path(zone, "/import?replace=true");
        char *add_path = quorumctl_client_zone_path(zone, "/import");
        st.changes = json_array();
        if (replace_path == NULL || add_path == NULL || st.changes == NULL ||
            quorumctl_chunker_init(&ch, file.data, file.len, zone, max_records, 0) != 0)
                goto out;

        struct quorumctl_progress progress;
        quorumctl_progress_start(&progress, ctx->err, st.total);
        bool replace = quorumctl_args_has(args, "replace");
        struct quorumctl_chunk chunk;
        code = QUORUMCTL_EXIT_OK;
        while (code == QUORUMCTL_EXIT_OK &&
               (rc = quorumctl_chunker_next(&ch, &chunk)) > 0) {
                /* Only the first chunk replaces; the rest add to what it left. */
                const char *path = replace && st.chunks == 0 ? replace_path : add_path;
                code = send_chunk(&st, path, &chunk);
                quorumctl_chunk_free(&chunk);
                quorumctl_progress_update(&progress, st.sent);
        }
        quorumctl_progress_finish(&progress);
        if (code == QUORUMCTL_EXIT_OK && rc < 0) {
                quorumctl_client_error(ctx, "%s:%u: %s", st.file, ch.error_line,
                                       ch.error);
                code = rc == -EINVAL ? QUORUMCTL_EXIT_API : QUORUMCTL_EXIT_UNAVAILABLE;
        }
        char *apex = quorumctl_client_absolute(zone);
        if (code == QUORUMCTL_EXIT_OK)
                print_import(&st, apex != NULL ? apex : zone);
        else if (st.chunks > 0)
                quorumctl_client_error(ctx,
                                       "%zu of %zu records (%zu chunk%s, up to line %u) "
                                       "were imported before the error",
                                       st.sent, st.total, st.chunks,
                                       st.chunks == 1 ? "" : "s", st.last_line);
        free(apex);
        quorumctl_chunker_free(&ch);
out:
        json_decref(st.changes);
        free(replace_path);
        free(add_path);
        quorumctl_client_file_free(&file);
        return code;
}
