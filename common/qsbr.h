/*
 * qsbr.h — grace periods for readers on other threads (quiescent-state-based
 * reclamation, as in userspace RCU's QSBR flavour).
 *
 * A reader thread registers once, calls qsbr_online() before it loads a
 * published pointer and qsbr_offline() when it holds none any more (between
 * batches of work, and before it blocks).  A writer publishes a new version,
 * then qsbr_synchronize() returns once every registered reader has been
 * offline or has come online again since the call began: nothing can still
 * hold what the old version referenced, and it may be freed.  Readers pay
 * two atomic stores per batch and never wait; the writer waits at most for
 * the batches in progress.
 */
#ifndef COMMON_QSBR_H
#define COMMON_QSBR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct qsbr_reader {
        _Atomic uint64_t seen; /* epoch seen when it came online; 0: offline */
        struct qsbr_reader *next;
};

struct qsbr {
        _Atomic uint64_t epoch;
        pthread_mutex_t lock; /* guards the reader list */
        struct qsbr_reader *readers;
};

void qsbr_init(struct qsbr *q);
void qsbr_fini(struct qsbr *q);

/* A reader starts offline. */
void qsbr_register(struct qsbr *q, struct qsbr_reader *reader);
void qsbr_unregister(struct qsbr *q, struct qsbr_reader *reader);

static inline void qsbr_online(struct qsbr *q, struct qsbr_reader *reader)
{
        atomic_store(&reader->seen, atomic_load(&q->epoch));
        /* The store is visible before any load of published data. */
        atomic_thread_fence(memory_order_seq_cst);
}

static inline void qsbr_offline(struct qsbr_reader *reader)
{
        atomic_store_explicit(&reader->seen, 0, memory_order_release);
}

/* Waits for a grace period (see above).  Call after publishing. */
void qsbr_synchronize(struct qsbr *q);

#endif
