/*
 * raft_intruder.c — a hostile raft peer for the system tests.
 *
 * Connects to a node's raft port, over plain TCP or over TLS with whatever
 * certificate it is given (none, another CA's, a real node's), speaks
 * raft_uv's framing (libraft 0.15: handshake of protocol, server id and
 * address; then one AppendEntries message) and sends forged log entries: a
 * zone creation and a record in it, encoded as genuine commands.  The term
 * and indexes come from the command line (a test reads them from the
 * node's /v1/health).
 *
 *   raft_intruder --target IP:PORT --id N --term T --prev-index I
 *                 --prev-term T --zone NAME [--ca F] [--cert F --key F]
 *
 * With --http "METHOD PATH" [--body JSON] it sends one API request on the
 * transport's side channel instead, and prints the response.
 *
 * Prints "from IP:PORT" (its own address, as the node should log it), then
 * "sent N bytes; peer closed after M ms" or "sent N bytes; connection still
 * open", and exits 0; 1 when it could not connect at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "consensus/command.h"
#include "consensus/transport.h"

static size_t to_wire(const char *text, uint8_t *out)
{
        size_t o = 0;
        for (const char *p = text; *p;) {
                const char *dot = strchr(p, '.');
                size_t l = dot ? (size_t)(dot - p) : strlen(p);
                out[o++] = (uint8_t)l;
                memcpy(out + o, p, l);
                o += l;
                p += l + (dot != NULL);
        }
        out[o++] = 0;
        return o;
}

static void put64(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static long long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* The two forged entries: a zone and an A record www.<zone> 6.6.6.6. */
static int forge(const char *zone, struct raft_buffer out[2])
{
        static uint8_t origin[256], soa[600], ns[256], www[300], a[4] = {6, 6, 6, 6};
        size_t olen = to_wire(zone, origin);
        char text[300];
        snprintf(text, sizeof(text), "ns1.%s", zone);
        size_t n = to_wire(text, soa);
        snprintf(text, sizeof(text), "hostmaster.%s", zone);
        n += to_wire(text, soa + n);
        uint32_t f[5] = {1, 3600, 600, 86400, 300};
        for (int i = 0; i < 5; i++, n += 4) {
                soa[n] = (uint8_t)(f[i] >> 24);
                soa[n + 1] = (uint8_t)(f[i] >> 16);
                soa[n + 2] = (uint8_t)(f[i] >> 8);
                soa[n + 3] = (uint8_t)f[i];
        }
        struct cs_rdata soa_v = {soa, (uint16_t)n};
        struct cs_rdata ns_v = {ns, (uint16_t)to_wire("ns1.example.net.", ns)};
        snprintf(text, sizeof(text), "www.%s", zone);
        size_t wlen = to_wire(text, www);
        struct cs_rdata a_v = {a, 4};
        struct cs_command zc = {
            .type = CS_CMD_ZONE_CREATE, .timestamp_ms = 1, .request_id = "intruder-zone"};
        zc.u.zone_create = (struct cs_zone_spec){
            .origin = origin,
            .origin_len = olen,
            .zone_id = "ZINTRUDER",
            .soa = {origin, olen, 6, "", 3600, &soa_v, 1, {0}},
            .ns = {origin, olen, 2, "", 3600, &ns_v, 1, {0}},
        };
        struct cs_action act = {CS_ACTION_CREATE, {www, wlen, 1, "", 60, &a_v, 1, {0}}};
        struct cs_command bc = {.type = CS_CMD_CHANGE_BATCH,
                                .timestamp_ms = 2,
                                .request_id = "intruder-record"};
        bc.u.batch = (struct cs_batch){origin, olen, NULL, &act, 1};
        if (cs_command_encode(&zc, &out[0]) != 0 || cs_command_encode(&bc, &out[1]) != 0)
                return -1;
        return 0;
}

struct peer {
        int fd;
        SSL *ssl;
};

static int send_all(struct peer *p, const void *buf, size_t len)
{
        if (p->ssl != NULL)
                return SSL_write(p->ssl, buf, (int)len) == (int)len ? 0 : -1;
        for (size_t off = 0; off < len;) {
                ssize_t n = send(p->fd, (const char *)buf + off, len - off, MSG_NOSIGNAL);
                if (n <= 0)
                        return -1;
                off += (size_t)n;
        }
        return 0;
}

/* Waits up to ms for the peer to close; returns the ms it took, or -1. */
static long long wait_close(struct peer *p, int ms)
{
        long long start = now_ms();
        char buf[4096];
        while (now_ms() - start < ms) {
                struct pollfd pfd = {p->fd, POLLIN, 0};
                if (poll(&pfd, 1, 50) <= 0)
                        continue;
                ssize_t n = p->ssl ? SSL_read(p->ssl, buf, sizeof(buf))
                                   : recv(p->fd, buf, sizeof(buf), 0);
                if (n <= 0) {
                        if (p->ssl != NULL) {
                                int e = SSL_get_error(p->ssl, (int)n);
                                if (e == SSL_ERROR_WANT_READ)
                                        continue;
                        }
                        return now_ms() - start;
                }
        }
        return -1;
}

/* --http "METHOD PATH": one API request on the transport's side channel
 * (the nodes' calls to each other); prints the status line it gets. */
static int side_request(struct peer *p, unsigned long long id, const char *host,
                        const char *http, const char *body, int wait)
{
        uint8_t hello[24 + CONSENSUS_HELLO_ADDRESS_MAX];
        char address[80], req[4096], resp[4096];
        snprintf(address, sizeof(address), "%s:1", host);
        int hlen = consensus_hello_encode(CONSENSUS_HELLO_PROTOCOL_SIDE, id, address,
                                          hello, sizeof(hello));
        int n =
            snprintf(req, sizeof(req),
                     "%s HTTP/1.1\r\nHost: node\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     http, strlen(body), body);
        if (send_all(p, hello, (size_t)hlen) != 0 || send_all(p, req, (size_t)n) != 0) {
                printf("sent; peer closed\n");
                return 0;
        }
        size_t got = 0;
        long long start = now_ms();
        while (got < sizeof(resp) - 1 && now_ms() - start < wait) {
                struct pollfd pfd = {p->fd, POLLIN, 0};
                if (poll(&pfd, 1, 50) <= 0)
                        continue;
                ssize_t r =
                    p->ssl ? SSL_read(p->ssl, resp + got, (int)(sizeof(resp) - 1 - got))
                           : recv(p->fd, resp + got, sizeof(resp) - 1 - got, 0);
                if (r <= 0) {
                        if (p->ssl &&
                            SSL_get_error(p->ssl, (int)r) == SSL_ERROR_WANT_READ)
                                continue;
                        break;
                }
                got += (size_t)r;
        }
        resp[got] = '\0';
        printf("response: %s\n", got ? resp : "(none; peer closed)");
        return 0;
}

int main(int argc, char **argv)
{
        const char *target = NULL, *zone = NULL, *ca = NULL, *cert = NULL, *key = NULL;
        unsigned long long id = 0, term = 0, prev_index = 0, prev_term = 0;
        int wait = 3000;
        const char *http = NULL, *body = "";
        signal(SIGPIPE, SIG_IGN); /* a refused peer is closed on us */
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (int i = 1; i + 1 < argc; i += 2) {
                const char *k = argv[i], *v = argv[i + 1];
                if (!strcmp(k, "--target"))
                        target = v;
                else if (!strcmp(k, "--zone"))
                        zone = v;
                else if (!strcmp(k, "--ca"))
                        ca = v;
                else if (!strcmp(k, "--cert"))
                        cert = v;
                else if (!strcmp(k, "--key"))
                        key = v;
                else if (!strcmp(k, "--id"))
                        id = strtoull(v, NULL, 10);
                else if (!strcmp(k, "--term"))
                        term = strtoull(v, NULL, 10);
                else if (!strcmp(k, "--prev-index"))
                        prev_index = strtoull(v, NULL, 10);
                else if (!strcmp(k, "--prev-term"))
                        prev_term = strtoull(v, NULL, 10);
                else if (!strcmp(k, "--wait-ms"))
                        wait = atoi(v);
                else if (!strcmp(k, "--http"))
                        http = v;
                else if (!strcmp(k, "--body"))
                        body = v;
        }
        const char *colon = target ? strrchr(target, ':') : NULL;
        if (colon == NULL || (zone == NULL && http == NULL) || id == 0) {
                fprintf(stderr, "usage: see the comment atop raft_intruder.c\n");
                return 2;
        }
        char host[64];
        snprintf(host, sizeof(host), "%.*s", (int)(colon - target), target);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(atoi(colon + 1))};
        inet_pton(AF_INET, host, &sa.sin_addr);
        struct peer p = {socket(AF_INET, SOCK_STREAM, 0), NULL};
        if (p.fd < 0 || connect(p.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
                printf("cannot connect: %s\n", strerror(errno));
                return 1;
        }
        struct sockaddr_in me;
        socklen_t mlen = sizeof(me);
        char from[64] = "?";
        if (getsockname(p.fd, (struct sockaddr *)&me, &mlen) == 0) {
                char ip[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &me.sin_addr, ip, sizeof(ip));
                snprintf(from, sizeof(from), "%s:%d", ip, ntohs(me.sin_port));
        }
        printf("from %s\n", from);
        SSL_CTX *ctx = NULL;
        if (ca != NULL || cert != NULL) {
                ctx = SSL_CTX_new(TLS_client_method());
                if (ca != NULL) {
                        SSL_CTX_load_verify_locations(ctx, ca, NULL);
                        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
                }
                if (cert != NULL &&
                    (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
                     SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
                        printf("cannot load %s / %s\n", cert, key);
                        return 2;
                }
                p.ssl = SSL_new(ctx);
                SSL_set_fd(p.ssl, p.fd);
                if (SSL_connect(p.ssl) != 1) {
                        printf("sent 0 bytes; TLS handshake refused\n");
                        return 0;
                }
        }
        if (http != NULL)
                return side_request(&p, id, host, http, body, wait);
        struct raft_buffer e[2];
        if (forge(zone, e) != 0)
                return 2;
        uint8_t hello[24 + CONSENSUS_HELLO_ADDRESS_MAX];
        char address[80];
        snprintf(address, sizeof(address), "%s:1", host);
        int hlen = consensus_hello_encode(CONSENSUS_HELLO_PROTOCOL, id, address, hello,
                                          sizeof(hello));
        uint8_t msg[16 + 48 + 32];
        memset(msg, 0, sizeof(msg));
        put64(msg, 1);           /* RAFT_IO_APPEND_ENTRIES */
        put64(msg + 8, 48 + 32); /* header size */
        put64(msg + 16, term);
        put64(msg + 24, prev_index);
        put64(msg + 32, prev_term);
        put64(msg + 40, prev_index + 2); /* leader commit: both entries */
        put64(msg + 48, 2);
        for (int i = 0; i < 2; i++) {
                put64(msg + 56 + 16 * i, term);
                msg[64 + 16 * i] = 1; /* RAFT_COMMAND */
                uint32_t len = (uint32_t)e[i].len;
                memcpy(msg + 68 + 16 * i, &len, 4); /* little endian host */
        }
        size_t sent = 0;
        int rc = send_all(&p, hello, (size_t)hlen);
        sent += rc == 0 ? (size_t)hlen : 0;
        if (rc == 0 && (rc = send_all(&p, msg, sizeof(msg))) == 0)
                sent += sizeof(msg);
        for (int i = 0; i < 2 && rc == 0; i++)
                if ((rc = send_all(&p, e[i].base, e[i].len)) == 0)
                        sent += e[i].len;
        long long closed = wait_close(&p, wait);
        if (closed >= 0 || rc != 0)
                printf("sent %zu bytes; peer closed after %lld ms\n", sent,
                       closed >= 0 ? closed : 0);
        else
                printf("sent %zu bytes; connection still open\n", sent);
        raft_free(e[0].base);
        raft_free(e[1].base);
        if (p.ssl != NULL)
                SSL_free(p.ssl);
        SSL_CTX_free(ctx);
        close(p.fd);
        return 0;
}
