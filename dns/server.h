/*
 * server.h — DNS over UDP and TCP on the node's libuv loop.
 *
 * The UDP server runs on a thread of its own, so that nothing the node's
 * loop does (applying a large batch, writing a snapshot, replaying the log)
 * delays an answer.  It blocks in recvmmsg(2) until datagrams arrive, takes
 * up to 64 at once, parses them all, warms the cache for their lookups side
 * by side (dns_answer_warm), answers each from the catalog published at
 * that moment, and sends the answers with one sendmmsg(2): the per-packet
 * cost is the DNS work plus a share of two system calls.  It is a reader of
 * the db's grace periods (common/qsbr.h), online only while it answers a
 * batch.  The TCP server (RFC 7766) reads length-prefixed messages,
 * answers pipelined queries in order, gives each message a deadline from
 * its first byte and each connection an idle timeout between messages, and
 * caps connections in total and per client address.
 *
 * Both read zone data only through dns_db_current(); a commit between two
 * batches is seen by the next batch.  The TCP server runs on the loop.
 */
#ifndef DNS_SERVER_H
#define DNS_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "dns/addr.h"
#include "dns/answer.h"
#include "dns/cookie.h"
#include "dns/db.h"
#include "dns/dnstap.h"
#include "dns/metrics.h"
#include "dns/qlog.h"
#include "dns/rrl.h"

#define DNS_UDP_BATCH     64
#define DNS_UDP_RECV_SIZE 4096

/* What the UDP servers share: RRL accounts (NULL: off) and the cookie
 * secrets (NULL: cookies off). */
struct dns_udp_limits {
        struct dns_rrl *rrl;
        struct dns_cookie_secrets *cookies;
        bool cookies_required;            /* BADCOOKIE without a valid server cookie */
        bool any_hinfo;                   /* ANY gets HINFO "RFC8482", not one RRset */
        struct dns_qlog *qlog;            /* the query log (borrowed; NULL: none) */
        struct dns_dnstap *dnstap;        /* dnstap output (borrowed; NULL: none) */
        const struct dns_ecs_config *ecs; /* borrowed; NULL: the defaults */
};

/* Counters of one UDP server: written by its thread alone (relaxed
 * load-and-store, no locked instruction), read from any thread. */
struct dns_udp_limit_stats {
        _Atomic uint64_t rrl_dropped;
        _Atomic uint64_t rrl_slipped;
        _Atomic uint64_t cookie_valid;       /* queries with our server cookie */
        _Atomic uint64_t cookie_client_only; /* a client cookie alone */
        _Atomic uint64_t cookie_bad;         /* a server cookie not ours or expired */
        _Atomic uint64_t badcookie_sent;
};

struct dns_udp_server {
        int fd;
        bool pktinfo; /* bound to a wildcard address: answer from the query's address */
        bool running; /* the thread was started */
        atomic_bool stop;
        pthread_t thread;
        struct qsbr_reader reader;
        struct dns_db *db;
        unsigned rotation;
        struct dns_answer_stats stats; /* the thread's own */
        struct dns_udp_batch *batch;   /* buffers for one recvmmsg/sendmmsg round */
        struct dns_udp_limits limits;
        struct dns_udp_limit_stats limit_stats;
        unsigned slip_count;            /* limited responses since the last slipped one */
        struct dns_cookie_keys keys;    /* copied once per batch */
        struct dns_metrics *metrics;    /* the thread's own (dns/metrics.h) */
        struct dns_qlog_ring *qlog;     /* its query-log ring, or NULL */
        struct dns_dnstap_ring *dnstap; /* its dnstap ring, or NULL */
};

/* Binds addr and starts serving.  limits (NULL: none) is copied; what it
 * points to is borrowed until the server is closed.  err receives a one-line
 * reason on failure. */
int dns_udp_server_start(struct dns_udp_server *server, const struct sockaddr *addr,
                         struct dns_db *db, const struct dns_udp_limits *limits,
                         char *err, size_t err_size);
/* Stops the thread (it finishes the batch in hand) and closes the socket. */
void dns_udp_server_close(struct dns_udp_server *server);

struct dns_tcp_conn;
struct dns_tcp_sources;
struct dns_rtt_table;

/* What a TCP client may hold (see server_tcp.c). */
struct dns_tcp_limits {
        unsigned idle_timeout_ms;           /* after the last complete message */
        unsigned message_timeout_ms;        /* from a message's first byte to its last */
        unsigned max_clients;               /* open connections in total */
        unsigned max_per_source;            /* open connections from one address */
        struct dns_cookie_secrets *cookies; /* borrowed; NULL: cookies off */
        struct dns_qlog *qlog;              /* borrowed; NULL: no query log */
        struct dns_dnstap *dnstap;          /* borrowed; NULL: no dnstap */
        const struct dns_ecs_config *ecs;   /* borrowed; NULL: the defaults */
        struct dns_rtt_table *rtt;          /* borrowed; NULL: RTTs not measured */
};

/* Counters of one TCP server, read and written on the loop. */
struct dns_tcp_stats {
        struct dns_answer_stats answers;
        uint64_t accepted;
        uint64_t refused;            /* not accepted: no descriptor or memory for it */
        uint64_t evicted_total;      /* closed to make room under max_clients */
        uint64_t evicted_per_source; /* closed to make room under max_per_source */
        uint64_t idle_timeouts;
        uint64_t message_timeouts;
};

struct dns_tcp_server {
        uv_tcp_t *listener; /* its own memory, freed by its close callback */
        uv_loop_t *loop;
        struct dns_db *db;
        struct dns_tcp_limits limits;
        unsigned clients;   /* open, not closing */
        unsigned allocated; /* not yet freed (closing ones too) */
        unsigned rotation;
        bool closing;
        bool refusing;        /* `refuse` closes a connection taken without memory */
        bool refusal_waiting; /* and another waits in libuv for uv_accept */
        uv_tcp_t refuse;
        struct dns_tcp_stats stats;
        struct dns_tcp_conn *conns,
            *conns_tail;                 /* open ones, most recently active first */
        struct dns_tcp_sources *sources; /* open connections per client address */
        uint8_t *scratch;                /* one response being built */
        struct dns_metrics *metrics;     /* written on the loop (dns/metrics.h) */
        struct dns_qlog_ring *qlog;      /* its query-log ring, or NULL */
        struct dns_dnstap_ring *dnstap;  /* its dnstap ring, or NULL */
        void (*close_cb)(struct dns_tcp_server *server);
};

/* Binds addr and starts serving.  On an error nothing of the server is left
 * in use: the listener (its own memory) closes with a callback that frees
 * it, so the caller may free `server` at once; close_cb is never called. */
int dns_tcp_server_start(struct dns_tcp_server *server, uv_loop_t *loop,
                         const struct sockaddr *addr, struct dns_db *db,
                         const struct dns_tcp_limits *limits, char *err, size_t err_size);
/* Stops listening and closes every connection; close_cb when all are gone. */
void dns_tcp_server_close(struct dns_tcp_server *server,
                          void (*close_cb)(struct dns_tcp_server *server));

#endif
