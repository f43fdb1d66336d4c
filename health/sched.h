/*
 * sched.h — runs a node's health checks: when to probe, and local hysteresis.
 *
 * The node gives the scheduler every check definition (health_sched_put on
 * create and change, health_sched_delete on delete); the scheduler probes
 * those this node should probe (HTTP, HTTPS, the string matches, TCP; not
 * disabled, and this node or its region listed in the check's checkers, or
 * no list) through its own probe engine on the node's loop.
 *
 * Timing: a check's probes fall in consecutive windows of request_interval
 * seconds, exactly one probe per window, at a random offset in the first
 * window (so checks created together do not probe together) plus a small
 * jitter (up to a tenth of the interval, at most 1 s) in each.  A probe
 * still running when the next one is due makes that window skip its probe:
 * one check never has two probes in flight.  A change starts, changes or
 * stops the probes at once; the first probe after a new or changed
 * interval falls within one interval.
 *
 * Local status: a new check is healthy.  Each result is inverted first for
 * inverted checks; failure_threshold consecutive failures flip a healthy
 * check, the same number of consecutive successes flip it back.  A node has
 * a verdict (decided) only once it has seen failure_threshold results in a
 * row, either way: before that it does not vote, so a node whose first
 * probe failed does not say "healthy" while another already says
 * "unhealthy" (the aggregate would flap).  A disabled
 * check is healthy and not probed.  Every flip calls on_state (the node
 * turns it into a vote); on_refresh runs every refresh_ms so the node can
 * re-send all its verdicts before their votes go stale; on_result sees
 * every finished probe (the node counts them for GET /metrics).
 */
#ifndef HEALTH_SCHED_H
#define HEALTH_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "health/check.h"
#include "health/probe.h"

/* This node's view of one check. */
struct health_local {
        uint64_t id;
        bool probing;        /* this node probes it (else it has no vote) */
        bool healthy;        /* after inversion and hysteresis */
        bool decided;        /* failure_threshold results in a row seen: it votes */
        uint32_t successes;  /* consecutive, after inversion */
        uint32_t failures;   /* consecutive, after inversion */
        uint64_t probes;     /* probes finished */
        uint64_t skipped;    /* windows skipped: the previous probe still ran */
        uint64_t changed_ms; /* loop time of the last flip (0: never) */
        bool has_result;
        struct health_result last; /* the last probe's result, not inverted */
};

struct health_sched;

typedef void (*health_state_cb)(struct health_sched *sched,
                                const struct health_local *local);
typedef void (*health_refresh_cb)(struct health_sched *sched);
typedef void (*health_result_cb)(struct health_sched *sched,
                                 const struct health_local *local,
                                 const struct health_result *result);
typedef void (*health_sched_close_cb)(struct health_sched *sched);

struct health_sched_options {
        const char *source_ip; /* probes leave from it; NULL: any */
        const char *node_name; /* matched against checkers (decimal node id) */
        const char *region;    /* matched against checkers; may be NULL */
        uint64_t refresh_ms;   /* period of on_refresh; 0: never */
        uint64_t seed;         /* jitter; 0: from the clock */
        health_state_cb on_state;
        health_refresh_cb on_refresh;
        health_result_cb
            on_result; /* every finished probe, after on_state; may be NULL */
};

struct sched_entry;

struct health_sched {
        void *data; /* the caller's */
        /* private */
        uv_loop_t *loop;
        struct health_prober prober;
        uv_timer_t refresh;
        struct health_sched_options opts;
        char node_name[64];
        char region[64];
        struct sched_entry **buckets;
        size_t bucket_count;
        size_t count;
        uint64_t rng;
        unsigned pending; /* refresh timer, prober, entries not yet freed */
        bool closing;
        health_sched_close_cb close_cb;
};

/* 0, -EINVAL (bad source address) or -ENOMEM. */
int health_sched_init(struct health_sched *sched, uv_loop_t *loop,
                      const struct health_sched_options *opts);

/*
 * Adds the check id, or changes it (cfg is copied).  0, -EINVAL (cfg does
 * not validate: see health_check_validate), -ENOMEM or -ECANCELED (closing).
 */
int health_sched_put(struct health_sched *sched, uint64_t id,
                     const struct health_check_config *cfg);

/* Stops and forgets the check: no probe of it starts after this.  0 or -ENOENT. */
int health_sched_delete(struct health_sched *sched, uint64_t id);

/* This node's view of id (valid until the next put/delete), or NULL. */
const struct health_local *health_sched_get(const struct health_sched *sched,
                                            uint64_t id);

size_t health_sched_count(const struct health_sched *sched);

/* Calls fn on every check until it returns non-zero, which is returned. */
int health_sched_foreach(const struct health_sched *sched,
                         int (*fn)(const struct health_local *local, void *arg),
                         void *arg);

/* Stops every probe and timer, frees every check, then calls cb. */
void health_sched_close(struct health_sched *sched, health_sched_close_cb cb);

#endif
