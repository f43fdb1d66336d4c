/*
 * latency.h — the replicated latency map: client prefix -> region -> RTT.
 *
 * Latency record sets (Route 53's `Region`) answer with the set whose
 * region is nearest the client in round-trip time.  The map says how far:
 * for a client prefix (IPv4 or IPv6, any length) and a region, an RTT in
 * microseconds.  Two sources fill it, in the same entries:
 *
 *   operator  LATENCY_PUT / LATENCY_DELETE commands (the API's bulk load):
 *             kept until deleted; an operator's RTT wins over a measured
 *             one for the same prefix and region.
 *   measured  LATENCY_MEASURED: one command per node per period with what
 *             the node measured for its own region (the kernel's smoothed
 *             RTT of DNS-over-TCP clients, aggregated per /24 or /48).  A
 *             new measurement moves the kept value a quarter of the way
 *             (value = (3 old + new) / 4); a measured value not refreshed
 *             for CS_LATENCY_MEASURED_MAX_AGE_MS of leader time is dropped
 *             when the next LATENCY_MEASURED command applies (the leader
 *             proposes an empty one when that is due: time enters the log,
 *             the state machine has no clock).
 *
 * The effective RTT of an entry is its operator RTT when it has one, else
 * its measured RTT.  Everything is validated here, deterministically, so
 * every node keeps the same map; entries are in a hash table and listed
 * (snapshots, the API, the DNS engine's compiled map) in key order.
 *
 * node/ learns of changes through `changed` and compiles the map for the
 * query path (dns/latency.h) then.
 */
#ifndef CONSENSUS_LATENCY_H
#define CONSENSUS_LATENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/state.h"

#define CS_LATENCY_REGION_MAXLEN       63
#define CS_LATENCY_RTT_MAX_US          60000000u /* 60 s */
#define CS_LATENCY_ENTRIES_MAX         1000000
#define CS_LATENCY_BATCH_MAX           100000 /* entries of one PUT or DELETE */
#define CS_LATENCY_MEASURED_MAX        100000 /* entries with a measured RTT */
#define CS_LATENCY_MEASURED_BATCH_MAX  256    /* prefixes of one MEASURED */
#define CS_LATENCY_MEASURED_MAX_AGE_MS (6ull * 3600 * 1000)

/* A client prefix: family 4 or 6, bytes past the prefix zero. */
struct cs_latency_prefix {
        uint8_t family; /* 4 or 6 */
        uint8_t len;    /* 0..32 or 0..128 */
        uint8_t addr[16];
};

struct cs_latency_entry {
        uint64_t hash;
        struct cs_latency_prefix prefix;
        char region[CS_LATENCY_REGION_MAXLEN + 1];
        uint32_t op_rtt_us;          /* 0: no operator value */
        uint32_t measured_rtt_us;    /* 0: no measured value */
        uint32_t samples;            /* connections measured (saturating) */
        uint64_t op_ms, measured_ms; /* leader time of the last update */
        uint64_t measured_node;      /* the node that measured last */
};

static inline uint32_t cs_latency_rtt(const struct cs_latency_entry *e)
{
        return e->op_rtt_us ? e->op_rtt_us : e->measured_rtt_us;
}

/* Inputs, as commands carry them (strings borrowed). */
struct cs_latency_item {
        struct cs_latency_prefix prefix;
        const char *region; /* DELETE: NULL or "" for every region */
        uint32_t rtt_us;    /* PUT: the RTT; MEASURED: the mean measured */
        uint32_t samples;   /* MEASURED: connections behind it */
};

struct cs_latency_batch {
        uint64_t node;      /* MEASURED: the measuring node */
        const char *region; /* MEASURED: its region */
        const struct cs_latency_item *items;
        size_t count;
};

/* struct cs_latency_table and its observer are in state.h. */
void cs_latency_table_init(struct cs_latency_table *t);
void cs_latency_table_fini(struct cs_latency_table *t);
void cs_state_set_latency_observer(struct cs_state *st,
                                   const struct cs_latency_observer *obs);

/* Checks a prefix (family, length, no bits past it): 0 or -EINVAL. */
int cs_latency_prefix_check(const struct cs_latency_prefix *p);
/* Whether a region name is 1..63 of a-z 0-9 - _. */
bool cs_latency_region_ok(const char *name);

/* Operations.  PUT and DELETE are all or nothing (every error in res, with
 * field "entries[i].…"); MEASURED skips what it cannot keep. */
int cs_state_latency_put(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_latency_batch *b, struct cs_result *res);
int cs_state_latency_delete(struct cs_state *st, const struct cs_ctx *ctx,
                            const struct cs_latency_batch *b, struct cs_result *res);
int cs_state_latency_measured(struct cs_state *st, const struct cs_ctx *ctx,
                              const struct cs_latency_batch *b, struct cs_result *res);

/* Whether measured values have aged out at leader time now (then the
 * leader proposes an empty MEASURED command). */
bool cs_state_latency_due(const struct cs_state *st, uint64_t now);

size_t cs_state_latency_count(const struct cs_state *st);
/* Every entry in key order (family, address, length, region): a malloc'ed
 * array of *n borrowed pointers, valid until the next command; NULL with
 * *n = 0 when empty or out of memory (-ENOMEM in *rc when given). */
const struct cs_latency_entry **cs_state_latency_sorted(const struct cs_state *st,
                                                        size_t *n, int *rc);

/* Snapshot restore: an entry as it was (copied).  0 or -EINVAL/-ENOMEM. */
int cs_state_latency_restore(struct cs_state *st, const struct cs_latency_entry *e,
                             char *err, size_t errlen);

#endif
