/*
 * qlog.h — the query log: one text line per query, written off the query
 * path.
 *
 * Every DNS server (a UDP thread, a TCP server on the loop) gets a ring of
 * its own from dns_qlog_ring_new() and is its only producer: recording a
 * query copies a fixed-size entry into the ring (no allocation, no lock,
 * no system call) or, when the ring is full, counts it as dropped — the
 * server never waits for the disk.  One writer thread is the consumer of
 * every ring: it formats the entries and appends them to the file through
 * stdio, and between entries honours dns_qlog_reopen() (logrotate moved
 * the file: open the path again, then close the old one), so a reopen
 * loses nothing.  Sampling (1 in N per server) and the zone filter are
 * applied before an entry is queued; sampled-out queries are not counted
 * as dropped.  The rings and the writer thread are dns/logq.h's, shared
 * with dnstap (dns/dnstap.h).
 *
 * A line: "TIME node=ID client=ADDR#PORT ecs=- zone=ZONE name=QNAME
 * type=TYPE class=CLASS rcode=RCODE flags=qr,aa,... proto=udp size=BYTES
 * time_us=N policy=-" (README "Query log").  Names are in presentation form,
 * which escapes spaces and control bytes, so a line never breaks.
 */
#ifndef DNS_QLOG_H
#define DNS_QLOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/addr.h"
#include "dns/packet.h"

#define DNS_QLOG_MAX_RINGS 64
#define DNS_QLOG_MAX_ZONES 64

struct dns_qlog_config {
        const char *path; /* appended to; borrowed until dns_qlog_open returns */
        unsigned sample;  /* log 1 query in `sample` per server; 0 or 1: all */
        unsigned queue;   /* entries per server ring; rounded up to a power of two */
        unsigned long long node_id;
        /* Only queries answered from these zones (wire names, lowercase);
         * none: every query.  Copied. */
        const uint8_t *const *zones;
        unsigned zone_count;
};

struct dns_qlog;
struct dns_qlog_ring;

/* Opens the file and starts the writer thread; 0 or a negative error with
 * a one-line reason in err. */
int dns_qlog_open(struct dns_qlog **out, const struct dns_qlog_config *cfg, char *err,
                  size_t err_size);
/* Writes what is queued, stops the writer and closes the file.  Every ring
 * must be out of use (its server stopped); they are freed here. */
void dns_qlog_close(struct dns_qlog *log);

/* A ring for one more producer (any thread, before the producer runs);
 * NULL when out of memory or DNS_QLOG_MAX_RINGS are taken. */
struct dns_qlog_ring *dns_qlog_ring_new(struct dns_qlog *log);

/*
 * Records one query (q parsed with `status`) and its response
 * (answer[0..len), len 0: none) from `client` port `port`, answered `elapsed_ns` after
 * it was received, at wall time `wall_ns`.  Producer thread only.
 */
void dns_qlog_record(struct dns_qlog_ring *ring, const struct dns_query *q,
                     enum dns_parse_status status, const uint8_t *answer, size_t len,
                     int proto, const struct dns_client_addr *client, uint16_t port,
                     uint64_t wall_ns, uint64_t elapsed_ns);

/* Asks the writer to open the path again (SIGHUP after a rotation). */
void dns_qlog_reopen(struct dns_qlog *log);

struct dns_qlog_stats {
        uint64_t written; /* lines written */
        uint64_t dropped; /* entries a full ring refused */
        uint64_t reopens;
};
void dns_qlog_stats(struct dns_qlog *log, struct dns_qlog_stats *out);

#endif
