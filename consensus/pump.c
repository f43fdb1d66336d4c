/*
 * pump.c — the bytes of one authenticated raft connection (see pump.h).
 *
 * Bytes from TCP go into the channel, decrypted bytes into the socketpair;
 * bytes raft writes come out of the socketpair into the channel, encrypted
 * bytes go out on TCP.  When one side's write queue grows past QUEUE_HIGH,
 * reading from the other side pauses until it drains below QUEUE_LOW.
 * Raft does not stop writing meanwhile: what it sends to a peer that takes
 * nothing queues on its end of the socketpair and keeps the entries alive
 * (in probe mode, the whole log tail again every heartbeat).  So a peer
 * that takes no byte for STALL_MS while its queue is past QUEUE_HIGH is
 * disconnected: raft then keeps at most three messages for it and retries
 * the connection, and the peer catches up from the log once it reads (raft
 * connections only; plaintext raft_uv_tcp has no such check).  When
 * one side ends, what is queued for the other is still delivered, then the
 * connection closes.  A connect request's callback fires exactly once:
 * with the stream, or after the connection's handles have closed
 * (RAFT_NOCONNECTION, or RAFT_CANCELED when the transport is closing).
 */
#include "consensus/pump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define QUEUE_HIGH     (8u << 20)
#define QUEUE_LOW      (1u << 20)
#define READ_CHUNK     65536
#define LOG_PER_SECOND 10 /* refusals logged; the rest are counted */

/* A peer that takes nothing for this long with QUEUE_HIGH queued is
 * dropped: longer than a loop is held by a snapshot (1.7 s at 1.2 M zones
 * on a shared machine); what raft queues for it is then at most this long's
 * worth of its messages. */
#define STALL_MS 5000

struct wreq {
        uv_write_t req;
        struct cs_conn *conn;
        char data[];
};

static void alloc_chunk(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- connections -------------------------------------------------------- */

void cs_conn_peer_text(uv_tcp_t *tcp, char *out, size_t n)
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

void cs_transport_maybe_closed(struct cs_transport *t)
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
        struct cs_conn *c = h->data;
        if (--c->handles > 0)
                return;
        struct cs_transport *t = c->t;
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
        free(c->chunk);
        free(c);
        cs_transport_maybe_closed(t);
}

void cs_conn_close(struct cs_conn *c)
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
static bool log_allowed(struct cs_transport *t)
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
void cs_conn_refuse(struct cs_conn *c, const char *why)
{
        if (c->accepting && log_allowed(c->t))
                LOG_WARN("raft: refused a connection from %s: %s", c->peer, why);
        else if (!c->accepting && log_allowed(c->t))
                LOG_WARN("raft: connection to node %llu at %s failed: %s",
                         (unsigned long long)c->id, c->peer, why);
        cs_conn_close(c);
}

struct cs_conn *cs_conn_new(struct cs_transport *t, bool accepting)
{
        struct cs_conn *c = calloc(1, sizeof(*c));
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
        struct cs_conn *c = timer->data;
        if (c->draining) { /* the peer does not take what is left */
                cs_conn_close(c);
                return;
        }
        char why[96];
        snprintf(why, sizeof(why), "no authenticated raft handshake within %d ms",
                 CONSENSUS_TRANSPORT_HANDSHAKE_MS);
        cs_conn_refuse(c, why);
}

static void on_stall_check(uv_timer_t *timer);

static void arm_stall_check(struct cs_conn *c, uint64_t ms)
{
        c->stall_due_ms = uv_now(c->t->loop) + ms;
        uv_timer_start(&c->timer, on_stall_check, ms, 0);
}

/* While raft's side is paused: the peer has taken nothing for STALL_MS. */
static void on_stall_check(uv_timer_t *timer)
{
        struct cs_conn *c = timer->data;
        if (c->state != CONN_OPEN || c->draining || !c->pipe_paused)
                return;
        uint64_t now = uv_now(c->t->loop);
        /* Late: this node's own loop was held.  A loop turn runs its timers
         * before it polls, so the writes the peer took meanwhile have not
         * completed yet: look again once they have (1 ms: after the poll). */
        if (now > c->stall_due_ms + 200) {
                arm_stall_check(c, 1);
                return;
        }
        uint64_t idle = now - c->peer_took_ms;
        if (idle < STALL_MS) {
                arm_stall_check(c, STALL_MS - idle);
                return;
        }
        LOG_WARN(
            "raft: node %llu at %s took nothing for %llu ms with %zu bytes queued for "
            "it; connection closed (raft resends from its log once it reconnects)",
            (unsigned long long)c->id, c->peer, (unsigned long long)idle,
            c->tcp.write_queue_size);
        c->t->stalled++;
        cs_conn_close(c);
}

/* A write to either side is done: when its queue has drained, reading
 * from the side that feeds it resumes. */
static void on_written(uv_write_t *req, int status)
{
        struct wreq *w = (struct wreq *)req;
        struct cs_conn *c = w->conn;
        bool to_peer = req->handle == (uv_stream_t *)&c->tcp;
        free(w);
        if (c->state == CONN_CLOSING)
                return;
        if (status < 0) {
                LOG_DEBUG("raft: write to %s failed: %s", to_peer ? c->peer : "raft",
                          uv_strerror(status));
                cs_conn_close(c);
                return;
        }
        if (c->draining)
                return;
        if (to_peer)
                c->peer_took_ms = uv_now(c->t->loop);
        if (to_peer && c->pipe_paused && c->tcp.write_queue_size < QUEUE_LOW) {
                c->pipe_paused = false;
                uv_timer_stop(&c->timer);
                uv_read_start((uv_stream_t *)&c->pipe, alloc_chunk, on_pipe_read);
        } else if (!to_peer && c->tcp_paused && c->pipe.write_queue_size < QUEUE_LOW) {
                c->tcp_paused = false;
                cs_conn_pump(c); /* records already buffered in the channel */
                if (c->state != CONN_CLOSING && !c->tcp_paused)
                        uv_read_start((uv_stream_t *)&c->tcp, alloc_chunk, on_tcp_read);
        }
}

/* Writes a copy of data to s (the TCP connection or our socketpair end). */
static int write_copy(struct cs_conn *c, uv_stream_t *s, const void *data, size_t len)
{
        struct wreq *w = malloc(sizeof(*w) + len);
        if (w == NULL)
                return -ENOMEM;
        w->conn = c;
        memcpy(w->data, data, len);
        uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
        int rc = uv_write(&w->req, s, &b, 1, on_written);
        if (rc != 0)
                free(w);
        return rc;
}

/* Hands decrypted bytes to raft (or the side channel's owner). */
static int to_raft(struct cs_conn *c, const void *data, size_t len)
{
        return write_copy(c, (uv_stream_t *)&c->pipe, data, len);
}

/* Sends what the channel has for the peer. */
static int flush(struct cs_conn *c)
{
        char buf[16384];
        size_t n;
        while ((n = c->t->ops->output(c->ch, buf, sizeof(buf))) > 0) {
                int rc = write_copy(c, (uv_stream_t *)&c->tcp, buf, n);
                if (rc != 0)
                        return rc;
        }
        return 0;
}

/* Both streams of a connection read into its one chunk: each read
 * callback is done with the bytes when it returns (the channel and the
 * writes copy them).  A chunk allocated for each read and freed after it
 * made glibc consolidate the heap's fast bins twice per read (it does so
 * for every block of 64 KB allocated or freed), and in a heap of
 * gigabytes those bins are cold. */
static void alloc_chunk(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        (void)suggested;
        struct cs_conn *c = h->data;
        if (c->chunk == NULL)
                c->chunk = malloc(READ_CHUNK);
        buf->base = c->chunk;
        buf->len = c->chunk ? READ_CHUNK : 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
        struct cs_conn *c = req->data;
        free(req);
        cs_conn_close(c);
}

/* One side ended (raft or the side channel's owner closed its end, or the
 * peer closed): what was already queued for the other side is still
 * delivered, then the connection closes (within the handshake deadline).
 * A side-channel answer is written just before its end is closed. */
static void conn_drain(struct cs_conn *c, uv_stream_t *towards)
{
        if (c->state != CONN_OPEN || c->draining) {
                cs_conn_close(c);
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
                cs_conn_close(c);
        }
}

/* Bytes raft wrote: encrypt and send them. */
static void on_pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
        struct cs_conn *c = s->data;
        if (nread > 0 && c->state == CONN_OPEN) {
                if (c->t->ops->write(c->ch, buf->base, (size_t)nread) != 0 ||
                    flush(c) != 0)
                        cs_conn_close(c);
                else if (c->tcp.write_queue_size > QUEUE_HIGH) {
                        uv_read_stop(s);
                        c->pipe_paused = true;
                        /* The connection's timer is idle while it is open.
                         * Raft's queue only: a side channel's owner waits
                         * on the full socketpair. */
                        if (!c->side)
                                arm_stall_check(c, STALL_MS);
                }
        } else if (nread < 0) {
                conn_drain(c, (uv_stream_t *)&c->tcp); /* its owner closed the stream */
        }
}

/* Makes the socketpair: our end is pumped; the other goes to raft as a
 * stream (raft_end), or to a side channel's owner as a descriptor (fd). */
static int open_pair(struct cs_conn *c, uv_stream_t **raft_end, int *fd)
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

static void go_open(struct cs_conn *c)
{
        c->state = CONN_OPEN;
        if (c->accepting)
                c->t->handshaking--;
        uv_timer_stop(&c->timer);
        c->peer_took_ms = uv_now(c->t->loop);
}

/* Connecting side, channel authenticated: raft_uv's handshake, then the
 * stream goes to raft (or the descriptor to the side channel's owner). */
static void connected(struct cs_conn *c)
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
                cs_conn_refuse(c, uv_strerror(rc));
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
static void hello_bytes(struct cs_conn *c, const unsigned char *data, size_t len)
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
                cs_conn_refuse(c, why);
                return;
        }
        if (h.id != c->id) {
                snprintf(why, sizeof(why),
                         "raft handshake claims server id %llu but the certificate is "
                         "node %llu's",
                         (unsigned long long)h.id, (unsigned long long)c->id);
                cs_conn_refuse(c, why);
                return;
        }
        if (c->t->closing) {
                cs_conn_close(c);
                return;
        }
        c->side = h.protocol != CONSENSUS_HELLO_PROTOCOL;
        if (!c->side && c->t->admit != NULL && !c->t->admit(c->t->admit_ctx, h.id)) {
                snprintf(why, sizeof(why), "node %llu is not a member of the cluster",
                         (unsigned long long)h.id);
                cs_conn_refuse(c, why);
                return;
        }
        c->kind = c->side ? (unsigned)(h.protocol - CONSENSUS_HELLO_PROTOCOL_SIDE) : 0;
        if (c->side && c->t->side_accept == NULL) {
                cs_conn_refuse(c, "no side channel here");
                return;
        }
        uv_stream_t *stream = NULL;
        int fd = -1;
        int rc = open_pair(c, c->side ? NULL : &stream, &fd);
        if (rc != 0) {
                cs_conn_refuse(c, uv_strerror(rc));
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
                cs_conn_close(c);
        rest = len - take;
        if (c->state == CONN_OPEN && rest > 0 && to_raft(c, data + take, rest) != 0)
                cs_conn_close(c);
}

/* Moves whatever the channel can give: handshake progress, then decrypted
 * bytes to the raft handshake parser or to raft. */
void cs_conn_pump(struct cs_conn *c)
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
                        cs_conn_refuse(c, why[0] ? why : "secure channel failed");
                        return;
                }
                if (!c->accepting) {
                        if (c->side && c->id == 0)
                                c->id = peer; /* any node of the cluster */
                        if (peer != c->id) {
                                snprintf(why, sizeof(why),
                                         "its certificate is node %llu's",
                                         (unsigned long long)peer);
                                cs_conn_refuse(c, why);
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
                                cs_conn_refuse(c, "closed before its raft handshake");
                        else if (n == 0)
                                conn_drain(c, (uv_stream_t *)&c->pipe);
                        else
                                cs_conn_close(c);
                        return;
                }
                if (c->state == CONN_HELLO) {
                        hello_bytes(c, buf, (size_t)n);
                } else if (!c->accepting && !c->side) {
                        /* raft's servers never write back. */
                        cs_conn_refuse(c, "the server sent data");
                        return;
                } else if (to_raft(c, buf, (size_t)n) != 0) {
                        cs_conn_close(c);
                        return;
                }
        }
        if (c->state != CONN_CLOSING && flush(c) != 0)
                cs_conn_close(c);
}

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
        struct cs_conn *c = s->data;
        if (nread > 0 && c->state != CONN_CLOSING) {
                if (c->t->ops->input(c->ch, buf->base, (size_t)nread) != 0)
                        cs_conn_refuse(c, "out of memory");
                else
                        cs_conn_pump(c);
        } else if (nread < 0 && c->state != CONN_CLOSING) {
                if (c->state != CONN_OPEN)
                        cs_conn_refuse(c, nread == UV_EOF ? "closed during the handshake"
                                                          : uv_strerror((int)nread));
                else if (nread == UV_EOF)
                        conn_drain(c, (uv_stream_t *)&c->pipe);
                else
                        cs_conn_close(c);
        }
}

int cs_conn_start(struct cs_conn *c)
{
        c->ch = c->t->ops->open(c->t->ops->ctx, c->accepting, c->id);
        if (c->ch == NULL)
                return UV_ENOMEM;
        uv_timer_start(&c->timer, on_deadline, CONSENSUS_TRANSPORT_HANDSHAKE_MS, 0);
        return uv_read_start((uv_stream_t *)&c->tcp, alloc_chunk, on_tcp_read);
}
