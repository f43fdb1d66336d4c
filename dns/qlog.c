/*
 * qlog.c — the query log (see qlog.h).
 *
 * The rings and the writer thread are dns/logq.h's: a query reserves a
 * slot in its server's ring and fills it; the writer formats each slot
 * into a line (write_entry), flushes stdio when the rings are empty
 * (flush) and opens the path again on request (reopen_file).
 */
#include "dns/qlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "dns/logq.h"
#include "dns/name.h"
#include "dns/text.h"
#include "dns/wire.h"
#include "dns/zone.h"

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
        struct dns_logq_ring *q;
        uint64_t seen; /* producer: queries offered, for sampling */
        struct dns_qlog *log;
};

struct dns_qlog {
        char *path;
        FILE *file;
        unsigned sample;
        unsigned long long node_id;
        uint8_t zones[DNS_QLOG_MAX_ZONES][DNS_NAME_MAXLEN + 1];
        unsigned zone_count;
        struct dns_qlog_ring *rings[DNS_QLOG_MAX_RINGS];
        unsigned ring_count;          /* on the thread that starts servers */
        struct dns_logq *queue_rings; /* dns/logq.h: the rings and the writer */
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
        struct qlog_entry *e = dns_logq_reserve(r->q);
        if (e == NULL)
                return; /* counted as dropped */
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
        dns_logq_commit(r->q);
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

static void write_entry(void *ctx, void *entry)
{
        struct dns_qlog *log = ctx;
        const struct qlog_entry *e = entry;
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
static void reopen_file(void *ctx)
{
        struct dns_qlog *log = ctx;
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

static void flush(void *ctx)
{
        struct dns_qlog *log = ctx;
        fflush(log->file);
}

static const struct dns_logq_ops qlog_ops = {
    .write = write_entry,
    .idle = flush,
    .reopen = reopen_file,
};

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
        const struct dns_logq_config qc = {
            .entry_size = sizeof(struct qlog_entry),
            .queue = cfg->queue,
            .ops = &qlog_ops,
            .ctx = log,
        };
        char why[200];
        int rc = dns_logq_start(&log->queue_rings, &qc, why, sizeof(why));
        if (rc != 0) {
                snprintf(err, err_size, "query log: %s", why);
                fclose(log->file);
                free(log->path);
                free(log);
                return rc;
        }
        *out = log;
        return 0;
}

struct dns_qlog_ring *dns_qlog_ring_new(struct dns_qlog *log)
{
        if (log->ring_count == DNS_QLOG_MAX_RINGS)
                return NULL;
        struct dns_qlog_ring *r = calloc(1, sizeof(*r));
        if (r == NULL)
                return NULL;
        if ((r->q = dns_logq_ring_new(log->queue_rings)) == NULL) {
                free(r);
                return NULL;
        }
        r->log = log;
        log->rings[log->ring_count++] = r;
        return r;
}

void dns_qlog_reopen(struct dns_qlog *log)
{
        dns_logq_reopen(log->queue_rings);
}

void dns_qlog_stats(struct dns_qlog *log, struct dns_qlog_stats *out)
{
        memset(out, 0, sizeof(*out));
        out->written = atomic_load_explicit(&log->written, memory_order_relaxed);
        out->reopens = atomic_load_explicit(&log->reopens, memory_order_relaxed);
        out->dropped = dns_logq_dropped(log->queue_rings);
}

void dns_qlog_close(struct dns_qlog *log)
{
        if (log == NULL)
                return;
        uint64_t dropped = dns_logq_dropped(log->queue_rings);
        dns_logq_stop(log->queue_rings); /* writes what is queued */
        if (dropped > 0)
                LOG_WARN("query log: %llu entries dropped (queue full) since start",
                         (unsigned long long)dropped);
        fclose(log->file);
        for (unsigned i = 0; i < log->ring_count; i++)
                free(log->rings[i]);
        free(log->path);
        free(log);
}
