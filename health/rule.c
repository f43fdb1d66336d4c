/*
 * rule.c — aggregation, CALCULATED, HEARTBEAT and the final status (rule.h).
 *
 * Integer arithmetic only, so the result cannot depend on a node's floating
 * point: "more than percent% of fresh votes" is healthy x 100 > percent x
 * fresh.
 */
#include "health/rule.h"

static int64_t vote_age(const struct health_vote *v, int64_t now_ms)
{
        return v->time_ms > now_ms ? 0 : now_ms - v->time_ms;
}

int64_t health_rule_fresh_ms(const struct health_check_config *cfg)
{
        return (int64_t)cfg->vote_freshness * cfg->request_interval * 1000;
}

bool health_rule_aggregate(const struct health_vote *votes, size_t count,
                           uint32_t percent, int64_t fresh_ms, int64_t now_ms, bool last,
                           struct health_tally *tally)
{
        struct health_tally t = {0};
        for (size_t i = 0; i < count; i++) {
                if (!votes[i].present || vote_age(&votes[i], now_ms) > fresh_ms)
                        continue;
                t.fresh++;
                t.healthy += votes[i].healthy;
        }
        t.decided = t.fresh > 0;
        if (tally)
                *tally = t;
        if (!t.decided)
                return last;
        return (uint64_t)t.healthy * 100 > (uint64_t)percent * t.fresh;
}

int64_t health_rule_next_expiry(const struct health_vote *votes, size_t count,
                                int64_t fresh_ms, int64_t now_ms)
{
        int64_t next = INT64_MAX;
        for (size_t i = 0; i < count; i++) {
                if (!votes[i].present || vote_age(&votes[i], now_ms) > fresh_ms)
                        continue;
                int64_t stale = votes[i].time_ms + fresh_ms + 1;
                if (stale < next)
                        next = stale;
        }
        return next;
}

bool health_rule_calculated(uint32_t threshold, const bool *children, size_t count)
{
        size_t healthy = 0;
        for (size_t i = 0; i < count; i++)
                healthy += children[i];
        return healthy >= threshold;
}

int64_t health_rule_heartbeat_deadline(int64_t created_ms, int64_t last_beat_ms,
                                       uint32_t ttl_s)
{
        int64_t since = last_beat_ms > created_ms ? last_beat_ms : created_ms;
        return since + (int64_t)ttl_s * 1000;
}

bool health_rule_heartbeat(int64_t created_ms, int64_t last_beat_ms, uint32_t ttl_s,
                           int64_t now_ms)
{
        return now_ms <= health_rule_heartbeat_deadline(created_ms, last_beat_ms, ttl_s);
}

bool health_rule_final(const struct health_check_config *cfg, bool raw)
{
        if (cfg->disabled)
                return true;
        if (health_check_type_probed(cfg->type))
                return raw; /* each node inverted its results already */
        return cfg->inverted ? !raw : raw;
}
