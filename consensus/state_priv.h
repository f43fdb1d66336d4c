/*
 * state_priv.h — internals shared by the parts of the replicated state:
 * result.c (results, string helpers: depends on no other part), records.c
 * (record-set objects), changes.c (change records), members.c, health.c,
 * batch.c and batch_validate.c (change batches) and state.c (zones).  Not
 * for use outside consensus/.
 */
#ifndef CONSENSUS_STATE_PRIV_H
#define CONSENSUS_STATE_PRIV_H

#include "consensus/state.h"
#include "consensus/wire.h"

/* Counters per owner name of a zone: a CNAME set excludes other types. */
struct cs_owner {
        uint64_t hash;
        uint32_t n_sets;
        uint32_t n_cname;
        uint16_t len;
        uint8_t owner[];
};

struct rrset_key {
        const uint8_t *owner; /* lowercased */
        uint16_t owner_len;
        uint16_t type;
        const char *set_id;
};

struct owner_key {
        const uint8_t *owner;
        uint16_t len;
};

struct group_key {
        const uint8_t *owner; /* lowercased */
        uint16_t len;
        uint16_t type;
};

uint64_t rrset_key_hash(const struct rrset_key *key);
uint64_t group_key_hash(const struct group_key *key);
bool group_match(const void *item, const void *key);
struct cs_group *group_new(const uint8_t *owner, uint16_t len, uint16_t type);
/* Adds (d = 1) or removes (d = -1) a set with these routing fields. */
void group_count(uint32_t *n_sets, uint32_t n_policy[CS_POLICY_COUNT],
                 uint32_t *n_primary, uint32_t *n_secondary, const struct cs_routing *r,
                 int d);
bool rrset_match(const void *item, const void *key);
uint64_t owner_key_hash(const struct owner_key *key);
bool owner_match(const void *item, const void *key);

/* Canonical order of RDATA (RFC 4034 §6.3); usable with qsort on cs_rdata. */
int rdata_cmp(const void *a, const void *b);

/* A new set owning copies of everything in one allocation (its routing
 * block only when cs_routing_present(), else &cs_routing_none); `values`
 * must be sorted; routing may be NULL (a plain set). NULL: ENOMEM. */
struct cs_rrset *rrset_new(const struct rrset_key *key, uint32_t ttl,
                           const struct cs_rdata *values, size_t count,
                           const struct cs_routing *routing);
/* Copy of a set with a new SOA serial (the set is an SOA set). */
struct cs_rrset *rrset_with_serial(const struct cs_rrset *soa, uint32_t serial);

struct cs_owner *owner_new(const uint8_t *owner, uint16_t len);

/* What an operation lets go of, allocated before it commits (so that the
 * commit cannot fail) and handed to retire(): freed at once, or kept until
 * the state is unpinned. */
enum retired_kind { RETIRED_RRSETS, RETIRED_ZONE, RETIRED_STATE };
struct cs_retired {
        struct cs_retired *next;
        enum retired_kind kind;
        size_t n;      /* items in use */
        void *items[]; /* struct cs_rrset *, struct cs_zone * or struct cs_state * */
};
struct cs_retired *retired_new(enum retired_kind kind, size_t cap);
/* Frees the change records evicted while the state was pinned. */
void changes_free_evicted(struct cs_state *st);
/* Frees every change record and the ring (cs_state_fini). */
void changes_fini(struct cs_state *st);
void retire(struct cs_state *st, struct cs_retired *r);

/* The checks of a set's routing fields that need no other set: errors go to
 * res under action i.  st (may be NULL: not checked) resolves health check
 * ids; owner (lowercased, may be NULL) catches an alias to itself. */
void routing_check(const struct cs_state *st, const struct cs_rrset_spec *s,
                   const uint8_t *owner, uint32_t i, struct cs_result *res);

void result_error(struct cs_result *res, uint32_t action, const char *field,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int result_fail(struct cs_result *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Copy on write for a snapshot view being filled (consensus/snapshot.c):
 * while st->cow is set, the applying thread calls these around what the
 * view's encoder reads, so that the encoder sees the state of the freeze.
 *   zone_touch    before a zone's record sets or serial change, or the zone
 *                 goes: the view takes its sets first if it has not yet.
 *   zone_link     inserts a new zone in the name order (not in the view).
 *   zone_unlink   takes a zone out of the name order.
 *   lock/unlock   around changes to the ring of change records.
 *   complete      before the whole state is replaced: the view takes what
 *                 it has not taken yet (a restore costs the state anyway).
 *   replaced      then: the segments it builds are not the new state's.
 * Every zone hook also marks the zone's snapshot segment (segments.h).
 * Cheap when st->cow is NULL (no view): a test and the plain operation.
 */
void cs_frozen_zone_touch(struct cs_state *st, struct cs_zone *zone);
void cs_frozen_zone_link(struct cs_state *st, struct cs_zone *zone);
void cs_frozen_zone_unlink(struct cs_state *st, struct cs_zone *zone);
void cs_frozen_lock(struct cs_state *st);
void cs_frozen_unlock(struct cs_state *st);
void cs_frozen_complete(struct cs_state *st);
void cs_frozen_replaced(struct cs_state *st);

/* Idempotency: true when ctx's request id was applied; res is filled. */
bool change_seen(struct cs_state *st, const struct cs_ctx *ctx, struct cs_result *res);
/* Places the change record of an operation and makes the room to insert
 * it; once it returns 0 the record must be committed (records lie in
 * apply order, one cannot be taken back). */
int change_prepare(struct cs_state *st, const struct cs_ctx *ctx,
                   enum cs_change_kind kind, const struct cs_zone *zone,
                   struct cs_change **out, struct cs_result *res);
/* Inserts a prepared change (cannot fail); evicts old ones (by age only
 * when ctx is not NULL). */
void change_commit(struct cs_state *st, const struct cs_ctx *ctx,
                   struct cs_change *change, struct cs_result *res);

/* Lowercases and checks a name given with its length: 0 or -EINVAL. */
/* Small helpers shared by state.c, changes.c and members.c. */
uint64_t str_hash(const char *s);
char *str_dup(const char *s);
bool str_ok(const char *s, size_t max);
bool change_id_match(const void *item, const void *key);
bool request_id_match(const void *item, const void *key);
uint64_t request_key_hash(const char *id);
void member_clear(struct cs_member *m);

int name_normalize(const uint8_t *name, size_t len, uint8_t out[CS_NAME_MAXLEN]);

/* Zones (state.c): one allocation with origin, id and comment; zone_free
 * frees its sets, owners and groups too. */
struct cs_zone *zone_new(const uint8_t *origin, size_t len, const char *zone_id,
                         const char *comment, uint64_t created_ms, uint32_t serial);
void zone_free(struct cs_zone *z);

/* Staged imports (staging.c): whether z has a staging; frees every staging
 * (the state's end). */
bool staging_holds(const struct cs_state *st, const struct cs_zone *z);
void stagings_free(struct cs_state *st);

/* A batch applied to a zone z the state does not serve (batch.c): a
 * staging's copy, or a zone being created with its records.  Validated as
 * cs_state_batch_apply does (st resolves health checks and aliases to other
 * zones; an alias to z's own names finds them in z), without a change
 * record; changed (may be NULL) is told the
 * changed sets before it returns.  0 or a negative errno. */
typedef void (*staged_changed_fn)(void *ctx, const struct cs_rrset_change *changes,
                                  size_t n);
int staged_batch_apply(struct cs_state *st, struct cs_zone *z, const struct cs_batch *b,
                       struct cs_result *res, staged_changed_fn changed, void *ctx);

#endif
