/*
 * api_metrics.c — GET /metrics (see api_metrics.h) and the counters the
 * API keeps on the loop.
 *
 * A scrape asks the node for the DNS servers' sum (dns_collect, which
 * merges every thread's struct dns_metrics into a scratch copy), reads the
 * replica (consensus/replica.h) and the replicated state on the loop, and
 * writes every family into one growing buffer that h2o copies when it is
 * sent (the health checks last: the replicated status of each, this node's
 * verdicts and the counts node/health.c keeps of its probes and votes).
 * Only non-zero per-zone series are written, so a node with many zones but
 * few queried ones stays small.  Label values are escaped as the format
 * says: backslash, double quote and newline.  Families with one label
 * (labeled) and histograms (histogram_series) have one writer each.
 */
#include "node/api_metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/metrics.h"
#include "dns/name.h"
#include "health/sched.h"
#include "node/api.h"
#include "node/health.h"
#include "node/ready.h"

#define STALL_PERIOD_MS 100
/* A stall this long is also logged: most of the default election timeout
 * (400 ms), during which raft's heartbeats waited too. */
#define STALL_WARN_MS 250

static const uint64_t stall_bounds_ms[NODE_STALL_BUCKETS] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
static const char *const batch_outcomes[NODE_BATCH_OUTCOMES] = {
    "accepted", "invalid", "not_found", "conflict", "no_quorum", "storage", "internal"};

static const struct node_http_route metrics_routes[] = {
    {"GET", "/metrics", NODE_SCOPE_NONE, node_api_metrics, false},
};

const struct node_http_route *node_api_metrics_routes(size_t *count)
{
        *count = sizeof(metrics_routes) / sizeof(metrics_routes[0]);
        return metrics_routes;
}

/* ---- counting on the loop ---- */

static uint64_t now_ns(void)
{
        return uv_hrtime();
}

static void note_term(struct node_api_metrics *m, uint64_t term)
{
        if (m->last_term != 0 && term > m->last_term)
                m->elections += term - m->last_term;
        m->last_term = term;
}

static void on_stall_timer(uv_timer_t *timer)
{
        struct node_api *api = timer->data;
        struct node_api_metrics *m = &api->metrics;
        uint64_t now = now_ns();
        uint64_t late = now > m->stall_due_ns ? now - m->stall_due_ns : 0;
        node_latency_add(&m->stall, late);
        if (api->cluster != NULL) {
                struct consensus_replica *replica = &api->cluster->replica;
                /* The timer's lateness: the loop was held that long at least
                 * (up to one period more). */
                if (late > STALL_WARN_MS * 1000000ull)
                        LOG_WARN(
                            "the loop ran nothing else for at least %.0f ms (raft %s, "
                            "applied index %llu)",
                            (double)late / 1e6,
                            consensus_state_name(consensus_replica_state(replica)),
                            (unsigned long long)node_cluster_applied(api->cluster));
                note_term(m, consensus_replica_term(replica));
        }
        m->stall_due_ns = now + STALL_PERIOD_MS * 1000000u;
        uv_timer_start(&m->stall_timer, on_stall_timer, STALL_PERIOD_MS, 0);
}

void node_api_metrics_start(struct node_api *api)
{
        struct node_api_metrics *m = &api->metrics;
        uv_timer_init(api->loop, &m->stall_timer);
        m->stall_timer.data = api;
        m->stall_running = true;
        m->stall_due_ns = now_ns() + STALL_PERIOD_MS * 1000000u;
        uv_timer_start(&m->stall_timer, on_stall_timer, STALL_PERIOD_MS, 0);
        uv_unref((uv_handle_t *)&m->stall_timer); /* never keeps the loop alive */
}

void node_api_metrics_stop(struct node_api *api, struct node_closing *g)
{
        struct node_api_metrics *m = &api->metrics;
        if (!m->stall_running)
                return;
        m->stall_running = false;
        node_closing_handle(g, (uv_handle_t *)&m->stall_timer);
}

void node_api_metrics_batch(struct node_api *api, int status, const struct cs_result *res)
{
        enum node_batch_outcome o;
        if (status == CONSENSUS_E_NOT_LEADER || status == CONSENSUS_E_LEADERSHIP_LOST ||
            status == CONSENSUS_E_SHUTDOWN)
                o = NODE_BATCH_NO_QUORUM;
        else if (status == CONSENSUS_E_STORAGE)
                o = NODE_BATCH_STORAGE;
        else if (status != 0 || res == NULL)
                o = NODE_BATCH_INTERNAL;
        else if (res->status == 0)
                o = NODE_BATCH_ACCEPTED;
        else if (res->n_errors > 0)
                o = NODE_BATCH_INVALID;
        else if (res->status == -ENOENT)
                o = NODE_BATCH_NOT_FOUND;
        else if (res->status == -EEXIST || res->status == -EKEYREJECTED ||
                 res->status == -ENOTEMPTY)
                o = NODE_BATCH_CONFLICT;
        else if (res->status == -ENOMEM)
                o = NODE_BATCH_INTERNAL;
        else
                o = NODE_BATCH_INVALID;
        api->metrics.batches[o]++;
}

void node_latency_add(struct node_latency *h, uint64_t ns)
{
        unsigned b = 0;
        while (b < NODE_STALL_BUCKETS && ns > stall_bounds_ms[b] * 1000000u)
                b++;
        h->bucket[b]++;
        h->sum_ns += ns;
}

void node_api_metrics_commit(struct node_api *api, uint64_t ns)
{
        node_latency_add(&api->metrics.commit, ns);
}

void node_api_metrics_relay(struct node_api *api, bool answered, uint64_t ms)
{
        if (answered)
                api->metrics.relays_answered++;
        else
                api->metrics.relays_unknown++;
        node_latency_add(&api->metrics.relay, ms * 1000000u);
}

/* ---- the exposition ---- */

struct text {
        char *buf;
        size_t len, cap;
        bool failed;
};

static void put(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
        for (int round = 0; round < 2 && !t->failed; round++) {
                va_list ap;
                va_start(ap, fmt);
                int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        t->failed = true;
                        return;
                }
                if ((size_t)n < t->cap - t->len) {
                        t->len += (size_t)n;
                        return;
                }
                size_t cap = (t->cap + (size_t)n + 1) * 2;
                char *grown = realloc(t->buf, cap);
                if (grown == NULL) {
                        t->failed = true;
                        return;
                }
                t->buf = grown;
                t->cap = cap;
        }
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
        put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family whose series differ in one label's value:
 * name{label="values[i]"} counts[i]. */
static void labeled(struct text *t, const char *name, const char *type, const char *help,
                    const char *label, size_t n, const char *const values[],
                    const uint64_t counts[])
{
        family(t, name, type, help);
        for (size_t i = 0; i < n; i++)
                put(t, "%s{%s=\"%s\"} %llu\n", name, label, values[i],
                    (unsigned long long)counts[i]);
}

/* One histogram's series: counts[0..n] per bucket (counts[n]: above the
 * last bound), written cumulative with bounds[0..n-1] (in the family's
 * unit) and +Inf as le, then _sum and _count.  label: "" or one
 * key="value" pair that every series carries. */
static void histogram_series(struct text *t, const char *name, const char *label,
                             size_t n, const double bounds[], const uint64_t counts[],
                             double sum)
{
        bool has_label = label[0] != '\0';
        uint64_t cum = 0;
        for (size_t b = 0; b <= n; b++) {
                cum += counts[b];
                put(t, "%s_bucket{%s%sle=\"", name, label, has_label ? "," : "");
                if (b < n)
                        put(t, "%.15g", bounds[b]);
                else
                        put(t, "+Inf");
                put(t, "\"} %llu\n", (unsigned long long)cum);
        }
        const char *open = has_label ? "{" : "", *close = has_label ? "}" : "";
        put(t, "%s_sum%s%s%s %.15g\n", name, open, label, close, sum);
        put(t, "%s_count%s%s%s %llu\n", name, open, label, close,
            (unsigned long long)cum);
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static void escape_label(const char *in, char *out, size_t size)
{
        size_t o = 0;
        for (; *in != '\0' && o + 3 < size; in++) {
                if (*in == '\\' || *in == '"') {
                        out[o++] = '\\';
                        out[o++] = *in;
                } else if (*in == '\n') {
                        out[o++] = '\\';
                        out[o++] = 'n';
                } else {
                        out[o++] = *in;
                }
        }
        out[o] = '\0';
}

static void zone_label(const uint8_t *origin, size_t len, char *out, size_t size)
{
        uint8_t wire[DNS_NAME_MAXLEN + 1] = {0};
        char text[DNS_NAME_MAXLEN * 4 + 8];
        memcpy(wire, origin, len < sizeof(wire) ? len : sizeof(wire) - 1);
        dns_name_to_text(wire, text, sizeof(text));
        escape_label(text, out, size);
}

static const char *const protos[DNS_METRICS_PROTOS] = {"udp", "tcp"};

static void put_seconds(struct text *t, uint64_t ns)
{
        put(t, "%.9g", (double)ns / 1e9);
}

/* A DNS family with one series per protocol. */
static void per_protocol(struct text *t, const char *name, const char *help,
                         const _Atomic uint64_t by_proto[DNS_METRICS_PROTOS])
{
        uint64_t v[DNS_METRICS_PROTOS];
        for (int p = 0; p < DNS_METRICS_PROTOS; p++)
                v[p] = dns_metrics_get(&by_proto[p]);
        labeled(t, name, "counter", help, "protocol", DNS_METRICS_PROTOS, protos, v);
}

/* One protocol's series of a DNS histogram: its n + 1 bucket counters read
 * (the servers' sum) and written as histogram_series does. */
static void dns_histogram(struct text *t, const char *name, const char *proto, size_t n,
                          const double bounds[], const _Atomic uint64_t buckets[],
                          double sum)
{
        uint64_t c[DNS_METRICS_SIZES > DNS_METRICS_TIMES ? DNS_METRICS_SIZES + 1
                                                         : DNS_METRICS_TIMES + 1];
        char label[32];
        for (size_t b = 0; b <= n && b < sizeof(c) / sizeof(c[0]); b++)
                c[b] = dns_metrics_get(&buckets[b]);
        snprintf(label, sizeof(label), "protocol=\"%s\"", proto);
        histogram_series(t, name, label, n, bounds, c, sum);
}

static void dns_families(struct text *t, const struct dns_metrics *m)
{
        family(t, "quorumdns_dns_queries_total", "counter",
               "DNS queries received, by protocol and query type.");
        for (int p = 0; p < DNS_METRICS_PROTOS; p++)
                for (unsigned q = 0; q < DNS_METRICS_QTYPES; q++)
                        put(t,
                            "quorumdns_dns_queries_total{protocol=\"%s\",qtype=\"%s\"} "
                            "%llu\n",
                            protos[p], dns_metrics_qtype_name(q),
                            (unsigned long long)dns_metrics_get(&m->queries[p][q]));
        family(t, "quorumdns_dns_responses_total", "counter",
               "DNS responses sent, by protocol and response code.");
        for (int p = 0; p < DNS_METRICS_PROTOS; p++)
                for (unsigned r = 0; r < DNS_METRICS_RCODES; r++)
                        put(t,
                            "quorumdns_dns_responses_total{protocol=\"%s\",rcode=\"%s\"} "
                            "%llu\n",
                            protos[p], dns_metrics_rcode_name(r),
                            (unsigned long long)dns_metrics_get(&m->responses[p][r]));
        per_protocol(t, "quorumdns_dns_unanswered_total",
                     "DNS messages that got no response (not a query, or dropped by "
                     "rate limiting).",
                     m->unanswered);
        per_protocol(t, "quorumdns_dns_truncated_total", "DNS responses sent with TC=1.",
                     m->truncated);

        double size_bounds[DNS_METRICS_SIZES], time_bounds[DNS_METRICS_TIMES];
        for (unsigned b = 0; b < DNS_METRICS_SIZES; b++)
                size_bounds[b] = dns_metrics_size_bounds[b];
        for (unsigned b = 0; b < DNS_METRICS_TIMES; b++)
                time_bounds[b] = (double)dns_metrics_time_bounds_ns[b] / 1e9;
        family(t, "quorumdns_dns_response_size_bytes", "histogram",
               "Size of the DNS responses sent.");
        for (int p = 0; p < DNS_METRICS_PROTOS; p++)
                dns_histogram(t, "quorumdns_dns_response_size_bytes", protos[p],
                              DNS_METRICS_SIZES, size_bounds, m->size[p].bucket,
                              (double)dns_metrics_get(&m->size[p].sum));
        family(t, "quorumdns_dns_processing_seconds", "histogram",
               "Time from receiving a DNS message to sending its response (UDP: "
               "its batch's receipt to the batch's send).");
        for (int p = 0; p < DNS_METRICS_PROTOS; p++)
                dns_histogram(t, "quorumdns_dns_processing_seconds", protos[p],
                              DNS_METRICS_TIMES, time_bounds, m->time[p].bucket,
                              (double)dns_metrics_get(&m->time[p].sum) / 1e9);

        /* Per zone: only the series that counted something. */
        char zone[DNS_NAME_MAXLEN * 8 + 16];
        family(t, "quorumdns_dns_zone_queries_total", "counter",
               "DNS queries answered from a zone, by query type.");
        for (unsigned i = 0; i < DNS_METRICS_ZONES; i++) {
                const struct dns_metrics_zone *z = &m->zones[i];
                if (dns_metrics_get(&z->hash) == 0)
                        continue;
                zone_label(z->origin, z->origin_len, zone, sizeof(zone));
                for (unsigned q = 0; q < DNS_METRICS_QTYPES; q++) {
                        uint64_t v = dns_metrics_get(&z->queries[q]);
                        if (v != 0)
                                put(t,
                                    "quorumdns_dns_zone_queries_total{zone=\"%s\",qtype="
                                    "\"%"
                                    "s\"} %llu\n",
                                    zone, dns_metrics_qtype_name(q),
                                    (unsigned long long)v);
                }
        }
        family(t, "quorumdns_dns_zone_responses_total", "counter",
               "DNS responses from a zone, by protocol and response code.");
        for (unsigned i = 0; i < DNS_METRICS_ZONES; i++) {
                const struct dns_metrics_zone *z = &m->zones[i];
                if (dns_metrics_get(&z->hash) == 0)
                        continue;
                zone_label(z->origin, z->origin_len, zone, sizeof(zone));
                for (int p = 0; p < DNS_METRICS_PROTOS; p++)
                        for (unsigned r = 0; r < DNS_METRICS_RCODES; r++) {
                                uint64_t v = dns_metrics_get(&z->responses[p][r]);
                                if (v != 0)
                                        put(t,
                                            "quorumdns_dns_zone_responses_total{zone=\"%"
                                            "s\","
                                            "protocol=\"%s\",rcode=\"%s\"} %llu\n",
                                            zone, protos[p], dns_metrics_rcode_name(r),
                                            (unsigned long long)v);
                        }
        }
        family(t, "quorumdns_dns_zone_overflow_total", "counter",
               "DNS queries answered from zones beyond the per-zone table "
               "(not in the zone series).");
        put(t, "quorumdns_dns_zone_overflow_total %llu\n",
            (unsigned long long)dns_metrics_get(&m->zone_overflow));
}

static void counter1(struct text *t, const char *name, const char *help, uint64_t v)
{
        family(t, name, "counter", help);
        put(t, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge1(struct text *t, const char *name, const char *help, uint64_t v)
{
        family(t, name, "gauge", help);
        put(t, "%s %llu\n", name, (unsigned long long)v);
}

static void limit_families(struct text *t, const struct node_dns_totals *d)
{
        labeled(t, "quorumdns_dns_rrl_responses_total", "counter",
                "UDP responses Response Rate Limiting dropped or slipped (sent "
                "truncated).",
                "action", 2, (const char *const[]){"dropped", "slipped"},
                (const uint64_t[]){d->rrl_dropped, d->rrl_slipped});
        labeled(
            t, "quorumdns_dns_cookies_total", "counter",
            "UDP queries by DNS COOKIE outcome (RFC 7873).", "outcome", 3,
            (const char *const[]){"valid", "client_only", "bad"},
            (const uint64_t[]){d->cookie_valid, d->cookie_client_only, d->cookie_bad});
        counter1(t, "quorumdns_dns_badcookie_sent_total",
                 "BADCOOKIE responses sent (--cookies require).", d->badcookie_sent);
        counter1(t, "quorumdns_dns_tcp_connections_accepted_total",
                 "DNS TCP connections accepted.", d->tcp_accepted);
        counter1(t, "quorumdns_dns_tcp_connections_refused_total",
                 "DNS TCP connections refused (no memory, or the accept failed).",
                 d->tcp_refused);
        labeled(t, "quorumdns_dns_tcp_connections_closed_total", "counter",
                "DNS TCP connections the server closed, by reason.", "reason", 4,
                (const char *const[]){"total_cap", "source_cap", "idle", "slow_message"},
                (const uint64_t[]){d->tcp_evicted_total, d->tcp_evicted_per_source,
                                   d->tcp_idle_timeouts, d->tcp_message_timeouts});
        gauge1(t, "quorumdns_dns_tcp_connections_open", "DNS TCP connections open now.",
               d->tcp_open);
        if (d->qlog_on) {
                counter1(t, "quorumdns_query_log_lines_total",
                         "Lines written to the query log.", d->qlog_written);
                counter1(t, "quorumdns_query_log_dropped_total",
                         "Queries not logged because a listener's queue was full.",
                         d->qlog_dropped);
                counter1(t, "quorumdns_query_log_reopens_total",
                         "Times the query log was opened again (SIGHUP).",
                         d->qlog_reopens);
        }
        if (!d->dnstap_on)
                return;
        labeled(t, "quorumdns_dnstap_frames_total", "counter",
                "dnstap frames written, by message type.", "type", 2,
                (const char *const[]){"auth_query", "auth_response"},
                (const uint64_t[]){d->dnstap_queries, d->dnstap_responses});
        counter1(t, "quorumdns_dnstap_dropped_total",
                 "Queries not sent to dnstap because a listener's queue was full.",
                 d->dnstap_dropped);
        counter1(t, "quorumdns_dnstap_lost_total",
                 "dnstap frames not written: no collector connected, or a write error.",
                 d->dnstap_lost);
        counter1(t, "quorumdns_dnstap_reopens_total",
                 "Times the dnstap output was opened again (SIGHUP, reconnection).",
                 d->dnstap_reopens);
}

static void latency_family(struct text *t, const char *name, const char *help,
                           const struct node_latency *h)
{
        double bounds[NODE_STALL_BUCKETS];
        for (unsigned b = 0; b < NODE_STALL_BUCKETS; b++)
                bounds[b] = (double)stall_bounds_ms[b] / 1e3;
        family(t, name, "histogram", help);
        histogram_series(t, name, "", NODE_STALL_BUCKETS, bounds, h->bucket,
                         (double)h->sum_ns / 1e9);
}

static void raft_families(struct text *t, struct node_api *api)
{
        struct node_cluster *c = api->cluster;
        struct consensus_replica *replica = &c->replica;
        struct node_api_metrics *m = &api->metrics;
        note_term(m, consensus_replica_term(replica));
        enum consensus_state state = consensus_replica_state(replica);
        static const enum consensus_state states[] = {
            CONSENSUS_FOLLOWER, CONSENSUS_CANDIDATE, CONSENSUS_LEADER,
            CONSENSUS_UNAVAILABLE};
        static const char *const state_names[] = {"follower", "candidate", "leader",
                                                  "unavailable"};
        uint64_t in_state[4];
        for (size_t i = 0; i < 4; i++)
                in_state[i] = state == states[i];
        labeled(t, "quorumdns_raft_state", "gauge",
                "This node's raft state: 1 for the state it is in.", "state", 4,
                state_names, in_state);
        gauge1(t, "quorumdns_raft_term", "The current raft term.",
               consensus_replica_term(replica));
        gauge1(t, "quorumdns_raft_commit_index", "The highest log index known committed.",
               consensus_replica_commit_index(replica));
        gauge1(t, "quorumdns_raft_applied_index",
               "The highest log index applied to this node's state.",
               node_cluster_applied(c));
        uint64_t last = consensus_replica_last_index(replica);
        uint64_t snap = consensus_replica_snapshot_index(replica);
        gauge1(t, "quorumdns_raft_last_index", "The last index of this node's log.",
               last);
        gauge1(t, "quorumdns_raft_log_entries",
               "Log entries after the last snapshot (what a restart replays).",
               last > snap ? last - snap : 0);
        gauge1(t, "quorumdns_raft_snapshot_index", "The last index the snapshot covers.",
               snap);
        counter1(t, "quorumdns_raft_elections_total",
                 "Elections this node has seen since start (increases of the term).",
                 m->elections);
        counter1(t, "quorumdns_raft_peer_stalls_total",
                 "Connections to other nodes closed because the node took nothing "
                 "sent to it for 5 s while raft's messages queued (authenticated "
                 "transport).",
                 consensus_replica_peer_stalls(replica));
        const struct cs_fsm *fsm = &c->fsm;
        counter1(t, "quorumdns_raft_snapshots_total",
                 "Snapshots this node has taken since start.", fsm->snapshots);
        family(t, "quorumdns_raft_snapshot_seconds_total", "counter",
               "Time spent taking those snapshots (freeze, encode, write).");
        put(t, "quorumdns_raft_snapshot_seconds_total ");
        put_seconds(t, fsm->snapshot_ns_total);
        put(t, "\n");
        labeled(t, "quorumdns_raft_snapshot_zones_total", "counter",
                "Zones the snapshots taken since start held, by how: kept (copied "
                "compressed from the last snapshot, nothing in their segment changed) "
                "or packed anew.",
                "how", 2, (const char *const[]){"kept", "packed"},
                (const uint64_t[]){fsm->snapshot_zones_kept, fsm->snapshot_zones_packed});
        gauge1(t, "quorumdns_raft_snapshot_kept_bytes",
               "Memory holding the last snapshot's zones compressed, for the next "
               "snapshot to keep (segments, their keys and table).",
               cs_snapshot_kept_bytes(&c->state));

        labeled(t, "quorumdns_api_change_batches_total", "counter",
                "Change batches (and imports) this node proposed as leader, by outcome.",
                "outcome", NODE_BATCH_OUTCOMES, batch_outcomes, m->batches);
        labeled(t, "quorumdns_api_relays_total", "counter",
                "Writes this node relayed to the leader, by outcome (unknown: the "
                "client was told to retry).",
                "outcome", 2, (const char *const[]){"answered", "unknown"},
                (const uint64_t[]){m->relays_answered, m->relays_unknown});
        latency_family(t, "quorumdns_api_relay_seconds",
                       "Time a relayed write took, from the client's request to its "
                       "answer.",
                       &m->relay);
        latency_family(t, "quorumdns_api_change_batch_commit_seconds",
                       "Time from proposing a change batch (as leader) to applying it: "
                       "the log append, replication to a majority and the apply.",
                       &m->commit);

        latency_family(t, "quorumdns_loop_stall_seconds",
                       "How late a 100 ms timer of the node's loop fires: time the loop "
                       "was kept from its other work.",
                       &m->stall);

        uint64_t leader = consensus_replica_leader(replica, NULL);
        uint64_t now = uv_now(api->loop);
        family(t, "quorumdns_served_staleness_seconds", "gauge",
               "Seconds since this node last knew a leader (0: it knows one now): "
               "its DNS answers may miss changes made since.");
        put(t, "quorumdns_served_staleness_seconds ");
        put_seconds(t, leader != 0 || now < c->leader_seen_ms
                           ? 0
                           : (now - c->leader_seen_ms) * 1000000u);
        put(t, "\n");
        char reason[256];
        gauge1(t, "quorumdns_ready",
               "1 when GET /v1/health says ready (restored, a member, a leader known, "
               "not lagging).",
               node_ready_check(c, reason, sizeof(reason)));

        /* Both counts are kept by the state: a scrape costs the same at 10 and
         * at 1,000,000 zones (it walked every zone to count the sets). */
        gauge1(t, "quorumdns_zones", "Zones in the replicated state.",
               cs_state_zone_count(&c->state));
        gauge1(t, "quorumdns_record_sets", "Record sets in the replicated state.",
               cs_state_rrset_count(&c->state));
}

/* Health checks: the replicated (published) status of each, their sum, this
 * node's own verdicts, and what its probes and vote rounds counted. */
static void health_families(struct text *t, struct node_api *api)
{
        const struct cs_state *st = &api->cluster->state;
        size_t n = cs_state_health_count(st), healthy = 0;
        char id[CS_HEALTH_ID_TEXT];
        family(t, "quorumdns_health_check_status", "gauge",
               "A health check's status as the cluster publishes it (the aggregate of "
               "the nodes' votes, or its MANUAL, HEARTBEAT or CALCULATED rule): 1 "
               "healthy, 0 unhealthy.");
        for (size_t i = 0; i < n; i++) {
                const struct cs_health_check *c = cs_state_health_at(st, i);
                cs_health_id_text(c->id, id);
                put(t, "quorumdns_health_check_status{check=\"%s\",type=\"%s\"} %d\n", id,
                    health_check_type_name(c->cfg.type), c->healthy);
                healthy += c->healthy;
        }
        labeled(t, "quorumdns_health_checks", "gauge",
                "Health checks in the replicated state, by published status.", "status",
                2, (const char *const[]){"healthy", "unhealthy"},
                (const uint64_t[]){healthy, n - healthy});
        family(t, "quorumdns_health_check_local_status", "gauge",
               "This node's own verdict on a check it probes (after inversion and "
               "hysteresis): 1 healthy, 0 unhealthy.");
        for (size_t i = 0; i < n; i++) {
                const struct cs_health_check *c = cs_state_health_at(st, i);
                const struct health_local *l = node_health_local(api->health, c->id);
                if (l == NULL || !l->probing)
                        continue;
                cs_health_id_text(c->id, id);
                put(t, "quorumdns_health_check_local_status{check=\"%s\"} %d\n", id,
                    l->healthy);
        }
        static const struct node_health_stats none;
        const struct node_health_stats *hs = node_health_stats(api->health);
        if (hs == NULL)
                hs = &none;
        counter1(t, "quorumdns_health_probes_total",
                 "Health-check probes this node finished.", hs->probes);
        const char *reasons[HEALTH_REASON_COUNT - 1];
        for (int r = 1; r < HEALTH_REASON_COUNT; r++)
                reasons[r - 1] = health_reason_name((enum health_reason)r);
        labeled(t, "quorumdns_health_probe_failures_total", "counter",
                "This node's probes that failed, by reason (before a check's inversion).",
                "reason", HEALTH_REASON_COUNT - 1, reasons, hs->failures + 1);
        latency_family(
            t, "quorumdns_health_probe_seconds",
            "Time from a probe's start to its verdict (connect, TLS, response).",
            &hs->probe_time);
        counter1(t, "quorumdns_health_votes_proposed_total",
                 "Votes (one per check) this node sent: proposed as leader or posted to "
                 "the leader.",
                 hs->votes_proposed);
        labeled(t, "quorumdns_health_vote_rounds_total", "counter",
                "This node's vote rounds (one VOTES command each), by outcome.",
                "outcome", 2, (const char *const[]){"applied", "failed"},
                (const uint64_t[]){hs->rounds_applied, hs->rounds_failed});
}

void node_api_metrics(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        if (!api->cfg->metrics_open && r->peer_id == 0 && r->scope < NODE_SCOPE_READ) {
                node_http_reply_error(
                    r, 401, "Unauthorized", NULL,
                    "GET /metrics needs a read token ('Authorization: Bearer TOKEN'), "
                    "or the node started with --metrics-access open");
                return;
        }
        struct text t = {0};
        struct node_dns_totals d = {0};
        struct dns_metrics *sum = calloc(1, sizeof(*sum));
        if (sum == NULL) {
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        if (api->dns_collect != NULL)
                api->dns_collect(api->dns_stats_ctx, &d, sum);
        gauge1(&t, "quorumdns_node_id", "This node's id.", api->cfg->node_id);
        dns_families(&t, sum);
        limit_families(&t, &d);
        raft_families(&t, api);
        health_families(&t, api);
        free(sum);
        if (t.failed) {
                free(t.buf);
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return;
        }
        node_http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.buf,
                             t.len);
        free(t.buf);
}
