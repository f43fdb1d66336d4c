/*
 * dnstap.c — dnstap frames of every query, off the query path (see
 * dnstap.h).
 *
 * Producer: dns_dnstap_record() reserves a slot in its server's ring
 * (dns/logq.h) and copies the messages in (inline when they fit, else one
 * heap copy the writer frees), or counts a drop.  Writer thread: for each
 * slot, encode_entry() fills a Dnstap protobuf (dnstap.pb-c.h) per message
 * type selected, packs it into `buf` and hands it to the fstrm writer.  A
 * file stream goes through our own fstrm_rdwr (file_open, file_write,
 * file_close) so the writer can flush stdio when the rings are empty and
 * tell whether the path still names the file open; a socket stream is
 * fstrm's Unix writer (READY/ACCEPT/START handshake with the collector),
 * destroyed on any failure and made again on the next frame a second or
 * more later.
 */
#include "dns/dnstap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <fstrm.h>

#include "common/log.h"
#include "dns/dnstap.pb-c.h"
#include "dns/logq.h"

#define CONTENT_TYPE "protobuf:dnstap.Dnstap"
#define SLOT_ROOM    928 /* message bytes kept in the slot itself */
#define RETRY_NS     1000000000ull
#define MAX_FRAME_SIZE                                                                   \
        (2 * 65535 + 1024) /* > one message + identity (< 256) + the rest */

struct tap_entry {
        uint64_t wall_ns, elapsed_ns;
        uint8_t *heap; /* both messages when they do not fit in data; else NULL */
        uint16_t qlen, alen, port, local_port;
        uint8_t tcp;
        struct dns_client_addr client, local;
        uint8_t data[SLOT_ROOM]; /* the query, then the response */
};

struct dns_dnstap_ring {
        struct dns_logq_ring *q;
        struct dns_client_addr local;
        uint16_t local_port;
};

struct dns_dnstap {
        char *file, *socket, *identity, *version;
        unsigned messages;
        struct dns_logq *queue;
        struct dns_dnstap_ring *rings[DNS_LOGQ_MAX_RINGS];
        unsigned ring_count; /* on the thread that starts servers */
        _Atomic uint64_t queries, responses, lost, reopens;
        /* writer thread only */
        struct fstrm_writer *writer; /* NULL: not open; try again at retry_ns */
        uint64_t retry_ns;
        FILE *fp;  /* the file stream's file */
        dev_t dev; /* and its identity, to notice a rotation */
        ino_t ino;
        uint8_t *buf; /* one packed frame */
};

static void bump(_Atomic uint64_t *c)
{
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

static uint64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int dns_dnstap_messages_parse(const char *text, unsigned *out, char *err, size_t err_size)
{
        unsigned set = 0;
        const char *p = text;
        for (;;) {
                size_t n = strcspn(p, ",");
                if (n == 5 && strncmp(p, "query", 5) == 0) {
                        set |= DNS_DNSTAP_QUERY;
                } else if (n == 8 && strncmp(p, "response", 8) == 0) {
                        set |= DNS_DNSTAP_RESPONSE;
                } else {
                        snprintf(err, err_size,
                                 "'%.*s' is not query or response (a list: "
                                 "query,response)",
                                 (int)(n < 64 ? n : 64), p);
                        return -1;
                }
                if (p[n] == '\0')
                        break;
                p += n + 1;
        }
        *out = set;
        return 0;
}

/* ---- the producer side ---- */

void dns_dnstap_record(struct dns_dnstap_ring *r, const uint8_t *query, size_t qlen,
                       const uint8_t *answer, size_t alen, int tcp,
                       const struct dns_client_addr *client, uint16_t port,
                       uint64_t wall_ns, uint64_t elapsed_ns)
{
        if (qlen > 65535)
                qlen = 65535;
        if (alen > 65535)
                alen = 65535;
        struct tap_entry *e = dns_logq_reserve(r->q);
        if (e == NULL)
                return; /* counted as dropped */
        uint8_t *to = e->data;
        e->heap = NULL;
        if (qlen + alen > SLOT_ROOM) {
                /* Rare (a large TCP or EDNS answer): one copy on the heap. */
                if ((e->heap = malloc(qlen + alen)) == NULL) {
                        dns_logq_drop(r->q);
                        return;
                }
                to = e->heap;
        }
        if (qlen > 0)
                memcpy(to, query, qlen);
        if (alen > 0)
                memcpy(to + qlen, answer, alen);
        e->qlen = (uint16_t)qlen;
        e->alen = (uint16_t)alen;
        e->wall_ns = wall_ns;
        e->elapsed_ns = elapsed_ns < wall_ns ? elapsed_ns : 0;
        e->tcp = tcp != 0;
        e->client = *client;
        e->port = port;
        e->local = r->local;
        e->local_port = r->local_port;
        dns_logq_commit(r->q);
}

/* ---- the file stream: our fstrm_rdwr, so that we can flush and stat ---- */

static fstrm_res file_open(void *obj)
{
        struct dns_dnstap *tap = obj;
        tap->fp = fopen(tap->file, "we");
        if (tap->fp == NULL)
                return fstrm_res_failure;
        struct stat st;
        if (fstat(fileno(tap->fp), &st) == 0) {
                tap->dev = st.st_dev;
                tap->ino = st.st_ino;
        }
        return fstrm_res_success;
}

static fstrm_res file_close(void *obj)
{
        struct dns_dnstap *tap = obj;
        if (tap->fp == NULL)
                return fstrm_res_failure;
        int rc = fclose(tap->fp);
        tap->fp = NULL;
        return rc == 0 ? fstrm_res_success : fstrm_res_failure;
}

static fstrm_res file_write(void *obj, const struct iovec *iov, int iovcnt)
{
        struct dns_dnstap *tap = obj;
        if (tap->fp == NULL)
                return fstrm_res_failure;
        for (int i = 0; i < iovcnt; i++)
                if (fwrite_unlocked(iov[i].iov_base, 1, iov[i].iov_len, tap->fp) !=
                    iov[i].iov_len)
                        return fstrm_res_failure;
        return fstrm_res_success;
}

/* Makes and opens the stream; false (reported once per failure) when it
 * cannot be opened now. */
static bool stream_open(struct dns_dnstap *tap)
{
        struct fstrm_writer_options *wopt = fstrm_writer_options_init();
        if (wopt == NULL)
                return false;
        fstrm_writer_options_add_content_type(wopt, CONTENT_TYPE, strlen(CONTENT_TYPE));
        if (tap->file != NULL) {
                struct fstrm_rdwr *rdwr = fstrm_rdwr_init(tap);
                if (rdwr != NULL) {
                        fstrm_rdwr_set_open(rdwr, file_open);
                        fstrm_rdwr_set_close(rdwr, file_close);
                        fstrm_rdwr_set_write(rdwr, file_write);
                        tap->writer = fstrm_writer_init(wopt, &rdwr);
                        if (tap->writer == NULL)
                                fstrm_rdwr_destroy(&rdwr);
                }
        } else {
                struct fstrm_unix_writer_options *uwopt =
                    fstrm_unix_writer_options_init();
                if (uwopt != NULL) {
                        fstrm_unix_writer_options_set_socket_path(uwopt, tap->socket);
                        tap->writer = fstrm_unix_writer_init(uwopt, wopt);
                        fstrm_unix_writer_options_destroy(&uwopt);
                }
        }
        fstrm_writer_options_destroy(&wopt);
        if (tap->writer != NULL && fstrm_writer_open(tap->writer) == fstrm_res_success)
                return true;
        fstrm_writer_destroy(&tap->writer); /* NULL-safe; leaves NULL */
        if (tap->fp != NULL)
                file_close(tap);
        tap->retry_ns = mono_ns() + RETRY_NS;
        return false;
}

/* Writes the STOP frame (and, to a collector, waits for FINISH) and closes. */
static void stream_close(struct dns_dnstap *tap)
{
        if (tap->writer == NULL)
                return;
        if (tap->fp != NULL)
                fflush(tap->fp);
        fstrm_writer_destroy(&tap->writer);
        if (tap->fp != NULL)
                file_close(tap); /* when the STOP frame could not be written */
}

/* ---- the writer thread ---- */

/* Writes the frame in buf; false (counted as lost) when it could not be. */
static bool write_frame(struct dns_dnstap *tap, size_t len)
{
        if (tap->writer == NULL) {
                if (mono_ns() < tap->retry_ns || !stream_open(tap)) {
                        bump(&tap->lost);
                        return false;
                }
                bump(&tap->reopens);
                LOG_INFO("dnstap: %s %s opened again", tap->file ? "file" : "socket",
                         tap->file ? tap->file : tap->socket);
        }
        if (fstrm_writer_write(tap->writer, tap->buf, len) == fstrm_res_success)
                return true;
        bump(&tap->lost);
        if (tap->file == NULL) { /* the collector went away: connect again later */
                LOG_WARN("dnstap: socket %s: write failed; reconnecting", tap->socket);
                stream_close(tap);
                tap->retry_ns = mono_ns() + RETRY_NS;
        }
        return false;
}

static void encode(struct dns_dnstap *tap, const struct tap_entry *e, bool response)
{
        const uint8_t *data = e->heap != NULL ? e->heap : e->data;
        Dnstap__Message m = DNSTAP__MESSAGE__INIT;
        m.type = response ? DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE
                          : DNSTAP__MESSAGE__TYPE__AUTH_QUERY;
        if (e->client.family != 0) {
                m.has_socket_family = 1;
                m.socket_family = e->client.family == AF_INET6
                                      ? DNSTAP__SOCKET_FAMILY__INET6
                                      : DNSTAP__SOCKET_FAMILY__INET;
                m.has_query_address = 1;
                m.query_address.len = e->client.len;
                m.query_address.data = (uint8_t *)e->client.bytes;
                m.has_query_port = 1;
                m.query_port = e->port;
        }
        if (e->local.family != 0 && e->local.family == e->client.family) {
                m.has_response_address = 1;
                m.response_address.len = e->local.len;
                m.response_address.data = (uint8_t *)e->local.bytes;
                m.has_response_port = 1;
                m.response_port = e->local_port;
        }
        m.has_socket_protocol = 1;
        m.socket_protocol =
            e->tcp ? DNSTAP__SOCKET_PROTOCOL__TCP : DNSTAP__SOCKET_PROTOCOL__UDP;
        uint64_t received = e->wall_ns - e->elapsed_ns;
        m.has_query_time_sec = m.has_query_time_nsec = 1;
        m.query_time_sec = received / 1000000000u;
        m.query_time_nsec = (uint32_t)(received % 1000000000u);
        if (response) {
                m.has_response_time_sec = m.has_response_time_nsec = 1;
                m.response_time_sec = e->wall_ns / 1000000000u;
                m.response_time_nsec = (uint32_t)(e->wall_ns % 1000000000u);
                m.has_response_message = 1;
                m.response_message.len = e->alen;
                m.response_message.data = (uint8_t *)data + e->qlen;
        } else {
                m.has_query_message = 1;
                m.query_message.len = e->qlen;
                m.query_message.data = (uint8_t *)data;
        }
        Dnstap__Dnstap d = DNSTAP__DNSTAP__INIT;
        d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
        d.message = &m;
        d.has_identity = 1;
        d.identity.len = strlen(tap->identity);
        d.identity.data = (uint8_t *)tap->identity;
        d.has_version = 1;
        d.version.len = strlen(tap->version);
        d.version.data = (uint8_t *)tap->version;
        /* buf holds any frame: one message of at most 64 KiB and its
         * addresses, times, identity and version. */
        size_t len = dnstap__dnstap__pack(&d, tap->buf);
        if (write_frame(tap, len))
                bump(response ? &tap->responses : &tap->queries);
}

static void write_entry(void *ctx, void *entry)
{
        struct dns_dnstap *tap = ctx;
        struct tap_entry *e = entry;
        if (tap->messages & DNS_DNSTAP_QUERY)
                encode(tap, e, false);
        if ((tap->messages & DNS_DNSTAP_RESPONSE) && e->alen > 0)
                encode(tap, e, true);
        free(e->heap);
        e->heap = NULL;
}

static void flush(void *ctx)
{
        struct dns_dnstap *tap = ctx;
        if (tap->fp != NULL)
                fflush(tap->fp);
}

/* SIGHUP: a file that logrotate moved is closed (STOP frame) and the path
 * created again; a file still at its path is kept. */
static void reopen(void *ctx)
{
        struct dns_dnstap *tap = ctx;
        if (tap->file == NULL)
                return;
        struct stat st;
        if (tap->fp != NULL && stat(tap->file, &st) == 0 && st.st_dev == tap->dev &&
            st.st_ino == tap->ino)
                return;
        stream_close(tap);
        if (stream_open(tap))
                bump(&tap->reopens);
        else
                LOG_ERROR("dnstap: cannot open %s again: %s; trying each second",
                          tap->file, strerror(errno));
}

static const struct dns_logq_ops tap_ops = {
    .write = write_entry,
    .idle = flush,
    .reopen = reopen,
};

/* ---- life cycle ---- */

static void tap_free(struct dns_dnstap *tap)
{
        for (unsigned i = 0; i < tap->ring_count; i++)
                free(tap->rings[i]);
        free(tap->file);
        free(tap->socket);
        free(tap->identity);
        free(tap->version);
        free(tap->buf);
        free(tap);
}

int dns_dnstap_open(struct dns_dnstap **out, const struct dns_dnstap_config *cfg,
                    char *err, size_t err_size)
{
        struct dns_dnstap *tap = calloc(1, sizeof(*tap));
        if (tap == NULL) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        tap->messages = cfg->messages;
        tap->file = cfg->file ? strdup(cfg->file) : NULL;
        tap->socket = cfg->file ? NULL : strdup(cfg->socket);
        tap->identity = strdup(cfg->identity ? cfg->identity : "");
        tap->version = strdup(cfg->version ? cfg->version : "");
        tap->buf = malloc(MAX_FRAME_SIZE);
        if ((tap->file == NULL && tap->socket == NULL) || tap->identity == NULL ||
            tap->version == NULL || tap->buf == NULL) {
                tap_free(tap);
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        if (!stream_open(tap)) {
                if (tap->file != NULL) {
                        int e = errno ? errno : EIO;
                        snprintf(err, err_size, "dnstap file %s: %s", tap->file,
                                 strerror(e));
                        tap_free(tap);
                        return -e;
                }
                LOG_WARN("dnstap: no collector at %s yet; connecting each second",
                         tap->socket);
        }
        const struct dns_logq_config qc = {
            .entry_size = sizeof(struct tap_entry),
            .queue = cfg->queue,
            .ops = &tap_ops,
            .ctx = tap,
        };
        char why[200];
        int rc = dns_logq_start(&tap->queue, &qc, why, sizeof(why));
        if (rc != 0) {
                snprintf(err, err_size, "dnstap: %s", why);
                stream_close(tap);
                tap_free(tap);
                return rc;
        }
        *out = tap;
        return 0;
}

struct dns_dnstap_ring *dns_dnstap_ring_new(struct dns_dnstap *tap,
                                            const struct sockaddr *local)
{
        if (tap->ring_count == DNS_LOGQ_MAX_RINGS)
                return NULL;
        struct dns_dnstap_ring *r = calloc(1, sizeof(*r));
        if (r == NULL)
                return NULL;
        if ((r->q = dns_logq_ring_new(tap->queue)) == NULL) {
                free(r);
                return NULL;
        }
        if (local != NULL) {
                dns_client_addr_set(&r->local, local);
                r->local_port =
                    ntohs(local->sa_family == AF_INET6
                              ? ((const struct sockaddr_in6 *)local)->sin6_port
                              : ((const struct sockaddr_in *)local)->sin_port);
        }
        tap->rings[tap->ring_count++] = r;
        return r;
}

void dns_dnstap_reopen(struct dns_dnstap *tap)
{
        dns_logq_reopen(tap->queue);
}

void dns_dnstap_stats(struct dns_dnstap *tap, struct dns_dnstap_stats *out)
{
        out->queries = atomic_load_explicit(&tap->queries, memory_order_relaxed);
        out->responses = atomic_load_explicit(&tap->responses, memory_order_relaxed);
        out->lost = atomic_load_explicit(&tap->lost, memory_order_relaxed);
        out->reopens = atomic_load_explicit(&tap->reopens, memory_order_relaxed);
        out->dropped = dns_logq_dropped(tap->queue);
}

void dns_dnstap_close(struct dns_dnstap *tap)
{
        if (tap == NULL)
                return;
        uint64_t dropped = dns_logq_dropped(tap->queue);
        dns_logq_stop(tap->queue); /* writes what is queued */
        stream_close(tap);
        if (dropped > 0)
                LOG_WARN("dnstap: %llu queries dropped (queue full) since start",
                         (unsigned long long)dropped);
        tap_free(tap);
}
