/*
 * cmd_stats.c — "stats": every member's GET /metrics, summed up.
 *
 * The member list comes from GET /v1/cluster on the first server that
 * answers; then each member's own API address is asked for /metrics (same
 * scheme and token, no retry: a member that does not answer gets a row of
 * dashes and the exit code says so).  The exposition is read with
 * metrics_text.c and a few families are folded into one row per node:
 * role, term, applied index, zones, record sets, queries, NXDOMAIN and
 * REFUSED answers, responses dropped by rate limiting, and loop stalls
 * longer than 100 ms.  --json prints the same figures as an array.
 */
#include "tools/quorumctl/cmd_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/metrics_text.h"
#include "tools/quorumctl/table.h"

struct node_figures {
        const char *role;
        double term, applied, zones, rrsets, queries, nxdomain, refused, rrl_dropped;
        double stalls, stalls_short; /* all, and those up to 100 ms */
};

static void on_sample(void *arg, const char *name,
                      const struct quorumctl_metric_label *labels, size_t n, double v)
{
        struct node_figures *f = arg;
        if (strcmp(name, "quorumdns_raft_state") == 0 && v == 1) {
                static const char *const states[] = {"leader", "follower", "candidate",
                                                     "unavailable"};
                const char *s = quorumctl_metric_label(labels, n, "state");
                for (size_t i = 0; s != NULL && i < 4; i++)
                        if (strcmp(s, states[i]) == 0)
                                f->role = states[i];
        } else if (strcmp(name, "quorumdns_raft_term") == 0) {
                f->term = v;
        } else if (strcmp(name, "quorumdns_raft_applied_index") == 0) {
                f->applied = v;
        } else if (strcmp(name, "quorumdns_zones") == 0) {
                f->zones = v;
        } else if (strcmp(name, "quorumdns_record_sets") == 0) {
                f->rrsets = v;
        } else if (strcmp(name, "quorumdns_dns_queries_total") == 0) {
                f->queries += v;
        } else if (strcmp(name, "quorumdns_dns_responses_total") == 0) {
                const char *rc = quorumctl_metric_label(labels, n, "rcode");
                if (rc != NULL && strcmp(rc, "NXDOMAIN") == 0)
                        f->nxdomain += v;
                if (rc != NULL && strcmp(rc, "REFUSED") == 0)
                        f->refused += v;
        } else if (strcmp(name, "quorumdns_dns_rrl_responses_total") == 0) {
                const char *a = quorumctl_metric_label(labels, n, "action");
                if (a != NULL && strcmp(a, "dropped") == 0)
                        f->rrl_dropped += v;
        } else if (strcmp(name, "quorumdns_loop_stall_seconds_count") == 0) {
                f->stalls = v;
        } else if (strcmp(name, "quorumdns_loop_stall_seconds_bucket") == 0) {
                const char *le = quorumctl_metric_label(labels, n, "le");
                if (le != NULL && strcmp(le, "0.1") == 0)
                        f->stalls_short = v;
        }
}

/* GET url/metrics with the context's token; 0 and the figures, or -1
 * with the reason in why. */
static int fetch(struct quorumctl_ctx *ctx, const char *base, struct node_figures *f,
                 char *why, size_t why_size)
{
        struct quorumctl_http h;
        int rc = -1;
        if (quorumctl_http_init(&h) != 0 || quorumctl_http_add_server(&h, base) != 0 ||
            quorumctl_http_set_token(&h, ctx->http.token) != 0) {
                snprintf(why, why_size, "out of memory or bad address %s", base);
                quorumctl_http_close(&h);
                return -1;
        }
        h.retry_ms = 0;
        h.timeout_ms = ctx->http.timeout_ms < 10000 ? ctx->http.timeout_ms : 10000;
        struct quorumctl_http_response resp;
        if (quorumctl_http_request(&h, "GET", "/metrics", NULL, NULL, 0, NULL, &resp) !=
            0) {
                snprintf(why, why_size, "%s", h.error);
        } else if (resp.status != 200) {
                char *text = quorumctl_error_format(resp.status, resp.body, resp.len);
                snprintf(why, why_size, "%s", text != NULL ? text : "error");
                free(text);
        } else {
                unsigned line;
                char err[160];
                if (quorumctl_metrics_parse(resp.body, resp.len, on_sample, f, &line, err,
                                            sizeof(err)) != 0)
                        snprintf(why, why_size, "/metrics line %u: %s", line, err);
                else
                        rc = 0;
        }
        quorumctl_http_response_free(&resp);
        quorumctl_http_close(&h);
        return rc;
}

static char *num(double v)
{
        char *s = NULL;
        if (asprintf(&s, "%.0f", isfinite(v) ? v : 0) < 0)
                return NULL;
        return s;
}

int quorumctl_stats_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        (void)args;
        json_t *cluster = NULL;
        int code = quorumctl_client_call(ctx, "GET", "/v1/cluster", NULL, &cluster);
        if (code != QUORUMCTL_EXIT_OK)
                return code;
        const char *answered = ctx->http.servers[ctx->http.current];
        const char *scheme =
            strncmp(answered, "https://", 8) == 0 ? "https://" : "http://";
        static const char *const headers[] = {
            ">ID",       "NAME",     "ROLE",         ">TERM",
            ">APPLIED",  ">ZONES",   ">RRSETS",      ">QUERIES",
            ">NXDOMAIN", ">REFUSED", ">RRL-DROPPED", ">STALLS>100MS"};
        struct quorumctl_table t;
        quorumctl_table_init(&t, 12, headers);
        json_t *out = json_array();
        size_t i;
        json_t *member;
        json_array_foreach(json_object_get(cluster, "members"), i, member)
        {
                json_int_t id = json_integer_value(json_object_get(member, "id"));
                const char *name = json_string_value(json_object_get(member, "name"));
                const char *api = json_string_value(json_object_get(member, "api"));
                struct node_figures f = {0};
                char why[1200] = "no API address known";
                char *base = NULL;
                int got = -1;
                if (api != NULL && api[0] != '\0' &&
                    asprintf(&base, "%s%s", scheme, api) >= 0)
                        got = fetch(ctx, base, &f, why, sizeof(why));
                free(base);
                if (got != 0) {
                        quorumctl_client_error(ctx, "node %lld: %s", (long long)id, why);
                        code = QUORUMCTL_EXIT_UNAVAILABLE;
                }
                double stalls = f.stalls - f.stalls_short;
                json_t *row = json_pack("{s:I, s:s, s:s}", "id", id, "name",
                                        name ? name : "", "api", api ? api : "");
                if (got == 0)
                        json_object_update_new(
                            row,
                            json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
                                      "s:f}",
                                      "role", f.role ? f.role : "unknown", "term", f.term,
                                      "applied_index", f.applied, "zones", f.zones,
                                      "record_sets", f.rrsets, "queries", f.queries,
                                      "nxdomain", f.nxdomain, "refused", f.refused,
                                      "rrl_dropped", f.rrl_dropped,
                                      "loop_stalls_over_100ms", stalls));
                else
                        json_object_set_new(row, "error", json_string(why));
                json_array_append_new(out, row);
                char idtext[32];
                snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
                char *cells[12] = {NULL};
                cells[0] = strdup(idtext);
                cells[1] = strdup(name ? name : "");
                if (got == 0) {
                        cells[2] = strdup(f.role ? f.role : "unknown");
                        double v[] = {f.term,    f.applied,     f.zones,
                                      f.rrsets,  f.queries,     f.nxdomain,
                                      f.refused, f.rrl_dropped, stalls};
                        for (size_t c = 0; c < 9; c++)
                                cells[3 + c] = num(v[c]);
                } else {
                        cells[2] = strdup("unreachable");
                }
                quorumctl_table_add(&t, (const char *const *)cells);
                for (size_t c = 0; c < 12; c++)
                        free(cells[c]);
        }
        if (ctx->json)
                quorumctl_client_print_json(ctx, out);
        else
                quorumctl_table_print(&t, ctx->out);
        quorumctl_table_free(&t);
        json_decref(out);
        json_decref(cluster);
        return code;
}
