/*
 * metrics.h — what a DNS serving thread counts for /metrics.
 *
 * Each server (the UDP thread of a listen address, the TCP server of one on
 * the loop) owns one struct dns_metrics and is its only writer: a counter
 * is bumped with a relaxed load and store, which compiles to a plain add —
 * no locked instruction, no shared cache line between threads.  Readers on
 * any thread load the counters relaxed and sum the servers with
 * dns_metrics_merge() into a scratch copy they own.
 *
 * Per-zone counts live in a bounded open-addressed table keyed by the
 * zone's origin hash (a published zone's hash survives its new versions).
 * A slot is claimed the first time a zone answers: its origin is copied
 * into the slot and then the hash is stored with release order, so a
 * reader that sees the hash sees the name.  Slots are never freed; zones
 * beyond the table's size are counted in `zone_overflow`.  Nothing here
 * allocates or locks on the query path.
 */
#ifndef DNS_METRICS_H
#define DNS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/packet.h"
#include "dns/zone.h"

#define DNS_METRICS_ZONES  256 /* per-zone slots of one server: a power of two */
#define DNS_METRICS_PROTOS 2   /* enum dns_transport */
#define DNS_METRICS_QTYPES 18  /* dns_metrics_qtype_name() */
#define DNS_METRICS_RCODES 18  /* the 4-bit rcodes, then BADVERS and BADCOOKIE */
#define DNS_METRICS_SIZES  10  /* answer-size buckets, without +Inf */
#define DNS_METRICS_TIMES  12  /* processing-time buckets, without +Inf */

/* A histogram: per-bucket (not cumulative) counts, the last one +Inf. */
struct dns_metrics_hist_size {
        _Atomic uint64_t bucket[DNS_METRICS_SIZES + 1];
        _Atomic uint64_t sum; /* bytes */
};
struct dns_metrics_hist_time {
        _Atomic uint64_t bucket[DNS_METRICS_TIMES + 1];
        _Atomic uint64_t sum; /* nanoseconds */
};

struct dns_metrics_zone {
        _Atomic uint64_t hash; /* 0: free; stored last (release) */
        uint16_t origin_len;
        uint8_t origin[DNS_NAME_MAXLEN];
        _Atomic uint64_t responses[DNS_METRICS_PROTOS][DNS_METRICS_RCODES];
        _Atomic uint64_t queries[DNS_METRICS_QTYPES];
};

struct dns_metrics {
        _Atomic uint64_t queries[DNS_METRICS_PROTOS][DNS_METRICS_QTYPES];
        _Atomic uint64_t responses[DNS_METRICS_PROTOS][DNS_METRICS_RCODES];
        _Atomic uint64_t unanswered[DNS_METRICS_PROTOS]; /* dropped, no response */
        _Atomic uint64_t truncated[DNS_METRICS_PROTOS];
        struct dns_metrics_hist_size size[DNS_METRICS_PROTOS];
        struct dns_metrics_hist_time time[DNS_METRICS_PROTOS];
        _Atomic uint64_t zone_overflow;
        struct dns_metrics_zone zones[DNS_METRICS_ZONES];
};

/* Upper bounds of the histogram buckets (bytes; seconds as text). */
extern const unsigned dns_metrics_size_bounds[DNS_METRICS_SIZES];
extern const uint64_t dns_metrics_time_bounds_ns[DNS_METRICS_TIMES];

/* One single-writer counter bump (see the top of this file). */
static inline void dns_metrics_bump(_Atomic uint64_t *c, uint64_t by)
{
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                              memory_order_relaxed);
}

static inline uint64_t dns_metrics_get(const _Atomic uint64_t *c)
{
        return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

/*
 * Counts one message: its query (status, q), and its response
 * (answer[0..len), len 0: none).  q->zone, when q->zone_known, is the zone
 * that answered (dns_answer_parsed notes it).
 */
void dns_metrics_count(struct dns_metrics *m, int proto, const struct dns_query *q,
                       enum dns_parse_status status, const uint8_t *answer, size_t len);
/* n messages took `ns` nanoseconds each from receipt to response. */
void dns_metrics_time(struct dns_metrics *m, int proto, uint64_t ns, uint64_t n);

/* Adds what `from` (another thread's, read relaxed) counted to `into` (the
 * caller's own, e.g. zeroed by calloc). */
void dns_metrics_merge(struct dns_metrics *into, const struct dns_metrics *from);

/* Label values: "A", "AAAA", …, "other"; "NOERROR", …, "BADCOOKIE". */
const char *dns_metrics_qtype_name(unsigned index);
const char *dns_metrics_rcode_name(unsigned index);

#endif
