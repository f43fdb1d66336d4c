/*
 * health.h — health checks in the replicated state: definitions, each
 * node's latest vote per check, the aggregate and its transitions.
 *
 * Commands (consensus/command.h) bring check definitions (put, delete),
 * one batch of votes per node and round (VOTES: that node's verdict on
 * each check it probes), an operator's MANUAL status and HEARTBEAT call-ins.
 * Every command is applied at the leader time stamped into it, so the
 * aggregate is a pure function of the log: after each health command every
 * check is evaluated again with the rules of health/rule.h (fresh votes
 * only; no fresh vote keeps the last aggregate; CALCULATED from its
 * children; disabled and inverted applied last), and every change of a
 * check's published status is kept in its history (the last
 * CS_HEALTH_HISTORY transitions: time, from, to, the fresh and healthy vote
 * counts that decided it).
 *
 * Checks are kept in an array sorted by id, so that evaluation, snapshots
 * and listings run in the same order on every node whatever the history.
 * A check id is a non-zero 64-bit number, written as 16 lowercase hex
 * digits in the API and in record sets' health_check_id.
 *
 * node/ learns of changes through `struct cs_health_observer`: a check put
 * or deleted (start or stop its probes), and the set of published statuses
 * changed (publish a new health version to the query path).
 */
#ifndef CONSENSUS_HEALTH_H
#define CONSENSUS_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/state.h"
#include "health/check.h"
#include "health/rule.h"

#define CS_HEALTH_HISTORY    100 /* transitions kept per check */
#define CS_HEALTH_REASON_MAX 127 /* bytes of a vote's failure reason */
#define CS_HEALTH_CHECKS_MAX 100000
#define CS_HEALTH_ID_TEXT    17 /* 16 hex digits and a NUL */

/* Why a check's status changed. */
enum cs_health_cause {
        CS_HEALTH_CAUSE_VOTES = 1,     /* the votes (probed types) */
        CS_HEALTH_CAUSE_MANUAL = 2,    /* an operator's setting */
        CS_HEALTH_CAUSE_HEARTBEAT = 3, /* a call-in, or its absence */
        CS_HEALTH_CAUSE_CHILDREN = 4,  /* CALCULATED */
        CS_HEALTH_CAUSE_CONFIG = 5,    /* the definition changed */
};

/* One node's latest vote on a check. */
struct cs_health_vote {
        uint64_t node;
        uint64_t time_ms; /* leader time of the VOTES command */
        bool healthy;     /* the node's verdict, after inversion and hysteresis */
        uint16_t status;  /* HTTP status of its last probe, 0: none */
        uint32_t connect_us, first_byte_us; /* of its last probe; UINT32_MAX: none */
        char *reason;                       /* its last failure reason, or NULL */
};

struct cs_health_transition {
        uint64_t time_ms;
        bool from, to;
        uint8_t cause;           /* enum cs_health_cause */
        uint32_t fresh, healthy; /* votes that decided it (CAUSE_VOTES) */
};

struct cs_health_check {
        uint64_t id;
        uint64_t created_ms, updated_ms;
        struct health_check_config cfg; /* owned */
        bool raw;     /* before disabled/inverted (the aggregate for probed types) */
        bool healthy; /* published */
        uint64_t changed_ms;
        bool manual_healthy;  /* MANUAL: the operator's setting (raw) */
        int64_t last_beat_ms; /* HEARTBEAT: last call-in, -1: none */
        struct health_tally tally;
        struct cs_health_vote *votes; /* sorted by node */
        size_t n_votes;
        struct cs_health_transition *history; /* ring of up to CS_HEALTH_HISTORY */
        size_t hist_head, hist_count;
};

/* Inputs, as commands carry them (strings borrowed). */
struct cs_health_vote_spec {
        uint64_t check;
        bool healthy;
        uint16_t status;
        uint32_t connect_us, first_byte_us;
        const char *reason; /* NULL: none */
};

struct cs_health_votes {
        uint64_t node;
        const struct cs_health_vote_spec *votes;
        size_t count;
};

struct cs_health_put {
        uint64_t id;
        bool create;                           /* false: update an existing check */
        const struct health_check_config *cfg; /* borrowed */
};

/* Whether two definitions are alike in every field that replicates
 * (compared in their encoded form, consensus/health_codec.c): 1 or 0, or
 * -ENOMEM. */
int cs_health_config_same(const struct health_check_config *a,
                          const struct health_check_config *b);
void cs_health_table_fini(struct cs_health_table *t);
void cs_state_set_health_observer(struct cs_state *st,
                                  const struct cs_health_observer *obs);

/* "%016" PRIx64 into out[CS_HEALTH_ID_TEXT]; parse accepts exactly that
 * (16 hex digits, not all zero): 0 or -EINVAL. */
void cs_health_id_text(uint64_t id, char out[CS_HEALTH_ID_TEXT]);
int cs_health_id_parse(const char *text, uint64_t *id);

/* Operations (results as for the other commands; ctx->timestamp_ms is now). */
int cs_state_health_put(struct cs_state *st, const struct cs_ctx *ctx,
                        const struct cs_health_put *put, struct cs_result *res);
/* -ENOENT, or -EBUSY when a record set or a CALCULATED check names it. */
int cs_state_health_delete(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                           struct cs_result *res);
/* Votes for unknown (deleted) checks are skipped, not errors. */
int cs_state_health_votes(struct cs_state *st, const struct cs_ctx *ctx,
                          const struct cs_health_votes *votes, struct cs_result *res);
int cs_state_health_manual(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                           bool healthy, struct cs_result *res);
int cs_state_health_heartbeat(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                              struct cs_result *res);

/* Queries. */
const struct cs_health_check *cs_state_health_get(const struct cs_state *st, uint64_t id);
size_t cs_state_health_count(const struct cs_state *st);
/* The i-th check by id, i < cs_state_health_count(). */
const struct cs_health_check *cs_state_health_at(const struct cs_state *st, size_t i);
/* The i-th oldest transition kept, i < check->hist_count. */
const struct cs_health_transition *
cs_health_check_transition(const struct cs_health_check *check, size_t i);

/*
 * Whether evaluating at leader time now would change some check's status
 * without any new input: a HEARTBEAT check's TTL ran out, or votes aged out.
 * The leader then proposes an empty VOTES command, so that time passing
 * enters the log (the state machine itself has no clock).
 */
bool cs_state_health_due(const struct cs_state *st, uint64_t now);

/* Snapshot restore: adds a check as it was (votes and history included);
 * taken: nothing (everything is copied).  0 or a negative errno with err. */
int cs_state_health_restore(struct cs_state *st, const struct cs_health_check *check,
                            char *err, size_t errlen);
/* After a restore: evaluation state is complete; tells nobody (the
 * observer's `restored` does). */

#endif
