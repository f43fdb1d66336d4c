/*
 * poll.c — applied-index polls over long-lived side channels (see poll.h).
 *
 * Asking side, per peer: CLOSED → (side_connect) CONNECTING → OPEN; in OPEN
 * a question is one byte written and `waiting` set until 8 bytes came back.
 * A channel that ends, fails or leaves a question unanswered for
 * STALE_MS is closed and opened again on a later ask, no sooner than
 * RETRY_MS after the last attempt.  Closing while a connect is under way
 * waits for its callback (which closes what it brings) before freeing.
 *
 * Answering side: every read, of any size, gets one 8-byte answer; the
 * channel closes when the asker closes it.
 */
#include "node/poll.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define RETRY_MS 1000
#define STALE_MS 2000

enum poll_state { POLL_CLOSED, POLL_CONNECTING, POLL_OPEN, POLL_CLOSING };

struct node_poller {
        uv_loop_t *loop;
        struct raft_uv_transport *transport;
        uint64_t peer;
        char raft[64];
        node_poll_cb cb;
        void *ctx;
        enum poll_state state;
        bool freeing; /* node_poller_close was called */
        bool waiting; /* a question is unanswered */
        uint64_t asked_ms, tried_ms;
        uv_pipe_t pipe;
        unsigned char answer[8];
        size_t got;
};

struct small_write {
        uv_write_t req;
        unsigned char data[8];
};

static void on_written(uv_write_t *req, int status)
{
        free(req);
}

static int write_bytes(uv_stream_t *s, const void *data, size_t len)
{
        struct small_write *w = malloc(sizeof(*w));
        if (w == NULL)
                return -ENOMEM;
        memcpy(w->data, data, len);
        uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
        int rc = uv_write(&w->req, s, &b, 1, on_written);
        if (rc != 0)
                free(w);
        return rc;
}

static void on_pipe_closed(uv_handle_t *h)
{
        struct node_poller *p = h->data;
        p->state = POLL_CLOSED;
        if (p->freeing)
                free(p);
}

static void drop(struct node_poller *p)
{
        if (p->state != POLL_OPEN)
                return;
        p->state = POLL_CLOSING;
        p->waiting = false;
        uv_close((uv_handle_t *)&p->pipe, on_pipe_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct node_poller *p = h->data;
        buf->base = (char *)p->answer + p->got;
        buf->len = sizeof(p->answer) - p->got;
}

static void on_answer(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct node_poller *p = s->data;
        if (n < 0) {
                LOG_DEBUG("poll: node %llu: %s", (unsigned long long)p->peer,
                          uv_strerror((int)n));
                drop(p);
                p->cb(p->ctx, p->peer, 0, (int)n);
                return;
        }
        p->got += (size_t)n;
        if (p->got < sizeof(p->answer))
                return;
        p->got = 0;
        if (!p->waiting) { /* never asked: not a peer that plays by the rules */
                drop(p);
                return;
        }
        p->waiting = false;
        uint64_t applied = 0;
        for (int i = 7; i >= 0; i--)
                applied = (applied << 8) | p->answer[i];
        p->cb(p->ctx, p->peer, applied, 0);
}

static void on_connected(void *ctx, int status, raft_id peer, int fd)
{
        struct node_poller *p = ctx;
        p->state = POLL_CLOSED;
        if (status != 0 || p->freeing) {
                if (fd >= 0)
                        close(fd);
                if (p->freeing)
                        free(p);
                else
                        p->cb(p->ctx, p->peer, 0, status != 0 ? status : -EIO);
                return;
        }
        uv_pipe_init(p->loop, &p->pipe, 0);
        p->pipe.data = p;
        p->got = 0;
        p->waiting = false;
        if (uv_pipe_open(&p->pipe, fd) != 0) {
                close(fd);
                p->state = POLL_CLOSING;
                uv_close((uv_handle_t *)&p->pipe, on_pipe_closed);
                return;
        }
        p->state = POLL_OPEN;
        uv_read_start((uv_stream_t *)&p->pipe, on_alloc, on_answer);
        node_poller_ask(p);
}

struct node_poller *node_poller_new(uv_loop_t *loop, struct raft_uv_transport *t,
                                    uint64_t peer, const char *raft, node_poll_cb cb,
                                    void *ctx)
{
        struct node_poller *p = calloc(1, sizeof(*p));
        if (p == NULL)
                return NULL;
        p->loop = loop;
        p->transport = t;
        p->peer = peer;
        p->cb = cb;
        p->ctx = ctx;
        node_poller_set_address(p, raft);
        return p;
}

void node_poller_set_address(struct node_poller *p, const char *raft)
{
        if (strcmp(p->raft, raft) == 0)
                return;
        snprintf(p->raft, sizeof(p->raft), "%s", raft);
        drop(p);
}

void node_poller_ask(struct node_poller *p)
{
        uint64_t now = uv_now(p->loop);
        if (p->state == POLL_OPEN && p->waiting && now - p->asked_ms > STALE_MS)
                drop(p);
        if (p->state == POLL_CLOSED && p->raft[0] != '\0' &&
            (p->tried_ms == 0 || now - p->tried_ms >= RETRY_MS)) {
                p->tried_ms = now;
                if (consensus_transport_side_connect(p->transport, NODE_SIDE_POLL,
                                                     p->peer, p->raft, on_connected,
                                                     p) == 0)
                        p->state = POLL_CONNECTING;
                return;
        }
        if (p->state != POLL_OPEN || p->waiting)
                return;
        unsigned char q = '?';
        if (write_bytes((uv_stream_t *)&p->pipe, &q, 1) != 0) {
                drop(p);
                return;
        }
        p->waiting = true;
        p->asked_ms = now;
}

void node_poller_close(struct node_poller *p)
{
        if (p == NULL)
                return;
        p->freeing = true;
        if (p->state == POLL_OPEN)
                drop(p);
        else if (p->state == POLL_CLOSED)
                free(p);
        /* CONNECTING or CLOSING: freed by the callback under way. */
}

/* ---- answering ---------------------------------------------------------- */

struct node_poll_server {
        uv_pipe_t pipe;
        uint64_t (*applied)(void *ctx);
        void *ctx;
        struct node_poll_server **list, *prev, *next;
        char scratch[64];
};

static void on_server_closed(uv_handle_t *h)
{
        struct node_poll_server *s = (struct node_poll_server *)h;
        if (s->prev != NULL)
                s->prev->next = s->next;
        else if (s->list != NULL && *s->list == s)
                *s->list = s->next;
        if (s->next != NULL)
                s->next->prev = s->prev;
        free(s);
}

static void server_close(struct node_poll_server *s)
{
        if (!uv_is_closing((uv_handle_t *)&s->pipe))
                uv_close((uv_handle_t *)&s->pipe, on_server_closed);
}

void node_poll_serve_close_all(struct node_poll_server **list)
{
        for (struct node_poll_server *s = *list; s != NULL; s = s->next)
                server_close(s);
}

static void on_server_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct node_poll_server *s = (struct node_poll_server *)h;
        buf->base = s->scratch;
        buf->len = sizeof(s->scratch);
}

static void on_question(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
        struct node_poll_server *s = (struct node_poll_server *)stream;
        if (n < 0) {
                server_close(s);
                return;
        }
        if (n == 0)
                return;
        uint64_t v = s->applied(s->ctx);
        unsigned char out[8];
        for (int i = 0; i < 8; i++)
                out[i] = (unsigned char)(v >> (8 * i));
        if (write_bytes(stream, out, sizeof(out)) != 0)
                server_close(s);
}

void node_poll_serve(uv_loop_t *loop, int fd, uint64_t (*applied)(void *ctx), void *ctx,
                     struct node_poll_server **list)
{
        struct node_poll_server *s = calloc(1, sizeof(*s));
        if (s == NULL) {
                close(fd);
                return;
        }
        s->applied = applied;
        s->ctx = ctx;
        uv_pipe_init(loop, &s->pipe, 0);
        if (uv_pipe_open(&s->pipe, fd) != 0) {
                close(fd);
                uv_close((uv_handle_t *)&s->pipe, (uv_close_cb)free);
                return;
        }
        s->list = list;
        s->next = *list;
        if (s->next != NULL)
                s->next->prev = s;
        *list = s;
        uv_read_start((uv_stream_t *)&s->pipe, on_server_alloc, on_question);
}
