/*
 * http.c — requests with server fallback over one libcurl easy handle.
 *
 * The handle is reused between requests (and servers) so that a command that
 * sends many requests to one node keeps its connection.  For each request the
 * servers are tried starting at the one that answered last; transport errors
 * and 503 answers are collected into http->error, one "server: reason" per
 * attempt, for the message printed when no server could serve.
 */
#include "tools/quorumctl/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef QDNS_VERSION
#define QDNS_VERSION "dev"
#endif

#define RETRY_PAUSE_MS 250

int quorumctl_http_init(struct quorumctl_http *http)
{
        memset(http, 0, sizeof(*http));
        http->timeout_ms = 30000;
        http->connect_timeout_ms = 5000;
        http->retry_ms = 5000; /* QUORUMDNS_RETRY_MS: commands.c */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -ENOMEM;
        http->curl = curl_easy_init();
        return http->curl != NULL ? 0 : -ENOMEM;
}

void quorumctl_http_close(struct quorumctl_http *http)
{
        if (http->curl != NULL)
                curl_easy_cleanup(http->curl);
        for (size_t i = 0; i < http->nservers; i++)
                free(http->servers[i]);
        free(http->servers);
        free(http->token);
        curl_global_cleanup();
        memset(http, 0, sizeof(*http));
}

int quorumctl_http_add_server(struct quorumctl_http *http, const char *url)
{
        while (*url == ' ')
                url++;
        size_t len = strlen(url);
        while (len > 0 && (url[len - 1] == '/' || url[len - 1] == ' '))
                len--;
        if (len == 0)
                return -EINVAL;
        bool has_scheme = strstr(url, "://") != NULL;
        if (has_scheme && strncmp(url, "http://", 7) != 0 &&
            strncmp(url, "https://", 8) != 0)
                return -EINVAL;
        char *copy;
        if (asprintf(&copy, "%s%.*s", has_scheme ? "" : "http://", (int)len, url) < 0)
                return -ENOMEM;
        char **grown = realloc(http->servers, (http->nservers + 1) * sizeof(*grown));
        if (grown == NULL) {
                free(copy);
                return -ENOMEM;
        }
        http->servers = grown;
        http->servers[http->nservers++] = copy;
        return 0;
}

int quorumctl_http_set_token(struct quorumctl_http *http, const char *token)
{
        free(http->token);
        http->token = NULL;
        if (token == NULL || token[0] == '\0')
                return 0;
        http->token = strdup(token);
        return http->token != NULL ? 0 : -ENOMEM;
}

struct sink {
        char *data;
        size_t len, cap;
        bool oom;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct sink *s = userdata;
        size_t n = size * nmemb;
        if (s->len + n + 1 > s->cap) {
                size_t cap = s->cap != 0 ? s->cap : 4096;
                while (cap < s->len + n + 1)
                        cap *= 2;
                char *grown = realloc(s->data, cap);
                if (grown == NULL) {
                        s->oom = true;
                        return 0; /* makes curl fail the transfer */
                }
                s->data = grown;
                s->cap = cap;
        }
        memcpy(s->data + s->len, ptr, n);
        s->len += n;
        s->data[s->len] = '\0';
        return n;
}

static struct curl_slist *build_headers(const struct quorumctl_http *http,
                                        const char *content_type, const char *key,
                                        bool *oom)
{
        struct curl_slist *list = NULL, *next;
        char line[2048];
        const char *lines[5];
        size_t n = 0;
        lines[n++] = "Accept: application/json";
        lines[n++] = "Expect:"; /* no 100-continue round trip for big imports */
        for (size_t i = 0; i < n; i++) {
                next = curl_slist_append(list, lines[i]);
                if (next == NULL)
                        goto oom;
                list = next;
        }
        if (content_type != NULL) {
                snprintf(line, sizeof(line), "Content-Type: %s", content_type);
                if ((next = curl_slist_append(list, line)) == NULL)
                        goto oom;
                list = next;
        }
        if (http->token != NULL) {
                snprintf(line, sizeof(line), "Authorization: Bearer %s", http->token);
                if ((next = curl_slist_append(list, line)) == NULL)
                        goto oom;
                list = next;
        }
        if (key != NULL) {
                snprintf(line, sizeof(line), "Idempotency-Key: %s", key);
                if ((next = curl_slist_append(list, line)) == NULL)
                        goto oom;
                list = next;
        }
        return list;
oom:
        curl_slist_free_all(list);
        *oom = true;
        return NULL;
}

static void note_failure(struct quorumctl_http *http, const char *server,
                         const char *reason)
{
        size_t used = strlen(http->error);
        snprintf(http->error + used, sizeof(http->error) - used, "%s%s: %s",
                 used > 0 ? "; " : "", server, reason);
}

/* One attempt on one server.  Returns the CURLcode; fills sink and status. */
static CURLcode attempt(struct quorumctl_http *http, const char *server,
                        const char *method, const char *path, const char *body,
                        size_t body_len, struct curl_slist *headers, struct sink *sink,
                        long *status, char *curl_error)
{
        CURL *c = http->curl;
        char *url;
        if (asprintf(&url, "%s%s", server, path) < 0)
                return CURLE_OUT_OF_MEMORY;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "quorumctl/" QDNS_VERSION);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, http->timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         http->connect_timeout_ms < http->timeout_ms
                             ? http->connect_timeout_ms
                             : http->timeout_ms);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        if (strcmp(method, "GET") == 0) {
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        } else {
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
                if (body != NULL || strcmp(method, "POST") == 0) {
                        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
                        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                         (curl_off_t)(body != NULL ? body_len : 0));
                }
        }
        curl_error[0] = '\0';
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        free(url);
        return rc;
}

int quorumctl_http_request(struct quorumctl_http *http, const char *method,
                           const char *path, const char *content_type, const char *body,
                           size_t body_len, const char *idempotency_key,
                           struct quorumctl_http_response *resp)
{
        memset(resp, 0, sizeof(*resp));
        http->error[0] = '\0';
        bool oom = false;
        struct curl_slist *headers =
            build_headers(http, content_type, idempotency_key, &oom);
        if (oom)
                return -ENOMEM;

        int result = -EHOSTUNREACH;
        /* Every server down or without a leader (an election takes about a
         * second): try them all again for up to retry_ms. */
        for (long waited = 0;; waited += RETRY_PAUSE_MS) {
                bool answered = false;
                for (size_t tried = 0; tried < http->nservers; tried++) {
                        size_t idx = (http->current + tried) % http->nservers;
                        const char *server = http->servers[idx];
                        struct sink sink = {0};
                        char curl_error[CURL_ERROR_SIZE];
                        long status = 0;
                        CURLcode rc = attempt(http, server, method, path, body, body_len,
                                              headers, &sink, &status, curl_error);
                        if (sink.oom || rc == CURLE_OUT_OF_MEMORY) {
                                free(sink.data);
                                result = -ENOMEM;
                                break;
                        }
                        if (rc != CURLE_OK) {
                                note_failure(http, server,
                                             curl_error[0] != '\0'
                                                 ? curl_error
                                                 : curl_easy_strerror(rc));
                                free(sink.data);
                                continue;
                        }
                        /* An answer: keep it, even a 503, in case no later server does
                         * better. */
                        quorumctl_http_response_free(resp);
                        resp->status = status;
                        resp->body = sink.data != NULL ? sink.data : strdup("");
                        resp->len = sink.len;
                        resp->server = server;
                        if (resp->body == NULL) {
                                result = -ENOMEM;
                                break;
                        }
                        result = 0;
                        if (status == 503) {
                                note_failure(http, server, "503 (no quorum)");
                                continue;
                        }
                        http->current = idx;
                        answered = true;
                        break;
                }
                if (answered || result == -ENOMEM ||
                    waited + RETRY_PAUSE_MS > http->retry_ms)
                        break;
                struct timespec pause = {0, RETRY_PAUSE_MS * 1000000L};
                nanosleep(&pause, NULL);
                http->error[0] = '\0';
        }
        curl_slist_free_all(headers);
        return result;
}

void quorumctl_http_response_free(struct quorumctl_http_response *resp)
{
        free(resp->body);
        memset(resp, 0, sizeof(*resp));
}

char *quorumctl_http_escape(const char *text)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t len = strlen(text);
        char *out = malloc(len * 3 + 1);
        if (out == NULL)
                return NULL;
        char *p = out;
        for (const unsigned char *s = (const unsigned char *)text; *s != '\0'; s++) {
                if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                    (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' || *s == '_' ||
                    *s == '~') {
                        *p++ = (char)*s;
                } else {
                        *p++ = '%';
                        *p++ = hex[*s >> 4];
                        *p++ = hex[*s & 15];
                }
        }
        *p = '\0';
        return out;
}
