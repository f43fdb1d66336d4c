/*
 * server.h — DNS over UDP and TCP on the node's libuv loop.
 *
 * The UDP server watches its socket with a uv_poll_t and, when readable,
 * reads up to 64 datagrams with one recvmmsg(2), parses them all, warms the
 * cache for their lookups side by side (dns_answer_warm), answers each from
 * the catalog published at that moment, and sends the answers with one
 * sendmmsg(2): the per-packet cost is the DNS work plus a share of two
 * system calls.  The TCP server (RFC 7766) reads length-prefixed messages,
 * answers pipelined queries in order, and closes connections that stay
 * idle longer than the configured timeout.
 *
 * Both read zone data only through dns_db_current(); a commit between two
 * batches is seen by the next batch.
 */
#ifndef DNS_SERVER_H
#define DNS_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "dns/answer.h"
#include "dns/db.h"

#define DNS_UDP_BATCH     64
#define DNS_UDP_RECV_SIZE 4096

struct dns_udp_server {
        uv_poll_t poll;
        int fd;
        bool pktinfo; /* bound to a wildcard address: answer from the query's address */
        bool paused;  /* watch lifted while a busy socket is drained */
        struct dns_db *db;
        unsigned rotation;
        struct dns_answer_stats stats;
        struct dns_udp_batch *batch; /* buffers for one recvmmsg/sendmmsg round */
        void (*close_cb)(struct dns_udp_server *server);
};

/* Binds addr and starts serving.  err receives a one-line reason on failure. */
int dns_udp_server_start(struct dns_udp_server *server, uv_loop_t *loop,
                         const struct sockaddr *addr, struct dns_db *db, char *err,
                         size_t err_size);
void dns_udp_server_close(struct dns_udp_server *server,
                          void (*close_cb)(struct dns_udp_server *server));

struct dns_tcp_conn;

struct dns_tcp_server {
        uv_tcp_t listener;
        uv_loop_t *loop;
        struct dns_db *db;
        unsigned idle_timeout_ms;
        unsigned max_clients;
        unsigned clients;
        unsigned rotation;
        bool closing;
        struct dns_answer_stats stats;
        struct dns_tcp_conn *conns; /* open connections, doubly linked */
        uint8_t *scratch;           /* one response being built */
        void (*close_cb)(struct dns_tcp_server *server);
};

int dns_tcp_server_start(struct dns_tcp_server *server, uv_loop_t *loop,
                         const struct sockaddr *addr, struct dns_db *db,
                         unsigned idle_timeout_ms, unsigned max_clients, char *err,
                         size_t err_size);
/* Stops listening and closes every connection; close_cb when all are gone. */
void dns_tcp_server_close(struct dns_tcp_server *server,
                          void (*close_cb)(struct dns_tcp_server *server));

#endif
