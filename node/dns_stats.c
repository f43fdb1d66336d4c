/*
 * dns_stats.c — the DNS listeners' counters summed (see dns_stats.h).
 *
 * The UDP servers' counters are atomics their threads bump: they are read
 * with relaxed loads (figures, not synchronisation).  The TCP servers, the
 * query log's and dnstap's counters are read as they are: the loop owns the
 * TCP servers, and the other two hand out a copy of theirs.
 */
#include "node/dns_stats.h"

#include <stdatomic.h>
#include <string.h>

#include "common/log.h"

static uint64_t relaxed(const _Atomic uint64_t *c)
{
        return atomic_load_explicit(c, memory_order_relaxed);
}

void node_dns_stats_totals(const struct node_dns_sources *src, struct node_dns_totals *t)
{
        memset(t, 0, sizeof(*t));
        for (unsigned i = 0; i < src->servers; i++) {
                const struct dns_udp_limit_stats *u = &src->udp[i].limit_stats;
                t->rrl_dropped += relaxed(&u->rrl_dropped);
                t->rrl_slipped += relaxed(&u->rrl_slipped);
                t->cookie_valid += relaxed(&u->cookie_valid);
                t->cookie_client_only += relaxed(&u->cookie_client_only);
                t->cookie_bad += relaxed(&u->cookie_bad);
                t->badcookie_sent += relaxed(&u->badcookie_sent);
                const struct dns_tcp_stats *s = &src->tcp[i].stats;
                t->tcp_accepted += s->accepted;
                t->tcp_refused += s->refused;
                t->tcp_evicted_total += s->evicted_total;
                t->tcp_evicted_per_source += s->evicted_per_source;
                t->tcp_idle_timeouts += s->idle_timeouts;
                t->tcp_message_timeouts += s->message_timeouts;
                t->tcp_open += src->tcp[i].clients;
        }
        if (src->qlog != NULL) {
                struct dns_qlog_stats q;
                dns_qlog_stats(src->qlog, &q);
                t->qlog_on = 1;
                t->qlog_written = q.written;
                t->qlog_dropped = q.dropped;
                t->qlog_reopens = q.reopens;
        }
        if (src->dnstap != NULL) {
                struct dns_dnstap_stats d;
                dns_dnstap_stats(src->dnstap, &d);
                t->dnstap_on = 1;
                t->dnstap_queries = d.queries;
                t->dnstap_responses = d.responses;
                t->dnstap_dropped = d.dropped;
                t->dnstap_lost = d.lost;
                t->dnstap_reopens = d.reopens;
        }
}

void node_dns_stats_merge(const struct node_dns_sources *src, struct dns_metrics *sum)
{
        for (unsigned i = 0; i < src->servers; i++) {
                if (src->udp[i].metrics != NULL)
                        dns_metrics_merge(sum, src->udp[i].metrics);
                if (src->tcp[i].metrics != NULL)
                        dns_metrics_merge(sum, src->tcp[i].metrics);
        }
}

json_t *node_dns_stats_json(const struct node_dns_totals *t)
{
        return json_pack(
            "{s:{s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
            "rrl", "dropped", (json_int_t)t->rrl_dropped, "slipped",
            (json_int_t)t->rrl_slipped, "cookies", "valid", (json_int_t)t->cookie_valid,
            "client_only", (json_int_t)t->cookie_client_only, "bad",
            (json_int_t)t->cookie_bad, "badcookie_sent", (json_int_t)t->badcookie_sent,
            "tcp", "accepted", (json_int_t)t->tcp_accepted, "refused",
            (json_int_t)t->tcp_refused, "closed_at_total_cap",
            (json_int_t)t->tcp_evicted_total, "closed_at_source_cap",
            (json_int_t)t->tcp_evicted_per_source, "idle_timeouts",
            (json_int_t)t->tcp_idle_timeouts, "message_timeouts",
            (json_int_t)t->tcp_message_timeouts);
}

bool node_dns_stats_limits_changed(const struct node_dns_totals *now,
                                   const struct node_dns_totals *logged)
{
        /* Normal life (connections, idle timeouts, cookies) is not worth a
         * warning; only what the limits refused is. */
        struct node_dns_totals t = *now;
        t.tcp_idle_timeouts = logged->tcp_idle_timeouts;
        t.tcp_accepted = logged->tcp_accepted;
        t.cookie_valid = logged->cookie_valid;
        t.cookie_client_only = logged->cookie_client_only;
        t.cookie_bad = logged->cookie_bad;
        t.tcp_open = logged->tcp_open;
        return memcmp(&t, logged, sizeof(t)) != 0;
}

void node_dns_stats_log_limits(const struct node_dns_totals *now,
                               const struct node_dns_totals *since)
{
        static const struct node_dns_totals zero;
        const struct node_dns_totals *o = since != NULL ? since : &zero;
        log_write(
            since == NULL ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
            "DNS limits%s: RRL dropped %llu, slipped %llu; TCP closed %llu at the "
            "total cap, %llu at the per-address cap, %llu idle, %llu for a slow "
            "message, refused %llu; BADCOOKIE %llu",
            since == NULL ? " since start" : " in the last interval",
            (unsigned long long)(now->rrl_dropped - o->rrl_dropped),
            (unsigned long long)(now->rrl_slipped - o->rrl_slipped),
            (unsigned long long)(now->tcp_evicted_total - o->tcp_evicted_total),
            (unsigned long long)(now->tcp_evicted_per_source - o->tcp_evicted_per_source),
            (unsigned long long)(now->tcp_idle_timeouts - o->tcp_idle_timeouts),
            (unsigned long long)(now->tcp_message_timeouts - o->tcp_message_timeouts),
            (unsigned long long)(now->tcp_refused - o->tcp_refused),
            (unsigned long long)(now->badcookie_sent - o->badcookie_sent));
}
