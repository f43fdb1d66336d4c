/*
 * latency.c — the latency map compiled for DNS, and this node's measured
 * RTTs reported to it (see latency.h).
 */
#include "node/latency.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "dns/latency.h"

struct node_latency {
        struct node_closing *closing_count; /* told when l is freed, or NULL */
        struct node_cluster *c;
        uv_loop_t *loop;
        const struct node_config *cfg;
        struct dns_rtt_table *rtt; /* borrowed; NULL: nothing measured */
        uv_timer_t compile, report;
        bool compile_armed, sending, closing;
        /* Compiling runs on libuv's pool (a large map takes a while); one
         * at a time, another after it when the map changed meanwhile. */
        uv_work_t work;
        bool compiling, dirty;
        struct dns_latency_item *job_items;
        size_t job_n;
        struct dns_latency_map *job_map;
        int job_rc;
        unsigned open; /* handles not yet closed, reports in flight */
        uint64_t reports, reported_prefixes, compiled, published_prefixes;
        struct dns_rtt_sample samples[CS_LATENCY_MEASURED_BATCH_MAX];
        struct cs_latency_item items[CS_LATENCY_MEASURED_BATCH_MAX];
};

static void maybe_free(struct node_latency *l)
{
        if (!l->closing || l->open > 0)
                return;
        struct node_closing *g = l->closing_count;
        free(l);
        if (g != NULL)
                node_closing_release(g);
}

static void on_handle_closed(uv_handle_t *h)
{
        struct node_latency *l = h->data;
        l->open--;
        maybe_free(l);
}

/* ---- compiling ------------------------------------------------------------- */

static void on_changed(void *ctx, const struct cs_state *st);
static void compile_now(uv_timer_t *t);

/* On a pool thread: reads only the job's items. */
static void compile_work(uv_work_t *w)
{
        struct node_latency *l = w->data;
        l->job_rc = dns_latency_compile(l->job_items, l->job_n, &l->job_map);
}

static void compile_done(uv_work_t *w, int status)
{
        struct node_latency *l = w->data;
        int rc = status != 0 ? status : l->job_rc;
        struct dns_latency_map *map = rc == 0 ? l->job_map : NULL;
        free(l->job_items);
        l->job_items = NULL;
        l->job_map = NULL;
        l->compiling = false;
        l->open--;
        if (l->closing) {
                dns_latency_free(map);
                maybe_free(l);
                return;
        }
        if (rc == 0 && (rc = dns_db_latency_publish(l->c->db, map)) != 0)
                dns_latency_free(map);
        if (rc != 0) {
                LOG_ERROR("latency: cannot publish the map (%s); trying again",
                          strerror(rc < 0 ? -rc : rc));
                l->compile_armed = true;
                uv_timer_start(&l->compile, compile_now, 1000, 0);
                return;
        }
        l->compiled++;
        l->published_prefixes = dns_latency_prefix_count(map);
        LOG_DEBUG("latency: map of %zu entries published (%zu prefixes)", l->job_n,
                  dns_latency_prefix_count(map));
        if (l->dirty) {
                l->dirty = false;
                on_changed(l, &l->c->state);
        }
}

/* On the loop: every entry's effective RTT, copied (the state goes on
 * changing while the pool compiles), then compiled off the loop. */
static void compile_now(uv_timer_t *t)
{
        struct node_latency *l = t->data;
        l->compile_armed = false;
        if (l->compiling) {
                l->dirty = true;
                return;
        }
        const struct pmap_flat *h = &l->c->state.latency.entries;
        struct dns_latency_item *items =
            malloc((h->count ? h->count : 1) * sizeof(*items));
        if (items == NULL) {
                LOG_ERROR("latency: out of memory compiling the map; trying again");
                l->compile_armed = true;
                uv_timer_start(&l->compile, compile_now, 1000, 0);
                return;
        }
        size_t n = 0;
        const struct cs_latency_entry *e;
        for (size_t i = 0; (e = pmap_flat_next(h, &i)) != NULL;) {
                memset(&items[n], 0, sizeof(items[n]));
                items[n].net.family = e->prefix.family == 4 ? AF_INET : AF_INET6;
                items[n].net.prefix = e->prefix.len;
                memcpy(items[n].net.bytes, e->prefix.addr, 16);
                items[n].region = dns_latency_region_key(e->region);
                items[n].rtt_us = cs_latency_rtt(e);
                n++;
        }
        l->job_items = items;
        l->job_n = n;
        l->job_map = NULL;
        l->compiling = true;
        l->open++;
        l->work.data = l;
        if (uv_queue_work(l->loop, &l->work, compile_work, compile_done) != 0) {
                compile_work(&l->work); /* no pool: here, then */
                compile_done(&l->work, 0);
        }
}

static void on_changed(void *ctx, const struct cs_state *st)
{
        (void)st;
        struct node_latency *l = ctx;
        if (l->closing || l->compile_armed)
                return;
        l->compile_armed = true; /* a burst of commands compiles once */
        uv_timer_start(&l->compile, compile_now, 0, 0);
}

/* ---- reporting ------------------------------------------------------------- */

static void on_proposed(void *ctx, int status, const struct cs_result *res)
{
        struct node_latency *l = ctx;
        if (status != 0 || (res != NULL && res->status != 0))
                LOG_DEBUG("latency: measured RTTs not applied: %d %s", status,
                          res ? res->message : "");
        l->sending = false;
        l->open--;
        maybe_free(l);
}

static void on_sent(void *ctx, int status, const char *type, const char *body, size_t len)
{
        (void)type;
        if (status != 200)
                LOG_DEBUG("latency: the leader took no RTTs (%d): %.*s", status,
                          (int)(len > 200 ? 200 : len), body ? body : "");
        on_proposed(ctx, 0, NULL);
}

static json_t *measured_json(const struct node_latency *l, size_t n)
{
        json_t *list = json_array();
        for (size_t i = 0; list != NULL && i < n; i++) {
                char text[64];
                node_latency_prefix_text(&l->items[i].prefix, text, sizeof(text));
                json_array_append_new(
                    list, json_pack("{s:s, s:I, s:I}", "prefix", text, "rtt_us",
                                    (json_int_t)l->items[i].rtt_us, "samples",
                                    (json_int_t)l->items[i].samples));
        }
        return json_pack("{s:I, s:s, s:o}", "node", (json_int_t)l->cfg->node_id, "region",
                         l->cfg->region, "entries", list);
}

static void send_report(struct node_latency *l, size_t n)
{
        struct node_cluster *c = l->c;
        struct cs_latency_batch b = {.node = l->cfg->node_id,
                                     .region = l->cfg->region,
                                     .items = l->items,
                                     .count = n};
        l->reports++;
        l->reported_prefixes += n;
        if (node_cluster_is_leader(c)) {
                struct cs_command cmd = {.type = CS_CMD_LATENCY_MEASURED, .u.latency = b};
                l->sending = true;
                l->open++;
                node_cluster_propose(c, &cmd, on_proposed, l);
                return;
        }
        json_t *body = measured_json(l, n);
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (text == NULL)
                return;
        /* No leader: these samples are lost, the next come. */
        l->sending = true;
        l->open++;
        if (node_cluster_post_leader(c, "/v1/latency-map/measured", text, on_sent, l) !=
            0) {
                l->sending = false;
                l->open--;
        }
        free(text);
}

static void run_report(uv_timer_t *t)
{
        struct node_latency *l = t->data;
        if (l->closing || l->sending || !l->c->running)
                return;
        size_t n = 0;
        if (l->rtt != NULL && l->cfg->region[0] != '\0')
                n = dns_rtt_drain(l->rtt, l->samples, CS_LATENCY_MEASURED_BATCH_MAX);
        for (size_t i = 0; i < n; i++) {
                const struct dns_rtt_sample *s = &l->samples[i];
                struct cs_latency_item *it = &l->items[i];
                memset(it, 0, sizeof(*it));
                it->prefix.family = s->net.family == AF_INET ? 4 : 6;
                it->prefix.len = s->net.prefix;
                memcpy(it->prefix.addr, s->net.bytes, 16);
                it->rtt_us = s->rtt_us;
                it->samples = s->count;
        }
        /* The leader makes time pass in the log when measured values are
         * due to age out. */
        if (n > 0 || (node_cluster_is_leader(l->c) &&
                      cs_state_latency_due(&l->c->state, node_now_ms())))
                send_report(l, n);
}

int node_latency_start(struct node_latency **out, struct node_cluster *c, uv_loop_t *loop,
                       const struct node_config *cfg, struct dns_rtt_table *rtt)
{
        struct node_latency *l = calloc(1, sizeof(*l));
        if (l == NULL)
                return -ENOMEM;
        l->c = c;
        l->loop = loop;
        l->cfg = cfg;
        l->rtt = rtt;
        uv_timer_init(loop, &l->compile);
        uv_timer_init(loop, &l->report);
        l->compile.data = l->report.data = l;
        l->open = 2;
        struct cs_latency_observer obs = {.ctx = l, .changed = on_changed};
        cs_state_set_latency_observer(&c->state, &obs);
        on_changed(l, &c->state); /* what the log and snapshot brought */
        uint64_t every = cfg->latency_report_ms ? cfg->latency_report_ms : 30000;
        uv_timer_start(&l->report, run_report, every, every);
        if (rtt != NULL && cfg->region[0] != '\0')
                LOG_INFO("latency: measuring DNS-over-TCP RTTs for region %s, reported "
                         "every %" PRIu64 " ms",
                         cfg->region, every);
        *out = l;
        return 0;
}

void node_latency_close(struct node_latency *l, struct node_closing *g)
{
        if (l == NULL || l->closing)
                return;
        l->closing = true;
        l->closing_count = g;
        if (g != NULL)
                node_closing_hold(g);
        cs_state_set_latency_observer(&l->c->state, NULL);
        uv_close((uv_handle_t *)&l->compile, on_handle_closed);
        uv_close((uv_handle_t *)&l->report, on_handle_closed);
}

json_t *node_latency_stats(const struct node_latency *l)
{
        if (l == NULL)
                return json_null();
        uint64_t recorded, dropped;
        dns_rtt_stats(l->rtt, &recorded, &dropped);
        return json_pack("{s:s?, s:I, s:I, s:I, s:I, s:I, s:I}", "region",
                         l->cfg->region[0] ? l->cfg->region : NULL,
                         "connections_measured", (json_int_t)recorded, "samples_dropped",
                         (json_int_t)dropped, "reports", (json_int_t)l->reports,
                         "reported_prefixes", (json_int_t)l->reported_prefixes,
                         "compiled", (json_int_t)l->compiled, "published_prefixes",
                         (json_int_t)l->published_prefixes);
}
