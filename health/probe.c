/*
 * probe.c — the probe engine: libcurl's multi interface on the libuv loop,
 * and HTTP/HTTPS probes (TCP probes are in probe_tcp.c).
 *
 * Data flow.  health_probe_start() configures an easy handle (taken from a
 * small pool) and adds it to the multi handle.  libcurl tells us which
 * sockets to watch (on_socket: one uv_poll_t per socket, assigned to the
 * socket with curl_multi_assign) and when to wake it (on_curl_timer: one
 * uv_timer_t).  Readiness and timeouts go back to libcurl with
 * curl_multi_socket_action(); finished transfers are collected with
 * curl_multi_info_read() and reported through probe_finish().
 *
 * Verdicts are reached as early as possible: the header callback decides on
 * the status line (and, without a string match, aborts the transfer: the
 * body is not needed), the write callback decides on the string match or on
 * the 5,120th body byte.  A transfer aborted by our own callback ends with a
 * CURLcode that is then ignored, because the verdict is already set.
 *
 * Each probe has its own deadline timer: 4 s to connect, then 2 s from the
 * TCP connection (seen in on_socket: the first time curl's interest in the
 * socket changes after it has a peer) to the status line, TLS handshake
 * included.  libcurl's own timeouts are set longer and are only backstops,
 * so a slow server fails by Route 53's rule.
 *
 * Every connection is fresh (CURLOPT_FRESH_CONNECT, CURLOPT_FORBID_REUSE)
 * and leaves from the engine's source address (CURLOPT_INTERFACE "host!").
 */
#include "health/probe.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/probe_priv.h"

#define EASY_POOL_MAX 256

_Static_assert(sizeof(((struct health_probe *)0)->errbuf) >= CURL_ERROR_SIZE,
               "errbuf too small for libcurl");

struct poll_ctx {
        uv_poll_t poll;
        curl_socket_t fd;
        struct health_prober *prober;
};

static const char *const reason_names[HEALTH_REASON_COUNT] = {
    [HEALTH_REASON_NONE] = "none",
    [HEALTH_REASON_CONNECT_REFUSED] = "connect_refused",
    [HEALTH_REASON_CONNECT_TIMEOUT] = "connect_timeout",
    [HEALTH_REASON_CONNECT_FAILED] = "connect_failed",
    [HEALTH_REASON_RESOLVE] = "resolve",
    [HEALTH_REASON_TLS] = "tls",
    [HEALTH_REASON_RESPONSE_TIMEOUT] = "response_timeout",
    [HEALTH_REASON_STATUS] = "status",
    [HEALTH_REASON_STRING_NOT_FOUND] = "string_not_found",
    [HEALTH_REASON_CONNECTION] = "connection",
    [HEALTH_REASON_INTERNAL] = "internal",
};

const char *health_reason_name(enum health_reason reason)
{
        if ((unsigned)reason >= HEALTH_REASON_COUNT)
                return "unknown";
        return reason_names[reason];
}

/* ------------------------------------------------------------ the engine */

static void prober_handle_closed(uv_handle_t *handle)
{
        struct health_prober *p;
        if (handle->type == UV_POLL) {
                struct poll_ctx *ctx = handle->data;
                p = ctx->prober;
                free(ctx);
        } else {
                p = handle->data;
        }
        if (--p->open_handles == 0 && p->closing && p->close_cb)
                p->close_cb(p);
}

/* Which limit a probe that timed out broke, from how far it got. */
static void decide_timeout(struct health_probe *probe)
{
        if (probe->easy && probe->result.connect_us < 0) {
                curl_off_t us = 0;
                if (curl_easy_getinfo(probe->easy, CURLINFO_CONNECT_TIME_T, &us) ==
                        CURLE_OK &&
                    us > 0)
                        probe->result.connect_us = us;
        }
        if (probe->tcp)
                probe_decide(probe, false, HEALTH_REASON_CONNECT_TIMEOUT,
                             "no TCP connection within %d s",
                             HEALTH_TCP_CONNECT_TIMEOUT_MS / 1000);
        else if (probe->result.connect_us < 0)
                probe_decide(probe, false, HEALTH_REASON_CONNECT_TIMEOUT,
                             "no connection within %d s",
                             HEALTH_CONNECT_TIMEOUT_MS / 1000);
        else if (!probe->ready)
                probe_decide(probe, false, HEALTH_REASON_TLS, "TLS handshake timeout");
        else if (!probe->headers_done)
                probe_decide(probe, false, HEALTH_REASON_RESPONSE_TIMEOUT,
                             "no status within %d s of connecting",
                             HEALTH_RESPONSE_TIMEOUT_MS / 1000);
        else
                probe_decide(
                    probe, false, HEALTH_REASON_RESPONSE_TIMEOUT,
                    "body incomplete %d s after connecting (%zu bytes, no match)",
                    HEALTH_RESPONSE_TIMEOUT_MS / 1000,
                    probe->match ? probe->match->len : 0);
}

static void check_done(struct health_prober *p)
{
        CURLMsg *msg;
        int left;
        while (p->multi && (msg = curl_multi_info_read(p->multi, &left))) {
                if (msg->msg != CURLMSG_DONE)
                        continue;
                struct health_probe *probe = NULL;
                CURLcode code = msg->data.result;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&probe);
                if (!probe->decided) {
                        long os_errno = 0;
                        curl_easy_getinfo(probe->easy, CURLINFO_OS_ERRNO, &os_errno);
                        const char *text =
                            probe->errbuf[0] ? probe->errbuf : curl_easy_strerror(code);
                        switch (code) {
                        case CURLE_OK:
                                if (!probe->match) {
                                        probe_decide(probe, false,
                                                     HEALTH_REASON_CONNECTION,
                                                     "response ended without a status");
                                        break;
                                }
                                /* The body ended before the search string. */
                                probe_decide(probe, false, HEALTH_REASON_STRING_NOT_FOUND,
                                             "search string not found (body %zu bytes)",
                                             probe->match->len);
                                break;
                        case CURLE_COULDNT_CONNECT:
                                if (os_errno == ECONNREFUSED)
                                        probe_decide(probe, false,
                                                     HEALTH_REASON_CONNECT_REFUSED,
                                                     "connection refused");
                                else
                                        probe_decide(probe, false,
                                                     HEALTH_REASON_CONNECT_FAILED, "%s",
                                                     text);
                                break;
                        case CURLE_INTERFACE_FAILED:
                                probe_decide(probe, false, HEALTH_REASON_CONNECT_FAILED,
                                             "source address: %s", text);
                                break;
                        case CURLE_OPERATION_TIMEDOUT:
                                decide_timeout(probe);
                                break;
                        case CURLE_COULDNT_RESOLVE_HOST:
                                probe_decide(probe, false, HEALTH_REASON_RESOLVE, "%s",
                                             text);
                                break;
                        case CURLE_SSL_CONNECT_ERROR:
                        case CURLE_PEER_FAILED_VERIFICATION:
                        case CURLE_SSL_CERTPROBLEM:
                        case CURLE_SSL_CIPHER:
                        case CURLE_SSL_CACERT_BADFILE:
                        case CURLE_SSL_ISSUER_ERROR:
                        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                        case CURLE_SSL_INVALIDCERTSTATUS:
                        case CURLE_USE_SSL_FAILED:
                                probe_decide(probe, false, HEALTH_REASON_TLS, "TLS: %s",
                                             text);
                                break;
                        case CURLE_OUT_OF_MEMORY:
                                probe_decide(probe, false, HEALTH_REASON_INTERNAL, "%s",
                                             text);
                                break;
                        default:
                                probe_decide(probe, false, HEALTH_REASON_CONNECTION, "%s",
                                             text);
                                break;
                        }
                }
                probe_finish(probe);
        }
}

static void on_deadline(uv_timer_t *timer);

/* The TCP connection is up: the response is due 2 s from now. */
static void probe_connected(struct health_probe *probe)
{
        probe->result.connect_us = probe_elapsed_us(probe);
        uv_timer_start(&probe->deadline, on_deadline, HEALTH_RESPONSE_TIMEOUT_MS, 0);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
        struct poll_ctx *ctx = handle->data;
        struct health_prober *p = ctx->prober;
        int flags = 0;
        if (status < 0)
                flags = CURL_CSELECT_ERR;
        if (events & UV_READABLE)
                flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
                flags |= CURL_CSELECT_OUT;
        int running;
        curl_multi_socket_action(p->multi, ctx->fd, flags, &running);
        check_done(p);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        struct health_prober *p = userp;
        struct poll_ctx *ctx = socketp;
        if (what == CURL_POLL_REMOVE) {
                if (ctx) {
                        uv_poll_stop(&ctx->poll);
                        curl_multi_assign(p->multi, fd, NULL);
                        uv_close((uv_handle_t *)&ctx->poll, prober_handle_closed);
                }
                return 0;
        }
        if (!ctx) {
                ctx = malloc(sizeof(*ctx));
                if (!ctx)
                        return -1;
                if (uv_poll_init_socket(p->loop, &ctx->poll, fd) != 0) {
                        free(ctx);
                        return -1;
                }
                ctx->fd = fd;
                ctx->prober = p;
                ctx->poll.data = ctx;
                p->open_handles++;
                curl_multi_assign(p->multi, fd, ctx);
        }
        struct health_probe *probe = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&probe);
        if (probe && probe->active && probe->result.connect_us < 0) {
                /* Still connecting until the socket has a peer. */
                struct sockaddr_storage peer;
                socklen_t len = sizeof(peer);
                if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
                        probe_connected(probe);
        }
        int events = 0;
        if (what & CURL_POLL_IN)
                events |= UV_READABLE;
        if (what & CURL_POLL_OUT)
                events |= UV_WRITABLE;
        return uv_poll_start(&ctx->poll, events, on_poll) == 0 ? 0 : -1;
}

static void on_timer(uv_timer_t *timer)
{
        struct health_prober *p = timer->data;
        int running;
        curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(p);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
        struct health_prober *p = userp;
        if (timeout_ms < 0)
                uv_timer_stop(&p->timer);
        else
                uv_timer_start(&p->timer, on_timer, (uint64_t)timeout_ms, 0);
        return 0;
}

int health_prober_init(struct health_prober *p, uv_loop_t *loop, const char *source_ip)
{
        static bool curl_ready;
        memset(p, 0, sizeof(*p));
        p->loop = loop;
        if (source_ip && *source_ip) {
                struct sockaddr_in *in4 = (struct sockaddr_in *)&p->source_addr;
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&p->source_addr;
                if (uv_ip4_addr(source_ip, 0, in4) != 0 &&
                    uv_ip6_addr(source_ip, 0, in6) != 0)
                        return -EINVAL;
                p->has_source = true;
                snprintf(p->source, sizeof(p->source), "host!%s", source_ip);
        }
        if (!curl_ready) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return -ENOMEM;
                curl_ready = true;
        }
        p->easy_pool = calloc(EASY_POOL_MAX, sizeof(*p->easy_pool));
        if (!p->easy_pool)
                return -ENOMEM;
        p->multi = curl_multi_init();
        if (!p->multi) {
                free(p->easy_pool);
                return -ENOMEM;
        }
        curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
        curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
        curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
        uv_timer_init(loop, &p->timer);
        p->timer.data = p;
        p->open_handles = 1;
        return 0;
}

unsigned health_prober_active(const struct health_prober *p)
{
        return p->active_count;
}

void health_prober_close(struct health_prober *p, health_prober_close_cb cb)
{
        p->closing = true;
        p->close_cb = cb;
        while (p->active)
                health_probe_cancel(p->active);
        for (unsigned i = 0; i < p->easy_pooled; i++)
                curl_easy_cleanup(p->easy_pool[i]);
        p->easy_pooled = 0;
        free(p->easy_pool);
        p->easy_pool = NULL;
        curl_multi_cleanup(p->multi);
        p->multi = NULL;
        uv_close((uv_handle_t *)&p->timer, prober_handle_closed);
}

/* ------------------------------------------------------------ one probe */

void probe_decide(struct health_probe *probe, bool ok, enum health_reason reason,
                  const char *fmt, ...)
{
        if (probe->decided)
                return;
        probe->decided = true;
        probe->result.ok = ok;
        probe->result.reason = reason;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(probe->result.text, sizeof(probe->result.text), fmt, ap);
        va_end(ap);
}

void probe_socket_no_port(int fd)
{
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
}

int64_t probe_elapsed_us(const struct health_probe *probe)
{
        return (int64_t)((uv_hrtime() - probe->start_ns) / 1000);
}

int health_probe_init(struct health_prober *prober, struct health_probe *probe)
{
        memset(probe, 0, sizeof(*probe));
        probe->prober = prober;
        int rc = uv_timer_init(prober->loop, &probe->deadline);
        probe->deadline.data = probe;
        return rc;
}

bool health_probe_active(const struct health_probe *probe)
{
        return probe->active;
}

/* Releases the transfer of an active probe; no callback. */
static void probe_release(struct health_probe *probe)
{
        struct health_prober *p = probe->prober;
        if (probe->prev)
                probe->prev->next = probe->next;
        else
                p->active = probe->next;
        if (probe->next)
                probe->next->prev = probe->prev;
        probe->prev = probe->next = NULL;
        p->active_count--;
        probe->active = false;
        uv_timer_stop(&probe->deadline);
        if (probe->tcp) {
                probe_tcp_detach(probe);
        } else if (probe->easy) {
                CURL *easy = probe->easy;
                if (p->multi)
                        curl_multi_remove_handle(p->multi, easy);
                if (p->easy_pool && p->easy_pooled < EASY_POOL_MAX && !p->closing)
                        p->easy_pool[p->easy_pooled++] = easy;
                else
                        curl_easy_cleanup(easy);
        }
        probe->easy = NULL;
        curl_slist_free_all(probe->header_list);
        curl_slist_free_all(probe->connect_to);
        probe->header_list = probe->connect_to = NULL;
        free(probe->match);
        probe->match = NULL;
}

void probe_finish(struct health_probe *probe)
{
        if (!probe->active)
                return;
        if (probe->easy && probe->result.connect_us < 0) {
                curl_off_t us = 0;
                if (curl_easy_getinfo(probe->easy, CURLINFO_CONNECT_TIME_T, &us) ==
                        CURLE_OK &&
                    us > 0)
                        probe->result.connect_us = us;
        }
        if (!probe->decided)
                probe_decide(probe, false, HEALTH_REASON_INTERNAL, "no verdict");
        probe->result.elapsed_us = probe_elapsed_us(probe);
        probe_release(probe);
        struct health_result result = probe->result;
        probe->cb(probe, &result);
}

void health_probe_cancel(struct health_probe *probe)
{
        if (probe->active)
                probe_release(probe);
}

static void probe_deadline_closed(uv_handle_t *handle)
{
        struct health_probe *probe = handle->data;
        if (probe->close_cb)
                probe->close_cb(probe);
}

void health_probe_close(struct health_probe *probe, health_probe_close_cb cb)
{
        health_probe_cancel(probe);
        probe->closing = true;
        probe->close_cb = cb;
        uv_close((uv_handle_t *)&probe->deadline, probe_deadline_closed);
}

static void on_deadline(uv_timer_t *timer)
{
        struct health_probe *probe = timer->data;
        decide_timeout(probe); /* unless a verdict was set already */
        probe_finish(probe);
}

void probe_arm_deadline(struct health_probe *probe, uint64_t ms)
{
        uv_timer_start(&probe->deadline, on_deadline, ms, 0);
}

/*
 * With a source address, the port is chosen at connect time, not at bind
 * time: the kernel can then reuse a port towards different endpoints, so
 * thousands of probes a second do not run out of ports.
 */
static int on_sockopt(void *data, curl_socket_t fd, curlsocktype purpose)
{
        probe_socket_no_port(fd);
        return CURL_SOCKOPT_OK;
}

/* Connected (and TLS done): the request goes out now. */
static int on_prereq(void *data, char *remote_ip, char *local_ip, int remote_port,
                     int local_port)
{
        struct health_probe *probe = data;
        if (probe->result.connect_us < 0)
                probe_connected(probe);
        probe->ready = true;
        return CURL_PREREQFUNC_OK;
}

static size_t on_header(char *line, size_t size, size_t n, void *data)
{
        struct health_probe *probe = data;
        size_t len = size * n;
        if (probe->result.first_byte_us < 0)
                probe->result.first_byte_us = probe_elapsed_us(probe);
        if (!(len == 2 && line[0] == '\r') && !(len == 1 && line[0] == '\n'))
                return len;
        long status = 0;
        curl_easy_getinfo(probe->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 100 && status < 200)
                return len; /* an interim response: the real one follows */
        probe->headers_done = true;
        probe->result.status = (int)status;
        if (status < probe->status_min || status > probe->status_max) {
                probe_decide(probe, false, HEALTH_REASON_STATUS, "status %ld", status);
                return 0;
        }
        if (!probe->match) {
                probe_decide(probe, true, HEALTH_REASON_NONE, "status %ld", status);
                return 0; /* the body is not needed */
        }
        return len;
}

static size_t on_body(char *chunk, size_t size, size_t n, void *data)
{
        struct health_probe *probe = data;
        size_t len = size * n;
        if (!probe->match)
                return len;
        switch (health_match_feed(probe->match, chunk, len)) {
        case HEALTH_MATCH_FOUND:
                probe_decide(probe, true, HEALTH_REASON_NONE,
                             "status %d, search string found", probe->result.status);
                return 0;
        case HEALTH_MATCH_NOT_FOUND:
                probe_decide(probe, false, HEALTH_REASON_STRING_NOT_FOUND,
                             "search string not in the first %d bytes",
                             HEALTH_SEARCH_WINDOW);
                return 0;
        case HEALTH_MATCH_MORE:
                break;
        }
        return len;
}

/* "[::1]" for IPv6 literals in a URL, the address itself otherwise. */
static void url_host(char *out, size_t size, const char *ip)
{
        if (strchr(ip, ':'))
                snprintf(out, size, "[%s]", ip);
        else
                snprintf(out, size, "%s", ip);
}

/* Fills probe->easy for an HTTP(S) probe of cfg; 0 or -ENOMEM. */
static int http_setup(struct health_probe *probe, const struct health_check_config *cfg)
{
        CURL *easy = probe->easy;
        bool https = health_check_type_https(cfg->type);
        uint16_t port = health_check_port(cfg);
        const char *path = cfg->resource_path ? cfg->resource_path : "/";
        char ip[INET6_ADDRSTRLEN + 2] = "", url[HEALTH_FQDN_MAX + HEALTH_PATH_MAX + 64];
        if (cfg->ip_address)
                url_host(ip, sizeof(ip), cfg->ip_address);
        /*
         * With an address and a name, the name goes into the URL (Host header,
         * SNI, certificate name) and CONNECT_TO sends the connection to the
         * address; HTTPS without SNI puts the address in the URL and the name
         * in a Host header only.
         */
        const char *host = cfg->fqdn ? cfg->fqdn : ip;
        if (cfg->fqdn && cfg->ip_address && https && !cfg->enable_sni) {
                char header[HEALTH_FQDN_MAX + 16];
                snprintf(header, sizeof(header), "Host: %s", cfg->fqdn);
                if (!(probe->header_list = curl_slist_append(NULL, header)))
                        return -ENOMEM;
                host = ip;
        } else if (cfg->fqdn && cfg->ip_address) {
                char rule[HEALTH_FQDN_MAX + INET6_ADDRSTRLEN + 32];
                snprintf(rule, sizeof(rule), "%s:%u:%s:%u", cfg->fqdn, port, ip, port);
                if (!(probe->connect_to = curl_slist_append(NULL, rule)))
                        return -ENOMEM;
        }
        snprintf(url, sizeof(url), "%s://%s:%u%s", https ? "https" : "http", host, port,
                 path);
        if (health_check_type_match(cfg->type)) {
                if (!(probe->match = malloc(sizeof(*probe->match))))
                        return -ENOMEM;
                health_match_init(probe->match, cfg->search_string,
                                  strlen(cfg->search_string));
        }
        probe->status_min = cfg->status_min;
        probe->status_max = cfg->status_max;

        struct health_prober *p = probe->prober;
        bool verify = https && cfg->verify_certificate;
        if (curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK)
                return -ENOMEM;
        curl_easy_setopt(easy, CURLOPT_PRIVATE, probe);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, probe->errbuf);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_PROXY, "");
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(easy, CURLOPT_USERAGENT, "quorumdns-health-check/" QDNS_VERSION);
        curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)HEALTH_CONNECT_TIMEOUT_MS);
        /* A backstop only: the deadline timer decides first. */
        curl_easy_setopt(
            easy, CURLOPT_TIMEOUT_MS,
            (long)(HEALTH_CONNECT_TIMEOUT_MS + HEALTH_RESPONSE_TIMEOUT_MS + 1000));
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
        if (p->source[0]) {
                curl_easy_setopt(easy, CURLOPT_INTERFACE, p->source);
                curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
        }
        if (probe->header_list)
                curl_easy_setopt(easy, CURLOPT_HTTPHEADER, probe->header_list);
        if (probe->connect_to)
                curl_easy_setopt(easy, CURLOPT_CONNECT_TO, probe->connect_to);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, probe);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, probe);
        curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
        curl_easy_setopt(easy, CURLOPT_PREREQDATA, probe);
        return 0;
}

static int http_start(struct health_probe *probe, const struct health_check_config *cfg)
{
        struct health_prober *p = probe->prober;
        if (p->easy_pooled > 0) {
                probe->easy = p->easy_pool[--p->easy_pooled];
                curl_easy_reset(probe->easy);
        } else if (!(probe->easy = curl_easy_init())) {
                return -ENOMEM;
        }
        int rc = http_setup(probe, cfg);
        if (rc == 0 && curl_multi_add_handle(p->multi, probe->easy) != CURLM_OK)
                rc = -ENOMEM;
        if (rc == 0)
                uv_timer_start(&probe->deadline, on_deadline, HEALTH_CONNECT_TIMEOUT_MS,
                               0);
        return rc;
}

int health_probe_start(struct health_probe *probe, const struct health_check_config *cfg,
                       health_probe_cb cb)
{
        struct health_prober *p = probe->prober;
        if (probe->active)
                return -EBUSY;
        if (probe->closing || p->closing)
                return -ECANCELED;
        if (!health_check_type_probed(cfg->type) || (!cfg->ip_address && !cfg->fqdn))
                return -EINVAL;
        if (health_check_type_match(cfg->type) &&
            (!cfg->search_string || !*cfg->search_string ||
             strlen(cfg->search_string) > HEALTH_SEARCH_MAX))
                return -EINVAL;
        uv_update_time(p->loop); /* deadlines count from now, not the last tick */
        memset(&probe->result, 0, sizeof(probe->result));
        probe->result.connect_us = -1;
        probe->result.first_byte_us = -1;
        probe->result.started_ms = uv_now(p->loop);
        probe->errbuf[0] = '\0';
        probe->cb = cb;
        probe->decided = probe->ready = probe->headers_done = false;
        probe->start_ns = uv_hrtime();
        probe->tcp = NULL;
        probe->easy = NULL;
        /* Linked first: a failing start below releases it again. */
        probe->active = true;
        probe->next = p->active;
        probe->prev = NULL;
        if (p->active)
                p->active->prev = probe;
        p->active = probe;
        p->active_count++;
        int rc = cfg->type == HEALTH_CHECK_TCP ? probe_tcp_start(probe, cfg)
                                               : http_start(probe, cfg);
        if (rc != 0)
                probe_release(probe);
        return rc;
}
