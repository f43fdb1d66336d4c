/*
 * metrics.c — counting DNS messages per server thread (see metrics.h).
 *
 * dns_metrics_count() runs once per message on the serving thread: it maps
 * the qtype and rcode to small indexes, bumps the protocol-wide counters
 * and the answer-size histogram, and finds the zone's slot by probing the
 * table from its hash.  dns_metrics_merge() runs on the reader's thread and
 * folds one server's counts into the reader's copy, matching zones by hash.
 */
#include "dns/metrics.h"

#include <string.h>

#include "dns/wire.h"

const unsigned dns_metrics_size_bounds[DNS_METRICS_SIZES] = {
    64, 128, 256, 512, 1024, 1232, 1500, 4096, 16384, 65535};
const uint64_t dns_metrics_time_bounds_ns[DNS_METRICS_TIMES] = {
    5000,   10000,   25000,   50000,    100000,    250000,
    500000, 1000000, 2500000, 10000000, 100000000, 1000000000};

static const uint16_t qtypes[DNS_METRICS_QTYPES - 2] = {
    DNS_TYPE_A,    DNS_TYPE_NS,    DNS_TYPE_CNAME, DNS_TYPE_SOA,
    DNS_TYPE_PTR,  DNS_TYPE_MX,    DNS_TYPE_TXT,   DNS_TYPE_AAAA,
    DNS_TYPE_SRV,  DNS_TYPE_NAPTR, DNS_TYPE_DS,    48 /* DNSKEY */,
    DNS_TYPE_SVCB, DNS_TYPE_HTTPS, 257 /* CAA */,  DNS_TYPE_ANY};
static const char *const qtype_names[DNS_METRICS_QTYPES] = {
    "A",     "NS", "CNAME",  "SOA",  "PTR",   "MX",  "TXT", "AAAA",  "SRV",
    "NAPTR", "DS", "DNSKEY", "SVCB", "HTTPS", "CAA", "ANY", "other", "none"};
static const char *const rcode_names[DNS_METRICS_RCODES] = {
    "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "DSOTYPENI",
    "RCODE12",  "RCODE13", "RCODE14",  "RCODE15",  "BADVERS", "BADCOOKIE"};

#define QTYPE_OTHER     (DNS_METRICS_QTYPES - 2)
#define QTYPE_NONE      (DNS_METRICS_QTYPES - 1)
#define RCODE_BADVERS   16
#define RCODE_BADCOOKIE 17

const char *dns_metrics_qtype_name(unsigned index)
{
        return index < DNS_METRICS_QTYPES ? qtype_names[index] : "other";
}

const char *dns_metrics_rcode_name(unsigned index)
{
        return index < DNS_METRICS_RCODES ? rcode_names[index] : "other";
}

/* qtype_index() + 1 of the types of qtypes[] below 256 (0: "other"), so
 * that the common types take no search: a search ends at a different
 * place for each type, and its branch is mispredicted. */
static const uint8_t qtype_low[256] = {
    [DNS_TYPE_A] = 1,      [DNS_TYPE_NS] = 2,     [DNS_TYPE_CNAME] = 3,
    [DNS_TYPE_SOA] = 4,    [DNS_TYPE_PTR] = 5,    [DNS_TYPE_MX] = 6,
    [DNS_TYPE_TXT] = 7,    [DNS_TYPE_AAAA] = 8,   [DNS_TYPE_SRV] = 9,
    [DNS_TYPE_NAPTR] = 10, [DNS_TYPE_DS] = 11,    [48] = 12,
    [DNS_TYPE_SVCB] = 13,  [DNS_TYPE_HTTPS] = 14, [DNS_TYPE_ANY] = 16};

static unsigned qtype_index(const struct dns_query *q, enum dns_parse_status status)
{
        if (status == DNS_PARSE_DROP || q->question_size == 0)
                return QTYPE_NONE;
        if (q->qtype < 256) {
                unsigned i = qtype_low[q->qtype];
                return i != 0 ? i - 1 : QTYPE_OTHER;
        }
        for (unsigned i = 0; i < QTYPE_OTHER; i++)
                if (qtypes[i] == q->qtype)
                        return i;
        return QTYPE_OTHER;
}

/* The response's rcode: the header's four bits, or the extended one the
 * parse status stands for (its upper bits are in the OPT record). */
static unsigned rcode_index(enum dns_parse_status status, const uint8_t *answer)
{
        unsigned low = answer[3] & 0xf;
        if (status == DNS_PARSE_BADVERS && low == (DNS_RCODE_BADVERS & 0xf))
                return RCODE_BADVERS;
        if (status == DNS_PARSE_BADCOOKIE && low == (DNS_RCODE_BADCOOKIE & 0xf))
                return RCODE_BADCOOKIE;
        return low;
}

/* The bounds are ascending: the bucket is the number of them below len
 * (counted without a branch; answer sizes vary from query to query).  Up
 * to 1024 bytes the bounds are the powers of two from 64: the bucket is
 * then a bit position, 0 for 1..64, 1 for 65..128, ... 4 for 513..1024. */
static unsigned size_bucket(size_t len)
{
        if (len - 1 < 1024)
                return 26u - (unsigned)__builtin_clz(((unsigned)len - 1u) | 63u);
        unsigned b = 0;
        for (unsigned i = 0; i < DNS_METRICS_SIZES; i++)
                b += len > dns_metrics_size_bounds[i];
        return b;
}

/* The zone's slot, claimed if new; NULL when the table is full. */
static struct dns_metrics_zone *zone_slot(struct dns_metrics *m, uint64_t hash,
                                          const uint8_t *origin, size_t origin_len)
{
        hash = hash ? hash : 1;
        unsigned mask = DNS_METRICS_ZONES - 1;
        for (unsigned p = 0; p < DNS_METRICS_ZONES; p++) {
                struct dns_metrics_zone *s = &m->zones[(hash + p) & mask];
                uint64_t h = atomic_load_explicit(&s->hash, memory_order_relaxed);
                if (h == hash)
                        return s;
                if (h != 0)
                        continue;
                size_t len = origin_len <= DNS_NAME_MAXLEN ? origin_len : 0;
                memcpy(s->origin, origin, len);
                s->origin_len = (uint16_t)len;
                atomic_store_explicit(&s->hash, hash, memory_order_release);
                return s;
        }
        return NULL;
}

void dns_metrics_count(struct dns_metrics *m, int proto, const struct dns_query *q,
                       enum dns_parse_status status, const uint8_t *answer, size_t len)
{
        unsigned qt = qtype_index(q, status);
        dns_metrics_bump(&m->queries[proto][qt], 1);
        struct dns_metrics_zone *zone = NULL;
        if (status != DNS_PARSE_DROP && q->zone_known && q->zone != NULL) {
                zone = zone_slot(m, q->zone->hash, q->zone->origin, q->zone->origin_len);
                if (zone != NULL)
                        dns_metrics_bump(&zone->queries[qt], 1);
                else
                        dns_metrics_bump(&m->zone_overflow, 1);
        }
        if (len < DNS_HEADER_SIZE) {
                dns_metrics_bump(&m->unanswered[proto], 1);
                return;
        }
        unsigned rc = rcode_index(status, answer);
        dns_metrics_bump(&m->responses[proto][rc], 1);
        if (zone != NULL)
                dns_metrics_bump(&zone->responses[proto][rc], 1);
        if (answer[2] & (DNS_FLAG_TC >> 8))
                dns_metrics_bump(&m->truncated[proto], 1);
        struct dns_metrics_hist_size *h = &m->size[proto];
        dns_metrics_bump(&h->bucket[size_bucket(len)], 1);
        dns_metrics_bump(&h->sum, len);
}

void dns_metrics_time(struct dns_metrics *m, int proto, uint64_t ns, uint64_t n)
{
        struct dns_metrics_hist_time *h = &m->time[proto];
        unsigned b = 0;
        while (b < DNS_METRICS_TIMES && ns > dns_metrics_time_bounds_ns[b])
                b++;
        dns_metrics_bump(&h->bucket[b], n);
        dns_metrics_bump(&h->sum, ns * n);
}

static void add_all(_Atomic uint64_t *into, const _Atomic uint64_t *from, size_t n)
{
        for (size_t i = 0; i < n; i++)
                dns_metrics_bump(&into[i], dns_metrics_get(&from[i]));
}

#define ADD(field)                                                                       \
        add_all((_Atomic uint64_t *)&into->field,                                        \
                (const _Atomic uint64_t *)&from->field,                                  \
                sizeof(from->field) / (sizeof(uint64_t)))

void dns_metrics_merge(struct dns_metrics *into, const struct dns_metrics *from)
{
        ADD(queries);
        ADD(responses);
        ADD(unanswered);
        ADD(truncated);
        ADD(size);
        ADD(time);
        ADD(zone_overflow);
        for (unsigned i = 0; i < DNS_METRICS_ZONES; i++) {
                const struct dns_metrics_zone *f = &from->zones[i];
                uint64_t hash = atomic_load_explicit((_Atomic uint64_t *)&f->hash,
                                                     memory_order_acquire);
                if (hash == 0)
                        continue;
                struct dns_metrics_zone *t =
                    zone_slot(into, hash, f->origin, f->origin_len);
                if (t == NULL) {
                        uint64_t lost = 0;
                        for (unsigned q = 0; q < DNS_METRICS_QTYPES; q++)
                                lost += dns_metrics_get(&f->queries[q]);
                        dns_metrics_bump(&into->zone_overflow, lost);
                        continue;
                }
                add_all(&t->queries[0], &f->queries[0], DNS_METRICS_QTYPES);
                add_all(&t->responses[0][0], &f->responses[0][0],
                        DNS_METRICS_PROTOS * DNS_METRICS_RCODES);
        }
}
