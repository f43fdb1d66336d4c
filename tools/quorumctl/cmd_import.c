/*
 * cmd_import.c — "zone import": a master file of any size, all or nothing.
 *
 * The file's syntax is checked here first (the chunker's tokenizer).  Then
 * it is staged on the cluster (docs/API.md, "Staged imports"): POST
 * …/imports makes a staging object on the leader, every chunk of about
 * --chunk-records records is sent to it, and each chunk's errors come back
 * with chunk lines, mapped here to FILE:LINE.  All chunks are sent even after
 * an error, so every error of the file is reported; then the staging is
 * aborted and nothing has changed.  Without errors the import is committed
 * as one change.  --replace also deletes the zone's sets the file lacks:
 * the staged import is first dry-run, and when that would delete sets they
 * are listed and confirmed (a terminal's "y", or --yes).  --dry-run prints
 * the plan (sets to create, replace, delete) and aborts.  A leader change
 * loses the staging (404 NoSuchImport): the upload starts again, at most
 * UPLOAD_ATTEMPTS times.
 */
#include "tools/quorumctl/cmd_import.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/quorumctl/chunker.h"
#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/progress.h"

#define UPLOAD_ATTEMPTS 3
#define ERRORS_SHOWN    100

struct upload {
        struct quorumctl_ctx *ctx;
        const char *zone, *file;
        const struct quorumctl_file *data;
        unsigned long max_records;
        bool replace;
        char id[40];
        char *base; /* /v1/zones/ZONE/imports/ID */
        size_t total, sent, errors;
        bool lost;        /* the staging is gone (leader change): start again */
        unsigned attempt; /* 1, 2, ...: the upload's attempt */
        json_t *plan;
};

static bool is_code(const struct quorumctl_http_response *resp, const char *code)
{
        json_t *root = json_loadb(resp->body, resp->len, 0, NULL);
        json_t *c = json_object_get(json_object_get(root, "error"), "code");
        bool yes = json_is_string(c) && strcmp(json_string_value(c), code) == 0;
        json_decref(root);
        return yes;
}

/* 0 for a 2xx answer, else an exit code with the error printed (u->lost set
 * on NoSuchImport, which is not printed).  rc is quorumctl_http_request's. */
static int check(struct upload *u, int rc, const struct quorumctl_http_response *resp)
{
        if (rc == -ENOMEM) {
                quorumctl_client_error(u->ctx, "out of memory");
                return QUORUMCTL_EXIT_UNAVAILABLE;
        }
        if (rc != 0) {
                quorumctl_client_error(u->ctx, "no server reachable (%s)",
                                       u->ctx->http.error);
                return QUORUMCTL_EXIT_UNAVAILABLE;
        }
        if (resp->status >= 200 && resp->status < 300)
                return 0;
        if (resp->status == 404 && is_code(resp, "NoSuchImport")) {
                u->lost = true;
                return QUORUMCTL_EXIT_UNAVAILABLE;
        }
        char *text = quorumctl_error_format(resp->status, resp->body, resp->len);
        quorumctl_client_error(u->ctx, "%s", text != NULL ? text : "out of memory");
        free(text);
        return quorumctl_exit_from_status(resp->status);
}

static int call(struct upload *u, const char *method, const char *path, const char *type,
                const char *body, size_t len, const char *key,
                struct quorumctl_http_response *resp)
{
        int rc = quorumctl_http_request(&u->ctx->http, method, path, type, body, len, key,
                                        resp);
        return check(u, rc, resp);
}

static int create(struct upload *u)
{
        char *path = quorumctl_client_zone_path(u->zone, "/imports");
        struct quorumctl_http_response resp = {0};
        int code = path != NULL ? call(u, "POST", path, NULL, NULL, 0, NULL, &resp)
                                : QUORUMCTL_EXIT_UNAVAILABLE;
        free(path);
        if (code == 0) {
                json_t *root = json_loadb(resp.body, resp.len, 0, NULL);
                const char *id = json_string_value(json_object_get(root, "id"));
                if (id != NULL && strlen(id) < sizeof(u->id))
                        snprintf(u->id, sizeof(u->id), "%s", id);
                else
                        code = QUORUMCTL_EXIT_UNAVAILABLE;
                json_decref(root);
                char suffix[64];
                snprintf(suffix, sizeof(suffix), "/imports/%s", u->id);
                free(u->base);
                u->base = code == 0 ? quorumctl_client_zone_path(u->zone, suffix) : NULL;
                if (code == 0 && u->base == NULL)
                        code = QUORUMCTL_EXIT_UNAVAILABLE;
        }
        quorumctl_http_response_free(&resp);
        return code;
}

/* The errors of a chunk, as FILE:LINE of the file. */
static void chunk_errors(struct upload *u, const struct quorumctl_chunk *chunk,
                         const struct quorumctl_http_response *resp)
{
        json_t *root = json_loadb(resp->body, resp->len, 0, NULL);
        json_t *list = json_object_get(json_object_get(root, "error"), "errors");
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
                json_t *line = json_object_get(e, "line");
                const char *msg = json_string_value(json_object_get(e, "message"));
                long file_line = json_is_integer(line) ? (long)json_integer_value(line) +
                                                             (long)chunk->first_line - 1 -
                                                             (long)chunk->header_lines
                                                       : 0;
                if (u->errors++ < ERRORS_SHOWN)
                        fprintf(u->ctx->err, "%s:%ld: %s\n", u->file, file_line,
                                msg != NULL ? msg : "error");
        }
        json_decref(root);
}

/* A 400 without per-line errors is about the request, not the file. */
static bool no_lines(const struct quorumctl_http_response *resp)
{
        json_t *root = json_loadb(resp->body, resp->len, 0, NULL);
        json_t *list = json_object_get(json_object_get(root, "error"), "errors");
        bool none = json_array_size(list) == 0;
        json_decref(root);
        return none;
}

static int send_chunks(struct upload *u)
{
        struct quorumctl_chunker ch;
        char *path = NULL;
        if (asprintf(&path, "%s/chunks", u->base) < 0 ||
            quorumctl_chunker_init(&ch, u->data->data, u->data->len, u->zone,
                                   u->max_records, 0) != 0) {
                free(path);
                return QUORUMCTL_EXIT_UNAVAILABLE;
        }
        struct quorumctl_progress progress;
        quorumctl_progress_start(&progress, u->ctx->err, u->total, NULL);
        struct quorumctl_chunk chunk;
        int rc, code = 0;
        u->sent = 0;
        while (code == 0 && (rc = quorumctl_chunker_next(&ch, &chunk)) > 0) {
                struct quorumctl_http_response resp = {0};
                int c = quorumctl_http_request(&u->ctx->http, "POST", path, "text/dns",
                                               chunk.text, chunk.len, NULL, &resp);
                if (c == 0 && resp.status == 400 && !no_lines(&resp)) {
                        quorumctl_progress_finish(&progress);
                        chunk_errors(u, &chunk, &resp); /* and go on: every error */
                } else {
                        code = check(u, c, &resp);
                }
                quorumctl_http_response_free(&resp);
                u->sent += chunk.records;
                quorumctl_chunk_free(&chunk);
                quorumctl_progress_update(&progress, u->sent);
        }
        quorumctl_progress_finish(&progress);
        if (code == 0 && rc < 0) {
                quorumctl_client_error(u->ctx, "%s:%u: %s", u->file, ch.error_line,
                                       ch.error);
                code = rc == -EINVAL ? QUORUMCTL_EXIT_API : QUORUMCTL_EXIT_UNAVAILABLE;
        }
        quorumctl_chunker_free(&ch);
        free(path);
        return code;
}

static void abort_staging(struct upload *u)
{
        if (u->base == NULL)
                return;
        struct quorumctl_http_response resp = {0};
        quorumctl_http_request(&u->ctx->http, "DELETE", u->base, NULL, NULL, 0, NULL,
                               &resp);
        quorumctl_http_response_free(&resp);
}

static int commit(struct upload *u, bool dry, json_t **answer)
{
        char *path = NULL;
        *answer = NULL;
        if (asprintf(&path, "%s/commit%s%s", u->base, u->replace ? "?replace=true" : "",
                     dry ? (u->replace ? "&dry_run=true" : "?dry_run=true") : "") < 0)
                return QUORUMCTL_EXIT_UNAVAILABLE;
        /* A key per upload: a request id binds the key to the commit's path,
         * which names the staging, so a second upload's commit under the
         * first one's key would be refused (409) where the first one had
         * done nothing; applying the same file again changes nothing. */
        char key[160];
        if (u->attempt <= 1)
                snprintf(key, sizeof(key), "%s-import", u->ctx->key);
        else
                snprintf(key, sizeof(key), "%s-import-%u", u->ctx->key, u->attempt);
        struct quorumctl_http_response resp = {0};
        int code = call(u, "POST", path, NULL, NULL, 0, dry ? NULL : key, &resp);
        if (code == 0)
                *answer = json_loadb(resp.body, resp.len, 0, NULL);
        quorumctl_http_response_free(&resp);
        free(path);
        return code;
}

static void print_sets(FILE *out, const json_t *plan, const char *kind)
{
        char key[32];
        snprintf(key, sizeof(key), "%s_count", kind);
        json_int_t n = json_integer_value(json_object_get(plan, key));
        const json_t *list = json_object_get(plan, kind);
        fprintf(out, "%s: %lld record set%s\n", kind, (long long)n, n == 1 ? "" : "s");
        size_t i;
        const json_t *s;
        json_array_foreach(list, i, s)
        {
                fprintf(out, "  %s %s\n", json_string_value(json_object_get(s, "name")),
                        json_string_value(json_object_get(s, "type")));
        }
        if ((json_int_t)json_array_size(list) < n)
                fprintf(out, "  ... and %lld more\n",
                        (long long)n - (long long)json_array_size(list));
}

static void print_plan(struct upload *u, const json_t *plan)
{
        FILE *out = u->ctx->out;
        fprintf(out, "dry run, nothing was changed: importing %s into %s%s would\n",
                u->file, u->zone, u->replace ? " with --replace" : "");
        print_sets(out, plan, "create");
        print_sets(out, plan, "replace");
        print_sets(out, plan, "delete");
        json_int_t same = json_integer_value(json_object_get(plan, "unchanged"));
        fprintf(out, "unchanged: %lld record set%s\n", (long long)same,
                same == 1 ? "" : "s");
}

/* --replace without --yes: the sets it would delete are confirmed. */
static int confirm_deletes(struct upload *u, const json_t *plan)
{
        json_int_t n = json_integer_value(json_object_get(plan, "delete_count"));
        if (n == 0)
                return 0;
        print_sets(u->ctx->err, plan, "delete");
        if (!isatty(STDIN_FILENO)) {
                quorumctl_client_error(
                    u->ctx,
                    "--replace would delete the %lld record set%s above; "
                    "run again with --yes to confirm (--dry-run shows "
                    "the whole plan); nothing was changed",
                    (long long)n, n == 1 ? "" : "s");
                return QUORUMCTL_EXIT_USAGE;
        }
        fprintf(u->ctx->err, "delete these %lld record set%s? [y/N] ", (long long)n,
                n == 1 ? "" : "s");
        fflush(u->ctx->err);
        char line[16] = "";
        if (fgets(line, sizeof(line), stdin) == NULL ||
            (strcmp(line, "y\n") != 0 && strcmp(line, "yes\n") != 0)) {
                quorumctl_client_error(u->ctx, "not confirmed: nothing was changed");
                return QUORUMCTL_EXIT_USAGE;
        }
        return 0;
}

/* One attempt: stage, check, commit.  u->lost asks for another. */
static int attempt(struct upload *u, bool dry, bool yes)
{
        u->lost = false;
        u->errors = 0;
        int code = create(u);
        if (code == 0)
                code = send_chunks(u);
        if (code == 0 && u->errors > 0) {
                if (u->errors > ERRORS_SHOWN)
                        fprintf(u->ctx->err, "... and %zu more errors\n",
                                u->errors - ERRORS_SHOWN);
                quorumctl_client_error(u->ctx, "%zu error%s in %s: nothing was imported",
                                       u->errors, u->errors == 1 ? "" : "s", u->file);
                code = QUORUMCTL_EXIT_API;
        }
        json_t *answer = NULL;
        if (code == 0 && (dry || (u->replace && !yes))) {
                code = commit(u, true, &answer);
                if (code == 0 && dry) {
                        if (u->ctx->json)
                                quorumctl_client_print_json(u->ctx, answer);
                        else
                                print_plan(u, answer);
                        abort_staging(u);
                        json_decref(answer);
                        return 0;
                }
                if (code == 0)
                        code = confirm_deletes(u, answer);
                json_decref(answer);
                answer = NULL;
        }
        if (code == 0)
                code = commit(u, false, &answer);
        if (code != 0) {
                if (!u->lost)
                        abort_staging(u);
                return code;
        }
        json_t *change = json_object_get(answer, "change");
        if (u->ctx->json) {
                quorumctl_client_print_json(u->ctx, answer);
        } else {
                /* A retried commit answers the first one's change alone. */
                json_t *n = json_object_get(answer, "records");
                json_int_t records =
                    json_is_integer(n) ? json_integer_value(n) : (json_int_t)u->total;
                if (json_is_object(change))
                        fprintf(u->ctx->out,
                                "imported %lld record%s into %s as one change\n"
                                "change %s %s\n",
                                (long long)records, records == 1 ? "" : "s", u->zone,
                                json_string_value(json_object_get(change, "id")),
                                json_string_value(json_object_get(change, "status")));
                else
                        fprintf(u->ctx->out,
                                "%s already holds the file's %lld record%s: no change\n",
                                u->zone, (long long)records, records == 1 ? "" : "s");
        }
        json_decref(answer);
        return 0;
}

int quorumctl_zone_import(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char err[256];
        struct upload u = {.ctx = ctx,
                           .file = args->pos[1],
                           .max_records = QUORUMCTL_CHUNK_RECORDS,
                           .replace = quorumctl_args_has(args, "replace")};
        if (quorumctl_args_get_uint(args, "chunk-records", 1, 10000000UL, &u.max_records,
                                    err, sizeof(err)) != 0) {
                quorumctl_client_error(ctx, "%s", err);
                return QUORUMCTL_EXIT_USAGE;
        }
        if (!quorumctl_args_has(args, "timeout"))
                ctx->http.timeout_ms = 300000; /* a big commit takes a while */
        struct quorumctl_file file;
        if (quorumctl_client_read_file(ctx, u.file, &file) != 0)
                return QUORUMCTL_EXIT_USAGE;
        u.data = &file;
        char *apex = quorumctl_client_absolute(args->pos[0]);
        u.zone = apex != NULL ? apex : args->pos[0];
        unsigned line = 0;
        int code;
        int rc = quorumctl_chunker_count(file.data, file.len, args->pos[0], &u.total,
                                         &line, err, sizeof(err));
        if (rc != 0) {
                if (rc == -EINVAL)
                        quorumctl_client_error(ctx, "%s:%u: %s (nothing was imported)",
                                               u.file, line, err);
                else
                        quorumctl_client_error(ctx, "out of memory");
                code = rc == -EINVAL ? QUORUMCTL_EXIT_API : QUORUMCTL_EXIT_UNAVAILABLE;
                goto out;
        }
        bool dry = quorumctl_args_has(args, "dry-run");
        bool yes = quorumctl_args_has(args, "yes");
        for (int i = 1;; i++) {
                u.attempt = (unsigned)i;
                code = attempt(&u, dry, yes);
                if (!u.lost)
                        break;
                if (i == UPLOAD_ATTEMPTS) {
                        quorumctl_client_error(ctx,
                                               "the leader changed during each of %d "
                                               "uploads: nothing was imported",
                                               UPLOAD_ATTEMPTS);
                        break;
                }
                quorumctl_client_error(ctx,
                                       "the leader changed during the upload (its staged "
                                       "import is gone, nothing was changed): uploading "
                                       "again");
        }
out:
        free(u.base);
        free(apex);
        quorumctl_client_file_free(&file);
        return code;
}
