/*
 * qlog.c — the query log (see qlog.h).
 *
 * Each ring is a single-producer single-consumer queue: the producer
 * writes the entry at `head`, then publishes head + 1 with release order;
 * the writer reads entries up to the head it loads with acquire order and
 * publishes `tail` the same way.  The writer goes round the rings taking
 * what each holds; when all are empty it flushes stdio, looks at the
 * reopen and stop flags, and sleeps 2 ms.  Closing sets `stop`; the writer
 * empties every ring once more before it ends.
 */
#include "dns/qlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "dns/name.h"
#include "dns/text.h"
#include "dns/wire.h"
#include "dns/zone.h"

#define IDLE_SLEEP_NS 2000000

struct qlog_entry {
        uint64_t wall_ns;
        uint32_t elapsed_us;
        uint16_t qtype, qclass, flags, size, port;
        uint8_t rcode_index, proto, has_question;
        struct dns_client_addr client;
        uint8_t qname_len, zone_len;
        uint8_t qname[DNS_NAME_MAXLEN];
        uint8_t zone[DNS_NAME_MAXLEN];
};

struct dns_qlog_ring {
        _Atomic uint64_t head; /* written by the producer */
        uint64_t seen;         /* producer: queries offered, for sampling */
        _Atomic uint64_t dropped;
        char pad[64];
        _Atomic uint64_t tail; /* written by the writer */
        size_t mask;
        struct qlog_entry *entries;
        struct dns_qlog *log;
};

struct dns_qlog {
        char *path;
        FILE *file;
        unsigned sample;
        size_t queue;
        unsigned long long node_id;
        uint8_t zones[DNS_QLOG_MAX_ZONES][DNS_NAME_MAXLEN + 1];
        unsigned zone_count;
        struct dns_qlog_ring *rings[DNS_QLOG_MAX_RINGS];
        _Atomic unsigned ring_count;
        pthread_t thread;
        atomic_bool stop, reopen;
        _Atomic uint64_t written, reopens;
        /* writer thread only */
        char node_text[48]; /* " node=N client=" */
        time_t time_cached;
        char time_text[32];
};

static const char *const rcode_names[18] = {
    "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "DSOTYPENI",
    "RCODE12",  "RCODE13", "RCODE14",  "RCODE15",  "BADVERS", "BADCOOKIE"};

static bool zone_wanted(const struct dns_qlog *log, const struct dns_query *q)
{
        if (log->zone_count == 0)
                return true;
        if (!q->zone_known || q->zone == NULL)
                return false;
        for (unsigned i = 0; i < log->zone_count; i++) {
                int len = dns_name_wire_len(log->zones[i], DNS_NAME_MAXLEN + 1);
                if (len == q->zone->origin_len &&
                    memcmp(log->zones[i], q->zone->origin, (size_t)len) == 0)
                        return true;
        }
        return false;
}

static void bump(_Atomic uint64_t *c)
{
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

void dns_qlog_record(struct dns_qlog_ring *r, const struct dns_query *q,
                     enum dns_parse_status status, const uint8_t *answer, size_t len,
                     int proto, const struct dns_client_addr *client, uint16_t port,
                     uint64_t wall_ns, uint64_t elapsed_ns)
{
        struct dns_qlog *log = r->log;
        if (status == DNS_PARSE_DROP && len == 0)
                return; /* not a query (a response, a runt): nothing to say */
        if (!zone_wanted(log, q))
                return;
        if (log->sample > 1 && r->seen++ % log->sample != 0)
                return;
        uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head - tail > r->mask) {
                bump(&r->dropped);
                return;
        }
        struct qlog_entry *e = &r->entries[head & r->mask];
        e->wall_ns = wall_ns;
        e->elapsed_us =
            (uint32_t)(elapsed_ns / 1000 < UINT32_MAX ? elapsed_ns / 1000 : UINT32_MAX);
        e->qtype = q->qtype;
        e->qclass = q->qclass;
        e->proto = (uint8_t)proto;
        e->client = *client;
        e->port = port;
        e->size = (uint16_t)len;
        e->flags = len >= DNS_HEADER_SIZE ? wire_get16(answer + 2) : 0;
        unsigned rc = len >= DNS_HEADER_SIZE ? answer[3] & 0xf : 0;
        if (status == DNS_PARSE_BADVERS && rc == (DNS_RCODE_BADVERS & 0xf))
                rc = 16;
        if (status == DNS_PARSE_BADCOOKIE && rc == (DNS_RCODE_BADCOOKIE & 0xf))
                rc = 17;
        e->rcode_index = len >= DNS_HEADER_SIZE ? (uint8_t)rc : 0xff;
        e->has_question = q->question_size > 0 && status != DNS_PARSE_DROP;
        e->qname_len = 0;
        if (e->has_question) {
                int n = dns_name_wire_len(q->wire + DNS_HEADER_SIZE,
                                          q->size - DNS_HEADER_SIZE);
                if (n > 0 && n <= DNS_NAME_MAXLEN) {
                        memcpy(e->qname, q->wire + DNS_HEADER_SIZE, (size_t)n);
                        e->qname_len = (uint8_t)n;
                }
        }
        e->zone_len = 0;
        if (q->zone_known && q->zone != NULL && q->zone->origin_len <= DNS_NAME_MAXLEN) {
                memcpy(e->zone, q->zone->origin, q->zone->origin_len);
                e->zone_len = (uint8_t)q->zone->origin_len;
        }
        atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

/* A line being built; the caller's buffer is long enough for any line. */
struct line {
        char *p;
};

static void put_str(struct line *l, const char *text)
{
        size_t n = strlen(text);
        memcpy(l->p, text, n);
        l->p += n;
}

static void put_uint(struct line *l, uint64_t v)
{
        char digits[24];
        int n = 0;
        do {
                digits[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v != 0);
        while (n > 0)
                *l->p++ = digits[--n];
}

static void put_name(struct line *l, const uint8_t *wire, size_t len)
{
        if (len == 0) {
                *l->p++ = '-';
                return;
        }
        dns_name_to_text(wire, l->p, DNS_NAME_MAXLEN * 4 + 8);
        l->p += strlen(l->p);
}

/* "2026-11-30T14:43:37": formatted once per second. */
static void put_time(struct dns_qlog *log, struct line *l, uint64_t wall_ns)
{
        time_t secs = (time_t)(wall_ns / 1000000000u);
        if (secs != log->time_cached) {
                struct tm tm;
                gmtime_r(&secs, &tm);
                strftime(log->time_text, sizeof(log->time_text), "%Y-%m-%dT%H:%M:%S",
                         &tm);
                log->time_cached = secs;
        }
        put_str(l, log->time_text);
        unsigned us = (unsigned)(wall_ns % 1000000000u / 1000);
        char frac[8] = {'.'};
        for (int i = 6; i >= 1; i--, us /= 10)
                frac[i] = (char)('0' + us % 10);
        frac[7] = 'Z';
        memcpy(l->p, frac, 8);
        l->p += 8;
}

static void write_entry(struct dns_qlog *log, const struct qlog_entry *e)
{
        char buf[2 * (DNS_NAME_MAXLEN * 4 + 8) + 512];
        struct line l = {buf};
        put_time(log, &l, e->wall_ns);
        put_str(&l, log->node_text); /* " node=N client=" */
        if (e->client.family == 0 ||
            inet_ntop(e->client.family, e->client.bytes, l.p, INET6_ADDRSTRLEN) == NULL)
                put_str(&l, "-");
        else
                l.p += strlen(l.p);
        *l.p++ = '#';
        put_uint(&l, e->port);
        put_str(&l, " ecs=- zone=");
        put_name(&l, e->zone, e->zone_len);
        put_str(&l, " name=");
        put_name(&l, e->qname, e->qname_len);
        put_str(&l, " type=");
        if (e->has_question) {
                char type[24];
                put_str(&l, dns_type_to_text(e->qtype, type, sizeof(type)));
                put_str(&l, " class=");
                if (e->qclass == DNS_CLASS_IN) {
                        put_str(&l, "IN");
                } else {
                        put_str(&l, "CLASS");
                        put_uint(&l, e->qclass);
                }
        } else {
                put_str(&l, "- class=-");
        }
        put_str(&l, " rcode=");
        put_str(&l, e->rcode_index < 18 ? rcode_names[e->rcode_index] : "-");
        put_str(&l, " flags=");
        static const struct {
                uint16_t bit;
                const char *name;
        } bits[] = {{DNS_FLAG_QR, "qr"}, {DNS_FLAG_AA, "aa"}, {DNS_FLAG_TC, "tc"},
                    {DNS_FLAG_RD, "rd"}, {DNS_FLAG_RA, "ra"}, {DNS_FLAG_AD, "ad"},
                    {DNS_FLAG_CD, "cd"}};
        bool any = false;
        for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
                if (e->flags & bits[i].bit) {
                        if (any)
                                *l.p++ = ',';
                        put_str(&l, bits[i].name);
                        any = true;
                }
        if (!any)
                *l.p++ = '-';
        put_str(&l, e->proto ? " proto=tcp size=" : " proto=udp size=");
        put_uint(&l, e->size);
        put_str(&l, " time_us=");
        put_uint(&l, e->elapsed_us);
        put_str(&l, " policy=-\n");
        fwrite_unlocked(buf, 1, (size_t)(l.p - buf), log->file);
        bump(&log->written);
}

/* Opens the path again; the old file stays in use when that fails. */
static void reopen_file(struct dns_qlog *log)
{
        fflush(log->file);
        FILE *f = fopen(log->path, "ae");
        if (f == NULL) {
                LOG_ERROR("query log: cannot reopen %s: %s; writing to the old file",
                          log->path, strerror(errno));
                return;
        }
        fclose(log->file);
        log->file = f;
        bump(&log->reopens);
}

/* Takes every entry queued in every ring; returns how many. */
static size_t drain(struct dns_qlog *log)
{
        size_t done = 0;
        unsigned n = atomic_load_explicit(&log->ring_count, memory_order_acquire);
        for (unsigned i = 0; i < n; i++) {
                struct dns_qlog_ring *r = log->rings[i];
                uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
                uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
                for (; tail != head; tail++, done++) {
                        write_entry(log, &r->entries[tail & r->mask]);
                        if (atomic_load_explicit(&log->reopen, memory_order_relaxed)) {
                                atomic_store(&log->reopen, false);
                                reopen_file(log);
                        }
                }
                atomic_store_explicit(&r->tail, tail, memory_order_release);
        }
        return done;
}

static void *writer(void *arg)
{
        struct dns_qlog *log = arg;
        for (;;) {
                bool stopping = atomic_load(&log->stop);
                if (drain(log) > 0)
                        continue;
                fflush(log->file);
                if (atomic_load(&log->reopen)) {
                        atomic_store(&log->reopen, false);
                        reopen_file(log);
                }
                if (stopping)
                        break; /* stop was seen before a drain that found nothing */
                struct timespec ts = {0, IDLE_SLEEP_NS};
                nanosleep(&ts, NULL);
        }
        return NULL;
}

int dns_qlog_open(struct dns_qlog **out, const struct dns_qlog_config *cfg, char *err,
                  size_t err_size)
{
        struct dns_qlog *log = calloc(1, sizeof(*log));
        if (log == NULL || (log->path = strdup(cfg->path)) == NULL) {
                free(log);
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        log->sample = cfg->sample ? cfg->sample : 1;
        size_t q = 64;
        while (q < cfg->queue && q < (1u << 24))
                q <<= 1;
        log->queue = q;
        log->node_id = cfg->node_id;
        snprintf(log->node_text, sizeof(log->node_text),
                 " node=%llu client=", cfg->node_id);
        log->time_cached = -1;
        for (unsigned i = 0; i < cfg->zone_count && i < DNS_QLOG_MAX_ZONES; i++) {
                int len = dns_name_wire_len(cfg->zones[i], DNS_NAME_MAXLEN + 1);
                if (len > 0)
                        memcpy(log->zones[log->zone_count++], cfg->zones[i], (size_t)len);
        }
        log->file = fopen(log->path, "ae");
        if (log->file == NULL) {
                int e = errno;
                snprintf(err, err_size, "query log %s: %s", log->path, strerror(e));
                free(log->path);
                free(log);
                return -e;
        }
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&log->thread, NULL, writer, log);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
                snprintf(err, err_size, "query log: %s", strerror(rc));
                fclose(log->file);
                free(log->path);
                free(log);
                return -rc;
        }
        *out = log;
        return 0;
}

struct dns_qlog_ring *dns_qlog_ring_new(struct dns_qlog *log)
{
        unsigned n = atomic_load(&log->ring_count);
        if (n == DNS_QLOG_MAX_RINGS)
                return NULL;
        struct dns_qlog_ring *r = calloc(1, sizeof(*r));
        if (r == NULL)
                return NULL;
        r->entries = malloc(log->queue * sizeof(*r->entries));
        if (r->entries == NULL) {
                free(r);
                return NULL;
        }
        r->mask = log->queue - 1;
        r->log = log;
        log->rings[n] = r;
        atomic_store_explicit(&log->ring_count, n + 1, memory_order_release);
        return r;
}

void dns_qlog_reopen(struct dns_qlog *log)
{
        atomic_store(&log->reopen, true);
}

void dns_qlog_stats(struct dns_qlog *log, struct dns_qlog_stats *out)
{
        memset(out, 0, sizeof(*out));
        out->written = atomic_load_explicit(&log->written, memory_order_relaxed);
        out->reopens = atomic_load_explicit(&log->reopens, memory_order_relaxed);
        unsigned n = atomic_load_explicit(&log->ring_count, memory_order_acquire);
        for (unsigned i = 0; i < n; i++)
                out->dropped +=
                    atomic_load_explicit(&log->rings[i]->dropped, memory_order_relaxed);
}

void dns_qlog_close(struct dns_qlog *log)
{
        if (log == NULL)
                return;
        atomic_store(&log->stop, true);
        pthread_join(log->thread, NULL);
        struct dns_qlog_stats st;
        dns_qlog_stats(log, &st);
        if (st.dropped > 0)
                LOG_WARN("query log: %llu entries dropped (queue full) since start",
                         (unsigned long long)st.dropped);
        fclose(log->file);
        unsigned n = atomic_load(&log->ring_count);
        for (unsigned i = 0; i < n; i++) {
                free(log->rings[i]->entries);
                free(log->rings[i]);
        }
        free(log->path);
        free(log);
}
