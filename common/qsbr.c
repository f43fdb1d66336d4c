/*
 * qsbr.c — grace periods for readers on other threads (see qsbr.h).
 *
 * The epoch starts at 1 so that 0 can mean "offline".  synchronize moves
 * the epoch on and waits until every reader is offline or has seen the new
 * epoch: a reader that saw it came online after the new version was
 * published (the publish happens before the increment), so it cannot hold
 * the old one.
 */
#include "common/qsbr.h"

#include <sched.h>

void qsbr_init(struct qsbr *q)
{
        atomic_init(&q->epoch, 1);
        pthread_mutex_init(&q->lock, NULL);
        q->readers = NULL;
}

void qsbr_fini(struct qsbr *q)
{
        pthread_mutex_destroy(&q->lock);
}

void qsbr_register(struct qsbr *q, struct qsbr_reader *reader)
{
        atomic_init(&reader->seen, 0);
        pthread_mutex_lock(&q->lock);
        reader->next = q->readers;
        q->readers = reader;
        pthread_mutex_unlock(&q->lock);
}

void qsbr_unregister(struct qsbr *q, struct qsbr_reader *reader)
{
        pthread_mutex_lock(&q->lock);
        for (struct qsbr_reader **p = &q->readers; *p != NULL; p = &(*p)->next) {
                if (*p == reader) {
                        *p = reader->next;
                        break;
                }
        }
        pthread_mutex_unlock(&q->lock);
}

void qsbr_synchronize(struct qsbr *q)
{
        uint64_t target = atomic_fetch_add(&q->epoch, 1) + 1;
        atomic_thread_fence(memory_order_seq_cst); /* publish, then read `seen` */
        pthread_mutex_lock(&q->lock);
        for (struct qsbr_reader *r = q->readers; r != NULL; r = r->next) {
                for (;;) {
                        uint64_t seen = atomic_load(&r->seen);
                        if (seen == 0 || seen >= target)
                                break;
                        sched_yield(); /* a batch of answers takes microseconds */
                }
        }
        pthread_mutex_unlock(&q->lock);
}
