/*
 * server_tcp.c — DNS over TCP, RFC 7766 (see server.h).
 *
 * Each connection owns a read buffer and an idle timer.  Every complete
 * two-byte-length-prefixed message in the buffer is answered in order
 * (pipelining); answers are queued with uv_write.  A connection that sends
 * nothing for idle_timeout_ms, sends a zero-length message, or stops reading
 * its answers while more than TCP_WRITE_QUEUE_MAX bytes wait, is closed.
 */
#include "dns/server.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/wire.h"

#define TCP_WRITE_QUEUE_MAX (1u << 20)
#define TCP_BUFFER_MAX      (2 + DNS_TCP_MAX)

struct dns_tcp_conn {
        uv_tcp_t handle;
        uv_timer_t idle;
        struct dns_tcp_server *server;
        struct dns_tcp_conn *prev, *next;
        size_t len;
        unsigned open_handles;
        bool closing;
        uint8_t buf[TCP_BUFFER_MAX]; /* last: not cleared on accept */
};

struct tcp_write {
        uv_write_t req;
        struct dns_tcp_conn *conn;
        uint8_t data[];
};

static void maybe_server_closed(struct dns_tcp_server *s);

static void conn_handle_closed(uv_handle_t *handle)
{
        struct dns_tcp_conn *c = handle->data;
        if (--c->open_handles > 0)
                return;
        struct dns_tcp_server *s = c->server;
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->clients--;
        free(c);
        maybe_server_closed(s);
}

static void conn_close(struct dns_tcp_conn *c)
{
        if (c->closing)
                return;
        c->closing = true;
        uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
        uv_close((uv_handle_t *)&c->handle, conn_handle_closed);
}

static void on_idle(uv_timer_t *timer)
{
        conn_close(timer->data);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
        struct dns_tcp_conn *c = handle->data;
        buf->base = (char *)c->buf + c->len;
        buf->len = sizeof(c->buf) - c->len;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Reading stops while the client leaves too many answers unread. */
static void resume_reading(struct dns_tcp_conn *c)
{
        if (!c->closing && c->handle.write_queue_size < TCP_WRITE_QUEUE_MAX / 2 &&
            !uv_is_active((uv_handle_t *)&c->handle))
                uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
}

static void on_written(uv_write_t *req, int status)
{
        struct tcp_write *w = (struct tcp_write *)req;
        struct dns_tcp_conn *c = w->conn;
        free(w);
        if (status < 0)
                conn_close(c);
        else
                resume_reading(c);
}

/* Answers every complete message in the buffer. */
static void process(struct dns_tcp_conn *c)
{
        struct dns_tcp_server *s = c->server;
        size_t pos = 0;
        while (!c->closing && c->len - pos >= 2) {
                size_t msg = wire_get16(c->buf + pos);
                if (msg == 0) {
                        conn_close(c);
                        return;
                }
                if (c->len - pos < 2 + msg)
                        break;
                const struct dns_catalog *catalog = dns_db_current(s->db);
                size_t n = dns_answer(catalog, c->buf + pos + 2, msg, DNS_TRANSPORT_TCP,
                                      s->scratch + 2, s->rotation++, &s->stats);
                pos += 2 + msg;
                if (n == 0)
                        continue;
                struct tcp_write *w = malloc(sizeof(*w) + 2 + n);
                if (w == NULL) {
                        conn_close(c);
                        return;
                }
                w->conn = c;
                wire_put16(w->data, (uint16_t)n);
                memcpy(w->data + 2, s->scratch + 2, n);
                uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(2 + n));
                if (uv_write(&w->req, (uv_stream_t *)&c->handle, &b, 1, on_written) !=
                    0) {
                        free(w);
                        conn_close(c);
                        return;
                }
        }
        if (pos > 0) {
                memmove(c->buf, c->buf + pos, c->len - pos);
                c->len -= pos;
        }
        if (!c->closing && c->handle.write_queue_size >= TCP_WRITE_QUEUE_MAX)
                uv_read_stop((uv_stream_t *)&c->handle);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
        struct dns_tcp_conn *c = stream->data;
        if (nread < 0) {
                conn_close(c);
                return;
        }
        if (nread == 0)
                return;
        c->len += (size_t)nread;
        uv_timer_again(&c->idle);
        process(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
        struct dns_tcp_server *s = listener->data;
        if (status < 0 || s->closing)
                return;
        struct dns_tcp_conn *c = malloc(sizeof(*c));
        if (c == NULL)
                return;
        memset(c, 0, offsetof(struct dns_tcp_conn, buf));
        c->server = s;
        uv_tcp_init(s->loop, &c->handle);
        uv_timer_init(s->loop, &c->idle);
        c->handle.data = c;
        c->idle.data = c;
        c->open_handles = 2;
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        s->clients++;
        if (uv_accept(listener, (uv_stream_t *)&c->handle) != 0 ||
            s->clients > s->max_clients) {
                conn_close(c);
                return;
        }
        uv_tcp_nodelay(&c->handle, 1);
        uv_timer_start(&c->idle, on_idle, s->idle_timeout_ms, s->idle_timeout_ms);
        uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
}

int dns_tcp_server_start(struct dns_tcp_server *s, uv_loop_t *loop,
                         const struct sockaddr *addr, struct dns_db *db,
                         unsigned idle_timeout_ms, unsigned max_clients, char *err,
                         size_t err_size)
{
        memset(s, 0, sizeof(*s));
        s->loop = loop;
        s->db = db;
        s->idle_timeout_ms = idle_timeout_ms;
        s->max_clients = max_clients;
        s->scratch = malloc(2 + DNS_TCP_MAX);
        if (s->scratch == NULL) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        uv_tcp_init_ex(loop, &s->listener, addr->sa_family);
        s->listener.data = s;
        unsigned flags = addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
        int rc = uv_tcp_bind(&s->listener, addr, flags);
        if (rc == 0)
                rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
        if (rc != 0) {
                snprintf(err, err_size, "TCP: %s", uv_strerror(rc));
                s->closing = true;
                uv_close((uv_handle_t *)&s->listener, NULL);
                free(s->scratch);
                s->scratch = NULL;
                return rc;
        }
        return 0;
}

static void listener_closed(uv_handle_t *handle)
{
        struct dns_tcp_server *s = handle->data;
        s->listener.data = NULL;
        maybe_server_closed(s);
}

static void maybe_server_closed(struct dns_tcp_server *s)
{
        if (!s->closing || s->conns != NULL || s->listener.data != NULL)
                return;
        free(s->scratch);
        s->scratch = NULL;
        if (s->close_cb != NULL) {
                void (*cb)(struct dns_tcp_server *) = s->close_cb;
                s->close_cb = NULL;
                cb(s);
        }
}

void dns_tcp_server_close(struct dns_tcp_server *s,
                          void (*close_cb)(struct dns_tcp_server *server))
{
        s->closing = true;
        s->close_cb = close_cb;
        for (struct dns_tcp_conn *c = s->conns; c != NULL; c = c->next)
                conn_close(c);
        uv_close((uv_handle_t *)&s->listener, listener_closed);
}
