/*
 * server_tcp.c — DNS over TCP, RFC 7766 (see server.h).
 *
 * Each connection owns a read buffer and one timer.  Every complete
 * two-byte-length-prefixed message in the buffer is answered in order
 * (pipelining); answers are queued with uv_write.  The timer holds one of
 * two deadlines: while a message is partly in the buffer, it must complete
 * within message_timeout_ms of its first byte (more bytes do not extend
 * it); with nothing pending, the connection may stay idle_timeout_ms after
 * its last complete message.  A connection that misses its deadline, sends
 * a zero-length message, or stops reading its answers while more than
 * TCP_WRITE_QUEUE_MAX bytes wait, is closed.
 *
 * Connections are kept in order of their last complete message (most
 * recent first).  When a new connection would exceed max_clients in total
 * or max_per_source from its address, the connection of that scope whose
 * last complete message is oldest is closed to make room: a slow or silent
 * client is the one that goes, never one that is being answered.  Each
 * client address has a record in a small hash table (keyed with a random
 * SipHash key) holding its count and its own connections in the same
 * order, so that finding what to close costs O(1) whatever the number of
 * connections.  A connection starts with a small buffer and gets one for
 * the largest message only when a message announces more.
 */
#include "dns/server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dns/rtt.h"
#include "dns/siphash.h"
#include "dns/wire.h"

#define TCP_WRITE_QUEUE_MAX (1u << 20)
#define TCP_BUFFER_MAX      (2 + DNS_TCP_MAX)
#define TCP_BUFFER_SMALL    512
#define TCP_BACKLOG         1024

struct dns_tcp_conn {
        uv_tcp_t handle;
        uv_timer_t timer;
        struct dns_tcp_server *server;
        struct dns_tcp_conn *prev, *next;         /* server's list: most recent first */
        struct dns_tcp_conn *src_prev, *src_next; /* its address's list, same order */
        int32_t source;                           /* record of its address; -1: none */
        struct dns_client_addr addr;
        uint16_t port;         /* the client's, for the query log */
        uint64_t active_ms;    /* accepted or last complete message */
        uint64_t msg_start_ms; /* first byte of the message in the buffer */
        size_t len, cap;
        uint8_t *buf; /* small, or a heap buffer for the largest message */
        unsigned open_handles;
        bool closing;
        bool answered; /* a query was answered: its RTT is measured at close */
        uint8_t small[TCP_BUFFER_SMALL];
};

/* A client address with open connections. */
struct tcp_source {
        struct dns_client_addr addr;
        unsigned count;
        struct dns_tcp_conn *newest, *oldest;
        int32_t next; /* in its bucket's chain, or in the free list */
};

struct dns_tcp_sources {
        uint8_t key[DNS_SIPHASH_KEY_SIZE];
        uint32_t mask;    /* buckets - 1 */
        int32_t *buckets; /* first record of each chain; -1: empty */
        int32_t free;     /* first free record */
        struct tcp_source pool[];
};

struct tcp_write {
        uv_write_t req;
        struct dns_tcp_conn *conn;
        uint8_t data[];
};

static void maybe_server_closed(struct dns_tcp_server *s);

/* ---- client addresses --------------------------------------------------- */

static struct dns_tcp_sources *sources_new(unsigned max_clients)
{
        uint32_t nb = 16;
        while (nb < 2u * max_clients && nb < (1u << 30))
                nb <<= 1;
        unsigned records = max_clients + 2; /* every open one, and the new one */
        struct dns_tcp_sources *t =
            malloc(sizeof(*t) + (size_t)records * sizeof(struct tcp_source));
        if (t == NULL)
                return NULL;
        t->buckets = malloc(nb * sizeof(int32_t));
        if (t->buckets == NULL ||
            getrandom(t->key, sizeof(t->key), 0) != sizeof(t->key)) {
                free(t->buckets);
                free(t);
                return NULL;
        }
        t->mask = nb - 1;
        for (uint32_t i = 0; i < nb; i++)
                t->buckets[i] = -1;
        for (unsigned i = 0; i < records; i++)
                t->pool[i].next = i + 1 < records ? (int32_t)(i + 1) : -1;
        t->free = 0;
        return t;
}

static void sources_free(struct dns_tcp_sources *t)
{
        if (t != NULL)
                free(t->buckets);
        free(t);
}

static uint32_t source_bucket(const struct dns_tcp_sources *t,
                              const struct dns_client_addr *a)
{
        return (uint32_t)dns_siphash24(t->key, a->bytes, sizeof(a->bytes)) & t->mask;
}

static struct tcp_source *source_find(struct dns_tcp_sources *t,
                                      const struct dns_client_addr *a)
{
        for (int32_t i = t->buckets[source_bucket(t, a)]; i >= 0; i = t->pool[i].next)
                if (dns_client_addr_equal(&t->pool[i].addr, a))
                        return &t->pool[i];
        return NULL;
}

/* Adds c (whose addr is set) as the newest connection of its address. */
static void source_attach(struct dns_tcp_sources *t, struct dns_tcp_conn *c)
{
        uint32_t b = source_bucket(t, &c->addr);
        int32_t i = t->buckets[b];
        while (i >= 0 && !dns_client_addr_equal(&t->pool[i].addr, &c->addr))
                i = t->pool[i].next;
        if (i < 0) {
                i = t->free; /* never empty: see sources_new */
                t->free = t->pool[i].next;
                t->pool[i] = (struct tcp_source){.addr = c->addr, .next = t->buckets[b]};
                t->buckets[b] = i;
        }
        struct tcp_source *src = &t->pool[i];
        c->source = i;
        c->src_prev = NULL;
        c->src_next = src->newest;
        if (src->newest)
                src->newest->src_prev = c;
        else
                src->oldest = c;
        src->newest = c;
        src->count++;
}

static void source_detach(struct dns_tcp_sources *t, struct dns_tcp_conn *c)
{
        if (c->source < 0)
                return;
        struct tcp_source *src = &t->pool[c->source];
        if (c->src_prev)
                c->src_prev->src_next = c->src_next;
        else
                src->newest = c->src_next;
        if (c->src_next)
                c->src_next->src_prev = c->src_prev;
        else
                src->oldest = c->src_prev;
        if (--src->count == 0) {
                int32_t *link = &t->buckets[source_bucket(t, &src->addr)];
                while (*link != c->source)
                        link = &t->pool[*link].next;
                *link = src->next;
                src->next = t->free;
                t->free = c->source;
        }
        c->source = -1;
}

/* ---- connections -------------------------------------------------------- */

static void list_unlink(struct dns_tcp_server *s, struct dns_tcp_conn *c)
{
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                s->conns_tail = c->prev;
        c->prev = c->next = NULL;
}

static void list_push_front(struct dns_tcp_server *s, struct dns_tcp_conn *c)
{
        c->prev = NULL;
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        else
                s->conns_tail = c;
        s->conns = c;
}

/* A complete message: c becomes the most recently active in both lists. */
static void conn_touch(struct dns_tcp_conn *c)
{
        struct dns_tcp_server *s = c->server;
        list_unlink(s, c);
        list_push_front(s, c);
        source_detach(s->sources, c);
        source_attach(s->sources, c);
}

static void conn_handle_closed(uv_handle_t *handle)
{
        struct dns_tcp_conn *c = handle->data;
        if (--c->open_handles > 0)
                return;
        struct dns_tcp_server *s = c->server;
        if (c->buf != c->small)
                free(c->buf);
        free(c);
        s->allocated--;
        maybe_server_closed(s);
}

/* The kernel's smoothed RTT of the connection into the latency
 * measurements: once per connection that carried a query, at its close. */
static void measure_rtt(struct dns_tcp_conn *c)
{
        struct dns_tcp_server *s = c->server;
        uv_os_fd_t fd;
        struct tcp_info info;
        socklen_t len = sizeof(info);
        if (!c->answered || s->limits.rtt == NULL ||
            uv_fileno((uv_handle_t *)&c->handle, &fd) != 0)
                return;
        memset(&info, 0, sizeof(info));
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
            len >= offsetof(struct tcp_info, tcpi_rttvar))
                dns_rtt_record(s->limits.rtt, &c->addr, info.tcpi_rtt);
}

/* Closes c; it leaves the lists (and the counts) at once. */
static void conn_close(struct dns_tcp_conn *c)
{
        if (c->closing)
                return;
        struct dns_tcp_server *s = c->server;
        measure_rtt(c);
        c->closing = true;
        if (c->source >= 0) { /* in the lists (not when accept failed) */
                list_unlink(s, c);
                source_detach(s->sources, c);
                s->clients--;
        }
        uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
        uv_close((uv_handle_t *)&c->handle, conn_handle_closed);
}

static void on_timer(uv_timer_t *timer)
{
        struct dns_tcp_conn *c = timer->data;
        if (c->len > 0)
                c->server->stats.message_timeouts++;
        else
                c->server->stats.idle_timeouts++;
        conn_close(c);
}

/* Arms the one deadline that applies now (see the top of the file). */
static void arm_deadline(struct dns_tcp_conn *c)
{
        const struct dns_tcp_server *s = c->server;
        uint64_t now = uv_now(s->loop);
        uint64_t due = c->len > 0 ? c->msg_start_ms + s->limits.message_timeout_ms
                                  : c->active_ms + s->limits.idle_timeout_ms;
        uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
        struct dns_tcp_conn *c = handle->data;
        if (c->buf == c->small &&
            (c->len == c->cap || (c->len >= 2 && 2u + wire_get16(c->buf) > c->cap))) {
                uint8_t *big = malloc(TCP_BUFFER_MAX);
                if (big == NULL) {
                        *buf = uv_buf_init(NULL, 0); /* UV_ENOBUFS: closed */
                        return;
                }
                memcpy(big, c->small, c->len);
                c->buf = big;
                c->cap = TCP_BUFFER_MAX;
        }
        buf->base = (char *)c->buf + c->len;
        buf->len = c->cap - c->len;
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

/* Queues one query, wire[0..len), for the query log (dns/qlog.h) and
 * dnstap (dns/dnstap.h), each when on. */
static void log_query(struct dns_tcp_conn *c, const struct dns_query *q,
                      enum dns_parse_status st, const uint8_t *wire, size_t len, size_t n,
                      uint64_t received)
{
        struct dns_tcp_server *s = c->server;
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        uint64_t wall_ns = (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec;
        uint64_t elapsed = uv_hrtime() - received;
        if (s->qlog != NULL)
                dns_qlog_record(s->qlog, q, st, s->scratch + 2, n, DNS_TRANSPORT_TCP,
                                &c->addr, c->port, wall_ns, elapsed);
        if (s->dnstap != NULL && (st != DNS_PARSE_DROP || n > 0))
                dns_dnstap_record(s->dnstap, wire, len, s->scratch + 2, n, 1, &c->addr,
                                  c->port, wall_ns, elapsed);
}

/* Answers every complete message in the buffer; returns how many. */
static unsigned process(struct dns_tcp_conn *c)
{
        struct dns_tcp_server *s = c->server;
        size_t pos = 0;
        unsigned done = 0;
        while (!c->closing && c->len - pos >= 2) {
                size_t msg = wire_get16(c->buf + pos);
                if (msg == 0) {
                        conn_close(c);
                        return done;
                }
                if (c->len - pos < 2 + msg)
                        break;
                done++;
                uint64_t received = uv_hrtime();
                const struct dns_catalog *catalog = dns_db_current(s->db);
                struct dns_query q;
                enum dns_parse_status st = dns_query_parse(&q, c->buf + pos + 2, msg);
                if (st == DNS_PARSE_OK)
                        dns_query_locate(&q, &c->addr, s->limits.ecs);
                if (s->limits.cookies != NULL && q.cookie != NULL &&
                    (st == DNS_PARSE_OK || st == DNS_PARSE_BADVERS ||
                     st == DNS_PARSE_NOQUESTION)) {
                        /* Over TCP the address is proven: no BADCOOKIE. */
                        struct dns_cookie_keys keys;
                        dns_cookie_secrets_load(s->limits.cookies, &keys);
                        dns_cookie_answer(&keys, &q, &c->addr, (uint32_t)time(NULL));
                }
                size_t n =
                    dns_answer_parsed(catalog, &q, st, DNS_TRANSPORT_TCP, s->scratch + 2,
                                      s->rotation++, &s->stats.answers);
                dns_metrics_count(s->metrics, DNS_TRANSPORT_TCP, &q, st, s->scratch + 2,
                                  n);
                dns_metrics_time(s->metrics, DNS_TRANSPORT_TCP, uv_hrtime() - received,
                                 1);
                if (s->qlog != NULL || s->dnstap != NULL)
                        log_query(c, &q, st, c->buf + pos + 2, msg, n, received);
                pos += 2 + msg;
                if (n == 0)
                        continue;
                c->answered = true;
                struct tcp_write *w = malloc(sizeof(*w) + 2 + n);
                if (w == NULL) {
                        conn_close(c);
                        return done;
                }
                w->conn = c;
                wire_put16(w->data, (uint16_t)n);
                memcpy(w->data + 2, s->scratch + 2, n);
                uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(2 + n));
                if (uv_write(&w->req, (uv_stream_t *)&c->handle, &b, 1, on_written) !=
                    0) {
                        free(w);
                        conn_close(c);
                        return done;
                }
        }
        if (pos > 0) {
                memmove(c->buf, c->buf + pos, c->len - pos);
                c->len -= pos;
        }
        if (!c->closing && c->handle.write_queue_size >= TCP_WRITE_QUEUE_MAX)
                uv_read_stop((uv_stream_t *)&c->handle);
        return done;
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
        uint64_t now = uv_now(c->server->loop);
        if (c->len == 0)
                c->msg_start_ms = now;
        c->len += (size_t)nread;
        if (process(c) > 0 && !c->closing) {
                c->active_ms = now;
                c->msg_start_ms = now; /* a partial message left began now */
                conn_touch(c);
        }
        if (!c->closing)
                arm_deadline(c);
}

static void evict(struct dns_tcp_conn *victim, uint64_t *counter)
{
        (*counter)++;
        conn_close(victim);
}

/* Makes room for a connection from addr under both caps, closing the least
 * recently active connection of each scope that is full. */
static void make_room(struct dns_tcp_server *s, const struct dns_client_addr *addr)
{
        struct tcp_source *src = source_find(s->sources, addr);
        if (src != NULL && src->count >= s->limits.max_per_source)
                evict(src->oldest, &s->stats.evicted_per_source);
        if (s->clients >= s->limits.max_clients && s->conns_tail != NULL)
                evict(s->conns_tail, &s->stats.evicted_total);
}

#ifdef QDNS_FAULT_HOOKS
/* Test builds: QDNS_FAULT_TCP_NOMEM=N fails the first N allocations of a
 * connection, as if malloc had (one that waited is allocated again). */
static bool fault_conn_nomem(void)
{
        static long left = -1;
        if (left < 0) {
                const char *env = getenv("QDNS_FAULT_TCP_NOMEM");
                left = env != NULL ? strtol(env, NULL, 10) : 0;
                if (left < 0)
                        left = 0;
        }
        return left > 0 && left-- > 0;
}
#endif

static struct dns_tcp_conn *conn_alloc(void)
{
#ifdef QDNS_FAULT_HOOKS
        if (fault_conn_nomem())
                return NULL;
#endif
        return malloc(sizeof(struct dns_tcp_conn));
}

static void on_connection(uv_stream_t *listener, int status);

/* Takes the connection libuv holds for the listener into `client`.  When
 * that fails libuv has closed it but does not watch the listener again
 * (unix/stream.c: only a uv_accept that worked does); listening again does. */
static int take(struct dns_tcp_server *s, uv_tcp_t *client)
{
        int rc = uv_accept((uv_stream_t *)s->listener, (uv_stream_t *)client);
        if (rc != 0)
                (void)uv_listen((uv_stream_t *)s->listener, TCP_BACKLOG, on_connection);
        return rc;
}

static void refused_closed(uv_handle_t *handle)
{
        struct dns_tcp_server *s = handle->data;
        s->refusing = false;
        if (s->refusal_waiting) {
                s->refusal_waiting = false;
                if (!s->closing)
                        on_connection((uv_stream_t *)s->listener, 0);
        }
        maybe_server_closed(s);
}

/* A connection there is no memory for is still taken from libuv and closed
 * at once: until uv_accept takes it, libuv stops watching the listener, and
 * no other connection would ever be accepted.  The server's own handle does
 * that; while it closes one, the next waits in libuv and is taken when the
 * close ends (the listener is watched again from there). */
static void refuse(struct dns_tcp_server *s)
{
        if (s->refusing) {
                s->refusal_waiting = true;
                return;
        }
        s->stats.refused++;
        s->refusing = true;
        uv_tcp_init(s->loop, &s->refuse);
        s->refuse.data = s;
        (void)take(s, &s->refuse);
        uv_close((uv_handle_t *)&s->refuse, refused_closed);
}

static void on_connection(uv_stream_t *listener, int status)
{
        struct dns_tcp_server *s = listener->data;
        if (s->closing)
                return;
        /* Refused: its accept failed (libuv closes what it cannot accept
         * for want of descriptors before it calls here), or no memory for
         * it.  The caps make room by closing the least active connection
         * instead (make_room below). */
        if (status < 0) {
                s->stats.refused++;
                return;
        }
        struct dns_tcp_conn *c = conn_alloc();
        if (c == NULL) {
                refuse(s);
                return;
        }
        memset(c, 0, offsetof(struct dns_tcp_conn, small));
        c->server = s;
        c->source = -1;
        c->buf = c->small;
        c->cap = sizeof(c->small);
        uv_tcp_init(s->loop, &c->handle);
        uv_timer_init(s->loop, &c->timer);
        c->handle.data = c;
        c->timer.data = c;
        c->open_handles = 2;
        s->allocated++;
        struct sockaddr_storage peer;
        int plen = sizeof(peer);
        if (take(s, &c->handle) != 0 ||
            uv_tcp_getpeername(&c->handle, (struct sockaddr *)&peer, &plen) != 0) {
                s->stats.refused++;
                conn_close(c);
                return;
        }
        dns_client_addr_set(&c->addr, (struct sockaddr *)&peer);
        c->port =
            ntohs(peer.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&peer)->sin6_port
                                             : ((struct sockaddr_in *)&peer)->sin_port);
        make_room(s, &c->addr);
        list_push_front(s, c);
        source_attach(s->sources, c);
        s->clients++;
        s->stats.accepted++;
        c->active_ms = uv_now(s->loop);
        uv_tcp_nodelay(&c->handle, 1);
        arm_deadline(c);
        uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
}

static void free_handle(uv_handle_t *handle)
{
        free(handle);
}

int dns_tcp_server_start(struct dns_tcp_server *s, uv_loop_t *loop,
                         const struct sockaddr *addr, struct dns_db *db,
                         const struct dns_tcp_limits *limits, char *err, size_t err_size)
{
        memset(s, 0, sizeof(*s));
        s->loop = loop;
        s->db = db;
        s->limits = *limits;
        s->scratch = malloc(2 + DNS_TCP_MAX);
        s->sources = sources_new(limits->max_clients);
        s->metrics = calloc(1, sizeof(*s->metrics));
        if (limits->qlog != NULL && s->metrics != NULL)
                s->qlog = dns_qlog_ring_new(limits->qlog);
        if (limits->dnstap != NULL && s->metrics != NULL)
                s->dnstap = dns_dnstap_ring_new(limits->dnstap, addr);
        if (s->scratch == NULL || s->sources == NULL || s->metrics == NULL ||
            (limits->qlog != NULL && s->qlog == NULL) ||
            (limits->dnstap != NULL && s->dnstap == NULL)) {
                snprintf(err, err_size, "out of memory");
                free(s->scratch);
                free(s->metrics);
                s->metrics = NULL;
                sources_free(s->sources);
                s->scratch = NULL;
                s->sources = NULL;
                return -ENOMEM;
        }
        s->listener = malloc(sizeof(*s->listener));
        int rc = s->listener != NULL ? uv_tcp_init_ex(loop, s->listener, addr->sa_family)
                                     : UV_ENOMEM;
        if (rc != 0) {
                free(s->listener);
                s->listener = NULL;
        } else {
                s->listener->data = s;
                unsigned flags = addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
                rc = uv_tcp_bind(s->listener, addr, flags);
                if (rc == 0)
                        rc = uv_listen((uv_stream_t *)s->listener, TCP_BACKLOG,
                                       on_connection);
        }
        if (rc != 0) {
                /* The listener is the only handle; it no longer points to s,
                 * and its close callback frees it: s owns nothing that is
                 * still in use. */
                snprintf(err, err_size, "TCP: %s", uv_strerror(rc));
                if (s->listener != NULL) {
                        s->listener->data = NULL;
                        uv_close((uv_handle_t *)s->listener, free_handle);
                        s->listener = NULL;
                }
                free(s->scratch);
                s->scratch = NULL;
                free(s->metrics);
                s->metrics = NULL;
                sources_free(s->sources);
                s->sources = NULL;
                return rc;
        }
        return 0;
}

static void listener_closed(uv_handle_t *handle)
{
        struct dns_tcp_server *s = handle->data;
        free(handle);
        s->listener = NULL;
        maybe_server_closed(s);
}

static void maybe_server_closed(struct dns_tcp_server *s)
{
        if (!s->closing || s->allocated > 0 || s->listener != NULL || s->refusing)
                return;
        free(s->scratch);
        s->scratch = NULL;
        free(s->metrics);
        s->metrics = NULL;
        sources_free(s->sources);
        s->sources = NULL;
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
        while (s->conns != NULL)
                conn_close(s->conns);
        uv_close((uv_handle_t *)s->listener, listener_closed);
}
