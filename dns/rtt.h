/*
 * rtt.h — round-trip times this node measures to its DNS-over-TCP clients,
 * aggregated per client network for the latency map (consensus/latency.h).
 *
 * The TCP server (dns/server_tcp.c) reads the kernel's smoothed RTT of a
 * connection (getsockopt TCP_INFO, tcpi_rtt) once, when a connection that
 * carried at least one query closes — one system call per connection, none
 * per query — and adds it with dns_rtt_record() to the bucket of the
 * client's /24 (IPv4) or /48 (IPv6).  Periodically node/latency.c takes the
 * busiest buckets with dns_rtt_drain() (their mean RTT and how many
 * connections it averages) and proposes them for this node's region; the
 * table then starts empty.  The table is a fixed open-addressing array:
 * when it is full, samples of new networks are counted as dropped until
 * the next drain.  Loop thread only.
 */
#ifndef DNS_RTT_H
#define DNS_RTT_H

#include <stddef.h>
#include <stdint.h>

#include "dns/addr.h"

#define DNS_RTT_BUCKETS 4096 /* networks kept between two drains */

struct dns_rtt_sample {
        struct dns_net net; /* the /24 or /48 */
        uint32_t rtt_us;    /* mean of the connections' smoothed RTTs */
        uint32_t count;     /* connections measured */
};

struct dns_rtt_table;

/* NULL when out of memory. */
struct dns_rtt_table *dns_rtt_table_new(void);
void dns_rtt_table_free(struct dns_rtt_table *t);

/* One connection's RTT (microseconds, > 0) from client addr. */
void dns_rtt_record(struct dns_rtt_table *t, const struct dns_client_addr *addr,
                    uint32_t rtt_us);

/* Up to max networks with the most connections into out (sorted by
 * network, so that proposals do not depend on the table's order), then
 * empties the table.  Returns how many were written. */
size_t dns_rtt_drain(struct dns_rtt_table *t, struct dns_rtt_sample *out, size_t max);

/* Counters since start: connections recorded, and samples dropped (table
 * full). */
void dns_rtt_stats(const struct dns_rtt_table *t, uint64_t *recorded, uint64_t *dropped);

#endif
