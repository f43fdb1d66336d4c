/*
 * transport.c — raft_uv_transport over an authenticated channel (see
 * transport.h).
 *
 * Each connection (struct conn) owns a TCP handle to the peer, a handshake
 * timer, the channel session and, once the peer is authenticated, our end
 * of a socketpair whose other end raft owns.  It moves through
 *   CONN_SECURE   channel handshake (certificates),
 *   CONN_HELLO    accepting side only: reading raft_uv's handshake,
 *   CONN_OPEN     pumping bytes both ways,
 *   CONN_CLOSING  handles closing; freed when the last one has closed.
 * Bytes from TCP go into the channel, decrypted bytes into the socketpair;
 * bytes raft writes come out of the socketpair into the channel, encrypted
 * bytes go out on TCP.  When one side's write queue grows past QUEUE_HIGH,
 * reading from the other side pauses until it drains below QUEUE_LOW.
 * A connect request's callback fires exactly once: with the stream, or
 * after the connection's handles have closed (RAFT_NOCONNECTION, or
 * RAFT_CANCELED when the transport is closing).
 */
#include "consensus/transport.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

#define QUEUE_HIGH              (8u << 20)
#define QUEUE_LOW               (1u << 20)
#define READ_CHUNK              65536
#define MAX_HANDSHAKES          64 /* incoming connections not yet authenticated, at most */
#define MAX_HANDSHAKES_PER_HOST 8  /* of them from one address */
#define LOG_PER_SECOND          10 /* refusals logged; the rest are counted */

enum conn_state { CONN_SECURE, CONN_HELLO, CONN_OPEN, CONN_CLOSING };

struct transport;

struct conn {
        struct transport *t;
        struct conn *prev, *next;
        uv_tcp_t tcp;
        uv_pipe_t pipe; /* our end of the socketpair, once CONN_OPEN */
        uv_timer_t timer;
        struct consensus_channel *ch;
        enum conn_state state;
        bool accepting;
        bool pipe_open;
        bool tcp_paused, pipe_paused;
        bool draining;    /* one side ended: the other is flushed, then closed */
        unsigned handles; /* open handles */
        raft_id id;       /* connect: the node asked for; accept: the certificate's */
        char peer[64];
        struct sockaddr_storage peer_addr; /* accepting side */
        struct raft_uv_connect *req;       /* connect side, until its callback */
        raft_uv_connect_cb cb;
        bool side;                         /* a side channel, not raft */
        unsigned kind;                     /* of side channel */
        consensus_side_connect_cb side_cb; /* connect side, until called */
        void *side_ctx;
        unsigned char hello[24 + CONSENSUS_HELLO_ADDRESS_MAX];
        size_t hello_len;
};

struct transport {
        struct raft_uv_transport *raft;
        uv_loop_t *loop;
        const struct consensus_channel_ops *ops;
        raft_id id;
        char address[CONSENSUS_HELLO_ADDRESS_MAX];
        struct sockaddr_storage self; /* our raft address (source of connects) */
        bool bind_source;
        uv_tcp_t listener;
        bool listening;
        raft_uv_accept_cb accept_cb;
        consensus_side_accept_cb side_accept;
        void *side_ctx;
        bool closing;
        raft_uv_transport_close_cb close_cb;
        struct conn *conns;
        unsigned handshaking;
        uint64_t log_second; /* rate limit of refusal logs */
        unsigned logged, unlogged;
};

struct wreq {
        uv_write_t req;
        struct conn *conn;
        char data[];
};

static void conn_close(struct conn *c);
static void pump(struct conn *c);
static void alloc_chunk(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- raft_uv's handshake ---------------------------------------------- */

static void put64(unsigned char *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

int consensus_hello_encode(uint64_t protocol, raft_id id, const char *address, void *out,
                           size_t cap)
{
        size_t len = strlen(address) + 1;
        size_t padded = (len + 7) / 8 * 8;
        if (padded > CONSENSUS_HELLO_ADDRESS_MAX || 24 + padded > cap)
                return -ENAMETOOLONG;
        unsigned char *p = out;
        memset(p, 0, 24 + padded);
        put64(p, protocol);
        put64(p + 8, id);
        put64(p + 16, padded);
        memcpy(p + 24, address, len);
        return (int)(24 + padded);
}

int consensus_hello_decode(const void *buf, size_t len, struct consensus_hello *out,
                           char *why, size_t why_size)
{
        const unsigned char *p = buf;
        if (len < 24)
                return -EAGAIN;
        uint64_t protocol = get64(p), id = get64(p + 8), size = get64(p + 16);
        if (protocol != CONSENSUS_HELLO_PROTOCOL &&
            (protocol < CONSENSUS_HELLO_PROTOCOL_SIDE ||
             protocol >= CONSENSUS_HELLO_PROTOCOL_SIDE + CONSENSUS_SIDE_KINDS)) {
                snprintf(why, why_size, "raft handshake with unknown protocol %llu",
                         (unsigned long long)protocol);
                return -EPROTO;
        }
        if (id == 0) {
                snprintf(why, why_size, "raft handshake claims server id 0");
                return -EPROTO;
        }
        if (size == 0 || size > CONSENSUS_HELLO_ADDRESS_MAX || size % 8 != 0) {
                snprintf(why, why_size,
                         "raft handshake address of %llu bytes (8..%d, a multiple of 8)",
                         (unsigned long long)size, CONSENSUS_HELLO_ADDRESS_MAX);
                return -EPROTO;
        }
        if (len < 24 + size)
                return -EAGAIN;
        const char *address = (const char *)p + 24;
        size_t text = strnlen(address, (size_t)size);
        if (text == size || text == 0) {
                snprintf(why, why_size, "raft handshake address is %s",
                         text == 0 ? "empty" : "not terminated");
                return -EPROTO;
        }
        out->protocol = protocol;
        out->id = id;
        memcpy(out->address, address, text + 1);
        return (int)(24 + size);
}

/* ---- connections -------------------------------------------------------- */

static void peer_text(uv_tcp_t *tcp, char *out, size_t n)
{
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        char ip[64] = "?";
        int port = 0;
        if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0) {
                if (ss.ss_family == AF_INET) {
                        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
                        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
                } else if (ss.ss_family == AF_INET6) {
                        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
                        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
                }
        }
        snprintf(out, n, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
}

static void maybe_closed(struct transport *t)
{
        if (!t->closing || t->conns != NULL || t->listening)
                return;
        raft_uv_transport_close_cb cb = t->close_cb;
        t->close_cb = NULL;
        if (cb != NULL)
                cb(t->raft);
}

static void on_handle_closed(uv_handle_t *h)
{
        struct conn *c = h->data;
        if (--c->handles > 0)
                return;
        struct transport *t = c->t;
        if (c->prev)
                c->prev->next = c->next;
        else
                t->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        if (c->ch != NULL)
                t->ops->close(c->ch);
        if (c->req != NULL)
                c->cb(c->req, NULL, t->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
        if (c->side_cb != NULL)
                c->side_cb(c->side_ctx, t->closing ? -ECANCELED : -ECONNREFUSED, 0, -1);
        free(c);
        maybe_closed(t);
}

static void conn_close(struct conn *c)
{
        if (c->state == CONN_CLOSING)
                return;
        if (c->state != CONN_OPEN && c->accepting)
                c->t->handshaking--;
        c->state = CONN_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
        if (c->pipe_open)
                uv_close((uv_handle_t *)&c->pipe, on_handle_closed);
}

/* Whether to log one more refusal: at most LOG_PER_SECOND a second, so a
 * flood of bad connections (or a peer retrying every 150 ms) cannot flood
 * the log; what was left out is counted in the next line logged. */
static bool log_allowed(struct transport *t)
{
        uint64_t second = uv_now(t->loop) / 1000;
        if (second != t->log_second) {
                if (t->unlogged > 0)
                        LOG_WARN("raft: %u more refused or failed connections not logged",
                                 t->unlogged);
                t->log_second = second;
                t->logged = t->unlogged = 0;
        }
        if (t->logged < LOG_PER_SECOND) {
                t->logged++;
                return true;
        }
        t->unlogged++;
        return false;
}

/* Refuses a peer: nothing it sent has reached raft. */
static void conn_refuse(struct conn *c, const char *why)
{
        if (c->accepting && log_allowed(c->t))
                LOG_WARN("raft: refused a connection from %s: %s", c->peer, why);
        else if (!c->accepting && log_allowed(c->t))
                LOG_WARN("raft: connection to node %llu at %s failed: %s",
                         (unsigned long long)c->id, c->peer, why);
        conn_close(c);
}

static struct conn *conn_new(struct transport *t, bool accepting)
{
        struct conn *c = calloc(1, sizeof(*c));
        if (c == NULL)
                return NULL;
        c->t = t;
        c->accepting = accepting;
        c->state = CONN_SECURE;
        uv_tcp_init(t->loop, &c->tcp);
        uv_timer_init(t->loop, &c->timer);
        c->tcp.data = c;
        c->timer.data = c;
        c->handles = 2;
        c->next = t->conns;
        if (t->conns)
                t->conns->prev = c;
        t->conns = c;
        if (accepting)
                t->handshaking++;
        return c;
}

static void on_deadline(uv_timer_t *timer)
{
        struct conn *c = timer->data;
        if (c->draining) { /* the peer does not take what is left */
                conn_close(c);
                return;
        }
        char why[96];
        snprintf(why, sizeof(why), "no authenticated raft handshake within %d ms",
                 CONSENSUS_TRANSPORT_HANDSHAKE_MS);
        conn_refuse(c, why);
}

static void on_write(uv_write_t *req, int status)
{
        struct wreq *w = (struct wreq *)req;
        struct conn *c = w->conn;
        free(w);
        if (c->state == CONN_CLOSING)
                return;
        if (status < 0) {
                LOG_DEBUG("raft: write to %s failed: %s", c->peer, uv_strerror(status));
                conn_close(c);
                return;
        }
        /* Resume the side that fed a queue which has drained. */
        if (c->pipe_paused && !c->draining && c->tcp.write_queue_size < QUEUE_LOW) {
                c->pipe_paused = false;
                uv_read_start((uv_stream_t *)&c->pipe, alloc_chunk, on_pipe_read);
        }
}

static int send_copy(struct conn *c, uv_stream_t *s, const void *data, size_t len)
{
        struct wreq *w = malloc(sizeof(*w) + len);
        if (w == NULL)
                return -ENOMEM;
        w->conn = c;
        memcpy(w->data, data, len);
        uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
        int rc = uv_write(&w->req, s, &b, 1, on_write);
        if (rc != 0)
                free(w);
        return rc;
}

/* Sends what the channel has for the peer. */
static int flush(struct conn *c)
{
        char buf[16384];
        size_t n;
        while ((n = c->t->ops->output(c->ch, buf, sizeof(buf))) > 0) {
                int rc = send_copy(c, (uv_stream_t *)&c->tcp, buf, n);
                if (rc != 0)
                        return rc;
        }
        return 0;
}

static void alloc_chunk(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        (void)h;
        (void)suggested;
        buf->base = malloc(READ_CHUNK);
        buf->len = buf->base ? READ_CHUNK : 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
        struct conn *c = req->data;
        free(req);
        conn_close(c);
}

/* One side ended (raft or the side channel's owner closed its end, or the
 * peer closed): what was already queued for the other side is still
 * delivered, then the connection closes (within the handshake deadline).
 * A side-channel answer is written just before its end is closed. */
static void conn_drain(struct conn *c, uv_stream_t *towards)
{
        if (c->state != CONN_OPEN || c->draining) {
                conn_close(c);
                return;
        }
        c->draining = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
        uv_read_stop((uv_stream_t *)&c->pipe);
        uv_timer_start(&c->timer, on_deadline, CONSENSUS_TRANSPORT_HANDSHAKE_MS, 0);
        uv_shutdown_t *req = malloc(sizeof(*req));
        if (req != NULL)
                req->data = c;
        if (req == NULL || uv_shutdown(req, towards, on_shutdown) != 0) {
                free(req);
                conn_close(c);
        }
}

/* Bytes raft wrote: encrypt and send them. */
static void on_pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
        struct conn *c = s->data;
        if (nread > 0 && c->state == CONN_OPEN) {
                if (c->t->ops->write(c->ch, buf->base, (size_t)nread) != 0 ||
                    flush(c) != 0)
                        conn_close(c);
                else if (c->tcp.write_queue_size > QUEUE_HIGH) {
                        uv_read_stop(s);
                        c->pipe_paused = true;
                }
        } else if (nread < 0) {
                conn_drain(c, (uv_stream_t *)&c->tcp); /* its owner closed the stream */
        }
        free(buf->base);
}

static void on_pipe_write(uv_write_t *req, int status)
{
        struct wreq *w = (struct wreq *)req;
        struct conn *c = w->conn;
        free(w);
        if (c->state == CONN_CLOSING)
                return;
        if (status < 0) {
                conn_close(c);
                return;
        }
        if (c->tcp_paused && !c->draining && c->pipe.write_queue_size < QUEUE_LOW) {
                c->tcp_paused = false;
                pump(c); /* records already buffered in the channel */
                if (c->state != CONN_CLOSING && !c->tcp_paused)
                        uv_read_start((uv_stream_t *)&c->tcp, alloc_chunk, on_tcp_read);
        }
}

/* Hands decrypted bytes to raft. */
static int to_raft(struct conn *c, const void *data, size_t len)
{
        struct wreq *w = malloc(sizeof(*w) + len);
        if (w == NULL)
                return -ENOMEM;
        w->conn = c;
        memcpy(w->data, data, len);
        uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
        int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_pipe_write);
        if (rc != 0)
                free(w);
        return rc;
}

/* Makes the socketpair: our end is pumped; the other goes to raft as a
 * stream (raft_end), or to a side channel's owner as a descriptor (fd). */
static int open_pair(struct conn *c, uv_stream_t **raft_end, int *fd)
{
        uv_file fds[2];
        int rc = uv_socketpair(SOCK_STREAM, 0, fds, 0, 0);
        if (rc != 0)
                return rc;
        uv_pipe_t *theirs = raft_end ? raft_malloc(sizeof(*theirs)) : NULL;
        if (raft_end != NULL && theirs == NULL) {
                close(fds[0]);
                close(fds[1]);
                return UV_ENOMEM;
        }
        uv_pipe_init(c->t->loop, &c->pipe, 0);
        c->pipe.data = c;
        c->pipe_open = true;
        c->handles++;
        if ((rc = uv_pipe_open(&c->pipe, fds[0])) != 0) {
                close(fds[0]);
                close(fds[1]);
                raft_free(theirs);
                return rc;
        }
        if (theirs != NULL) {
                uv_pipe_init(c->t->loop, theirs, 0);
                if ((rc = uv_pipe_open(theirs, fds[1])) != 0) {
                        close(fds[1]);
                        uv_close((uv_handle_t *)theirs, (uv_close_cb)raft_free);
                        return rc;
                }
        }
        rc = uv_read_start((uv_stream_t *)&c->pipe, alloc_chunk, on_pipe_read);
        if (rc != 0) {
                if (theirs != NULL)
                        uv_close((uv_handle_t *)theirs, (uv_close_cb)raft_free);
                else
                        close(fds[1]);
                return rc;
        }
        if (raft_end != NULL)
                *raft_end = (uv_stream_t *)theirs;
        else
                *fd = fds[1];
        return 0;
}

static void go_open(struct conn *c)
{
        c->state = CONN_OPEN;
        if (c->accepting)
                c->t->handshaking--;
        uv_timer_stop(&c->timer);
}

/* Connecting side, channel authenticated: raft_uv's handshake, then the
 * stream goes to raft (or the descriptor to the side channel's owner). */
static void connected(struct conn *c)
{
        unsigned char hello[24 + CONSENSUS_HELLO_ADDRESS_MAX];
        int len = consensus_hello_encode(c->side ? CONSENSUS_HELLO_PROTOCOL_SIDE + c->kind
                                                 : CONSENSUS_HELLO_PROTOCOL,
                                         c->t->id, c->t->address, hello, sizeof(hello));
        uv_stream_t *stream = NULL;
        int fd = -1;
        int rc = len < 0 ? len : c->t->ops->write(c->ch, hello, (size_t)len);
        if (rc == 0)
                rc = flush(c);
        if (rc == 0)
                rc = open_pair(c, c->side ? NULL : &stream, &fd);
        if (rc != 0) {
                conn_refuse(c, uv_strerror(rc));
                return;
        }
        go_open(c);
        if (c->side) {
                consensus_side_connect_cb cb = c->side_cb;
                c->side_cb = NULL;
                cb(c->side_ctx, 0, c->id, fd);
                return;
        }
        struct raft_uv_connect *req = c->req;
        c->req = NULL;
        c->cb(req, stream, 0);
}

/* Accepting side: the raft handshake read so far. */
static void hello_bytes(struct conn *c, const unsigned char *data, size_t len)
{
        size_t room = sizeof(c->hello) - c->hello_len;
        size_t take = len < room ? len : room;
        memcpy(c->hello + c->hello_len, data, take);
        c->hello_len += take;
        struct consensus_hello h;
        char why[160];
        int used = consensus_hello_decode(c->hello, c->hello_len, &h, why, sizeof(why));
        if (used == -EAGAIN)
                return;
        if (used < 0) {
                conn_refuse(c, why);
                return;
        }
        if (h.id != c->id) {
                snprintf(why, sizeof(why),
                         "raft handshake claims server id %llu but the certificate is "
                         "node %llu's",
                         (unsigned long long)h.id, (unsigned long long)c->id);
                conn_refuse(c, why);
                return;
        }
        if (c->t->closing) {
                conn_close(c);
                return;
        }
        c->side = h.protocol != CONSENSUS_HELLO_PROTOCOL;
        c->kind = c->side ? (unsigned)(h.protocol - CONSENSUS_HELLO_PROTOCOL_SIDE) : 0;
        if (c->side && c->t->side_accept == NULL) {
                conn_refuse(c, "no side channel here");
                return;
        }
        uv_stream_t *stream = NULL;
        int fd = -1;
        int rc = open_pair(c, c->side ? NULL : &stream, &fd);
        if (rc != 0) {
                conn_refuse(c, uv_strerror(rc));
                return;
        }
        go_open(c);
        LOG_DEBUG("raft: node %llu connected from %s%s", (unsigned long long)h.id,
                  c->peer, c->side ? " (side channel)" : "");
        if (c->side)
                c->t->side_accept(c->t->side_ctx, c->kind, h.id, fd);
        else
                c->t->accept_cb(c->t->raft, h.id, h.address, stream);
        /* What followed the handshake in the same read belongs to raft. */
        size_t rest = c->hello_len - (size_t)used;
        if (rest > 0 && to_raft(c, c->hello + used, rest) != 0)
                conn_close(c);
        rest = len - take;
        if (c->state == CONN_OPEN && rest > 0 && to_raft(c, data + take, rest) != 0)
                conn_close(c);
}

/* Moves whatever the channel can give: handshake progress, then decrypted
 * bytes to the raft handshake parser or to raft. */
static void pump(struct conn *c)
{
        const struct consensus_channel_ops *ops = c->t->ops;
        if (c->state == CONN_SECURE) {
                raft_id peer = 0;
                char why[256] = "";
                int rc = ops->handshake(c->ch, &peer, why, sizeof(why));
                if (flush(c) != 0 && rc == 0)
                        rc = -EPIPE;
                if (rc == -EAGAIN)
                        return;
                if (rc != 0) {
                        conn_refuse(c, why[0] ? why : "secure channel failed");
                        return;
                }
                if (!c->accepting) {
                        if (c->side && c->id == 0)
                                c->id = peer; /* any node of the cluster */
                        if (peer != c->id) {
                                snprintf(why, sizeof(why),
                                         "its certificate is node %llu's",
                                         (unsigned long long)peer);
                                conn_refuse(c, why);
                                return;
                        }
                        connected(c);
                } else {
                        c->id = peer;
                        c->state = CONN_HELLO;
                }
        }
        unsigned char buf[16384];
        while (c->state == CONN_HELLO || c->state == CONN_OPEN) {
                if (c->state == CONN_OPEN && c->pipe.write_queue_size > QUEUE_HIGH) {
                        uv_read_stop((uv_stream_t *)&c->tcp);
                        c->tcp_paused = true;
                        break;
                }
                ssize_t n = ops->read(c->ch, buf, sizeof(buf));
                if (n == -EAGAIN)
                        break;
                if (n <= 0) {
                        if (c->state == CONN_HELLO)
                                conn_refuse(c, "closed before its raft handshake");
                        else if (n == 0)
                                conn_drain(c, (uv_stream_t *)&c->pipe);
                        else
                                conn_close(c);
                        return;
                }
                if (c->state == CONN_HELLO) {
                        hello_bytes(c, buf, (size_t)n);
                } else if (!c->accepting && !c->side) {
                        /* raft's servers never write back. */
                        conn_refuse(c, "the server sent data");
                        return;
                } else if (to_raft(c, buf, (size_t)n) != 0) {
                        conn_close(c);
                        return;
                }
        }
        if (c->state != CONN_CLOSING && flush(c) != 0)
                conn_close(c);
}

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
        struct conn *c = s->data;
        if (nread > 0 && c->state != CONN_CLOSING) {
                if (c->t->ops->input(c->ch, buf->base, (size_t)nread) != 0)
                        conn_refuse(c, "out of memory");
                else
                        pump(c);
        } else if (nread < 0 && c->state != CONN_CLOSING) {
                if (c->state != CONN_OPEN)
                        conn_refuse(c, nread == UV_EOF ? "closed during the handshake"
                                                       : uv_strerror((int)nread));
                else if (nread == UV_EOF)
                        conn_drain(c, (uv_stream_t *)&c->pipe);
                else
                        conn_close(c);
        }
        free(buf->base);
}

static int start_session(struct conn *c)
{
        c->ch = c->t->ops->open(c->t->ops->ctx, c->accepting, c->id);
        if (c->ch == NULL)
                return UV_ENOMEM;
        uv_timer_start(&c->timer, on_deadline, CONSENSUS_TRANSPORT_HANDSHAKE_MS, 0);
        return uv_read_start((uv_stream_t *)&c->tcp, alloc_chunk, on_tcp_read);
}

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
static unsigned handshakes_from(struct transport *t, const struct sockaddr_storage *addr)
{
        unsigned n = 0;
        for (struct conn *c = t->conns; c != NULL; c = c->next)
                n += c->accepting &&
                     (c->state == CONN_SECURE || c->state == CONN_HELLO) &&
                     same_host(&c->peer_addr, addr);
        return n;
}

static void on_connection(uv_stream_t *server, int status)
{
        struct transport *t = server->data;
        if (status < 0 || t->closing)
                return;
        struct conn *c = conn_new(t, true);
        if (c == NULL)
                return;
        if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
                conn_close(c);
                return;
        }
        peer_text(&c->tcp, c->peer, sizeof(c->peer));
        int len = sizeof(c->peer_addr);
        uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer_addr, &len);
        /* Whoever may connect can hold a handshake open for its deadline:
         * bound how many, in all and per address, so nodes still get in. */
        if (t->handshaking > MAX_HANDSHAKES) {
                conn_refuse(c, "too many connections in their handshake");
                return;
        }
        if (handshakes_from(t, &c->peer_addr) > MAX_HANDSHAKES_PER_HOST) {
                conn_refuse(c,
                            "too many connections in their handshake from this address");
                return;
        }
        if (start_session(c) != 0)
                conn_refuse(c, "out of memory");
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
        struct transport *t = rt->impl;
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
        struct transport *t = rt->impl;
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
        struct conn *c = req->data;
        free(req);
        if (c->state == CONN_CLOSING)
                return;
        if (status < 0) {
                LOG_DEBUG("raft: connect to node %llu at %s: %s",
                          (unsigned long long)c->id, c->peer, uv_strerror(status));
                conn_close(c);
                return;
        }
        if (start_session(c) != 0) {
                conn_refuse(c, "out of memory");
                return;
        }
        pump(c); /* the client speaks first */
}

/* Starts connecting to node id at address: the conn, or NULL with errmsg. */
static struct conn *start_connect(struct transport *t, raft_id id, const char *address)
{
        struct raft_uv_transport *rt = t->raft;
        struct sockaddr_storage to;
        if (parse_address(address, &to) != 0) {
                snprintf(rt->errmsg, sizeof(rt->errmsg), "'%.200s' is not IP:PORT",
                         address);
                return NULL;
        }
        uv_connect_t *creq = malloc(sizeof(*creq));
        struct conn *c = creq ? conn_new(t, false) : NULL;
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
                conn_close(c); /* no request yet: no callback */
                return NULL;
        }
        return c;
}

static int tr_connect(struct raft_uv_transport *rt, struct raft_uv_connect *req,
                      raft_id id, const char *address, raft_uv_connect_cb cb)
{
        struct conn *c = start_connect(rt->impl, id, address);
        if (c == NULL)
                return RAFT_NOCONNECTION;
        c->req = req;
        c->cb = cb;
        return 0;
}

void consensus_transport_side_listen(struct raft_uv_transport *rt,
                                     consensus_side_accept_cb accepted, void *ctx)
{
        struct transport *t = rt->impl;
        t->side_accept = accepted;
        t->side_ctx = ctx;
}

int consensus_transport_side_connect(struct raft_uv_transport *rt, unsigned kind,
                                     raft_id id, const char *address,
                                     consensus_side_connect_cb cb, void *ctx)
{
        struct transport *t = rt->impl;
        if (t->closing || !t->listening)
                return -ESHUTDOWN;
        if (kind >= CONSENSUS_SIDE_KINDS)
                return -EINVAL;
        struct conn *c = start_connect(t, id, address);
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
        struct transport *t = h->data;
        t->listening = false;
        maybe_closed(t);
}

static void tr_close(struct raft_uv_transport *rt, raft_uv_transport_close_cb cb)
{
        struct transport *t = rt->impl;
        t->closing = true;
        t->close_cb = cb;
        if (t->listening)
                uv_close((uv_handle_t *)&t->listener, on_listener_closed);
        for (struct conn *c = t->conns; c != NULL; c = c->next)
                conn_close(c);
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
        struct transport *t = calloc(1, sizeof(*t));
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

void consensus_transport_fini(struct raft_uv_transport *rt)
{
        free(rt->impl);
        rt->impl = NULL;
}
