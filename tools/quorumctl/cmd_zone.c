/*
 * cmd_zone.c — the "zone" commands.
 *
 * Each command builds one request (list follows next_marker pages), prints
 * the answer as the API's JSON with --json or as text for people, and
 * returns the exit code.  "zone import" is in cmd_import.c.
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
