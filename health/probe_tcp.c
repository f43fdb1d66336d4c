/*
 * probe_tcp.c — TCP probes: a plain connect on the libuv loop.
 *
 * A TCP check is healthy when a connection to its address and port opens
 * within 10 s; the connection is closed at once, nothing is sent.  Each run
 * is a `struct tcp_attempt`: an optional name resolution (uv_getaddrinfo,
 * when the check has only a host name), then a uv_tcp_t bound to the
 * engine's source address and connected.  The attempt outlives its probe
 * when the probe is cancelled or times out: it is detached (probe = NULL)
 * and frees itself once its request has returned and its handle is closed,
 * as libuv's contract requires.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "health/probe_priv.h"

struct tcp_attempt {
        uv_getaddrinfo_t resolve;
        uv_tcp_t tcp;
        uv_connect_t connect;
        struct health_probe *probe; /* NULL once detached */
        uint16_t port;
        bool resolving;
        bool tcp_open;
};

static void attempt_maybe_free(struct tcp_attempt *a)
{
        if (!a->probe && !a->resolving && !a->tcp_open)
                free(a);
}

static void on_tcp_closed(uv_handle_t *handle)
{
        struct tcp_attempt *a = handle->data;
        a->tcp_open = false;
        attempt_maybe_free(a);
}

static void attempt_close_tcp(struct tcp_attempt *a)
{
        if (a->tcp_open && !uv_is_closing((uv_handle_t *)&a->tcp))
                uv_close((uv_handle_t *)&a->tcp, on_tcp_closed);
}

void probe_tcp_detach(struct health_probe *probe)
{
        struct tcp_attempt *a = probe->tcp;
        probe->tcp = NULL;
        a->probe = NULL;
        if (a->resolving)
                uv_cancel((uv_req_t *)&a->resolve); /* may fail: then it returns later */
        attempt_close_tcp(a);
        attempt_maybe_free(a);
}

/* A failure found while starting is reported from the loop, not from start. */
static void fail_soon(struct health_probe *probe, enum health_reason reason,
                      const char *what, int err)
{
        probe_decide(probe, false, reason, "%s: %s", what, uv_strerror(err));
        probe_arm_deadline(probe, 0);
}

static void on_connect(uv_connect_t *req, int status)
{
        struct tcp_attempt *a = req->data;
        struct health_probe *probe = a->probe;
        attempt_close_tcp(a);
        if (!probe)
                return;
        if (status == 0) {
                probe->result.connect_us = probe_elapsed_us(probe);
                probe_decide(probe, true, HEALTH_REASON_NONE, "connected");
        } else if (status == UV_ECONNREFUSED) {
                probe_decide(probe, false, HEALTH_REASON_CONNECT_REFUSED,
                             "connection refused");
        } else if (status == UV_ETIMEDOUT) {
                probe_decide(probe, false, HEALTH_REASON_CONNECT_TIMEOUT,
                             "connect timeout");
        } else {
                probe_decide(probe, false, HEALTH_REASON_CONNECT_FAILED, "connect: %s",
                             uv_strerror(status));
        }
        probe_finish(probe);
}

static void attempt_connect(struct tcp_attempt *a, const struct sockaddr *to)
{
        struct health_probe *probe = a->probe;
        struct health_prober *p = probe->prober;
        int rc = uv_tcp_init_ex(p->loop, &a->tcp, to->sa_family);
        if (rc != 0) {
                fail_soon(probe, HEALTH_REASON_INTERNAL, "socket", rc);
                return;
        }
        a->tcp.data = a;
        a->tcp_open = true;
        if (p->has_source) {
                uv_os_fd_t fd;
                if (uv_fileno((uv_handle_t *)&a->tcp, &fd) == 0)
                        probe_socket_no_port(fd);
                rc = uv_tcp_bind(&a->tcp, (const struct sockaddr *)&p->source_addr, 0);
                if (rc != 0) {
                        fail_soon(probe, HEALTH_REASON_CONNECT_FAILED, "source address",
                                  rc);
                        return;
                }
        }
        a->connect.data = a;
        rc = uv_tcp_connect(&a->connect, &a->tcp, to, on_connect);
        if (rc != 0)
                fail_soon(probe, HEALTH_REASON_CONNECT_FAILED, "connect", rc);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
        struct tcp_attempt *a = req->data;
        a->resolving = false;
        if (!a->probe) {
                uv_freeaddrinfo(res);
                attempt_maybe_free(a);
                return;
        }
        if (status < 0 || !res) {
                probe_decide(a->probe, false, HEALTH_REASON_RESOLVE, "resolve: %s",
                             uv_strerror(status < 0 ? status : UV_EAI_NONAME));
                uv_freeaddrinfo(res);
                probe_finish(a->probe);
                return;
        }
        struct sockaddr_storage to;
        memcpy(&to, res->ai_addr, res->ai_addrlen);
        uv_freeaddrinfo(res);
        if (to.ss_family == AF_INET)
                ((struct sockaddr_in *)&to)->sin_port = htons(a->port);
        else
                ((struct sockaddr_in6 *)&to)->sin6_port = htons(a->port);
        attempt_connect(a, (const struct sockaddr *)&to);
}

int probe_tcp_start(struct health_probe *probe, const struct health_check_config *cfg)
{
        struct health_prober *p = probe->prober;
        struct tcp_attempt *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->probe = probe;
        a->port = health_check_port(cfg);
        probe->tcp = a;
        probe_arm_deadline(probe, HEALTH_TCP_CONNECT_TIMEOUT_MS);
        if (cfg->ip_address) {
                struct sockaddr_storage to;
                if (uv_ip4_addr(cfg->ip_address, a->port, (struct sockaddr_in *)&to) !=
                        0 &&
                    uv_ip6_addr(cfg->ip_address, a->port, (struct sockaddr_in6 *)&to) !=
                        0)
                        return -EINVAL; /* released by the caller */
                attempt_connect(a, (const struct sockaddr *)&to);
                return 0;
        }
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
        if (p->has_source)
                hints.ai_family = p->source_addr.ss_family;
        a->resolve.data = a;
        int rc =
            uv_getaddrinfo(p->loop, &a->resolve, on_resolved, cfg->fqdn, NULL, &hints);
        if (rc != 0)
                return rc;
        a->resolving = true;
        return 0;
}
