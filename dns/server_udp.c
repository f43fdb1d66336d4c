/*
 * server_udp.c — DNS over UDP (see server.h).
 *
 * The serving thread reads the socket in rounds of up to DNS_UDP_BATCH
 * datagrams until it is empty (under load more has arrived while a round
 * was answered), and only then sleeps in poll(2) until a datagram comes.
 * Nothing watches the socket while answers are sent: with an epoll
 * registration, every datagram freed after sending costs a locked
 * wake-up attempt (ep_poll_callback), which was a twentieth of a query's
 * CPU; blocking in recvmmsg(MSG_WAITFORONE) instead made the thread sleep
 * and wake far more often.  When the socket is bound to a wildcard address,
 * IP_PKTINFO / IPV6_RECVPKTINFO tell which local address a query came to
 * and the answer is sent from that address.
 *
 * IPv4 answers leave with DF set and IP ID 0 (IP_PMTUDISC_PROBE, below).
 * With the default (IP_PMTUDISC_WANT) they carry DF too, but the kernel may
 * still fragment them to a path MTU learnt from ICMP, so it draws an IP ID
 * for each from a shared generator (__ip_select_ident, a fiftieth of a
 * query's CPU); a datagram that is never fragmented needs none (RFC 6864).
 * An answer too long for the outgoing interface (EMSGSIZE) is sent again
 * as the empty TC=1 response, and the client asks over TCP.
 *
 * Closing sets `stop` and shuts the socket down, which wakes the poll; its
 * timeout is the backstop.  Signals are blocked on the thread so that they
 * reach the loop.
 */
#include "dns/server.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dns/wire.h"
#include "dns/zone.h"

#define CMSG_SPACE_SIZE 64
#define IDLE_WAKE_MS    500 /* backstop for noticing `stop` */
/* Query buffers are padded so that they do not all start at the same offset
 * of a 4 KiB page, which would put them in one L1 cache set. */
#define QUERY_STRIDE (DNS_UDP_RECV_SIZE + 64)

struct dns_udp_batch {
        struct mmsghdr in[DNS_UDP_BATCH];
        struct mmsghdr out[DNS_UDP_BATCH];
        struct iovec in_iov[DNS_UDP_BATCH];
        struct iovec out_iov[DNS_UDP_BATCH];
        struct sockaddr_storage peer[DNS_UDP_BATCH];
        uint8_t in_cmsg[DNS_UDP_BATCH][CMSG_SPACE_SIZE];
        uint8_t out_cmsg[DNS_UDP_BATCH][CMSG_SPACE_SIZE];
        uint8_t query[DNS_UDP_BATCH][QUERY_STRIDE];
        uint8_t answer[DNS_UDP_BATCH][DNS_EDNS_OUR_PAYLOAD];
        struct dns_query parsed[DNS_UDP_BATCH];
        enum dns_parse_status status[DNS_UDP_BATCH];
        enum dns_cookie_verdict cookie[DNS_UDP_BATCH];
        size_t len[DNS_UDP_BATCH];       /* of each answer; 0: none */
        uint8_t origin[DNS_UDP_BATCH];   /* the answer each out[] entry sends */
        uint64_t account[DNS_UDP_BATCH]; /* RRL account of each answer */
        bool charge[DNS_UDP_BATCH];      /* to be charged to it */
        /* The last client RRL looked at, within the batch: whether it is
         * exempt, and its network's part of the account. */
        bool last_known;
        bool last_exempt;
        struct dns_client_addr last_client;
        uint64_t last_network;
};

static bool is_wildcard(const struct sockaddr *addr)
{
        if (addr->sa_family == AF_INET)
                return ((const struct sockaddr_in *)addr)->sin_addr.s_addr ==
                       htonl(INADDR_ANY);
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)addr;
        return memcmp(&a6->sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0;
}

/* Copies the destination address of a query into the reply's control data. */
static size_t reply_cmsg(const struct msghdr *in, uint8_t *out)
{
        for (struct cmsghdr *c = CMSG_FIRSTHDR(in); c != NULL;
             c = CMSG_NXTHDR((struct msghdr *)in, c)) {
                struct msghdr fake = {.msg_control = out,
                                      .msg_controllen = CMSG_SPACE_SIZE};
                struct cmsghdr *o = CMSG_FIRSTHDR(&fake);
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                        struct in_pktinfo info;
                        memcpy(&info, CMSG_DATA(c), sizeof(info));
                        info.ipi_ifindex = 0;
                        info.ipi_spec_dst = info.ipi_addr;
                        o->cmsg_level = IPPROTO_IP;
                        o->cmsg_type = IP_PKTINFO;
                        o->cmsg_len = CMSG_LEN(sizeof(info));
                        memcpy(CMSG_DATA(o), &info, sizeof(info));
                        return CMSG_SPACE(sizeof(info));
                }
                if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                        struct in6_pktinfo info;
                        memcpy(&info, CMSG_DATA(c), sizeof(info));
                        o->cmsg_level = IPPROTO_IPV6;
                        o->cmsg_type = IPV6_PKTINFO;
                        o->cmsg_len = CMSG_LEN(sizeof(info));
                        memcpy(CMSG_DATA(o), &info, sizeof(info));
                        return CMSG_SPACE(sizeof(info));
                }
        }
        return 0;
}

static uint32_t now_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* vDSO: no system call */
        return (uint32_t)ts.tv_sec;
}

/* For the processing-time histogram: once per batch, from the vDSO. */
static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void count(_Atomic uint64_t *counter)
{
        atomic_store_explicit(counter,
                              atomic_load_explicit(counter, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

/* The RRL account a response is charged to: its kind, and the name. */
static enum dns_rrl_kind response_kind(const struct dns_query *q,
                                       enum dns_parse_status st, const uint8_t *answer,
                                       uint64_t *name)
{
        unsigned rcode = answer[3] & 0xf;
        *name = 0;
        if (st != DNS_PARSE_OK ||
            (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN))
                return DNS_RRL_ERROR;
        if (rcode == DNS_RCODE_NXDOMAIN) {
                *name = q->zone_known && q->zone != NULL ? q->zone->hash : 0;
                return DNS_RRL_NXDOMAIN;
        }
        if (wire_get16(answer + 6) == 0) {
                *name = q->qname.hash[0];
                return DNS_RRL_NODATA;
        }
        *name = q->qname.hash[0] ^ q->qtype;
        return DNS_RRL_ANSWER;
}

/* Rewrites answer i as the empty TC=1 response: a slipped one, or one too
 * long for the interface. */
static size_t truncated(struct dns_udp_batch *b, int i)
{
        struct dns_query *q = &b->parsed[i];
        uint16_t flags = wire_get16(b->answer[i] + 2);
        unsigned rcode = flags & 0xf; /* the header's part of it */
        if (b->status[i] == DNS_PARSE_BADVERS)
                rcode = DNS_RCODE_BADVERS;
        else if (b->status[i] == DNS_PARSE_BADCOOKIE)
                rcode = DNS_RCODE_BADCOOKIE;
        struct dns_writer w;
        dns_writer_start(&w, q, b->answer[i], DNS_UDP_MAX_NOEDNS);
        w.truncated = true;
        return dns_writer_finish(&w, q, flags & DNS_FLAG_AA, rcode);
}

/*
 * Response Rate Limiting of a batch's answers: each answer not exempt (by
 * its network or a valid cookie) is charged to its account, and dropped
 * (len 0) or slipped over the limit.  Each account is found, and its cache
 * line fetched, as soon as its answer is written (rate_limit_account), so
 * that the table's cache misses overlap the next answers' work instead of
 * queueing up behind one another; the batch is charged after
 * (rate_limit_charge).  A batch's datagrams mostly come from a few
 * clients, one after another: the exemption and the network's part of the
 * account are worked out again only when the client changes.
 */
static void rate_limit_account(struct dns_udp_server *s, int i)
{
        struct dns_udp_batch *b = s->batch;
        struct dns_rrl *rrl = s->limits.rrl;
        b->charge[i] = false;
        if (b->len[i] == 0 ||
            (s->limits.cookies != NULL && b->cookie[i] == DNS_COOKIE_VALID))
                return;
        struct dns_client_addr client;
        dns_client_addr_set(&client, (struct sockaddr *)&b->peer[i]);
        if (!b->last_known || !dns_client_addr_equal(&client, &b->last_client)) {
                b->last_known = true;
                b->last_client = client;
                b->last_exempt = dns_rrl_exempt(rrl, &client);
                b->last_network = dns_rrl_network(rrl, &client);
        }
        if (b->last_exempt)
                return;
        uint64_t name;
        enum dns_rrl_kind kind =
            response_kind(&b->parsed[i], b->status[i], b->answer[i], &name);
        b->account[i] = dns_rrl_account_of(rrl, b->last_network, kind, name);
        b->charge[i] = true;
        dns_rrl_prefetch(rrl, b->account[i]);
}

static void rate_limit_charge(struct dns_udp_server *s, int n)
{
        struct dns_udp_batch *b = s->batch;
        struct dns_rrl *rrl = s->limits.rrl;
        uint32_t now = now_seconds();
        for (int i = 0; i < n; i++) {
                if (!b->charge[i])
                        continue;
                switch (dns_rrl_charge(rrl, b->account[i], now, &s->slip_count)) {
                case DNS_RRL_PASS:
                        break;
                case DNS_RRL_DROP:
                        count(&s->limit_stats.rrl_dropped);
                        b->len[i] = 0;
                        break;
                case DNS_RRL_SLIP:
                        count(&s->limit_stats.rrl_slipped);
                        b->len[i] = truncated(b, i);
                        break;
                }
        }
}

/*
 * The cookies of a batch: each query's COOKIE judged and its reply cookie
 * made; with cookies required, a query with a client cookie but no valid
 * server cookie gets BADCOOKIE (RFC 7873 §5.2.3).
 */
static void check_cookies(struct dns_udp_server *s, int n)
{
        struct dns_udp_batch *b = s->batch;
        dns_cookie_secrets_load(s->limits.cookies, &s->keys);
        uint32_t wall = (uint32_t)time(NULL);
        for (int i = 0; i < n; i++) {
                b->cookie[i] = DNS_COOKIE_ABSENT;
                enum dns_parse_status st = b->status[i];
                if (b->parsed[i].cookie == NULL ||
                    (st != DNS_PARSE_OK && st != DNS_PARSE_BADVERS &&
                     st != DNS_PARSE_NOQUESTION))
                        continue;
                struct dns_client_addr client;
                dns_client_addr_set(&client, (struct sockaddr *)&b->peer[i]);
                enum dns_cookie_verdict v =
                    dns_cookie_answer(&s->keys, &b->parsed[i], &client, wall);
                b->cookie[i] = v;
                switch (v) {
                case DNS_COOKIE_VALID:
                        count(&s->limit_stats.cookie_valid);
                        continue;
                case DNS_COOKIE_CLIENT_ONLY:
                        count(&s->limit_stats.cookie_client_only);
                        break;
                case DNS_COOKIE_BAD:
                        count(&s->limit_stats.cookie_bad);
                        break;
                case DNS_COOKIE_ABSENT:
                        continue;
                }
                if (s->limits.cookies_required && st == DNS_PARSE_OK) {
                        b->status[i] = DNS_PARSE_BADCOOKIE;
                        count(&s->limit_stats.badcookie_sent);
                }
        }
}

/* Queues the batch's queries for the query log (dns/qlog.h) and dnstap
 * (dns/dnstap.h), each when on. */
static void log_queries(struct dns_udp_server *s, int n, uint64_t received)
{
        struct dns_udp_batch *b = s->batch;
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        uint64_t wall_ns = (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec;
        uint64_t elapsed = now_ns() - received;
        for (int i = 0; i < n; i++) {
                struct dns_client_addr client;
                const struct sockaddr *peer = (const struct sockaddr *)&b->peer[i];
                dns_client_addr_set(&client, peer);
                uint16_t port = peer->sa_family == AF_INET6
                                    ? ((const struct sockaddr_in6 *)peer)->sin6_port
                                    : ((const struct sockaddr_in *)peer)->sin_port;
                if (s->qlog != NULL)
                        dns_qlog_record(s->qlog, &b->parsed[i], b->status[i],
                                        b->answer[i], b->len[i], DNS_TRANSPORT_UDP,
                                        &client, ntohs(port), wall_ns, elapsed);
                if (s->dnstap != NULL &&
                    (b->status[i] != DNS_PARSE_DROP || b->len[i] > 0)) /* a query */
                        dns_dnstap_record(s->dnstap, b->query[i],
                                          b->in[i].msg_len < DNS_UDP_RECV_SIZE
                                              ? b->in[i].msg_len
                                              : DNS_UDP_RECV_SIZE,
                                          b->answer[i], b->len[i], 0, &client,
                                          ntohs(port), wall_ns, elapsed);
        }
}

/* The receive headers, all of them once: recvmmsg() leaves the buffers'
 * addresses alone and writes back only the lengths and flags, which
 * round_trip() sets again for the entries it used. */
static void receive_arm(struct dns_udp_server *s)
{
        struct dns_udp_batch *b = s->batch;
        for (unsigned i = 0; i < DNS_UDP_BATCH; i++) {
                b->in_iov[i] = (struct iovec){b->query[i], DNS_UDP_RECV_SIZE};
                b->in[i].msg_hdr = (struct msghdr){
                    .msg_name = &b->peer[i],
                    .msg_namelen = sizeof(b->peer[i]),
                    .msg_iov = &b->in_iov[i],
                    .msg_iovlen = 1,
                    .msg_control = s->pktinfo ? b->in_cmsg[i] : NULL,
                    .msg_controllen = s->pktinfo ? CMSG_SPACE_SIZE : 0,
                };
        }
}

/* Receives, answers and sends one batch; returns datagrams received. */
static int round_trip(struct dns_udp_server *s)
{
        struct dns_udp_batch *b = s->batch;
        int n = recvmmsg(s->fd, b->in, DNS_UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0 || atomic_load_explicit(&s->stop, memory_order_relaxed))
                return n;
        uint64_t received = now_ns();
        qsbr_online(&s->db->readers, &s->reader);
        const struct dns_catalog *catalog = dns_db_current(s->db);
        for (int i = 0; i < n; i++)
                b->status[i] =
                    b->in[i].msg_hdr.msg_flags & MSG_TRUNC
                        ? DNS_PARSE_DROP /* longer than any query we answer */
                        : dns_query_parse(&b->parsed[i], b->query[i], b->in[i].msg_len);
        for (int i = 0; i < n; i++) {
                if (b->status[i] != DNS_PARSE_OK)
                        continue;
                struct dns_client_addr client;
                dns_client_addr_set(&client, (struct sockaddr *)&b->peer[i]);
                dns_query_locate(&b->parsed[i], &client, s->limits.ecs);
        }
        if (s->limits.any_hinfo)
                for (int i = 0; i < n; i++)
                        b->parsed[i].any_hinfo = true;
        if (s->limits.cookies != NULL)
                check_cookies(s, n);
        dns_answer_warm(catalog, b->parsed, b->status, (unsigned)n);
        bool rrl = s->limits.rrl != NULL;
        b->last_known = false;
        for (int i = 0; i < n; i++) {
                b->len[i] = dns_answer_parsed(catalog, &b->parsed[i], b->status[i],
                                              DNS_TRANSPORT_UDP, b->answer[i],
                                              s->rotation++, &s->stats);
                if (rrl)
                        rate_limit_account(s, i);
        }
        if (rrl)
                rate_limit_charge(s, n);
        for (int i = 0; i < n; i++)
                dns_metrics_count(s->metrics, DNS_TRANSPORT_UDP, &b->parsed[i],
                                  b->status[i], b->answer[i], b->len[i]);
        if (s->qlog != NULL || s->dnstap != NULL)
                log_queries(s, n, received);
        unsigned out = 0;
        for (int i = 0; i < n; i++) {
                struct msghdr *in = &b->in[i].msg_hdr;
                if (b->len[i] == 0)
                        continue;
                b->origin[out] = (uint8_t)i;
                b->out_iov[out] = (struct iovec){b->answer[i], b->len[i]};
                b->out[out].msg_hdr = (struct msghdr){
                    .msg_name = &b->peer[i],
                    .msg_namelen = in->msg_namelen,
                    .msg_iov = &b->out_iov[out],
                    .msg_iovlen = 1,
                };
                if (s->pktinfo) {
                        size_t clen = reply_cmsg(in, b->out_cmsg[out]);
                        b->out[out].msg_hdr.msg_control = clen ? b->out_cmsg[out] : NULL;
                        b->out[out].msg_hdr.msg_controllen = clen;
                }
                out++;
        }
        unsigned sent = 0;
        while (sent < out) {
                int m = sendmmsg(s->fd, b->out + sent, out - sent, MSG_DONTWAIT);
                if (m < 0) {
                        if (errno == EINTR)
                                continue;
                        int i = b->origin[sent];
                        if (errno == EMSGSIZE && b->len[i] > DNS_UDP_MAX_NOEDNS) {
                                /* Longer than the interface's MTU, and DF is
                                 * set: the empty TC=1 answer instead. */
                                b->len[i] = truncated(b, i);
                                b->out_iov[sent].iov_len = b->len[i];
                                s->stats.truncated++;
                                continue;
                        }
                        /* EAGAIN or a per-peer error: skip that datagram */
                        s->stats.dropped++;
                        sent++;
                        continue;
                }
                sent += (unsigned)m;
        }
        dns_metrics_time(s->metrics, DNS_TRANSPORT_UDP, now_ns() - received, (uint64_t)n);
        qsbr_offline(&s->reader);
        for (int i = 0; i < n; i++) { /* what the kernel wrote into them */
                b->in[i].msg_hdr.msg_namelen = sizeof(b->peer[i]);
                b->in[i].msg_hdr.msg_controllen = s->pktinfo ? CMSG_SPACE_SIZE : 0;
        }
        return n;
}

static void *serve(void *arg)
{
        struct dns_udp_server *s = arg;
        struct pollfd readable = {.fd = s->fd, .events = POLLIN};
        receive_arm(s);
        while (!atomic_load(&s->stop)) {
                if (round_trip(s) > 0)
                        continue; /* more has usually arrived meanwhile */
                /* Empty: sleep until a datagram comes.  poll() watches the
                 * socket only while it sleeps. */
                poll(&readable, 1, IDLE_WAKE_MS);
        }
        return NULL;
}

int dns_udp_server_start(struct dns_udp_server *s, const struct sockaddr *addr,
                         struct dns_db *db, const struct dns_udp_limits *limits,
                         char *err, size_t err_size)
{
        memset(s, 0, sizeof(*s));
        s->db = db;
        if (limits != NULL)
                s->limits = *limits;
        s->fd = -1;
        atomic_init(&s->stop, false);
        s->batch = malloc(sizeof(*s->batch));
        s->metrics = calloc(1, sizeof(*s->metrics));
        if (s->batch == NULL || s->metrics == NULL) {
                free(s->batch);
                free(s->metrics);
                s->batch = NULL;
                s->metrics = NULL;
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        const char *no_room = NULL; /* the output that has no ring for us */
        if (s->limits.qlog != NULL &&
            (s->qlog = dns_qlog_ring_new(s->limits.qlog)) == NULL)
                no_room = "query log";
        else if (s->limits.dnstap != NULL &&
                 (s->dnstap = dns_dnstap_ring_new(s->limits.dnstap, addr)) == NULL)
                no_room = "dnstap";
        if (no_room != NULL) {
                snprintf(err, err_size, "%s: no room for another server", no_room);
                free(s->batch);
                free(s->metrics);
                s->batch = NULL;
                s->metrics = NULL;
                return -ENOMEM;
        }
        int family = addr->sa_family;
        int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                goto fail;
        int one = 1, size = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        if (family == AF_INET6) {
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        } else {
                /* Never fragmented: DF on every answer, the path MTU learnt
                 * from ICMP ignored (a forged "fragmentation needed" cannot
                 * make us fragment), the interface's MTU the limit.  That
                 * is what RFC 9715 recommends for UDP responders, since a
                 * fragment can be forged or lost; an answer that does not
                 * fit is truncated instead (EMSGSIZE in round_trip), and
                 * answers are at most 1232 bytes, under the MTU of any
                 * ordinary link.  No IP ID is drawn for such datagrams. */
                int probe = IP_PMTUDISC_PROBE;
                setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof(probe));
        }
        s->pktinfo = is_wildcard(addr);
        if (s->pktinfo) {
                if (family == AF_INET)
                        setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
                else
                        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
        }
        socklen_t alen =
            family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        if (bind(fd, addr, alen) != 0)
                goto fail;
        s->fd = fd;
        qsbr_register(&db->readers, &s->reader);
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&s->thread, NULL, serve, s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
                qsbr_unregister(&db->readers, &s->reader);
                errno = rc;
                goto fail;
        }
        s->running = true;
        return 0;
fail:;
        int e = errno;
        snprintf(err, err_size, "UDP: %s", strerror(e));
        if (fd >= 0)
                close(fd);
        s->fd = -1;
        free(s->batch);
        s->batch = NULL;
        free(s->metrics);
        s->metrics = NULL;
        return -e;
}

void dns_udp_server_close(struct dns_udp_server *s)
{
        if (s->running) {
                atomic_store(&s->stop, true);
                shutdown(s->fd, SHUT_RDWR); /* wakes the poll */
                pthread_join(s->thread, NULL);
                qsbr_unregister(&s->db->readers, &s->reader);
                s->running = false;
        }
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        free(s->batch);
        s->batch = NULL;
        free(s->metrics);
        s->metrics = NULL;
}
