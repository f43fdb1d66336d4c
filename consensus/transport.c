/*
 * transport.c — raft_uv_transport over an authenticated channel (see
 * transport.h): listening and accepting, connecting (from this node's own
 * raft address), the side channels, closing.  The bytes of each connection
 * are pump.c's.
 */
#include "consensus/transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "consensus/pump.h"

/* ---- accepting ---------------------------------------------------------- */

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET)
                return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
                       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
        if (a->ss_family == AF_INET6)
                return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                              &((const struct sockaddr_in6 *)b)->sin6_addr,
                              sizeof(struct in6_addr)) == 0;
        return false;
}

/* Incoming connections from addr still in their handshake (this one too). */
static unsigned handshakes_from(struct cs_transport *t,
                                const struct sockaddr_storage *addr)
{
        unsigned n = 0;
        for (struct cs_conn *c = t->conns; c != NULL; c = c->next)
                n += c->accepting &&
                     (c->state == CONN_SECURE || c->state == CONN_HELLO) &&
                     same_host(&c->peer_addr, addr);
        return n;
}

static void on_connection(uv_stream_t *server, int status)
{
        struct cs_transport *t = server->data;
        if (status < 0 || t->closing)
                return;
        struct cs_conn *c = cs_conn_new(t, true);
        if (c == NULL)
                return;
        if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
                cs_conn_close(c);
                return;
        }
        cs_conn_peer_text(&c->tcp, c->peer, sizeof(c->peer));
        int len = sizeof(c->peer_addr);
        uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer_addr, &len);
        /* Whoever may connect can hold a handshake open for its deadline:
         * bound how many, in all and per address, so nodes still get in. */
        if (t->handshaking > MAX_HANDSHAKES) {
                cs_conn_refuse(c, "too many connections in their handshake");
                return;
        }
        if (handshakes_from(t, &c->peer_addr) > MAX_HANDSHAKES_PER_HOST) {
                cs_conn_refuse(
                    c, "too many connections in their handshake from this address");
                return;
        }
        if (cs_conn_start(c) != 0)
                cs_conn_refuse(c, "out of memory");
}

static int parse_address(const char *address, struct sockaddr_storage *out)
{
        char host[CONSENSUS_HELLO_ADDRESS_MAX];
        const char *colon = strrchr(address, ':');
        if (colon == NULL || (size_t)(colon - address) >= sizeof(host))
                return UV_EINVAL;
        int port = atoi(colon + 1);
        if (port <= 0 || port > 65535)
                return UV_EINVAL;
        if (address[0] == '[' && colon[-1] == ']') {
                memcpy(host, address + 1, (size_t)(colon - address - 2));
                host[colon - address - 2] = '\0';
                return uv_ip6_addr(host, port, (struct sockaddr_in6 *)out);
        }
        memcpy(host, address, (size_t)(colon - address));
        host[colon - address] = '\0';
        return uv_ip4_addr(host, port, (struct sockaddr_in *)out);
}

static int tr_init(struct raft_uv_transport *rt, raft_id id, const char *address)
{
        struct cs_transport *t = rt->impl;
        if (strlen(address) >= sizeof(t->address)) {
                snprintf(rt->errmsg, sizeof(rt->errmsg), "address too long");
                return RAFT_NAMETOOLONG;
        }
        if (parse_address(address, &t->self) != 0) {
                snprintf(rt->errmsg, sizeof(rt->errmsg), "'%s' is not IP:PORT", address);
                return RAFT_INVALID;
        }
        t->id = id;
        strcpy(t->address, address);
        /* A wildcard listen address cannot be a source. */
        t->bind_source =
            t->self.ss_family == AF_INET
                ? ((struct sockaddr_in *)&t->self)->sin_addr.s_addr != htonl(INADDR_ANY)
                : !IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&t->self)->sin6_addr);
        return 0;
}

static int tr_listen(struct raft_uv_transport *rt, raft_uv_accept_cb cb)
{
        struct cs_transport *t = rt->impl;
        t->accept_cb = cb;
        uv_tcp_init(t->loop, &t->listener);
        t->listener.data = t;
        t->listening = true;
        int rc = uv_tcp_bind(&t->listener, (struct sockaddr *)&t->self, 0);
        if (rc == 0)
                rc = uv_listen((uv_stream_t *)&t->listener, 128, on_connection);
        if (rc != 0) {
                snprintf(rt->errmsg, sizeof(rt->errmsg), "listen on %.200s: %s",
                         t->address, uv_strerror(rc));
                return RAFT_IOERR;
        }
        return 0;
}

/* ---- connecting --------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status)
{
        struct cs_conn *c = req->data;
        free(req);
        if (c->state == CONN_CLOSING)
                return;
        if (status < 0) {
                LOG_DEBUG("raft: connect to node %llu at %s: %s",
                          (unsigned long long)c->id, c->peer, uv_strerror(status));
                cs_conn_close(c);
                return;
        }
        if (cs_conn_start(c) != 0) {
                cs_conn_refuse(c, "out of memory");
                return;
        }
        cs_conn_pump(c); /* the client speaks first */
}

/* Starts connecting to node id at address: the conn, or NULL with errmsg. */
static struct cs_conn *start_connect(struct cs_transport *t, raft_id id,
                                     const char *address)
{
        struct raft_uv_transport *rt = t->raft;
        struct sockaddr_storage to;
        if (parse_address(address, &to) != 0) {
                snprintf(rt->errmsg, sizeof(rt->errmsg), "'%.200s' is not IP:PORT",
                         address);
                return NULL;
        }
        uv_connect_t *creq = malloc(sizeof(*creq));
        struct cs_conn *c = creq ? cs_conn_new(t, false) : NULL;
        if (c == NULL) {
                free(creq);
                snprintf(rt->errmsg, sizeof(rt->errmsg), "out of memory");
                return NULL;
        }
        c->id = id;
        snprintf(c->peer, sizeof(c->peer), "%s", address);
        creq->data = c;
        int rc = 0;
        if (t->bind_source && to.ss_family == t->self.ss_family) {
                struct sockaddr_storage src = t->self;
                if (src.ss_family == AF_INET)
                        ((struct sockaddr_in *)&src)->sin_port = 0;
                else
                        ((struct sockaddr_in6 *)&src)->sin6_port = 0;
                rc = uv_tcp_bind(&c->tcp, (struct sockaddr *)&src, 0);
        }
        if (rc == 0)
                rc = uv_tcp_connect(creq, &c->tcp, (struct sockaddr *)&to, on_connect);
        if (rc != 0) {
                snprintf(rt->errmsg, sizeof(rt->errmsg), "connect to %.200s: %s", address,
                         uv_strerror(rc));
                free(creq);
                cs_conn_close(c); /* no request yet: no callback */
                return NULL;
        }
        return c;
}

static int tr_connect(struct raft_uv_transport *rt, struct raft_uv_connect *req,
                      raft_id id, const char *address, raft_uv_connect_cb cb)
{
        struct cs_conn *c = start_connect(rt->impl, id, address);
        if (c == NULL)
                return RAFT_NOCONNECTION;
        c->req = req;
        c->cb = cb;
        return 0;
}

void consensus_transport_admit(struct raft_uv_transport *rt,
                               bool (*admit)(void *ctx, raft_id id), void *ctx)
{
        struct cs_transport *t = rt->impl;
        t->admit = admit;
        t->admit_ctx = ctx;
}

void consensus_transport_side_listen(struct raft_uv_transport *rt,
                                     consensus_side_accept_cb accepted, void *ctx)
{
        struct cs_transport *t = rt->impl;
        t->side_accept = accepted;
        t->side_ctx = ctx;
}

int consensus_transport_side_connect(struct raft_uv_transport *rt, unsigned kind,
                                     raft_id id, const char *address,
                                     consensus_side_connect_cb cb, void *ctx)
{
        struct cs_transport *t = rt->impl;
        if (t->closing || !t->listening)
                return -ESHUTDOWN;
        if (kind >= CONSENSUS_SIDE_KINDS)
                return -EINVAL;
        struct cs_conn *c = start_connect(t, id, address);
        if (c == NULL)
                return -ECONNREFUSED;
        c->side = true;
        c->kind = kind;
        c->side_cb = cb;
        c->side_ctx = ctx;
        return 0;
}

/* ---- closing ------------------------------------------------------------ */

static void on_listener_closed(uv_handle_t *h)
{
        struct cs_transport *t = h->data;
        t->listening = false;
        cs_transport_maybe_closed(t);
}

static void tr_close(struct raft_uv_transport *rt, raft_uv_transport_close_cb cb)
{
        struct cs_transport *t = rt->impl;
        t->closing = true;
        t->close_cb = cb;
        if (t->listening)
                uv_close((uv_handle_t *)&t->listener, on_listener_closed);
        for (struct cs_conn *c = t->conns; c != NULL; c = c->next)
                cs_conn_close(c);
        /* Nothing was open: closed at once (raft_uv_tcp does the same). */
        if (t->conns == NULL && !t->listening) {
                t->close_cb = NULL;
                if (cb != NULL)
                        cb(rt);
        }
}

int consensus_transport_init(struct raft_uv_transport *rt, uv_loop_t *loop,
                             const struct consensus_channel_ops *ops)
{
        struct cs_transport *t = calloc(1, sizeof(*t));
        if (t == NULL)
                return -ENOMEM;
        t->raft = rt;
        t->loop = loop;
        t->ops = ops;
        rt->impl = t;
        rt->init = tr_init;
        rt->listen = tr_listen;
        rt->connect = tr_connect;
        rt->close = tr_close;
        return 0;
}

uint64_t consensus_transport_stalled(const struct raft_uv_transport *rt)
{
        const struct cs_transport *t = rt->impl;
        return t != NULL ? t->stalled : 0;
}

void consensus_transport_fini(struct raft_uv_transport *rt)
{
        free(rt->impl);
        rt->impl = NULL;
}
