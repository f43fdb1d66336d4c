/*
 * ecsblast.c — closed-loop UDP DNS load with a client subnet per query.
 *
 * The benchmarks' load generator (the shared bench's qblast) sends every
 * query without EDNS Client Subnet; location-aware routing needs each query
 * to carry its client's subnet, as a resolver's do.  This one reads lines
 * "NAME TYPE [ADDR/LEN]" (the subnet sent as an ECS option, RFC 7871; no
 * subnet: EDNS without it), encodes them once, and keeps -q queries in
 * flight over -c connected sockets, sending and reading in batches of -B
 * with sendmmsg/recvmmsg and busy polling, so that the server, not this
 * client, is the bottleneck when each has its own core.  Responses are
 * matched to their slot by the message id.  It prints dnsperf's
 * "Queries completed" and "Queries per second" lines (and the rcodes), so
 * the benchmark scripts read it like qblast.
 *
 *   ecsblast -s 127.0.0.1 -p 5301 -d queries.txt [-l SECS] [-c 8] [-q 100] [-B 8]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QMAX  320 /* bytes of one encoded query */
#define BATCH 64

struct query {
        uint16_t len;
        uint8_t wire[QMAX];
};

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int type_code(const char *t)
{
        static const struct {
                const char *name;
                int code;
        } types[] = {{"A", 1},    {"NS", 2},    {"CNAME", 5}, {"SOA", 6},  {"MX", 15},
                     {"TXT", 16}, {"AAAA", 28}, {"SRV", 33},  {"ANY", 255}};
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if (strcasecmp(t, types[i].name) == 0)
                        return types[i].code;
        return strncasecmp(t, "TYPE", 4) == 0 ? atoi(t + 4) : -1;
}

/* "NAME TYPE [ADDR/LEN]" into q; 0, or -1 for a line it cannot send. */
static int encode(const char *name, const char *type, const char *subnet, struct query *q)
{
        uint8_t *p = q->wire;
        int code = type_code(type);
        if (code <= 0)
                return -1;
        memset(p, 0, 12);
        p[5] = 1;  /* QDCOUNT */
        p[11] = 1; /* ARCOUNT: the OPT */
        size_t off = 12;
        for (const char *s = name; *s;) {
                const char *dot = strchr(s, '.');
                size_t l = dot ? (size_t)(dot - s) : strlen(s);
                if (l == 0 || l > 63 || off + l + 40 > QMAX)
                        return -1;
                p[off++] = (uint8_t)l;
                memcpy(p + off, s, l);
                off += l;
                s += l + (dot != NULL);
        }
        p[off++] = 0;
        p[off++] = (uint8_t)(code >> 8);
        p[off++] = (uint8_t)code;
        p[off++] = 0;
        p[off++] = 1; /* IN */
        static const uint8_t opt[9] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0};
        memcpy(p + off, opt, sizeof(opt));
        off += sizeof(opt);
        size_t rdlen_at = off;
        off += 2;
        if (subnet != NULL) {
                char host[64];
                const char *slash = strchr(subnet, '/');
                size_t hl = slash ? (size_t)(slash - subnet) : 0;
                if (slash == NULL || hl >= sizeof(host))
                        return -1;
                memcpy(host, subnet, hl);
                host[hl] = '\0';
                uint8_t addr[16];
                int family = strchr(host, ':') ? 2 : 1;
                unsigned max = family == 1 ? 32 : 128;
                unsigned prefix = (unsigned)atoi(slash + 1);
                if (inet_pton(family == 1 ? AF_INET : AF_INET6, host, addr) != 1 ||
                    prefix > max)
                        return -1;
                unsigned bytes = (prefix + 7) / 8;
                if (prefix % 8)
                        addr[bytes - 1] &= (uint8_t)(0xff00u >> (prefix % 8));
                const uint8_t head[8] = {
                    0, 8, 0, (uint8_t)(4 + bytes), 0, (uint8_t)family, (uint8_t)prefix,
                    0};
                memcpy(p + off, head, sizeof(head));
                off += sizeof(head);
                memcpy(p + off, addr, bytes);
                off += bytes;
        }
        size_t rdlen = off - rdlen_at - 2;
        p[rdlen_at] = (uint8_t)(rdlen >> 8);
        p[rdlen_at + 1] = (uint8_t)rdlen;
        q->len = (uint16_t)off;
        return 0;
}

/* A socket's window: slot k of the in-flight queries has id (gen << bits | k). */
struct sock {
        int fd, bits, nfree;
        uint16_t *free_slots, *gen, *id;
        uint8_t *used;
        double *sent_at;
};

int main(int argc, char **argv)
{
        const char *server = "127.0.0.1", *file = NULL;
        int port = 53, nsock = 8, window = 100, batch = 8, opt;
        double secs = 10, timeout = 1;
        while ((opt = getopt(argc, argv, "s:p:d:l:c:q:B:t:")) != -1) {
                switch (opt) {
                case 's':
                        server = optarg;
                        break;
                case 'p':
                        port = atoi(optarg);
                        break;
                case 'd':
                        file = optarg;
                        break;
                case 'l':
                        secs = atof(optarg);
                        break;
                case 'c':
                        nsock = atoi(optarg);
                        break;
                case 'q':
                        window = atoi(optarg);
                        break;
                case 'B':
                        batch = atoi(optarg);
                        break;
                case 't':
                        timeout = atof(optarg);
                        break;
                default:
                        fprintf(stderr,
                                "usage: ecsblast -s ADDR -p PORT -d FILE [-l SECS] "
                                "[-c SOCKETS] [-q WINDOW] [-B BATCH] [-t TIMEOUT]\n");
                        return 2;
                }
        }
        if (file == NULL || nsock < 1 || window < nsock || window / nsock > 4096 ||
            batch < 1 || batch > BATCH) {
                fprintf(stderr,
                        "ecsblast: need -d; 1 <= -c <= -q <= 4096 * c; -B <= %d\n",
                        BATCH);
                return 2;
        }
        window /= nsock;
        FILE *f = fopen(file, "r");
        if (f == NULL) {
                perror(file);
                return 1;
        }
        size_t nq = 0, cap = 1024;
        struct query *qs = malloc(cap * sizeof(*qs));
        char line[1024], name[512], type[32], subnet[80];
        while (qs != NULL && fgets(line, sizeof(line), f)) {
                int got = sscanf(line, "%511s %31s %79s", name, type, subnet);
                if (line[0] == '#' || got < 2)
                        continue;
                if (nq == cap) {
                        struct query *more = realloc(qs, (cap *= 2) * sizeof(*qs));
                        if (more == NULL)
                                break;
                        qs = more;
                }
                if (encode(name, type, got == 3 ? subnet : NULL, &qs[nq]) == 0)
                        nq++;
                else
                        fprintf(stderr, "ecsblast: skipping %s", line);
        }
        fclose(f);
        if (nq == 0) {
                fprintf(stderr, "ecsblast: no queries\n");
                return 1;
        }
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port)};
        if (inet_pton(AF_INET, server, &sa.sin_addr) != 1) {
                fprintf(stderr, "ecsblast: bad address %s\n", server);
                return 2;
        }
        struct sock *socks = calloc((size_t)nsock, sizeof(*socks));
        for (int i = 0; i < nsock; i++) {
                struct sock *s = &socks[i];
                s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
                if (s->fd < 0 ||
                    connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
                        perror("socket");
                        return 1;
                }
                while ((1 << s->bits) < window)
                        s->bits++;
                s->free_slots = malloc((size_t)window * sizeof(uint16_t));
                s->gen = calloc((size_t)window, sizeof(uint16_t));
                s->id = calloc((size_t)window, sizeof(uint16_t));
                s->used = calloc((size_t)window, 1);
                s->sent_at = calloc((size_t)window, sizeof(double));
                for (int j = 0; j < window; j++) {
                        s->free_slots[j] = (uint16_t)j;
                        s->gen[j] = (uint16_t)(i * 97 + j);
                }
                s->nfree = window;
        }
        static uint8_t sbuf[BATCH][QMAX], rbuf[BATCH][1500];
        static struct iovec siov[BATCH], riov[BATCH];
        static struct mmsghdr smsg[BATCH], rmsg[BATCH];
        for (int i = 0; i < BATCH; i++) {
                siov[i].iov_base = sbuf[i];
                riov[i] = (struct iovec){rbuf[i], sizeof(rbuf[i])};
                smsg[i].msg_hdr.msg_iov = &siov[i];
                smsg[i].msg_hdr.msg_iovlen = 1;
                rmsg[i].msg_hdr.msg_iov = &riov[i];
                rmsg[i].msg_hdr.msg_iovlen = 1;
        }
        uint64_t sent = 0, done = 0, lost = 0, rcode[16] = {0};
        size_t next = 0;
        double start = now(), end = start + secs, last_sweep = start, t = start;
        int in_flight = 0;
        for (;;) {
                bool sending = t < end;
                for (int k = 0; k < nsock; k++) {
                        struct sock *s = &socks[k];
                        int n =
                            recvmmsg(s->fd, rmsg, (unsigned)batch, MSG_DONTWAIT, NULL);
                        for (int i = 0; i < n; i++) {
                                if (rmsg[i].msg_len < 12)
                                        continue;
                                uint16_t id = (uint16_t)(rbuf[i][0] << 8 | rbuf[i][1]);
                                unsigned slot = id & ((1u << s->bits) - 1);
                                if (slot >= (unsigned)window || !s->used[slot] ||
                                    s->id[slot] != id)
                                        continue;
                                s->used[slot] = 0;
                                s->free_slots[s->nfree++] = (uint16_t)slot;
                                rcode[rbuf[i][3] & 15]++;
                                done++;
                                in_flight--;
                        }
                        if (!sending || s->nfree == 0)
                                continue;
                        int m = s->nfree < batch ? s->nfree : batch;
                        for (int i = 0; i < m; i++) {
                                unsigned slot = s->free_slots[s->nfree - 1 - i];
                                uint16_t id =
                                    (uint16_t)(++s->gen[slot] << s->bits | slot);
                                const struct query *q = &qs[(next + (size_t)i) % nq];
                                memcpy(sbuf[i], q->wire, q->len);
                                sbuf[i][0] = (uint8_t)(id >> 8);
                                sbuf[i][1] = (uint8_t)id;
                                siov[i].iov_len = q->len;
                        }
                        int r = sendmmsg(s->fd, smsg, (unsigned)m, 0);
                        t = now();
                        for (int i = 0; i < r; i++) {
                                unsigned slot = s->free_slots[--s->nfree];
                                s->used[slot] = 1;
                                s->id[slot] = (uint16_t)(sbuf[i][0] << 8 | sbuf[i][1]);
                                s->sent_at[slot] = t;
                        }
                        if (r > 0) {
                                next = (next + (size_t)r) % nq;
                                sent += (uint64_t)r;
                                in_flight += r;
                        }
                }
                t = now();
                if (t - last_sweep > 0.01) { /* lost queries free their slots */
                        last_sweep = t;
                        for (int k = 0; k < nsock; k++) {
                                struct sock *s = &socks[k];
                                for (int j = 0; j < window; j++)
                                        if (s->used[j] && t - s->sent_at[j] > timeout) {
                                                s->used[j] = 0;
                                                s->free_slots[s->nfree++] = (uint16_t)j;
                                                lost++;
                                                in_flight--;
                                        }
                        }
                        if (!(t < end) && in_flight <= 0)
                                break;
                }
        }
        static const char *const names[16] = {
            "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
            "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "RCODE11",
            "RCODE12",  "RCODE13", "RCODE14",  "RCODE15"};
        printf("Statistics:\n\n");
        printf("  Queries sent:         %llu\n", (unsigned long long)sent);
        printf("  Queries completed:    %llu\n", (unsigned long long)done);
        printf("  Queries lost:         %llu\n", (unsigned long long)lost);
        printf("  Response codes:      ");
        for (int i = 0; i < 16; i++)
                if (rcode[i])
                        printf(" %s %llu", names[i], (unsigned long long)rcode[i]);
        printf("\n  Queries per second:   %.1f\n", (double)done / secs);
        return 0;
}
