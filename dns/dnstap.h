/*
 * dnstap.h — dnstap output (https://dnstap.info): an AUTH_QUERY and an
 * AUTH_RESPONSE message per query, framed by Frame Streams (libfstrm) and
 * encoded with protobuf-c, to a file or to a collector's Unix socket.
 *
 * The queue is the query log's (dns/logq.h): every DNS server gets a ring
 * from dns_dnstap_ring_new() and, per query, copies the query and response
 * wire messages, the client's address and port and the times into a slot
 * (a message pair longer than the slot's room is copied to the heap), or
 * counts the query as dropped when its ring is full.  The one writer thread
 * encodes each slot into one or two Dnstap frames and writes them.  A file
 * is created (truncated) at start; on dns_dnstap_reopen() (SIGHUP) the
 * stream is closed and the path opened again if it no longer names the
 * file being written (logrotate moved it), between two entries, so nothing
 * queued is lost.  A socket that cannot be reached or fails is connected
 * again at most once a second; frames meanwhile are counted as lost.
 *
 * This module is the only user of libfstrm and libprotobuf-c; the schema
 * is dns/dnstap.proto, compiled by protoc-c at build time.
 */
#ifndef DNS_DNSTAP_H
#define DNS_DNSTAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/addr.h"

#define DNS_DNSTAP_QUERY    1u /* AUTH_QUERY messages */
#define DNS_DNSTAP_RESPONSE 2u /* AUTH_RESPONSE messages */

struct dns_dnstap_config {
        const char *file;   /* a file to write, or */
        const char *socket; /* a collector's Unix socket (file NULL) */
        unsigned messages;  /* DNS_DNSTAP_QUERY | DNS_DNSTAP_RESPONSE */
        unsigned queue;     /* entries per server ring (dns/logq.h) */
        const char *identity;
        const char *version;
};

struct dns_dnstap;
struct dns_dnstap_ring;

/* Opens the output (a file must open; a socket may come later) and starts
 * the writer; 0 or a negative error with a one-line reason in err. */
int dns_dnstap_open(struct dns_dnstap **out, const struct dns_dnstap_config *cfg,
                    char *err, size_t err_size);
/* Writes what is queued, closes the stream and frees everything; every
 * ring's server must be stopped. */
void dns_dnstap_close(struct dns_dnstap *tap);

/* A ring for one more server listening on `local` (the response address
 * of its messages); NULL when out of memory or too many servers. */
struct dns_dnstap_ring *dns_dnstap_ring_new(struct dns_dnstap *tap,
                                            const struct sockaddr *local);

/*
 * Records one query query[0..qlen) from `client` port `port` and its
 * response answer[0..alen) (alen 0: none sent), over TCP when tcp, answered
 * `elapsed_ns` after it was received, at wall time `wall_ns`.  Producer
 * thread only; never blocks.
 */
void dns_dnstap_record(struct dns_dnstap_ring *ring, const uint8_t *query, size_t qlen,
                       const uint8_t *answer, size_t alen, int tcp,
                       const struct dns_client_addr *client, uint16_t port,
                       uint64_t wall_ns, uint64_t elapsed_ns);

/* Asks the writer to reopen the file (SIGHUP after a rotation). */
void dns_dnstap_reopen(struct dns_dnstap *tap);

struct dns_dnstap_stats {
        uint64_t queries;   /* AUTH_QUERY frames written */
        uint64_t responses; /* AUTH_RESPONSE frames written */
        uint64_t dropped;   /* queries a full ring refused */
        uint64_t lost;      /* frames not written: no collector, a write error */
        uint64_t reopens;   /* streams opened again (SIGHUP, reconnects) */
};
void dns_dnstap_stats(struct dns_dnstap *tap, struct dns_dnstap_stats *out);

/* "query,response", "query", "response": the messages to write; 0 or -1
 * with a reason in err. */
int dns_dnstap_messages_parse(const char *text, unsigned *out, char *err,
                              size_t err_size);

#endif
