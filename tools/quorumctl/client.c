/*
 * client.c — JSON requests, errors and output shared by the commands.
 *
 * Errors are printed here, once, in one format, and turned into the exit
 * code that scripts see: the HTTP layer says whether any server answered,
 * errors.c maps the status and formats the API's error body.
 */
#include "tools/quorumctl/client.h"

#include "tools/quorumctl/table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/quorumctl/errors.h"

#define PAGE_SIZE 100

void quorumctl_client_random_key(char *key, size_t size)
{
        unsigned char raw[16];
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
                /* No entropy source: time and pid still make a collision unlikely. */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                unsigned long long seed = (unsigned long long)ts.tv_nsec ^
                                          ((unsigned long long)ts.tv_sec << 20) ^
                                          ((unsigned long long)getpid() << 40);
                for (size_t i = 0; i < sizeof(raw); i++) {
                        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                        raw[i] = (unsigned char)(seed >> 56);
                }
        }
        static const char hex[] = "0123456789abcdef";
        size_t n = 0;
        for (size_t i = 0; i < sizeof(raw) && n + 2 < size; i++) {
                key[n++] = hex[raw[i] >> 4];
                key[n++] = hex[raw[i] & 15];
        }
        key[n] = '\0';
}

void quorumctl_client_error(struct quorumctl_ctx *ctx, const char *fmt, ...)
{
        va_list ap;
        fputs("quorumctl: ", ctx->err);
        va_start(ap, fmt);
        vfprintf(ctx->err, fmt, ap);
        va_end(ap);
        fputc('\n', ctx->err);
}

/* The Idempotency-Key for the next write of this invocation. */
static void next_key(struct quorumctl_ctx *ctx, char *buf, size_t size)
{
        ctx->writes++;
        if (ctx->writes == 1)
                snprintf(buf, size, "%s", ctx->key);
        else
                snprintf(buf, size, "%s-%u", ctx->key, ctx->writes);
}

int quorumctl_client_call_raw(struct quorumctl_ctx *ctx, const char *method,
                              const char *path, const char *content_type,
                              const char *body, size_t len, const char *context,
                              struct quorumctl_http_response *resp)
{
        char key[160];
        bool write = strcmp(method, "GET") != 0;
        if (write)
                next_key(ctx, key, sizeof(key));
        int rc = quorumctl_http_request(&ctx->http, method, path, content_type, body, len,
                                        write ? key : NULL, resp);
        const char *prefix = context != NULL ? context : "";
        const char *sep = context != NULL ? ": " : "";
        if (rc == -ENOMEM) {
                quorumctl_client_error(ctx, "%s%sout of memory", prefix, sep);
                return QUORUMCTL_EXIT_UNAVAILABLE;
        }
        if (rc != 0) {
                quorumctl_client_error(ctx, "%s%sno server reachable (%s)", prefix, sep,
                                       ctx->http.error);
                return QUORUMCTL_EXIT_UNAVAILABLE;
        }
        int code = quorumctl_exit_from_status(resp->status);
        if (code != QUORUMCTL_EXIT_OK) {
                char *text = quorumctl_error_format(resp->status, resp->body, resp->len);
                quorumctl_client_error(ctx, "%s%s%s", prefix, sep,
                                       text != NULL ? text : "out of memory");
                if (resp->status == 503 && ctx->http.nservers > 1)
                        quorumctl_client_error(ctx, "tried: %s", ctx->http.error);
                free(text);
                /* Scripts get the error itself on stdout, as the API sent it. */
                json_t *error =
                    ctx->json ? json_loadb(resp->body, resp->len, 0, NULL) : NULL;
                if (error != NULL)
                        quorumctl_client_print_json(ctx, error);
                json_decref(error);
        }
        return code;
}

int quorumctl_client_call(struct quorumctl_ctx *ctx, const char *method, const char *path,
                          json_t *body, json_t **answer)
{
        *answer = NULL;
        char *text = NULL;
        if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL) {
                quorumctl_client_error(ctx, "out of memory");
                return QUORUMCTL_EXIT_UNAVAILABLE;
        }
        struct quorumctl_http_response resp;
        int code = quorumctl_client_call_raw(
            ctx, method, path, text != NULL ? "application/json" : NULL, text,
            text != NULL ? strlen(text) : 0, NULL, &resp);
        free(text);
        if (code == QUORUMCTL_EXIT_OK && resp.len > 0) {
                json_error_t jerr;
                *answer = json_loadb(resp.body, resp.len, 0, &jerr);
                if (*answer == NULL) {
                        quorumctl_client_error(ctx,
                                               "%s answered %ld with invalid JSON: %s",
                                               resp.server, resp.status, jerr.text);
                        code = QUORUMCTL_EXIT_UNAVAILABLE;
                }
        }
        quorumctl_http_response_free(&resp);
        return code;
}

void quorumctl_client_print_json(struct quorumctl_ctx *ctx, const json_t *value)
{
        if (value == NULL) {
                fputs("null\n", ctx->out);
                return;
        }
        json_dumpf(value, ctx->out, JSON_INDENT(2) | JSON_ENCODE_ANY);
        fputc('\n', ctx->out);
}

char *quorumctl_client_absolute(const char *name)
{
        size_t len = strlen(name);
        char *out;
        if (len > 0 && name[len - 1] == '.')
                return strdup(name);
        if (asprintf(&out, "%s.", name) < 0)
                return NULL;
        return out;
}

char *quorumctl_client_zone_path(const char *zone, const char *suffix)
{
        char *abs = quorumctl_client_absolute(zone);
        char *escaped = abs != NULL ? quorumctl_http_escape(abs) : NULL;
        char *path = NULL;
        if (escaped != NULL && asprintf(&path, "/v1/zones/%s%s", escaped, suffix) < 0)
                path = NULL;
        free(abs);
        free(escaped);
        return path;
}

int quorumctl_client_read_file(struct quorumctl_ctx *ctx, const char *path,
                               struct quorumctl_file *file)
{
        memset(file, 0, sizeof(*file));
        bool is_stdin = strcmp(path, "-") == 0;
        int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
        int rc = 0;
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
                rc = -errno;
                goto out;
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0) {
                void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (map != MAP_FAILED) {
                        file->data = map;
                        file->len = (size_t)st.st_size;
                        file->mapped = true;
                        goto out;
                }
        }
        size_t cap = 0;
        for (;;) {
                if (file->len + 65536 + 1 > cap) {
                        cap = cap != 0 ? cap * 2 : 1 << 20;
                        char *grown = realloc(file->data, cap);
                        if (grown == NULL) {
                                rc = -ENOMEM;
                                goto out;
                        }
                        file->data = grown;
                }
                ssize_t n = read(fd, file->data + file->len, cap - file->len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        rc = -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                file->len += (size_t)n;
        }
        file->data[file->len] = '\0';
out:
        if (fd >= 0 && !is_stdin)
                close(fd);
        if (rc != 0) {
                quorumctl_client_file_free(file);
                quorumctl_client_error(ctx, "%s: %s", path, strerror(-rc));
        }
        return rc;
}

void quorumctl_client_file_free(struct quorumctl_file *file)
{
        if (file->mapped)
                munmap(file->data, file->len);
        else
                free(file->data);
        memset(file, 0, sizeof(*file));
}

int quorumctl_client_fetch_all(struct quorumctl_ctx *ctx, const char *base,
                               const char *member, size_t limit, json_t **all)
{
        *all = json_array();
        char *marker = NULL;
        int code = QUORUMCTL_EXIT_OK;
        if (*all == NULL)
                return QUORUMCTL_EXIT_UNAVAILABLE;
        for (;;) {
                size_t want = limit - json_array_size(*all);
                char *escaped = marker != NULL ? quorumctl_http_escape(marker) : NULL;
                char *path = NULL;
                if (asprintf(&path, "%s%slimit=%zu%s%s", base,
                             strchr(base, '?') != NULL ? "&" : "?",
                             want < PAGE_SIZE ? want : PAGE_SIZE,
                             escaped != NULL ? "&marker=" : "",
                             escaped != NULL ? escaped : "") < 0)
                        path = NULL;
                free(escaped);
                json_t *page = NULL;
                code = path != NULL ? quorumctl_client_call(ctx, "GET", path, NULL, &page)
                                    : QUORUMCTL_EXIT_UNAVAILABLE;
                free(path);
                if (code != QUORUMCTL_EXIT_OK)
                        break;
                json_t *items = json_object_get(page, member);
                size_t i;
                json_t *item;
                json_array_foreach(items, i, item)
                {
                        if (json_array_size(*all) < limit)
                                json_array_append(*all, item);
                }
                json_t *next_json = json_object_get(page, "next_marker");
                const char *next =
                    json_is_string(next_json) ? json_string_value(next_json) : NULL;
                bool again = next != NULL && next[0] != '\0' &&
                             json_array_size(*all) < limit &&
                             json_array_size(items) > 0 &&
                             (marker == NULL || strcmp(marker, next) != 0);
                free(marker);
                marker = again ? strdup(next) : NULL;
                json_decref(page);
                if (marker == NULL)
                        break;
        }
        free(marker);
        if (code != QUORUMCTL_EXIT_OK) {
                json_decref(*all);
                *all = NULL;
        }
        return code;
}

void quorumctl_client_print_object(struct quorumctl_ctx *ctx, const json_t *value)
{
        if (ctx->json || !json_is_object(value))
                quorumctl_client_print_json(ctx, value);
        else
                quorumctl_table_print_object(value, ctx->out);
}

int quorumctl_client_show(struct quorumctl_ctx *ctx, const char *path)
{
        json_t *answer = NULL;
        int code = path != NULL ? quorumctl_client_call(ctx, "GET", path, NULL, &answer)
                                : QUORUMCTL_EXIT_UNAVAILABLE;
        if (code == QUORUMCTL_EXIT_OK)
                quorumctl_client_print_object(ctx, answer);
        json_decref(answer);
        return code;
}
