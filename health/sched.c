/*
 * sched.c — the health-check scheduler (see sched.h).
 *
 * Each check is a `struct sched_entry` in a chained hash table keyed by id.
 * An entry owns a copy of its definition, a probe slot (health_probe) and a
 * tick timer.  The tick fires once per window: it starts the probe unless
 * the previous one still runs, then arms itself for the next window.  The
 * probe's callback applies inversion and hysteresis and reports flips.
 *
 * A deleted entry leaves the table at once (so it can be put again under
 * the same id), cancels its probe (its connection is closed: the endpoint
 * sees nothing more) and is freed when its two handles have closed.
 */
#include "health/sched.h"

#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sched_entry {
        struct health_sched *sched;
        struct sched_entry *next; /* bucket chain */
        struct health_check_config cfg;
        struct health_probe probe;
        uv_timer_t tick;
        uint64_t window_ms; /* start of the current window (loop time) */
        struct health_local local;
        unsigned open; /* handles not yet closed: tick, probe */
};

static uint64_t rng_next(struct health_sched *s)
{
        /* xorshift64*: jitter only, not security. */
        s->rng ^= s->rng >> 12;
        s->rng ^= s->rng << 25;
        s->rng ^= s->rng >> 27;
        return s->rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t rng_below(struct health_sched *s, uint64_t n)
{
        return n ? rng_next(s) % n : 0;
}

static size_t bucket_of(const struct health_sched *s, uint64_t id)
{
        uint64_t h = id * 0x9E3779B97F4A7C15ull;
        return (size_t)(h >> 32) & (s->bucket_count - 1);
}

static struct sched_entry **find_slot(const struct health_sched *s, uint64_t id)
{
        struct sched_entry **pp = &s->buckets[bucket_of(s, id)];
        while (*pp && (*pp)->local.id != id)
                pp = &(*pp)->next;
        return pp;
}

static int grow(struct health_sched *s)
{
        size_t n = s->bucket_count * 2;
        struct sched_entry **b = calloc(n, sizeof(*b));
        if (!b)
                return -ENOMEM;
        struct sched_entry **old = s->buckets;
        size_t old_n = s->bucket_count;
        s->buckets = b;
        s->bucket_count = n;
        for (size_t i = 0; i < old_n; i++) {
                struct sched_entry *e = old[i], *next;
                for (; e; e = next) {
                        next = e->next;
                        size_t k = bucket_of(s, e->local.id);
                        e->next = b[k];
                        b[k] = e;
                }
        }
        free(old);
        return 0;
}

static void pending_done(struct health_sched *s)
{
        if (--s->pending == 0 && s->closing && s->close_cb)
                s->close_cb(s);
}

/* ------------------------------------------------------------ timing */

static uint64_t interval_ms(const struct sched_entry *e)
{
        return (uint64_t)e->cfg.request_interval * 1000;
}

static uint64_t jitter_max(const struct sched_entry *e)
{
        uint64_t j = interval_ms(e) / 10;
        return j < 1000 ? j : 1000;
}

static void on_tick(uv_timer_t *timer);

/* Arms the tick for the window that starts at e->window_ms. */
static void arm(struct sched_entry *e)
{
        struct health_sched *s = e->sched;
        uint64_t now = uv_now(s->loop);
        uint64_t at = e->window_ms + rng_below(s, jitter_max(e) + 1);
        uv_timer_start(&e->tick, on_tick, at > now ? at - now : 0, 0);
}

/* (Re)starts probing: the first probe falls within one interval. */
static void schedule_first(struct sched_entry *e)
{
        struct health_sched *s = e->sched;
        uint64_t spread = interval_ms(e) - jitter_max(e);
        e->window_ms = uv_now(s->loop) + rng_below(s, spread);
        arm(e);
}

static bool should_probe(const struct health_sched *s,
                         const struct health_check_config *cfg)
{
        return health_check_type_probed(cfg->type) && !cfg->disabled &&
               health_check_probed_by(cfg, s->node_name, s->region[0] ? s->region : NULL);
}

static void flip(struct sched_entry *e, bool healthy)
{
        struct health_sched *s = e->sched;
        e->local.healthy = healthy;
        e->local.changed_ms = uv_now(s->loop);
        if (s->opts.on_state)
                s->opts.on_state(s, &e->local);
}

static void on_result(struct health_probe *probe, const struct health_result *result)
{
        struct sched_entry *e = probe->data;
        struct health_local *l = &e->local;
        l->probes++;
        l->has_result = true;
        l->last = *result;
        bool ok = result->ok != e->cfg.inverted;
        if (ok) {
                l->successes++;
                l->failures = 0;
                if (l->successes >= e->cfg.failure_threshold) {
                        l->decided = true;
                        if (!l->healthy)
                                flip(e, true);
                }
        } else {
                l->failures++;
                l->successes = 0;
                if (l->failures >= e->cfg.failure_threshold) {
                        l->decided = true;
                        if (l->healthy)
                                flip(e, false);
                }
        }
        struct health_sched *s = e->sched;
        if (s->opts.on_result)
                s->opts.on_result(s, l, result);
}

static void on_tick(uv_timer_t *timer)
{
        struct sched_entry *e = timer->data;
        struct health_sched *s = e->sched;
        if (health_probe_active(&e->probe)) {
                e->local.skipped++;
        } else {
                int rc = health_probe_start(&e->probe, &e->cfg, on_result);
                if (rc != 0) {
                        /* Not a verdict on the endpoint: out of memory. */
                        e->local.skipped++;
                        LOG_WARN("health: check %llu: probe not started: %s",
                                 (unsigned long long)e->local.id, uv_strerror(rc));
                }
        }
        uint64_t now = uv_now(s->loop), step = interval_ms(e);
        e->window_ms += step;
        if (e->window_ms + step <= now) /* the loop stalled: no catching up */
                e->window_ms = now;
        arm(e);
}

/* ------------------------------------------------------------ entries */

static void entry_release(struct sched_entry *e)
{
        if (--e->open > 0)
                return;
        struct health_sched *s = e->sched;
        health_check_config_free(&e->cfg);
        free(e);
        pending_done(s);
}

static void entry_tick_closed(uv_handle_t *handle)
{
        entry_release(handle->data);
}

static void entry_probe_closed(struct health_probe *probe)
{
        entry_release(probe->data);
}

static void entry_close(struct sched_entry *e)
{
        uv_timer_stop(&e->tick);
        uv_close((uv_handle_t *)&e->tick, entry_tick_closed);
        health_probe_close(&e->probe, entry_probe_closed);
}

/* Whether a probe in flight was started for a different target or rule. */
static bool probe_changed(const struct health_check_config *a,
                          const struct health_check_config *b)
{
#define STR_DIFF(f)                                                                      \
        ((a->f == NULL) != (b->f == NULL) || (a->f && strcmp(a->f, b->f) != 0))
        return a->type != b->type || a->port != b->port || STR_DIFF(ip_address) ||
               STR_DIFF(resource_path) || STR_DIFF(fqdn) || STR_DIFF(search_string) ||
               a->enable_sni != b->enable_sni ||
               a->verify_certificate != b->verify_certificate ||
               a->status_min != b->status_min || a->status_max != b->status_max;
#undef STR_DIFF
}

static int entry_add(struct health_sched *s, uint64_t id,
                     const struct health_check_config *cfg)
{
        if (s->count >= s->bucket_count && grow(s) != 0)
                return -ENOMEM;
        struct sched_entry *e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        if (health_check_config_copy(&e->cfg, cfg) != 0) {
                free(e);
                return -ENOMEM;
        }
        e->sched = s;
        e->local.id = id;
        e->local.healthy = true; /* until data arrives */
        uv_timer_init(s->loop, &e->tick);
        e->tick.data = e;
        health_probe_init(&s->prober, &e->probe);
        e->probe.data = e;
        e->open = 2;
        s->pending++;
        struct sched_entry **slot = find_slot(s, id);
        *slot = e;
        s->count++;
        e->local.probing = should_probe(s, cfg);
        if (e->local.probing)
                schedule_first(e);
        return 0;
}

static int entry_change(struct sched_entry *e, const struct health_check_config *cfg)
{
        struct health_sched *s = e->sched;
        struct health_check_config copy;
        if (health_check_config_copy(&copy, cfg) != 0)
                return -ENOMEM;
        bool target_changed = probe_changed(&e->cfg, cfg);
        bool interval_changed = e->cfg.request_interval != cfg->request_interval;
        bool inverted_changed = e->cfg.inverted != cfg->inverted;
        health_check_config_free(&e->cfg);
        e->cfg = copy;
        struct health_local *l = &e->local;
        bool was_probing = l->probing;
        l->probing = should_probe(s, cfg);
        if (target_changed || !l->probing) {
                health_probe_cancel(&e->probe);
                l->successes = l->failures = 0;
        }
        if (!l->probing) {
                uv_timer_stop(&e->tick);
                if (cfg->disabled && !l->healthy)
                        flip(e, true); /* disabled: healthy, and said so */
                l->healthy = true;     /* not probed here: no vote, fresh start */
                l->decided = false;
                return 0;
        }
        if (inverted_changed) {
                uint32_t t = l->successes;
                l->successes = l->failures;
                l->failures = t;
                flip(e, !l->healthy);
        }
        if (!was_probing || interval_changed || target_changed)
                schedule_first(e);
        return 0;
}

/* ------------------------------------------------------------ the scheduler */

static void on_refresh(uv_timer_t *timer)
{
        struct health_sched *s = timer->data;
        if (s->opts.on_refresh)
                s->opts.on_refresh(s);
}

static void sched_timer_closed(uv_handle_t *handle)
{
        pending_done(handle->data);
}

static void sched_prober_closed(struct health_prober *prober)
{
        pending_done(prober->data);
}

int health_sched_init(struct health_sched *s, uv_loop_t *loop,
                      const struct health_sched_options *opts)
{
        memset(s, 0, sizeof(*s));
        s->loop = loop;
        s->opts = *opts;
        snprintf(s->node_name, sizeof(s->node_name), "%s",
                 opts->node_name ? opts->node_name : "");
        snprintf(s->region, sizeof(s->region), "%s", opts->region ? opts->region : "");
        s->opts.node_name = s->node_name;
        s->opts.region = s->region;
        s->opts.source_ip = NULL; /* borrowed: used only below */
        s->rng = opts->seed ? opts->seed : (uv_hrtime() | 1);
        s->bucket_count = 64;
        s->buckets = calloc(s->bucket_count, sizeof(*s->buckets));
        if (!s->buckets)
                return -ENOMEM;
        int rc = health_prober_init(&s->prober, loop, opts->source_ip);
        if (rc != 0) {
                free(s->buckets);
                return rc;
        }
        s->prober.data = s;
        uv_timer_init(loop, &s->refresh);
        s->refresh.data = s;
        s->pending = 2;
        if (opts->refresh_ms)
                uv_timer_start(&s->refresh, on_refresh, opts->refresh_ms,
                               opts->refresh_ms);
        return 0;
}

int health_sched_put(struct health_sched *s, uint64_t id,
                     const struct health_check_config *cfg)
{
        struct health_problems problems;
        if (s->closing)
                return -ECANCELED;
        if (health_check_validate(cfg, id, &problems) != 0)
                return -EINVAL;
        struct sched_entry *e = *find_slot(s, id);
        return e ? entry_change(e, cfg) : entry_add(s, id, cfg);
}

int health_sched_delete(struct health_sched *s, uint64_t id)
{
        if (!s->buckets)
                return -ENOENT;
        struct sched_entry **slot = find_slot(s, id);
        struct sched_entry *e = *slot;
        if (!e)
                return -ENOENT;
        *slot = e->next;
        s->count--;
        entry_close(e);
        return 0;
}

const struct health_local *health_sched_get(const struct health_sched *s, uint64_t id)
{
        if (!s->buckets)
                return NULL;
        struct sched_entry *e = *find_slot(s, id);
        return e ? &e->local : NULL;
}

size_t health_sched_count(const struct health_sched *s)
{
        return s->count;
}

int health_sched_foreach(const struct health_sched *s,
                         int (*fn)(const struct health_local *local, void *arg),
                         void *arg)
{
        for (size_t i = 0; i < s->bucket_count; i++) {
                for (struct sched_entry *e = s->buckets[i]; e; e = e->next) {
                        int rc = fn(&e->local, arg);
                        if (rc)
                                return rc;
                }
        }
        return 0;
}

void health_sched_close(struct health_sched *s, health_sched_close_cb cb)
{
        s->closing = true;
        s->close_cb = cb;
        for (size_t i = 0; i < s->bucket_count; i++) {
                struct sched_entry *e = s->buckets[i], *next;
                for (; e; e = next) {
                        next = e->next;
                        entry_close(e);
                }
        }
        free(s->buckets);
        s->buckets = NULL;
        s->bucket_count = s->count = 0;
        uv_timer_stop(&s->refresh);
        uv_close((uv_handle_t *)&s->refresh, sched_timer_closed);
        health_prober_close(&s->prober, sched_prober_closed);
}
