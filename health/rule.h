/*
 * rule.h — the pure rules that turn votes and inputs into a check's status.
 *
 * These functions read only their arguments: no clock, no random number, no
 * global.  The replicated state machine calls them with the leader time
 * stamped into the log ("now"), so every node computes the same aggregate
 * from the same log.
 *
 * Aggregation (Route 53's rule, with a per-check percentage): a check is
 * healthy when MORE than percent% of the fresh votes say healthy.  A vote is
 * fresh while its age (now - its leader-time stamp) is at most the check's
 * freshness window (vote_freshness x request_interval); a vote stamped after
 * now (a new leader whose clock is behind) counts as age 0.  With no fresh
 * vote at all the last aggregate is kept.
 *
 * Probed checks' votes already include inversion (each node inverts its
 * results before hysteresis, so a vote is the check's status as that node
 * sees it); for CALCULATED, MANUAL and HEARTBEAT the inversion is applied by
 * health_rule_final.  A disabled check is always healthy.
 */
#ifndef HEALTH_RULE_H
#define HEALTH_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health/check.h"

struct health_vote {
        bool present; /* false: this node has not voted on the check */
        bool healthy;
        int64_t time_ms; /* leader time the vote was stamped with */
};

struct health_tally {
        uint32_t fresh;   /* fresh votes */
        uint32_t healthy; /* fresh votes that say healthy */
        bool decided;     /* false: no fresh vote, the last aggregate was kept */
};

/* The freshness window of cfg's votes, in ms. */
int64_t health_rule_fresh_ms(const struct health_check_config *cfg);

/*
 * The aggregate of count votes (one per node; absent ones ignored), given
 * the percentage (0-99), the freshness window and now (leader time, ms).
 * last is the aggregate before; tally (may be NULL) receives the counts.
 */
bool health_rule_aggregate(const struct health_vote *votes, size_t count,
                           uint32_t percent, int64_t fresh_ms, int64_t now_ms, bool last,
                           struct health_tally *tally);

/*
 * The earliest leader time after now at which a fresh vote turns stale (so
 * the aggregate may change without a new vote), or INT64_MAX if none will.
 */
int64_t health_rule_next_expiry(const struct health_vote *votes, size_t count,
                                int64_t fresh_ms, int64_t now_ms);

/* CALCULATED: at least threshold of the count children are healthy. */
bool health_rule_calculated(uint32_t threshold, const bool *children, size_t count);

/*
 * HEARTBEAT: healthy while the last call-in (or, before the first one, the
 * check's creation: a new check is healthy until its first TTL runs out) is
 * at most ttl_s seconds before now.  last_beat_ms < 0: no call-in yet.
 */
bool health_rule_heartbeat(int64_t created_ms, int64_t last_beat_ms, uint32_t ttl_s,
                           int64_t now_ms);

/* The leader time at which a HEARTBEAT check turns unhealthy without a call. */
int64_t health_rule_heartbeat_deadline(int64_t created_ms, int64_t last_beat_ms,
                                       uint32_t ttl_s);

/*
 * The status published for cfg, from raw: the aggregate of the votes
 * (probed types), the children rule (CALCULATED), the operator's setting
 * (MANUAL) or the heartbeat rule (HEARTBEAT).  Applies disabled (always
 * healthy) and, for the unprobed types, inverted.
 */
bool health_rule_final(const struct health_check_config *cfg, bool raw);

#endif
