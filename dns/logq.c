/*
 * logq.c — the bounded queue of the query log and dnstap (see logq.h).
 *
 * Each ring is a single-producer single-consumer queue: the producer fills
 * the slot at `head`, then publishes head + 1 with release order; the
 * writer reads slots up to the head it loads with acquire order and
 * publishes `tail` the same way.  The writer goes round the rings taking
 * what each holds; when all are empty it calls idle (flush), looks at the
 * reopen and stop flags, and sleeps 2 ms.  Stopping sets `stop`; the
 * writer empties every ring once more before it ends.
 */
#include "dns/logq.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDLE_SLEEP_NS 2000000

struct dns_logq_ring {
        _Atomic uint64_t head; /* written by the producer */
        _Atomic uint64_t dropped;
        char pad[64];
        _Atomic uint64_t tail; /* written by the writer */
        size_t mask, entry_size;
        unsigned char *entries;
};

struct dns_logq {
        struct dns_logq_ops ops;
        void *ctx;
        size_t entry_size, queue;
        struct dns_logq_ring *rings[DNS_LOGQ_MAX_RINGS];
        _Atomic unsigned ring_count;
        pthread_t thread;
        atomic_bool stop, reopen;
};

static void bump(_Atomic uint64_t *c)
{
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

void *dns_logq_reserve(struct dns_logq_ring *r)
{
        uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head - tail > r->mask) {
                bump(&r->dropped);
                return NULL;
        }
        return r->entries + (head & r->mask) * r->entry_size;
}

void dns_logq_commit(struct dns_logq_ring *r)
{
        uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

void dns_logq_drop(struct dns_logq_ring *r)
{
        bump(&r->dropped);
}

static void take_reopen(struct dns_logq *q)
{
        if (atomic_load_explicit(&q->reopen, memory_order_relaxed)) {
                atomic_store(&q->reopen, false);
                if (q->ops.reopen != NULL)
                        q->ops.reopen(q->ctx);
        }
}

/* Hands every entry queued in every ring to the writer; returns how many. */
static size_t drain(struct dns_logq *q)
{
        size_t done = 0;
        unsigned n = atomic_load_explicit(&q->ring_count, memory_order_acquire);
        for (unsigned i = 0; i < n; i++) {
                struct dns_logq_ring *r = q->rings[i];
                uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
                uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
                for (; tail != head; tail++, done++) {
                        q->ops.write(q->ctx,
                                     r->entries + (tail & r->mask) * r->entry_size);
                        take_reopen(q);
                }
                atomic_store_explicit(&r->tail, tail, memory_order_release);
        }
        return done;
}

static void *writer(void *arg)
{
        struct dns_logq *q = arg;
        for (;;) {
                bool stopping = atomic_load(&q->stop);
                if (drain(q) > 0)
                        continue;
                if (q->ops.idle != NULL)
                        q->ops.idle(q->ctx);
                take_reopen(q);
                if (stopping)
                        break; /* stop was seen before a drain that found nothing */
                struct timespec ts = {0, IDLE_SLEEP_NS};
                nanosleep(&ts, NULL);
        }
        return NULL;
}

int dns_logq_start(struct dns_logq **out, const struct dns_logq_config *cfg, char *err,
                   size_t err_size)
{
        struct dns_logq *q = calloc(1, sizeof(*q));
        if (q == NULL) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        q->ops = *cfg->ops;
        q->ctx = cfg->ctx;
        q->entry_size = (cfg->entry_size + 7) & ~(size_t)7;
        size_t n = 64;
        while (n < cfg->queue && n < (1u << 24))
                n <<= 1;
        q->queue = n;
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&q->thread, NULL, writer, q);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
                snprintf(err, err_size, "writer thread: %s", strerror(rc));
                free(q);
                return -rc;
        }
        *out = q;
        return 0;
}

struct dns_logq_ring *dns_logq_ring_new(struct dns_logq *q)
{
        unsigned n = atomic_load(&q->ring_count);
        if (n == DNS_LOGQ_MAX_RINGS)
                return NULL;
        struct dns_logq_ring *r = calloc(1, sizeof(*r));
        if (r == NULL)
                return NULL;
        r->entries = malloc(q->queue * q->entry_size);
        if (r->entries == NULL) {
                free(r);
                return NULL;
        }
        r->mask = q->queue - 1;
        r->entry_size = q->entry_size;
        q->rings[n] = r;
        atomic_store_explicit(&q->ring_count, n + 1, memory_order_release);
        return r;
}

void dns_logq_reopen(struct dns_logq *q)
{
        atomic_store(&q->reopen, true);
}

uint64_t dns_logq_dropped(struct dns_logq *q)
{
        uint64_t sum = 0;
        unsigned n = atomic_load_explicit(&q->ring_count, memory_order_acquire);
        for (unsigned i = 0; i < n; i++)
                sum += atomic_load_explicit(&q->rings[i]->dropped, memory_order_relaxed);
        return sum;
}

void dns_logq_stop(struct dns_logq *q)
{
        if (q == NULL)
                return;
        atomic_store(&q->stop, true);
        pthread_join(q->thread, NULL);
        unsigned n = atomic_load(&q->ring_count);
        for (unsigned i = 0; i < n; i++) {
                free(q->rings[i]->entries);
                free(q->rings[i]);
        }
        free(q);
}
