/*
 * forward_pool.c — the pools of kept side channels of node_forward_pooled
 * (see forward.h): a channel answered in full goes back to its pool's idle
 * list (most recently used first, at most NODE_FORWARD_POOL_IDLE), where
 * it is read so that the peer's close (its idle timeout, its stop) or any
 * byte it sends closes it; an exchange takes the most recently used one
 * idle for less than the pool's limit (from the peers' API idle timeout,
 * node_forward_pool_idle_ms) and closes older ones.  A pool is freed once
 * closed and its last channel and exchange are gone (users).  The
 * exchanges themselves are forward.c's.
 */
#include "node/forward.h"
#include "node/forward_priv.h"

#include <stdlib.h>

void node_forward_pool_put(struct node_forward_pool *p)
{
        if (--p->users > 0 || !p->closing)
                return;
        void (*cb)(void *) = p->closed_cb;
        void *arg = p->closed_arg;
        free(p);
        if (cb != NULL)
                cb(arg);
}

struct channel *node_forward_channel_new(struct node_forward_pool *p)
{
        struct channel *ch = calloc(1, sizeof(*ch));
        if (ch == NULL)
                return NULL;
        ch->pool = p;
        p->users++;
        uv_pipe_init(p->loop, &ch->pipe, 0);
        return ch;
}

static void on_channel_closed(uv_handle_t *handle)
{
        struct channel *ch = (struct channel *)handle;
        struct exchange *x = ch->x;
        struct node_forward_pool *p = ch->pool;
        free(ch);
        node_forward_pool_put(p);
        if (x != NULL)
                node_forward_exchange_handle_gone(x);
}

void node_forward_channel_close(struct channel *ch, struct exchange *x)
{
        ch->x = x;
        ch->pipe.data = ch;
        uv_close((uv_handle_t *)&ch->pipe, on_channel_closed);
}

static void idle_unlink(struct channel *ch)
{
        struct node_forward_pool *p = ch->pool;
        for (struct channel **c = &p->idle; *c != NULL; c = &(*c)->next)
                if (*c == ch) {
                        *c = ch->next;
                        p->n_idle--;
                        break;
                }
        ch->next = NULL;
        uv_read_stop((uv_stream_t *)&ch->pipe);
}

static void on_idle_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
        struct channel *ch = handle->data;
        *buf = uv_buf_init(ch->spare, sizeof(ch->spare));
}

/* An idle channel has nothing to read: the peer closed it (its idle
 * timeout, its stop) or broke the protocol. */
static void on_idle_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
        struct channel *ch = stream->data;
        if (nread == 0)
                return;
        idle_unlink(ch);
        node_forward_channel_close(ch, NULL);
}

/* Back to the pool's idle list; false when the pool keeps enough (or
 * closes): the caller closes it. */
bool node_forward_channel_idle(struct channel *ch)
{
        struct node_forward_pool *p = ch->pool;
        if (p->closing || p->n_idle >= NODE_FORWARD_POOL_IDLE)
                return false;
        uv_read_stop((uv_stream_t *)&ch->pipe);
        ch->pipe.data = ch;
        ch->x = NULL;
        if (uv_read_start((uv_stream_t *)&ch->pipe, on_idle_alloc, on_idle_read) != 0)
                return false;
        ch->idle_since = uv_now(p->loop);
        ch->next = p->idle;
        p->idle = ch;
        p->n_idle++;
        return true;
}

/* The most recently used idle channel that is young enough, or NULL. */
struct channel *node_forward_channel_take(struct node_forward_pool *p)
{
        uint64_t now = uv_now(p->loop);
        while (p->idle != NULL) {
                struct channel *ch = p->idle;
                idle_unlink(ch);
                if (now - ch->idle_since < p->idle_ms)
                        return ch;
                node_forward_channel_close(ch, NULL);
        }
        return NULL;
}

unsigned node_forward_pool_idle_ms(unsigned api_idle_ms)
{
        unsigned ms = api_idle_ms / 3 * 2;
        return ms < NODE_FORWARD_POOL_IDLE_MS ? ms : NODE_FORWARD_POOL_IDLE_MS;
}

struct node_forward_pool *node_forward_pool_new(uv_loop_t *loop,
                                                node_forward_connect_fn connect,
                                                void *connect_ctx, unsigned idle_ms)
{
        struct node_forward_pool *p = calloc(1, sizeof(*p));
        if (p == NULL)
                return NULL;
        p->idle_ms = idle_ms;
        p->loop = loop;
        p->connect = connect;
        p->connect_ctx = connect_ctx;
        return p;
}

unsigned node_forward_pool_idle(const struct node_forward_pool *p)
{
        return p->n_idle;
}

unsigned node_forward_pool_close(struct node_forward_pool *p,
                                 void (*closed_cb)(void *arg), void *arg)
{
        p->closing = true;
        while (p->idle != NULL) {
                struct channel *ch = p->idle;
                idle_unlink(ch);
                node_forward_channel_close(ch, NULL);
        }
        if (p->users == 0) {
                free(p);
                return 0;
        }
        p->closed_cb = closed_cb;
        p->closed_arg = arg;
        return p->users;
}
