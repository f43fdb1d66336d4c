/*
 * logq.h — the bounded queue between the query path and a log writer
 * thread, shared by the query log (dns/qlog.h) and dnstap (dns/dnstap.h).
 *
 * Every DNS server (a UDP thread, a TCP server on the loop) takes a ring of
 * its own from dns_logq_ring_new() and is its only producer: it reserves a
 * fixed-size slot, fills it and commits it (no allocation, no lock, no
 * system call), or, when the ring is full, the reservation fails and counts
 * the entry as dropped — the server never waits for the writer.  One writer
 * thread per queue consumes every ring: it hands each entry to ops->write,
 * calls ops->reopen between entries when dns_logq_reopen() asked for it
 * (SIGHUP after a rotation), so a reopen loses nothing, and calls ops->idle
 * (flush) when every ring is empty.  Stopping empties every ring once more.
 */
#ifndef DNS_LOGQ_H
#define DNS_LOGQ_H

#include <stddef.h>
#include <stdint.h>

#define DNS_LOGQ_MAX_RINGS 64

struct dns_logq_ops {
        void (*write)(void *ctx, void *entry); /* writer thread; entry is the slot */
        void (*idle)(void *ctx);               /* every ring empty; may be NULL */
        void (*reopen)(void *ctx);             /* SIGHUP; may be NULL */
};

struct dns_logq_config {
        size_t entry_size;
        unsigned queue; /* entries per ring; rounded up to a power of two, >= 64 */
        const struct dns_logq_ops *ops;
        void *ctx; /* given to ops; outlives the queue */
};

struct dns_logq;
struct dns_logq_ring;

/* Starts the writer thread (every signal blocked in it); 0 or a negative
 * error with a reason in err. */
int dns_logq_start(struct dns_logq **out, const struct dns_logq_config *cfg, char *err,
                   size_t err_size);
/* Hands every queued entry to the writer, stops it and frees the queue and
 * its rings; every producer must be stopped. */
void dns_logq_stop(struct dns_logq *q);

/* A ring for one more producer (before it runs); NULL when out of memory or
 * DNS_LOGQ_MAX_RINGS are taken. */
struct dns_logq_ring *dns_logq_ring_new(struct dns_logq *q);

/* The next free slot of the ring, or NULL (ring full: counted as dropped).
 * Producer only; a slot reserved is published by dns_logq_commit(). */
void *dns_logq_reserve(struct dns_logq_ring *r);
void dns_logq_commit(struct dns_logq_ring *r);
/* Counts an entry the producer could not queue for another reason. */
void dns_logq_drop(struct dns_logq_ring *r);

/* Asks the writer to call ops->reopen before its next entry. */
void dns_logq_reopen(struct dns_logq *q);

/* Entries dropped over every ring (any thread). */
uint64_t dns_logq_dropped(struct dns_logq *q);

#endif
