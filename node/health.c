/*
 * health.c — a cluster node's health wiring (see health.h).
 *
 * Data flow: the replicated state tells us of definitions (check_changed,
 * restored) and we mirror them into the scheduler; the scheduler tells us
 * of flips (on_state) and ticks (on_refresh) and we run a vote round: the
 * verdicts the state does not hold yet, or holds stale, become one VOTES
 * command (proposed here when leading, else POSTed to the leader); the
 * leader also proposes an empty one when a status is due to change with
 * time alone (cs_state_health_due).  When a
 * published status changes (status_changed) — or the cluster interns a new
 * check id for a record set — a zero timer builds a health version, one
 * status per interned id, and publishes it to the DNS engine.
 */
#include "node/health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dns/route.h"
#include "health/sched.h"

struct node_health {
        struct node_closing *closing_count; /* told when h is freed, or NULL */
        struct node_cluster *c;
        uv_loop_t *loop;
        const struct node_config *cfg;
        struct health_sched sched;
        uv_timer_t round; /* the next vote round */
        uv_timer_t publish;
        bool round_armed;
        bool sending; /* a round's votes are on their way */
        bool again;   /* a flip came while sending: run another round */
        uint64_t version;
        unsigned open; /* handles and scheduler not yet closed, votes in flight */
        bool closing;
        struct node_health_stats stats;
        /* Collected by a round. */
        struct cs_health_vote_spec *votes;
        size_t n_votes, cap_votes;
};

/* ---- publishing ---------------------------------------------------------- */

static void publish_now(uv_timer_t *t)
{
        struct node_health *h = t->data;
        struct node_cluster *c = h->c;
        struct dns_health *v = dns_health_new(++h->version, c->health_id_count);
        if (v == NULL) {
                LOG_ERROR("health: out of memory building a health version");
                uv_timer_start(&h->publish, publish_now, 100, 0);
                return;
        }
        for (uint32_t i = 0; i < c->health_id_count; i++) {
                uint64_t id;
                const struct cs_health_check *check = NULL;
                if (cs_health_id_parse(node_cluster_health_id(c, i + 1), &id) == 0)
                        check = cs_state_health_get(&c->state, id);
                v->status[i] = check == NULL || check->healthy ? DNS_HEALTH_HEALTHY
                                                               : DNS_HEALTH_UNHEALTHY;
        }
        if (dns_db_health_publish(c->db, v) != 0) {
                free(v);
                LOG_ERROR("health: publishing a health version failed; retrying");
                uv_timer_start(&h->publish, publish_now, 100, 0);
        }
}

static void publish_soon(struct node_health *h)
{
        if (!h->closing && !uv_is_active((uv_handle_t *)&h->publish))
                uv_timer_start(&h->publish, publish_now, 0, 0);
}

static void on_status_changed(void *ctx, const struct cs_state *st)
{
        (void)st;
        publish_soon(ctx);
}

static void on_interned(void *ctx)
{
        publish_soon(ctx);
}

/* ---- definitions into the scheduler -------------------------------------- */

static void on_check_changed(void *ctx, uint64_t id, const struct cs_health_check *check)
{
        struct node_health *h = ctx;
        if (h->closing)
                return;
        int rc = check != NULL ? health_sched_put(&h->sched, id, &check->cfg)
                               : health_sched_delete(&h->sched, id);
        if (rc != 0 && rc != -ENOENT)
                LOG_ERROR("health: check %016" PRIx64 " not scheduled: %s", id,
                          strerror(-rc));
}

struct id_list {
        uint64_t *ids;
        size_t n, cap;
};

static int collect(const struct health_local *local, void *arg)
{
        struct id_list *l = arg;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                uint64_t *a = realloc(l->ids, cap * sizeof(*a));
                if (a == NULL)
                        return -ENOMEM;
                l->ids = a;
                l->cap = cap;
        }
        l->ids[l->n++] = local->id;
        return 0;
}

/* Makes the scheduler hold exactly the state's checks. */
static void resync(struct node_health *h)
{
        struct id_list l = {0};
        health_sched_foreach(&h->sched, collect, &l);
        for (size_t i = 0; i < l.n; i++)
                if (cs_state_health_get(&h->c->state, l.ids[i]) == NULL)
                        health_sched_delete(&h->sched, l.ids[i]);
        free(l.ids);
        for (size_t i = 0; i < cs_state_health_count(&h->c->state); i++) {
                const struct cs_health_check *check = cs_state_health_at(&h->c->state, i);
                on_check_changed(h, check->id, check);
        }
}

static void on_restored(void *ctx, const struct cs_state *st)
{
        (void)st;
        resync(ctx);
        publish_soon(ctx);
}

/* ---- vote rounds ----------------------------------------------------------- */

static const struct cs_health_vote *my_vote(const struct cs_health_check *check,
                                            uint64_t node)
{
        for (size_t i = 0; i < check->n_votes; i++)
                if (check->votes[i].node == node)
                        return &check->votes[i];
        return NULL;
}

static uint32_t micros(int64_t us)
{
        return us < 0 ? UINT32_MAX : us > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)us;
}

static int add_vote(struct node_health *h, const struct health_local *local)
{
        if (h->n_votes == h->cap_votes) {
                size_t cap = h->cap_votes ? h->cap_votes * 2 : 64;
                struct cs_health_vote_spec *a = realloc(h->votes, cap * sizeof(*a));
                if (a == NULL)
                        return -ENOMEM;
                h->votes = a;
                h->cap_votes = cap;
        }
        h->votes[h->n_votes++] = (struct cs_health_vote_spec){
            .check = local->id,
            .healthy = local->healthy,
            .status = local->last.status > 0 && local->last.status < 1000
                          ? (uint16_t)local->last.status
                          : 0,
            .connect_us = micros(local->last.connect_us),
            .first_byte_us = micros(local->last.first_byte_us),
            .reason = local->last.ok ? NULL : local->last.text};
        return 0;
}

struct gather {
        struct node_health *h;
        uint64_t now;
        int rc;
};

static int gather_one(const struct health_local *local, void *arg)
{
        struct gather *g = arg;
        struct node_health *h = g->h;
        if (!local->probing || !local->decided)
                return 0; /* no verdict yet: no vote (a new check is healthy) */
        const struct cs_health_check *check =
            cs_state_health_get(&h->c->state, local->id);
        if (check == NULL)
                return 0;
        const struct cs_health_vote *mine = my_vote(check, h->cfg->node_id);
        uint64_t interval_ms = (uint64_t)check->cfg.request_interval * 1000;
        bool due = mine == NULL || mine->healthy != local->healthy ||
                   g->now >= mine->time_ms + interval_ms;
        if (due && (g->rc = add_vote(h, local)) != 0)
                return 1;
        return 0;
}

static void run_round(uv_timer_t *t);

static void schedule_round(struct node_health *h, uint64_t delay_ms)
{
        if (h->closing)
                return;
        if (h->sending) {
                h->again = true;
                return;
        }
        if (h->round_armed && delay_ms >= NODE_HEALTH_COALESCE_MS)
                return; /* one is due soon enough */
        h->round_armed = true;
        uv_timer_start(&h->round, run_round, delay_ms, 0);
}

static void maybe_free(struct node_health *h);

/* A round's votes were applied (ok) or not.  The votes in flight hold h
 * (h->open): a close meanwhile frees it here. */
static void round_done(struct node_health *h, bool ok)
{
        if (ok)
                h->stats.rounds_applied++;
        else
                h->stats.rounds_failed++;
        h->sending = false;
        if (h->again && !h->closing) {
                h->again = false;
                schedule_round(h, NODE_HEALTH_COALESCE_MS);
        }
        maybe_free(h);
}

static void on_proposed(void *ctx, int status, const struct cs_result *res)
{
        bool ok = status == 0 && (res == NULL || res->status == 0);
        if (!ok)
                LOG_DEBUG("health: votes not applied: %d %s", status,
                          res ? res->message : "");
        round_done(ctx, ok);
}

static void on_sent(void *ctx, int status, const char *type, const char *body, size_t len)
{
        (void)type;
        if (status != 200)
                LOG_DEBUG("health: the leader took no votes (%d): %.*s", status,
                          (int)(len > 200 ? 200 : len), body ? body : "");
        round_done(ctx, status == 200);
}

static void send_votes(struct node_health *h)
{
        struct node_cluster *c = h->c;
        if (node_cluster_is_leader(c)) {
                struct cs_command cmd = {.type = CS_CMD_HEALTH_VOTES};
                cmd.u.health_votes = (struct cs_health_votes){
                    .node = h->cfg->node_id, .votes = h->votes, .count = h->n_votes};
                h->sending = true;
                h->open++;
                h->stats.votes_proposed += h->n_votes;
                node_cluster_propose(c, &cmd, on_proposed, h);
                return;
        }
        json_t *body = node_health_votes_json(h->cfg->node_id, h->votes, h->n_votes);
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (text == NULL)
                return;
        /* No leader: the next refresh tries again. */
        h->sending = true;
        h->open++;
        if (node_cluster_post_leader(c, "/v1/healthchecks/votes", text, on_sent, h) !=
            0) {
                h->sending = false;
                h->open--;
        } else {
                h->stats.votes_proposed += h->n_votes;
        }
        free(text);
}

static void run_round(uv_timer_t *t)
{
        struct node_health *h = t->data;
        h->round_armed = false;
        if (h->closing || h->sending || !h->c->running)
                return;
        struct gather g = {.h = h, .now = node_now_ms()};
        h->n_votes = 0;
        health_sched_foreach(&h->sched, gather_one, &g);
        if (g.rc != 0) {
                LOG_ERROR("health: out of memory gathering votes");
                return;
        }
        /* The leader makes time pass in the log when a status is due to
         * change without a vote (a heartbeat missed, votes aged out). */
        if (h->n_votes > 0 ||
            (node_cluster_is_leader(h->c) && cs_state_health_due(&h->c->state, g.now)))
                send_votes(h);
}

static void on_state(struct health_sched *sched, const struct health_local *local)
{
        struct node_health *h = sched->data;
        LOG_INFO("health: check %016" PRIx64 " is %s here (%s)", local->id,
                 local->healthy ? "healthy" : "unhealthy",
                 local->has_result ? local->last.text : "no result");
        schedule_round(h, NODE_HEALTH_COALESCE_MS);
}

static void on_refresh(struct health_sched *sched)
{
        struct node_health *h = sched->data;
        schedule_round(h, 0);
}

static void on_result(struct health_sched *sched, const struct health_local *local,
                      const struct health_result *result)
{
        (void)local;
        struct node_health_stats *st = &((struct node_health *)sched->data)->stats;
        st->probes++;
        if (!result->ok && (unsigned)result->reason < HEALTH_REASON_COUNT)
                st->failures[result->reason]++;
        node_latency_add(&st->probe_time, result->elapsed_us > 0
                                              ? (uint64_t)result->elapsed_us * 1000u
                                              : 0);
}

/* ---- the votes' JSON -------------------------------------------------------- */

json_t *node_health_votes_json(uint64_t node, const struct cs_health_vote_spec *votes,
                               size_t n)
{
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
                char id[CS_HEALTH_ID_TEXT];
                cs_health_id_text(votes[i].check, id);
                json_t *v =
                    json_pack("{s:s, s:b, s:i, s:I, s:I}", "id", id, "healthy",
                              votes[i].healthy, "status", (int)votes[i].status,
                              "connect_us", (json_int_t)votes[i].connect_us,
                              "first_byte_us", (json_int_t)votes[i].first_byte_us);
                if (v != NULL && votes[i].reason != NULL)
                        json_object_set_new(v, "reason", json_string(votes[i].reason));
                json_array_append_new(list, v);
        }
        return json_pack("{s:I, s:o}", "node", (json_int_t)node, "votes", list);
}

static bool get_u32(json_t *o, const char *key, uint32_t max, uint32_t *out)
{
        json_t *v = json_object_get(o, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) > max)
                return false;
        *out = (uint32_t)json_integer_value(v);
        return true;
}

int node_health_votes_parse(json_t *body, struct cs_health_votes *out,
                            struct cs_health_vote_spec **votes, char *err, size_t errlen)
{
        json_t *node = json_object_get(body, "node");
        json_t *list = json_object_get(body, "votes");
        *votes = NULL;
        if (!json_is_integer(node) || json_integer_value(node) <= 0) {
                snprintf(err, errlen, "node: must be a positive node id");
                return -EINVAL;
        }
        if (!json_is_array(list) || json_array_size(list) > CS_HEALTH_CHECKS_MAX) {
                snprintf(err, errlen, "votes: must be an array of at most %d votes",
                         CS_HEALTH_CHECKS_MAX);
                return -EINVAL;
        }
        size_t n = json_array_size(list);
        struct cs_health_vote_spec *a = calloc(n ? n : 1, sizeof(*a));
        if (a == NULL) {
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                json_t *v = json_array_get(list, i);
                json_t *healthy = json_object_get(v, "healthy");
                json_t *reason = json_object_get(v, "reason");
                uint32_t status = 0;
                if (cs_health_id_parse(json_string_value(json_object_get(v, "id")),
                                       &a[i].check) != 0 ||
                    !json_is_boolean(healthy) || !get_u32(v, "status", 999, &status) ||
                    !get_u32(v, "connect_us", UINT32_MAX, &a[i].connect_us) ||
                    !get_u32(v, "first_byte_us", UINT32_MAX, &a[i].first_byte_us) ||
                    (reason != NULL &&
                     (!json_is_string(reason) ||
                      json_string_length(reason) > CS_HEALTH_REASON_MAX))) {
                        snprintf(err, errlen,
                                 "votes[%zu]: needs id (16 hex digits), healthy, status, "
                                 "connect_us, first_byte_us and an optional reason of at "
                                 "most %d bytes",
                                 i, CS_HEALTH_REASON_MAX);
                        free(a);
                        return -EINVAL;
                }
                a[i].healthy = json_is_true(healthy);
                a[i].status = (uint16_t)status;
                a[i].reason = reason ? json_string_value(reason) : NULL;
        }
        *out = (struct cs_health_votes){
            .node = (uint64_t)json_integer_value(node), .votes = a, .count = n};
        *votes = a;
        return 0;
}

/* ---- life cycle ----------------------------------------------------------- */

const struct node_health_stats *node_health_stats(const struct node_health *h)
{
        return h ? &h->stats : NULL;
}

const struct health_local *node_health_local(const struct node_health *h, uint64_t id)
{
        return h ? health_sched_get(&h->sched, id) : NULL;
}

static void maybe_free(struct node_health *h)
{
        if (--h->open > 0)
                return;
        struct node_closing *g = h->closing_count;
        free(h->votes);
        free(h);
        if (g != NULL)
                node_closing_release(g);
}

static void on_handle_closed(uv_handle_t *handle)
{
        maybe_free(handle->data);
}

static void on_sched_closed(struct health_sched *sched)
{
        maybe_free(sched->data);
}

/* The address probes leave from: the API listener's, unless a wildcard. */
static const char *source_of(const struct node_config *cfg, char *buf, size_t size)
{
        const struct sockaddr_storage *a = &cfg->api_address;
        if (a->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)a;
                if (in->sin_addr.s_addr == htonl(INADDR_ANY))
                        return NULL;
                return inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)size);
        }
        if (a->ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
                if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
                        return NULL;
                return inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)size);
        }
        return NULL;
}

int node_health_start(struct node_health **out, struct node_cluster *c, uv_loop_t *loop,
                      const struct node_config *cfg)
{
        struct node_health *h = calloc(1, sizeof(*h));
        if (h == NULL)
                return -ENOMEM;
        h->c = c;
        h->loop = loop;
        h->cfg = cfg;
        char name[32], source[INET6_ADDRSTRLEN];
        snprintf(name, sizeof(name), "%llu", cfg->node_id);
        struct health_sched_options opts = {.source_ip =
                                                source_of(cfg, source, sizeof(source)),
                                            .node_name = name,
                                            .region = cfg->region[0] ? cfg->region : NULL,
                                            .refresh_ms = NODE_HEALTH_REFRESH_MS,
                                            .on_state = on_state,
                                            .on_refresh = on_refresh,
                                            .on_result = on_result};
        int rc = health_sched_init(&h->sched, loop, &opts);
        if (rc != 0) {
                free(h);
                return rc;
        }
        h->sched.data = h;
        uv_timer_init(loop, &h->round);
        uv_timer_init(loop, &h->publish);
        h->round.data = h->publish.data = h;
        h->open = 3;
        struct cs_health_observer obs = {.ctx = h,
                                         .check_changed = on_check_changed,
                                         .status_changed = on_status_changed,
                                         .restored = on_restored};
        cs_state_set_health_observer(&c->state, &obs);
        c->health_interned = on_interned;
        c->health_ctx = h;
        resync(h);
        publish_soon(h);
        LOG_INFO("health: probing from %s as node %s",
                 opts.source_ip ? opts.source_ip : "any", name);
        *out = h;
        return 0;
}

void node_health_close(struct node_health *h, struct node_closing *g)
{
        if (h == NULL || h->closing)
                return;
        h->closing = true;
        h->closing_count = g;
        if (g != NULL)
                node_closing_hold(g);
        cs_state_set_health_observer(&h->c->state, NULL);
        h->c->health_interned = NULL;
        h->c->health_ctx = NULL;
        uv_close((uv_handle_t *)&h->round, on_handle_closed);
        uv_close((uv_handle_t *)&h->publish, on_handle_closed);
        health_sched_close(&h->sched, on_sched_closed);
}
