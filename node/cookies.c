/*
 * cookies.c — the node's DNS cookie secrets (see cookies.h).
 *
 * What the servers accept is published as one list: the file's secrets in
 * order, then the retired first secret while its overlap lasts.  Every
 * change (a new file, the end of an overlap) publishes the whole list
 * again with dns_cookie_secrets_store().
 */
#include "node/cookies.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"

#define POLL_MS 2000

#define FILE_MAX 4096

int node_cookies_read(const char *path, struct dns_cookie_keys *keys, char *err,
                      size_t err_size)
{
        FILE *fp = fopen(path, "r");
        if (fp == NULL) {
                snprintf(err, err_size, "%s: %s", path, strerror(errno));
                return -1;
        }
        char text[FILE_MAX + 1];
        size_t len = fread(text, 1, sizeof(text), fp);
        bool failed = ferror(fp);
        fclose(fp);
        if (failed || len > FILE_MAX) {
                snprintf(err, err_size, "%s: %s", path,
                         failed ? "cannot be read" : "larger than 4 KiB");
                return -1;
        }
        unsigned line;
        const char *why;
        if (dns_cookie_keys_parse(text, len, keys, &line, &why) != 0) {
                if (line > 0)
                        snprintf(err, err_size, "%s:%u: %s", path, line, why);
                else
                        snprintf(err, err_size, "%s: %s", path, why);
                return -1;
        }
        return 0;
}

static void publish(struct node_cookies *c)
{
        struct dns_cookie_keys all = c->file;
        if (c->retired && all.count < DNS_COOKIE_KEYS_MAX)
                memcpy(all.key[all.count++], c->retired_key, DNS_SIPHASH_KEY_SIZE);
        dns_cookie_secrets_store(&c->secrets, &all);
}

static void on_expiry(uv_timer_t *timer)
{
        struct node_cookies *c = timer->data;
        c->retired = false;
        publish(c);
        LOG_INFO("DNS cookies: the previous secret is no longer accepted");
}

void node_cookies_reload(struct node_cookies *c)
{
        if (c->path[0] == '\0')
                return;
        struct dns_cookie_keys keys;
        char err[600];
        if (node_cookies_read(c->path, &keys, err, sizeof(err)) != 0) {
                LOG_ERROR("DNS cookies: %s; the secrets in use stay", err);
                return;
        }
        if (keys.count == c->file.count &&
            memcmp(keys.key, c->file.key, keys.count * sizeof(keys.key[0])) == 0)
                return;
        bool rotated = memcmp(keys.key[0], c->file.key[0], DNS_SIPHASH_KEY_SIZE) != 0;
        if (rotated) {
                memcpy(c->retired_key, c->file.key[0], DNS_SIPHASH_KEY_SIZE);
                c->retired = true;
                uv_timer_start(&c->expiry, on_expiry, c->overlap_ms, 0);
        }
        c->file = keys;
        publish(c);
        LOG_INFO("DNS cookies: %u secrets from %s%s", keys.count, c->path,
                 rotated ? "; the previous first secret stays accepted for the overlap"
                         : "");
}

static void on_poll(uv_fs_poll_t *handle, int status, const uv_stat_t *prev,
                    const uv_stat_t *curr)
{
        if (status == 0)
                node_cookies_reload(handle->data);
}

int node_cookies_start(struct node_cookies *c, uv_loop_t *loop, const char *path,
                       unsigned overlap_s, char *err, size_t err_size)
{
        memset(c, 0, sizeof(*c));
        c->loop = loop;
        c->overlap_ms = overlap_s * 1000;
        if (path != NULL && path[0] != '\0') {
                snprintf(c->path, sizeof(c->path), "%s", path);
                if (node_cookies_read(path, &c->file, err, err_size) != 0)
                        return -EINVAL;
        } else {
                c->file.count = 1;
                if (getrandom(c->file.key[0], DNS_SIPHASH_KEY_SIZE, 0) !=
                    DNS_SIPHASH_KEY_SIZE) {
                        snprintf(err, err_size, "no random bytes for a cookie secret");
                        return -EIO;
                }
        }
        publish(c);
        uv_timer_init(loop, &c->expiry);
        c->expiry.data = c;
        uv_fs_poll_init(loop, &c->poll);
        c->poll.data = c;
        if (c->path[0] != '\0')
                uv_fs_poll_start(&c->poll, on_poll, c->path, POLL_MS);
        c->started = true;
        return 0;
}

void node_cookies_close(struct node_cookies *c, struct node_closing *g)
{
        if (!c->started)
                return;
        c->started = false;
        node_closing_handle(g, (uv_handle_t *)&c->expiry);
        node_closing_handle(g, (uv_handle_t *)&c->poll);
}
