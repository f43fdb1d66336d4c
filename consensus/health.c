/*
 * health.c — the health checks of the replicated state (see health.h).
 *
 * Commands change definitions, votes, the MANUAL setting or the last
 * heartbeat of one check; then evaluate() walks every check in id order at
 * the command's leader time and recomputes its status with health/rule.h,
 * CALCULATED checks last (a few passes, so that a CALCULATED child of a
 * CALCULATED check settles; a loop of them settles on what the passes give,
 * the same on every node).  Each changed status is recorded in the check's
 * history and bumps the table's version; the observer hears of it once per
 * command.
 */
#include "consensus/health.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/state_priv.h"

#define CALC_PASSES 4

/* ---- ids ---------------------------------------------------------------- */

void cs_health_id_text(uint64_t id, char out[CS_HEALTH_ID_TEXT])
{
        snprintf(out, CS_HEALTH_ID_TEXT, "%016" PRIx64, id);
}

int cs_health_id_parse(const char *text, uint64_t *id)
{
        uint64_t v = 0;
        if (text == NULL || strlen(text) != 16)
                return -EINVAL;
        for (size_t i = 0; i < 16; i++) {
                char c = text[i];
                unsigned d;
                if (c >= '0' && c <= '9')
                        d = (unsigned)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        d = (unsigned)(c - 'a' + 10);
                else
                        return -EINVAL;
                v = v << 4 | d;
        }
        if (v == 0)
                return -EINVAL;
        *id = v;
        return 0;
}

/* ---- the table ---------------------------------------------------------- */

static void check_free(struct cs_health_check *c)
{
        if (c == NULL)
                return;
        health_check_config_free(&c->cfg);
        for (size_t i = 0; i < c->n_votes; i++)
                free(c->votes[i].reason);
        free(c->votes);
        free(c->history);
        free(c);
}

void cs_health_table_fini(struct cs_health_table *t)
{
        for (size_t i = 0; i < t->count; i++)
                check_free(t->checks[i]);
        free(t->checks);
        memset(t, 0, sizeof(*t));
}

void cs_state_set_health_observer(struct cs_state *st,
                                  const struct cs_health_observer *obs)
{
        if (obs)
                st->health.observer = *obs;
        else
                memset(&st->health.observer, 0, sizeof(st->health.observer));
}

/* The position of id, or where it would go (*found false). */
static size_t find(const struct cs_health_table *t, uint64_t id, bool *found)
{
        size_t lo = 0, hi = t->count;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                uint64_t m = t->checks[mid]->id;
                if (m == id) {
                        *found = true;
                        return mid;
                }
                if (m < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

static struct cs_health_check *lookup(const struct cs_state *st, uint64_t id)
{
        bool found;
        size_t i = find(&st->health, id, &found);
        return found ? st->health.checks[i] : NULL;
}

const struct cs_health_check *cs_state_health_get(const struct cs_state *st, uint64_t id)
{
        return lookup(st, id);
}

size_t cs_state_health_count(const struct cs_state *st)
{
        return st->health.count;
}

const struct cs_health_check *cs_state_health_at(const struct cs_state *st, size_t i)
{
        return i < st->health.count ? st->health.checks[i] : NULL;
}

const struct cs_health_transition *
cs_health_check_transition(const struct cs_health_check *check, size_t i)
{
        if (i >= check->hist_count)
                return NULL;
        return &check->history[(check->hist_head + i) % CS_HEALTH_HISTORY];
}

/* Inserts c at its place (room reserved by reserve()). */
static int reserve(struct cs_health_table *t)
{
        if (t->count < t->cap)
                return 0;
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct cs_health_check **a = realloc(t->checks, cap * sizeof(*a));
        if (a == NULL)
                return -ENOMEM;
        t->checks = a;
        t->cap = cap;
        return 0;
}

static void insert(struct cs_health_table *t, size_t at, struct cs_health_check *c)
{
        memmove(&t->checks[at + 1], &t->checks[at], (t->count - at) * sizeof(*t->checks));
        t->checks[at] = c;
        t->count++;
}

/* ---- evaluation --------------------------------------------------------- */

static void record(struct cs_health_check *c, uint64_t now, bool to, uint8_t cause)
{
        if (c->history == NULL) {
                c->history = calloc(CS_HEALTH_HISTORY, sizeof(*c->history));
                if (c->history == NULL)
                        return; /* the transition happens; only its record is lost */
        }
        struct cs_health_transition tr = {.time_ms = now,
                                          .from = c->healthy,
                                          .to = to,
                                          .cause = cause,
                                          .fresh = c->tally.fresh,
                                          .healthy = c->tally.healthy};
        if (c->hist_count < CS_HEALTH_HISTORY) {
                c->history[(c->hist_head + c->hist_count) % CS_HEALTH_HISTORY] = tr;
                c->hist_count++;
        } else {
                c->history[c->hist_head] = tr;
                c->hist_head = (c->hist_head + 1) % CS_HEALTH_HISTORY;
        }
}

/* The raw status of a non-CALCULATED check at now. */
static bool raw_status(struct cs_health_check *c, uint64_t now, uint8_t *cause)
{
        const struct health_check_config *cfg = &c->cfg;
        switch (cfg->type) {
        case HEALTH_CHECK_MANUAL:
                *cause = CS_HEALTH_CAUSE_MANUAL;
                return c->manual_healthy;
        case HEALTH_CHECK_HEARTBEAT:
                *cause = CS_HEALTH_CAUSE_HEARTBEAT;
                return health_rule_heartbeat((int64_t)c->created_ms, c->last_beat_ms,
                                             cfg->heartbeat_ttl, (int64_t)now);
        default: {
                struct health_vote stack[16], *v = stack;
                if (c->n_votes > 16) {
                        v = malloc(c->n_votes * sizeof(*v));
                        if (v == NULL)
                                return c->raw; /* unchanged this time */
                }
                for (size_t i = 0; i < c->n_votes; i++)
                        v[i] =
                            (struct health_vote){.present = true,
                                                 .healthy = c->votes[i].healthy,
                                                 .time_ms = (int64_t)c->votes[i].time_ms};
                bool r = health_rule_aggregate(v, c->n_votes, cfg->aggregation_percent,
                                               health_rule_fresh_ms(cfg), (int64_t)now,
                                               c->raw, &c->tally);
                if (v != stack)
                        free(v);
                *cause = CS_HEALTH_CAUSE_VOTES;
                return r;
        }
        }
}

static bool calculated_status(const struct cs_state *st, const struct cs_health_check *c)
{
        bool stack[64], *kids = stack;
        size_t n = c->cfg.child_count;
        if (n > 64) {
                kids = malloc(n * sizeof(*kids));
                if (kids == NULL)
                        return c->raw;
        }
        for (size_t i = 0; i < n; i++) {
                const struct cs_health_check *k = lookup(st, c->cfg.children[i]);
                kids[i] = k == NULL || k->healthy; /* a deleted child: healthy */
        }
        bool r = health_rule_calculated(c->cfg.health_threshold, kids, n);
        if (kids != stack)
                free(kids);
        return r;
}

static bool settle(struct cs_state *st, struct cs_health_check *c, bool raw, uint64_t now,
                   uint8_t cause, uint8_t forced_cause)
{
        c->raw = raw;
        bool final = health_rule_final(&c->cfg, raw);
        if (final == c->healthy)
                return false;
        record(c, now, final, forced_cause ? forced_cause : cause);
        c->healthy = final;
        c->changed_ms = now;
        (void)st;
        return true;
}

/* Evaluates every check at now; forced_cause (0: none) names the cause of
 * changes to `only` (a definition change).  Returns whether any changed. */
static bool evaluate(struct cs_state *st, uint64_t now, uint64_t only, uint8_t forced)
{
        struct cs_health_table *t = &st->health;
        bool changed = false;
        for (size_t i = 0; i < t->count; i++) {
                struct cs_health_check *c = t->checks[i];
                if (c->cfg.type == HEALTH_CHECK_CALCULATED)
                        continue;
                uint8_t cause = 0;
                bool raw = raw_status(c, now, &cause);
                changed |= settle(st, c, raw, now, cause, c->id == only ? forced : 0);
        }
        for (int pass = 0; pass < CALC_PASSES; pass++) {
                bool moved = false;
                for (size_t i = 0; i < t->count; i++) {
                        struct cs_health_check *c = t->checks[i];
                        if (c->cfg.type != HEALTH_CHECK_CALCULATED)
                                continue;
                        bool raw = calculated_status(st, c);
                        moved |= settle(st, c, raw, now, CS_HEALTH_CAUSE_CHILDREN,
                                        c->id == only ? forced : 0);
                }
                changed |= moved;
                if (!moved)
                        break;
        }
        return changed;
}

static void finish(struct cs_state *st, const struct cs_ctx *ctx, uint64_t only,
                   uint8_t forced, bool force_notify)
{
        uint64_t now = ctx ? ctx->timestamp_ms : 0;
        bool changed = evaluate(st, now, only, forced);
        if (changed || force_notify) {
                st->health.version++;
                if (st->health.observer.status_changed)
                        st->health.observer.status_changed(st->health.observer.ctx, st);
        }
}

static void begin(struct cs_state *st, const struct cs_ctx *ctx, struct cs_result *res)
{
        cs_result_reset(res);
        if (ctx) {
                res->index = ctx->index;
                st->last_index = ctx->index;
        }
}

/* ---- definitions -------------------------------------------------------- */

/* The checks that name id: a record set (any zone) or a CALCULATED check.
 * Writes what names it into why. */
struct user_scan {
        char id[CS_HEALTH_ID_TEXT];
        const struct cs_rrset *found;
};

static int rrset_uses(const struct cs_rrset *r, void *arg)
{
        struct user_scan *u = arg;
        if (r->routing->health_check_id &&
            strcmp(r->routing->health_check_id, u->id) == 0) {
                u->found = r;
                return 1;
        }
        return 0;
}

static int zone_uses(const struct cs_zone *z, void *arg)
{
        return cs_zone_foreach_rrset(z, rrset_uses, arg);
}

static bool in_use(const struct cs_state *st, uint64_t id, struct cs_result *res)
{
        struct user_scan u = {.found = NULL};
        cs_health_id_text(id, u.id);
        for (size_t i = 0; i < st->health.count; i++) {
                const struct cs_health_check *c = st->health.checks[i];
                if (c->cfg.type != HEALTH_CHECK_CALCULATED)
                        continue;
                for (size_t k = 0; k < c->cfg.child_count; k++) {
                        if (c->cfg.children[k] != id)
                                continue;
                        char parent[CS_HEALTH_ID_TEXT];
                        cs_health_id_text(c->id, parent);
                        result_fail(res, -EBUSY,
                                    "health check %s is a child of CALCULATED check %s: "
                                    "remove it there first",
                                    u.id, parent);
                        return true;
                }
        }
        if (cs_state_foreach_zone(st, zone_uses, &u) == 0)
                return false;
        char owner[CS_NAME_MAXLEN * 4 + 1];
        cs_name_text(u.found->owner, u.found->owner_len, owner, sizeof(owner));
        result_fail(res, -EBUSY,
                    "health check %s is in use by the record set %s (set identifier "
                    "'%s'): remove its health_check_id first",
                    u.id, owner, u.found->set_id);
        return true;
}

/* Validation that needs the other checks: children exist. */
static int check_children(const struct cs_state *st, const struct cs_health_put *put,
                          struct cs_result *res)
{
        for (size_t i = 0; i < put->cfg->child_count; i++) {
                uint64_t k = put->cfg->children[i];
                if (k == put->id || lookup(st, k) == NULL) {
                        char text[CS_HEALTH_ID_TEXT];
                        cs_health_id_text(k, text);
                        result_error(res, CS_ERROR_BATCH, "child_health_checks",
                                     k == put->id
                                         ? "a check cannot be its own child"
                                         : "child health check %s does not exist",
                                     text);
                }
        }
        return res->n_errors ? -EINVAL : 0;
}

int cs_state_health_put(struct cs_state *st, const struct cs_ctx *ctx,
                        const struct cs_health_put *put, struct cs_result *res)
{
        begin(st, ctx, res);
        char text[CS_HEALTH_ID_TEXT];
        cs_health_id_text(put->id, text);
        if (put->id == 0)
                return result_fail(res, -EINVAL, "health check id 0 is reserved");
        struct health_problems problems;
        if (health_check_validate(put->cfg, put->id, &problems) != 0) {
                for (size_t i = 0; i < problems.count; i++)
                        result_error(res, CS_ERROR_BATCH, problems.list[i].field, "%s",
                                     problems.list[i].message);
                return result_fail(res, -EINVAL, "invalid health check");
        }
        if (check_children(st, put, res) != 0)
                return result_fail(res, -EINVAL, "invalid health check");
        bool found;
        size_t at = find(&st->health, put->id, &found);
        if (put->create && found)
                return result_fail(res, -EEXIST, "health check %s already exists", text);
        if (!put->create && !found)
                return result_fail(res, -ENOENT, "no health check %s", text);
        if (put->create && st->health.count >= CS_HEALTH_CHECKS_MAX)
                return result_fail(res, -ENOSPC, "at most %d health checks",
                                   CS_HEALTH_CHECKS_MAX);
        uint64_t now = ctx ? ctx->timestamp_ms : 0;
        struct health_check_config cfg;
        if (health_check_config_copy(&cfg, put->cfg) != 0)
                return result_fail(res, -ENOMEM, "out of memory");
        struct cs_health_check *c;
        if (found) {
                c = st->health.checks[at];
                health_check_config_free(&c->cfg);
                c->cfg = cfg;
                /* Votes were about the old definition: the aggregate stays
                 * until new ones arrive. */
                for (size_t i = 0; i < c->n_votes; i++)
                        free(c->votes[i].reason);
                free(c->votes);
                c->votes = NULL;
                c->n_votes = 0;
                c->updated_ms = now;
        } else {
                c = calloc(1, sizeof(*c));
                if (c == NULL || reserve(&st->health) != 0) {
                        free(c);
                        health_check_config_free(&cfg);
                        return result_fail(res, -ENOMEM, "out of memory");
                }
                c->id = put->id;
                c->cfg = cfg;
                c->created_ms = c->updated_ms = c->changed_ms = now;
                c->raw = c->healthy = c->manual_healthy = true; /* healthy until data */
                c->last_beat_ms = -1;
                insert(&st->health, at, c);
        }
        snprintf(res->message, sizeof(res->message), "%s", text);
        if (st->health.observer.check_changed)
                st->health.observer.check_changed(st->health.observer.ctx, c->id, c);
        finish(st, ctx, c->id, CS_HEALTH_CAUSE_CONFIG, !found);
        return 0;
}

int cs_state_health_delete(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                           struct cs_result *res)
{
        begin(st, ctx, res);
        bool found;
        size_t at = find(&st->health, id, &found);
        char text[CS_HEALTH_ID_TEXT];
        cs_health_id_text(id, text);
        if (!found)
                return result_fail(res, -ENOENT, "no health check %s", text);
        if (in_use(st, id, res))
                return res->status;
        struct cs_health_check *c = st->health.checks[at];
        memmove(&st->health.checks[at], &st->health.checks[at + 1],
                (st->health.count - at - 1) * sizeof(*st->health.checks));
        st->health.count--;
        check_free(c);
        if (st->health.observer.check_changed)
                st->health.observer.check_changed(st->health.observer.ctx, id, NULL);
        finish(st, ctx, 0, 0, true);
        return 0;
}

/* ---- votes, manual, heartbeat ------------------------------------------- */

static int vote_put(struct cs_health_check *c, uint64_t node, uint64_t now,
                    const struct cs_health_vote_spec *v)
{
        size_t i = 0;
        while (i < c->n_votes && c->votes[i].node < node)
                i++;
        char *reason = NULL;
        if (v->reason && v->reason[0]) {
                size_t len = strnlen(v->reason, CS_HEALTH_REASON_MAX);
                reason = malloc(len + 1);
                if (reason == NULL)
                        return -ENOMEM;
                memcpy(reason, v->reason, len);
                reason[len] = 0;
        }
        if (i == c->n_votes || c->votes[i].node != node) {
                struct cs_health_vote *a =
                    realloc(c->votes, (c->n_votes + 1) * sizeof(*a));
                if (a == NULL) {
                        free(reason);
                        return -ENOMEM;
                }
                c->votes = a;
                memmove(&a[i + 1], &a[i], (c->n_votes - i) * sizeof(*a));
                a[i] = (struct cs_health_vote){.node = node};
                c->n_votes++;
        }
        struct cs_health_vote *slot = &c->votes[i];
        free(slot->reason);
        *slot = (struct cs_health_vote){.node = node,
                                        .time_ms = now,
                                        .healthy = v->healthy,
                                        .status = v->status,
                                        .connect_us = v->connect_us,
                                        .first_byte_us = v->first_byte_us,
                                        .reason = reason};
        return 0;
}

int cs_state_health_votes(struct cs_state *st, const struct cs_ctx *ctx,
                          const struct cs_health_votes *votes, struct cs_result *res)
{
        begin(st, ctx, res);
        if (votes->node == 0)
                return result_fail(res, -EINVAL, "votes from node 0");
        uint64_t now = ctx ? ctx->timestamp_ms : 0;
        int rv = 0;
        size_t taken = 0;
        for (size_t i = 0; i < votes->count; i++) {
                struct cs_health_check *c = lookup(st, votes->votes[i].check);
                if (c == NULL || !health_check_type_probed(c->cfg.type))
                        continue; /* deleted meanwhile, or not a probed check */
                if (vote_put(c, votes->node, now, &votes->votes[i]) != 0) {
                        rv = -ENOMEM;
                        break;
                }
                taken++;
        }
        /* Applied votes stay (they are the node's latest); evaluate anyway. */
        finish(st, ctx, 0, 0, false);
        if (rv != 0)
                return result_fail(res, rv, "out of memory applying votes");
        snprintf(res->message, sizeof(res->message), "%zu votes", taken);
        return 0;
}

/* Check id when it is of `type` (MANUAL, HEARTBEAT); else NULL with res
 * failed (-ENOENT or -EINVAL, naming the check). */
static struct cs_health_check *typed_check(struct cs_state *st, uint64_t id,
                                           enum health_check_type type,
                                           struct cs_result *res)
{
        struct cs_health_check *c = lookup(st, id);
        char text[CS_HEALTH_ID_TEXT];
        cs_health_id_text(id, text);
        if (c == NULL) {
                result_fail(res, -ENOENT, "no health check %s", text);
                return NULL;
        }
        if (c->cfg.type != type) {
                result_fail(res, -EINVAL, "health check %s is of type %s, not %s", text,
                            health_check_type_name(c->cfg.type),
                            health_check_type_name(type));
                return NULL;
        }
        return c;
}

int cs_state_health_manual(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                           bool healthy, struct cs_result *res)
{
        begin(st, ctx, res);
        struct cs_health_check *c = typed_check(st, id, HEALTH_CHECK_MANUAL, res);
        if (c == NULL)
                return res->status;
        c->manual_healthy = healthy;
        finish(st, ctx, 0, 0, false);
        return 0;
}

int cs_state_health_heartbeat(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                              struct cs_result *res)
{
        begin(st, ctx, res);
        struct cs_health_check *c = typed_check(st, id, HEALTH_CHECK_HEARTBEAT, res);
        if (c == NULL)
                return res->status;
        c->last_beat_ms = ctx ? (int64_t)ctx->timestamp_ms : 0;
        finish(st, ctx, 0, 0, false);
        return 0;
}

/* ---- time passing ------------------------------------------------------- */

bool cs_state_health_due(const struct cs_state *st, uint64_t now)
{
        for (size_t i = 0; i < st->health.count; i++) {
                const struct cs_health_check *c = st->health.checks[i];
                bool raw;
                switch (c->cfg.type) {
                case HEALTH_CHECK_CALCULATED:
                case HEALTH_CHECK_MANUAL:
                        continue; /* they move only with other checks or commands */
                case HEALTH_CHECK_HEARTBEAT:
                        raw =
                            health_rule_heartbeat((int64_t)c->created_ms, c->last_beat_ms,
                                                  c->cfg.heartbeat_ttl, (int64_t)now);
                        break;
                default: {
                        struct health_vote v[16];
                        if (c->n_votes > 16 || c->n_votes == 0)
                                continue;
                        for (size_t k = 0; k < c->n_votes; k++)
                                v[k] = (struct health_vote){
                                    .present = true,
                                    .healthy = c->votes[k].healthy,
                                    .time_ms = (int64_t)c->votes[k].time_ms};
                        raw = health_rule_aggregate(
                            v, c->n_votes, c->cfg.aggregation_percent,
                            health_rule_fresh_ms(&c->cfg), (int64_t)now, c->raw, NULL);
                }
                }
                if (health_rule_final(&c->cfg, raw) != c->healthy)
                        return true;
        }
        return false;
}

/* ---- restore ------------------------------------------------------------ */

int cs_state_health_restore(struct cs_state *st, const struct cs_health_check *src,
                            char *err, size_t errlen)
{
        struct health_problems problems;
        if (src->id == 0 || health_check_validate(&src->cfg, src->id, &problems) != 0) {
                snprintf(err, errlen, "health check: invalid definition");
                return -EINVAL;
        }
        if (src->hist_count > CS_HEALTH_HISTORY) {
                snprintf(err, errlen, "health check: history too long");
                return -EINVAL;
        }
        bool found;
        size_t at = find(&st->health, src->id, &found);
        if (found) {
                snprintf(err, errlen, "health check: duplicate id");
                return -EINVAL;
        }
        struct cs_health_check *c = calloc(1, sizeof(*c));
        if (c == NULL || reserve(&st->health) != 0)
                goto nomem;
        *c = *src;
        c->votes = NULL;
        c->n_votes = 0;
        c->history = NULL;
        c->hist_head = c->hist_count = 0;
        if (health_check_config_copy(&c->cfg, &src->cfg) != 0) {
                memset(&c->cfg, 0, sizeof(c->cfg));
                health_check_config_init(&c->cfg, HEALTH_CHECK_HTTP);
                goto nomem;
        }
        if (src->n_votes) {
                c->votes = calloc(src->n_votes, sizeof(*c->votes));
                if (c->votes == NULL)
                        goto nomem;
                for (size_t i = 0; i < src->n_votes; i++) {
                        if (i > 0 && src->votes[i].node <= src->votes[i - 1].node) {
                                snprintf(err, errlen, "health check: votes out of order");
                                check_free(c);
                                return -EINVAL;
                        }
                        c->votes[i] = src->votes[i];
                        c->votes[i].reason = NULL;
                        c->n_votes = i + 1;
                        if (src->votes[i].reason && src->votes[i].reason[0] &&
                            (c->votes[i].reason = str_dup(src->votes[i].reason)) == NULL)
                                goto nomem;
                }
        }
        if (src->hist_count) {
                c->history = calloc(CS_HEALTH_HISTORY, sizeof(*c->history));
                if (c->history == NULL)
                        goto nomem;
                for (size_t i = 0; i < src->hist_count; i++)
                        c->history[i] = *cs_health_check_transition(src, i);
                c->hist_count = src->hist_count;
        }
        insert(&st->health, at, c);
        return 0;
nomem:
        check_free(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
}

bool cs_state_health_check_exists(const struct cs_state *st, const char *id)
{
        uint64_t n;
        return cs_health_id_parse(id, &n) == 0 && cs_state_health_get(st, n) != NULL;
}
