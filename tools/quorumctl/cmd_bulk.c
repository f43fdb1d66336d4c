/*
 * cmd_bulk.c — `quorumctl zone import-many`: a migration of many zones
 * from master files in one command.
 *
 * The zones come from a directory (one master file per zone, the zone named
 * after the file) or from a BIND named.conf (its primary zones and their
 * `file`s, tools/quorumctl/namedconf.h).  They are sent to POST
 * /v1/zones/bulk, --batch zones (and at most BATCH_BYTES of zone text) per
 * request: each zone is created with its records or not at all, and every
 * failure is printed with the zone's name, the server's message and the
 * problems it listed (for master files: the line).  Progress goes to stderr
 * (a bar on a terminal, a line per request otherwise).  The exit code is 0
 * only when every zone was imported (or, with --skip-existing, existed).
 */
#include "tools/quorumctl/cmd_bulk.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/namedconf.h"
#include "tools/quorumctl/progress.h"

#define BATCH_DEFAULT 100
#define BATCH_BYTES   (8u << 20)

struct zone_source {
        char *name; /* absolute zone name */
        char *path;
};

struct sources {
        struct zone_source *v;
        size_t n, cap;
};

static int sources_add(struct sources *s, const char *name, const char *path)
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 64;
                struct zone_source *grown = realloc(s->v, cap * sizeof(*grown));
                if (grown == NULL)
                        return -ENOMEM;
                s->v = grown;
                s->cap = cap;
        }
        s->v[s->n].name = quorumctl_client_absolute(name);
        s->v[s->n].path = strdup(path);
        if (s->v[s->n].name == NULL || s->v[s->n].path == NULL) {
                free(s->v[s->n].name);
                free(s->v[s->n].path);
                return -ENOMEM;
        }
        s->n++;
        return 0;
}

static void sources_free(struct sources *s)
{
        for (size_t i = 0; i < s->n; i++) {
                free(s->v[i].name);
                free(s->v[i].path);
        }
        free(s->v);
}

static int source_cmp(const void *a, const void *b)
{
        return strcmp(((const struct zone_source *)a)->name,
                      ((const struct zone_source *)b)->name);
}

/* "example.com.zone", "example.com.db", "db.example.com", "example.com". */
static void zone_of_file(const char *file, char *out, size_t size)
{
        snprintf(out, size, "%s", strncmp(file, "db.", 3) == 0 ? file + 3 : file);
        size_t n = strlen(out);
        static const char *const suffixes[] = {".zone", ".db"};
        for (size_t i = 0; i < 2; i++) {
                size_t l = strlen(suffixes[i]);
                if (n > l && strcmp(out + n - l, suffixes[i]) == 0) {
                        out[n - l] = 0;
                        break;
                }
        }
}

static int from_directory(struct quorumctl_ctx *ctx, const char *dir, struct sources *s)
{
        DIR *d = opendir(dir);
        if (d == NULL) {
                quorumctl_client_error(ctx, "%s: %s", dir, strerror(errno));
                return QUORUMCTL_EXIT_USAGE;
        }
        struct dirent *e;
        int code = QUORUMCTL_EXIT_OK;
        while (code == QUORUMCTL_EXIT_OK && (e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                        continue;
                char path[4096], name[1024];
                struct stat st;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                /* A file that cannot be looked at (a dangling link) is
                 * kept, to be reported as a failed zone when it is read. */
                if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
                        continue;
                zone_of_file(e->d_name, name, sizeof(name));
                if (sources_add(s, name, path) != 0)
                        code = QUORUMCTL_EXIT_UNAVAILABLE;
        }
        closedir(d);
        return code;
}

/* directory: --bind-directory, or NULL for the file's options { directory }. */
static int from_bind(struct quorumctl_ctx *ctx, const char *conf_path,
                     const char *directory, struct sources *s)
{
        struct quorumctl_file file;
        if (quorumctl_client_read_file(ctx, conf_path, &file) != 0)
                return QUORUMCTL_EXIT_USAGE;
        struct quorumctl_namedconf conf;
        char err[256];
        unsigned line = 0;
        int rc = quorumctl_namedconf_parse(file.data, file.len, &conf, err, sizeof(err),
                                           &line);
        quorumctl_client_file_free(&file);
        if (rc != 0) {
                quorumctl_client_error(ctx, "%s:%u: %s", conf_path, line, err);
                quorumctl_namedconf_free(&conf);
                /* A syntax error in an input file: 1, as the exit codes say. */
                return rc == -EINVAL ? QUORUMCTL_EXIT_API : QUORUMCTL_EXIT_UNAVAILABLE;
        }
        /* Relative file names are relative to options { directory } (or
         * --bind-directory), itself relative to named.conf's folder here. */
        if (directory != NULL) {
                free(conf.directory);
                conf.directory = strdup(directory);
                if (conf.directory == NULL) {
                        quorumctl_namedconf_free(&conf);
                        return QUORUMCTL_EXIT_UNAVAILABLE;
                }
        }
        char base[4096];
        const char *slash = strrchr(conf_path, '/');
        int dlen = slash ? (int)(slash - conf_path) : 1;
        const char *dpath = slash ? conf_path : ".";
        if (conf.directory != NULL && conf.directory[0] == '/')
                snprintf(base, sizeof(base), "%s", conf.directory);
        else if (conf.directory != NULL)
                snprintf(base, sizeof(base), "%.*s/%s", dlen, dpath, conf.directory);
        else
                snprintf(base, sizeof(base), "%.*s", dlen, dpath);
        size_t skipped = 0;
        int code = QUORUMCTL_EXIT_OK;
        for (size_t i = 0; i < conf.n_zones && code == QUORUMCTL_EXIT_OK; i++) {
                const struct quorumctl_namedconf_zone *z = &conf.zones[i];
                bool primary = strcasecmp(z->type, "master") == 0 ||
                               strcasecmp(z->type, "primary") == 0;
                if (!primary || z->file == NULL) {
                        skipped++;
                        continue;
                }
                char path[8192];
                if (z->file[0] == '/')
                        snprintf(path, sizeof(path), "%s", z->file);
                else
                        snprintf(path, sizeof(path), "%s/%s", base, z->file);
                if (sources_add(s, z->name, path) != 0)
                        code = QUORUMCTL_EXIT_UNAVAILABLE;
        }
        if (skipped > 0)
                fprintf(
                    ctx->err,
                    "quorumctl: %s: %zu zone(s) skipped: not primary zones with a file "
                    "(secondary, forward, hint, ...)\n",
                    conf_path, skipped);
        if (conf.n_includes > 0)
                fprintf(ctx->err,
                        "quorumctl: %s: %zu include statement(s) not followed: pass the "
                        "included file with --from-bind (and --bind-directory) if it "
                        "holds zones\n",
                        conf_path, conf.n_includes);
        quorumctl_namedconf_free(&conf);
        return code;
}

struct totals {
        size_t created, failed, existed, records;
        size_t unconfirmed; /* zones of no answer: a request failed as a whole */
        json_t *errors;     /* [{"name", "status", "error"}] */
};

/* Prints one failed zone: its message and the problems listed with it. */
static void print_failure(struct quorumctl_ctx *ctx, const char *name, json_t *error,
                          json_int_t status)
{
        json_t *msg = json_object_get(error, "message");
        fprintf(ctx->err, "quorumctl: %s: %" JSON_INTEGER_FORMAT " %s\n", name, status,
                json_is_string(msg) ? json_string_value(msg) : "failed");
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(error, "errors"), i, e)
        {
                json_t *f = json_object_get(e, "field"),
                       *m = json_object_get(e, "message");
                fprintf(ctx->err, "quorumctl:   %s: %s\n",
                        json_is_string(f) ? json_string_value(f) : "?",
                        json_is_string(m) ? json_string_value(m) : "?");
        }
}

static const char *code_of(json_t *error)
{
        const char *code = json_string_value(json_object_get(error, "code"));
        return code != NULL ? code : "";
}

static int send_batch(struct quorumctl_ctx *ctx, json_t *creates, bool skip_existing,
                      struct totals *t)
{
        json_t *body = json_pack("{s:O}", "create", creates);
        json_t *answer = NULL;
        int code = quorumctl_client_call(ctx, "POST", "/v1/zones/bulk", body, &answer);
        json_decref(body);
        if (code != QUORUMCTL_EXIT_OK)
                return code;
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(answer, "results"), i, r)
        {
                json_int_t status = json_integer_value(json_object_get(r, "status"));
                json_t *error = json_object_get(r, "error");
                const char *name = json_string_value(json_object_get(r, "name"));
                if (error == NULL) {
                        t->created++;
                        t->records +=
                            (size_t)json_integer_value(json_object_get(r, "records"));
                } else if (status == 409 && skip_existing &&
                           (strcmp(code_of(error), "ZoneAlreadyExists") == 0 ||
                            strcmp(code_of(error), "Conflict") == 0)) {
                        /* made meanwhile (Conflict), not a key reused with
                         * other files (IdempotencyKeyMismatch) */
                        t->existed++;
                } else {
                        t->failed++;
                        print_failure(ctx, name ? name : "?", error, status);
                        json_array_append_new(t->errors,
                                              json_pack("{s:s, s:I, s:O}", "name",
                                                        name ? name : "", "status",
                                                        status, "error", error));
                }
        }
        json_decref(answer);
        return QUORUMCTL_EXIT_OK;
}

/* Adds one zone to the batch; a file that cannot be sent is a failure. */
static int add_zone(struct quorumctl_ctx *ctx, const struct zone_source *z,
                    json_t *creates, size_t *bytes, struct totals *t)
{
        struct quorumctl_file file;
        if (quorumctl_client_read_file(ctx, z->path, &file) != 0) {
                t->failed++;
                json_array_append_new(t->errors,
                                      json_pack("{s:s, s:s}", "name", z->name, "message",
                                                "cannot read the zone file"));
                return 0;
        }
        json_t *text = json_stringn(file.data, file.len);
        if (text == NULL) {
                fprintf(ctx->err, "quorumctl: %s: %s is not UTF-8 text; not sent\n",
                        z->name, z->path);
                t->failed++;
                json_array_append_new(t->errors,
                                      json_pack("{s:s, s:s}", "name", z->name, "message",
                                                "zone file is not UTF-8 text"));
        } else {
                json_array_append_new(
                    creates, json_pack("{s:s, s:o}", "name", z->name, "zone_file", text));
                *bytes += file.len;
        }
        quorumctl_client_file_free(&file);
        return 0;
}

int quorumctl_zone_import_many(struct quorumctl_ctx *ctx,
                               const struct quorumctl_args *args)
{
        char err[160];
        unsigned long batch = BATCH_DEFAULT;
        if (quorumctl_args_get_uint(args, "batch", 1, 1000, &batch, err, sizeof(err)) !=
            0) {
                quorumctl_client_error(ctx, "%s", err);
                return QUORUMCTL_EXIT_USAGE;
        }
        const char *bind = quorumctl_args_get(args, "from-bind");
        if ((bind == NULL) == (args->npos == 0)) {
                quorumctl_client_error(ctx,
                                       "give either a directory or --from-bind FILE");
                return QUORUMCTL_EXIT_USAGE;
        }
        if (!quorumctl_args_has(args, "timeout"))
                ctx->http.timeout_ms = 300000;
        struct sources s = {0};
        int code =
            bind ? from_bind(ctx, bind, quorumctl_args_get(args, "bind-directory"), &s)
                 : from_directory(ctx, args->pos[0], &s);
        if (code != QUORUMCTL_EXIT_OK) {
                sources_free(&s);
                return code;
        }
        if (s.n > 1)
                qsort(s.v, s.n, sizeof(*s.v), source_cmp);
        bool skip_existing = quorumctl_args_has(args, "skip-existing");
        struct totals t = {.errors = json_array()};
        struct quorumctl_progress progress;
        quorumctl_progress_start(&progress, ctx->err, s.n, "zones");
        bool bar = progress.out != NULL;
        double started = quorumctl_progress_now();
        for (size_t i = 0; i < s.n && code == QUORUMCTL_EXIT_OK;) {
                json_t *creates = json_array();
                size_t bytes = 0;
                while (i < s.n && json_array_size(creates) < batch && bytes < BATCH_BYTES)
                        add_zone(ctx, &s.v[i++], creates, &bytes, &t);
                if (json_array_size(creates) > 0)
                        code = send_batch(ctx, creates, skip_existing, &t);
                json_decref(creates);
                quorumctl_progress_update(&progress, i);
                if (!bar && code == QUORUMCTL_EXIT_OK) {
                        double el = quorumctl_progress_now() - started;
                        fprintf(ctx->err, "quorumctl: %zu/%zu zones (%.0f zones/s)\n", i,
                                s.n, el > 0 ? (double)i / el : 0.0);
                }
        }
        quorumctl_progress_finish(&progress);
        if (code != QUORUMCTL_EXIT_OK)
                t.unconfirmed = s.n - t.created - t.failed - t.existed;
        if (ctx->json) {
                json_t *out = json_pack(
                    "{s:I, s:I, s:I, s:I, s:I, s:O}", "created", (json_int_t)t.created,
                    "failed", (json_int_t)t.failed, "existed", (json_int_t)t.existed,
                    "unconfirmed", (json_int_t)t.unconfirmed, "records",
                    (json_int_t)t.records, "errors", t.errors);
                quorumctl_client_print_json(ctx, out);
                json_decref(out);
        } else {
                fprintf(ctx->out, "created %zu zones (%zu records), %zu failed",
                        t.created, t.records, t.failed);
                if (skip_existing)
                        fprintf(ctx->out, ", %zu existed", t.existed);
                if (t.unconfirmed > 0)
                        fprintf(ctx->out,
                                ", %zu unconfirmed (a request failed: run again with "
                                "--skip-existing)",
                                t.unconfirmed);
                fputc('\n', ctx->out);
        }
        json_decref(t.errors);
        sources_free(&s);
        if (code == QUORUMCTL_EXIT_OK && t.failed > 0)
                code = QUORUMCTL_EXIT_API;
        return code;
}
