/*
 * state.h — the replicated state of the cluster.
 *
 * Everything here is a pure function of the commands applied, in log order:
 * hosted zones and their record sets, the change records (PENDING until
 * every member has applied them, then INSYNC), the idempotency keys of
 * requests, and the member table.  Commands arrive decoded (consensus/
 * command.h) from the FSM (consensus/fsm.h) together with a context: the raft
 * index, the leader-stamped time and the request and change ids.  No clock,
 * randomness or I/O is used: every node computes the same state.
 *
 * A change batch is validated completely first — every error of every action
 * is collected — against the current state overlaid with the batch's own
 * earlier actions; everything the commit needs is then allocated, so that
 * the commit itself cannot fail and a failing batch changes nothing.  The
 * cost is proportional to the batch, not to the zone: sets, owners, zones,
 * changes and request ids live in flat hash tables (common/pmap.h).
 *
 * The DNS engine is fed through `struct cs_observer`: once per applied
 * command, with the complete new contents of every changed record set, so
 * that node/ can publish one DNS transaction per batch.
 *
 * Errors are negative errno values; the detail (and, for batches, the list
 * of validation errors) is in `struct cs_result`.
 */
#ifndef CONSENSUS_STATE_H
#define CONSENSUS_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pmap.h"
#include "consensus/zorder.h"

#define CS_ID_MAXLEN 64 /* zone ids, change ids */
/* A request id: an idempotency key of at most 159 bytes, and for keys from
 * the API "\n" and a fingerprint of the request (route, zone, body): a key
 * reused with another fingerprint is refused (-EKEYREJECTED). */
#define CS_REQUEST_ID_MAXLEN 192
#define CS_SET_ID_MAXLEN     128
#define CS_COMMENT_MAXLEN    256
#define CS_TTL_MAX           2147483647u /* RFC 2181 §8 */

/* Change records (and the idempotency keys they carry) are kept for the last
 * CS_CHANGES_MAX changes and at most CS_CHANGES_MAX_AGE_MS (command time). */
#define CS_CHANGES_MAX        100000
#define CS_CHANGES_MAX_AGE_MS (7ull * 24 * 3600 * 1000)

/* ---- inputs ------------------------------------------------------------- */

struct cs_rdata {
        const uint8_t *data;
        uint16_t len;
};

/*
 * Routing fields of a record set, named after Route 53's (SetIdentifier is
 * the set id of the spec).  At most one policy: a weight (weighted), a
 * failover role, or multi_value_answer.  A set with a policy needs a set id;
 * an alias has no values and answers with its target's.  Strings and names
 * are borrowed in specs and owned by a `struct cs_rrset`.
 */
#define CS_WEIGHT_MAX  255
#define CS_ALIAS_DEPTH 8 /* aliases followed in a row before giving up */

enum cs_failover {
        CS_FAILOVER_NONE = 0,
        CS_FAILOVER_PRIMARY = 1,
        CS_FAILOVER_SECONDARY = 2
};

enum cs_policy {
        CS_POLICY_SIMPLE = 0,
        CS_POLICY_WEIGHTED = 1,
        CS_POLICY_FAILOVER = 2,
        CS_POLICY_MULTIVALUE = 3,
        CS_POLICY_GEOLOCATION = 4,
        CS_POLICY_GEOPROXIMITY = 5,
        CS_POLICY_LATENCY = 6,
        CS_POLICY_CIDR = 7,
};
#define CS_POLICY_COUNT 8

/* IP-based routing (consensus/cidr.h): collection ids and location names. */
#define CS_CIDR_ID_MAXLEN       64 /* A-Z a-z 0-9 _ - */
#define CS_CIDR_LOCATION_MAXLEN 16 /* A-Z a-z 0-9 _ - ; "*": the default */

/* Geoproximity limits: coordinates in millionths of a degree. */
#define CS_PROX_LAT_MAX       90000000
#define CS_PROX_LON_MAX       180000000
#define CS_PROX_BIAS_MAX      99
#define CS_PROX_REGION_MAXLEN 63

struct cs_routing {
        bool has_weight;
        uint32_t weight;   /* 0..CS_WEIGHT_MAX when has_weight (checked) */
        uint32_t failover; /* enum cs_failover (checked) */
        bool multi_value_answer;
        const char *health_check_id; /* NULL or "": none */
        const uint8_t *alias_name;   /* NULL: not an alias (wire name) */
        size_t alias_name_len;
        bool evaluate_target_health;
        const char *alias_zone_id; /* hosted_zone_id; NULL or "": not given */
        /* Geolocation (Route 53's GeoLocation): one of continent or country
         * (country "*": the default), a subdivision only with a country;
         * codes are NUL-terminated upper-case text, "" when not given. */
        bool has_geo;
        char geo_continent[3];
        char geo_country[3];
        char geo_subdivision[4];
        /* Geoproximity (Route 53's GeoProximityLocation with Coordinates):
         * the record's place in millionths of a degree and its bias. */
        bool has_prox;
        int32_t prox_latitude;  /* -CS_PROX_LAT_MAX..CS_PROX_LAT_MAX */
        int32_t prox_longitude; /* -CS_PROX_LON_MAX..CS_PROX_LON_MAX */
        int32_t prox_bias;      /* -CS_PROX_BIAS_MAX..CS_PROX_BIAS_MAX */
        /* The node region the coordinates were taken from when the set was
         * written ("": given as coordinates). */
        char prox_region[CS_PROX_REGION_MAXLEN + 1];
        /* Latency (Route 53's Region): the region whose RTT to the client
         * decides, and its coordinates, taken from the writing node's
         * --region-coordinates when the set was written, so that every node
         * falls back to the same nearest region when no RTT is known. */
        bool has_latency;
        char latency_region[CS_PROX_REGION_MAXLEN + 1];
        int32_t latency_latitude, latency_longitude; /* millionths of a degree */
        /* IP-based (Route 53's CidrRoutingConfig): the collection and the
         * location whose blocks hold the clients this set answers ("*":
         * clients no location of the collection holds). */
        bool has_cidr;
        char cidr_collection[CS_CIDR_ID_MAXLEN + 1];
        char cidr_location[CS_CIDR_LOCATION_MAXLEN + 1];
};

/* The policy the fields name (the first when several are set: validation
 * rejects that). */
enum cs_policy cs_routing_policy(const struct cs_routing *r);
static inline bool cs_routing_is_alias(const struct cs_routing *r)
{
        return r->alias_name != NULL && r->alias_name_len > 0;
}
/* Whether any routing field is set (an empty struct is a plain set). */
bool cs_routing_present(const struct cs_routing *r);
bool cs_routing_equal(const struct cs_routing *a, const struct cs_routing *b);
/* All fields zero: the routing of every stored set that has none. */
extern const struct cs_routing cs_routing_none;

/* A record set as given by a command; names are wire names of any case. */
struct cs_rrset_spec {
        const uint8_t *owner;
        size_t owner_len;
        uint16_t type;
        const char *set_id; /* "" (or NULL) for a simple set */
        uint32_t ttl;
        const struct cs_rdata *values;
        size_t count; /* 0 for an alias */
        struct cs_routing routing;
};

enum cs_action_kind { CS_ACTION_CREATE = 1, CS_ACTION_DELETE = 2, CS_ACTION_UPSERT = 3 };

struct cs_action {
        enum cs_action_kind kind;
        struct cs_rrset_spec rrset;
};

struct cs_batch {
        const uint8_t *origin;
        size_t origin_len;
        const char *comment; /* may be NULL */
        const struct cs_action *actions;
        size_t n_actions;
};

/* Creating a zone: the apex SOA (one value) and NS sets; owners are ignored.
 * actions: records the zone is created with, applied to it as one change
 * batch before anyone sees it (a bulk item's zone file): the zone is made
 * with all of them or not at all, in one command and one change. */
struct cs_zone_spec {
        const uint8_t *origin;
        size_t origin_len;
        const char *zone_id;
        const char *comment; /* may be NULL */
        struct cs_rrset_spec soa;
        struct cs_rrset_spec ns;
        const struct cs_action *actions; /* may be NULL when n_actions is 0 */
        size_t n_actions;
};

enum cs_role { CS_ROLE_VOTER = 0, CS_ROLE_STANDBY = 1, CS_ROLE_SPARE = 2 };

struct cs_member_spec {
        uint64_t id;
        const char *name;
        const char *raft_address;
        const char *dns_address;
        const char *api_address;
        enum cs_role role;
};

/* What every command brings besides its body. */
struct cs_ctx {
        uint64_t index;         /* raft index of the entry */
        uint64_t timestamp_ms;  /* stamped by the proposing leader */
        const char *request_id; /* idempotency key; NULL or "" for none */
        const char *change_id;  /* NULL or "": derived from the index */
};

/* ---- the state ---------------------------------------------------------- */

struct cs_rrset {
        uint64_t hash;
        uint8_t *owner; /* lowercased wire name */
        uint16_t owner_len;
        uint16_t type;
        uint32_t ttl;
        char *set_id;            /* "" for simple sets */
        size_t count;            /* >= 1; 0 for an alias */
        struct cs_rdata *values; /* canonical order (RFC 4034 §6.3) */
        /* Never NULL: &cs_routing_none for a set without routing fields
         * (most sets), else a copy in the set's own allocation, its strings
         * and names with it. */
        const struct cs_routing *routing;
};

/*
 * The sets of one (owner, type) counted by routing policy, so that a batch
 * checks the rules of a group (one policy, one PRIMARY, one SECONDARY)
 * without walking the zone.
 */
struct cs_group {
        uint64_t hash;
        uint32_t n_sets;
        uint32_t n_policy[CS_POLICY_COUNT]; /* by enum cs_policy */
        uint32_t n_primary, n_secondary;
        uint16_t type;
        uint16_t len;
        uint8_t owner[];
};

struct cs_zone {
        uint64_t hash;
        uint8_t *origin; /* lowercased wire name */
        uint16_t origin_len;
        /* Not replicated: the snapshot view this zone was last handed to
         * (cs_state.cow_gen; consensus/snapshot.c).  In the padding. */
        uint32_t snap_gen;
        char *zone_id;
        char *comment;
        uint64_t created_ms;
        uint32_t serial;         /* equals the serial inside the apex SOA */
        struct pmap_flat rrsets; /* struct cs_rrset by (owner, type, set id) */
        struct pmap_flat owners; /* owner counters, for the CNAME rule */
        struct pmap_flat groups; /* struct cs_group by (owner, type) */
        struct cs_zlink *order;  /* this zone's place in cs_state.order */
};

enum cs_change_kind {
        CS_CHANGE_ZONE_CREATE = 1,
        CS_CHANGE_ZONE_DELETE = 2,
        CS_CHANGE_BATCH = 3
};
enum cs_change_status { CS_STATUS_PENDING = 0, CS_STATUS_INSYNC = 1 };

/* One block (change_prepare): the strings and origin point into the same
 * block, so they are never freed or replaced alone, and the struct is
 * never copied by value. */
struct cs_change {
        char *id;
        char *request_id; /* NULL when none */
        enum cs_change_kind kind;
        uint8_t *origin;
        uint16_t origin_len;
        char *zone_id;
        uint64_t id_hash, request_hash; /* in change_ids and request_ids */
        uint64_t submitted_ms;
        uint64_t index;
        struct cs_change *evicted_next; /* on cs_state.evicted */
};

/* A slot of the ring of change records: the record, and what evicting it
 * needs, so that an eviction never reads the (long cold) record. */
struct cs_change_slot {
        struct cs_change *change;
        uint64_t id_hash, request_hash;
        uint64_t submitted_ms : 63;
        uint64_t has_request : 1;
};

struct cs_member {
        uint64_t id;
        char *name;
        char *raft_address;
        char *dns_address;
        char *api_address;
        enum cs_role role;
};

struct cs_rrset_change {
        const uint8_t *owner;
        uint16_t owner_len;
        uint16_t type;
        const char *set_id;
        const struct cs_rrset *rrset; /* new contents, or NULL: deleted */
};

struct cs_state;

/*
 * A staged import (consensus/staging.c): a copy of a zone that chunks of
 * actions change over several log entries, and that its commit switches in
 * as the zone's contents at once.  While a zone has a staging, batches into
 * it and its deletion are refused (-EBUSY).  An idle staging (no entry for
 * CS_STAGING_IDLE_MS of command time) is dropped by the next command; a new
 * leader aborts the stagings it does not drive (node/stage.c).  Snapshots
 * are not taken while a staging exists (fsm.c), so none carries one: a node
 * restored from a snapshot replays every staging from the log.
 */
#define CS_STAGING_IDLE_MS (60u * 1000)
#define CS_STAGING_MAX     8
/* Sets of the zone copied by the begin (a zone that holds more is copied by
 * STAGE_COPY entries of as many sets each, before any chunk). */
#define CS_STAGING_COPY_STEP 512
#define CS_STAGING_SETS_MAX  (16u * 1024 * 1024) /* table room a begin may ask */

struct cs_stage_begin {
        const uint8_t *origin;
        size_t origin_len;
        uint32_t serial; /* the zone's serial the import was planned against */
        uint64_t owner;  /* the node (its leader) that drives it */
        /* Record sets the chunks will add at most: the copy's tables are
         * sized for them at once (growing a table of 100,000s of sets in a
         * chunk's apply held the loop 70-180 ms); capped by the state. */
        uint32_t sets;
};

struct cs_stage_chunk {
        uint64_t id;           /* the staging: the raft index of its begin */
        uint32_t seq;          /* 1, 2, ...: chunks apply in order, once */
        struct cs_batch batch; /* its origin names the staging's zone */
};

struct cs_staging {
        uint64_t id;            /* raft index of its STAGE_BEGIN */
        uint64_t owner;         /* node id that proposed it */
        struct cs_zone *live;   /* the zone it replaces (kept while staged) */
        struct cs_zone *shadow; /* what the zone becomes */
        char *request_id;       /* the import's request id, or NULL */
        uint64_t touched_ms;    /* command time of its last entry */
        uint32_t chunks;        /* chunks applied */
        size_t copied;          /* sets of the zone copied (all: the copy is ready) */
        size_t copy_slot;       /* where this node's copy goes on in the zone's table */
        bool failed;            /* a chunk was rejected: only an abort remains */
        struct cs_staging *next;
};

/*
 * Called after each applied command, on the thread that applies.  Pointers
 * are borrowed and valid only during the call.  Any callback may be NULL.
 */
struct cs_observer {
        void *ctx;
        void (*zone_created)(void *ctx, const struct cs_zone *zone);
        void (*zone_deleted)(void *ctx, const uint8_t *origin, uint16_t origin_len);
        /* Once per batch: every changed set, the apex SOA included. */
        void (*rrsets_changed)(void *ctx, const struct cs_zone *zone,
                               const struct cs_rrset_change *changes, size_t n);
        void (*members_changed)(void *ctx, const struct cs_state *state);
        /* The whole state was replaced (snapshot restore): rebuild from it. */
        void (*restored)(void *ctx, const struct cs_state *state);
        /* A staging began (s->shadow holds a copy of the zone), a chunk
         * changed its copy, or it ended: committed (zone is the zone that
         * now holds the copy's contents, its apex SOA with the new serial)
         * or discarded (zone NULL). */
        void (*staging_begun)(void *ctx, const struct cs_staging *s);
        void (*staging_changed)(void *ctx, const struct cs_staging *s,
                                const struct cs_rrset_change *changes, size_t n);
        void (*staging_ended)(void *ctx, const struct cs_staging *s,
                              const struct cs_zone *zone);
        /* Contents nothing reads any more (a staging's copy, or a zone's
         * contents a commit replaced): free them with cs_zone_free, perhaps
         * on another thread (300,000 sets took the apply 0.2-0.6 s to free).
         * NULL: freed at once. */
        void (*discard)(void *ctx, struct cs_zone *contents);
};

/* Frees a zone's record sets, owners, groups and the zone itself (any
 * thread: nothing else may point into it). */
void cs_zone_free(struct cs_zone *z);

struct cs_health_check;
struct cs_frozen;
struct cs_segments;

struct cs_health_observer {
        void *ctx;
        /* A check was created or changed (check) or deleted (check NULL). */
        void (*check_changed)(void *ctx, uint64_t id,
                              const struct cs_health_check *check);
        /* Some check's published status changed (or a check came or went). */
        void (*status_changed)(void *ctx, const struct cs_state *st);
        /* The whole state was replaced (snapshot restore): resynchronise. */
        void (*restored)(void *ctx, const struct cs_state *st);
};

struct cs_cidr_collection;

struct cs_cidr_observer {
        void *ctx;
        /* A collection was created or changed (c), or deleted (c NULL). */
        void (*collection_changed)(void *ctx, const char *id,
                                   const struct cs_cidr_collection *c);
        /* The whole state was replaced (snapshot restore): rebuild. */
        void (*restored)(void *ctx, const struct cs_state *st);
};

/* The CIDR collections of the state (consensus/cidr.h). */
struct cs_cidr_table {
        struct cs_cidr_collection **items; /* sorted by id */
        size_t count, cap;
        struct cs_cidr_observer observer;
};

/* The health checks of the state (consensus/health.h). */
struct cs_health_table {
        struct cs_health_check **checks; /* sorted by id */
        size_t count, cap;
        uint64_t version; /* bumped whenever a published status changes */
        struct cs_health_observer observer;
};

/* The latency map of the state (consensus/latency.h). */
struct cs_latency_observer {
        void *ctx;
        /* The map changed (or was restored): compile it again. */
        void (*changed)(void *ctx, const struct cs_state *st);
};

struct cs_latency_table {
        struct pmap_flat entries; /* struct cs_latency_entry by prefix and region */
        size_t n_measured;        /* entries with a measured value */
        uint64_t version;         /* bumped by every change */
        struct cs_latency_observer observer;
};

struct cs_state {
        struct pmap_flat zones;    /* struct cs_zone by origin */
        struct pmap_flat zone_ids; /* struct cs_zone by zone id */
        struct cs_zorder order;    /* the zones by name (API pages) */
        /* Record sets of all zones, kept by every operation that adds or
         * removes sets (derived, not replicated): the metrics read it
         * instead of walking every zone. */
        size_t rrset_total;
        /* Change records in apply order: a ring of changes_cap slots, each
         * with what evicting its record needs (changes.c); the records
         * themselves are laid out in that order in segments. */
        struct cs_change_slot *changes;
        size_t changes_cap, changes_head, changes_count;
        struct cs_change_seg *change_segs, *change_segs_tail; /* oldest first */
        size_t change_segs_mapped;    /* segments, evicted_segs included */
        struct pmap_flat change_ids;  /* struct cs_change by id */
        struct pmap_flat request_ids; /* struct cs_change by request id */
        uint64_t synced_index;        /* changes up to here are INSYNC */
        struct cs_member *members;    /* sorted by id */
        size_t n_members;
        uint64_t last_index; /* index of the last command applied */
        /* Bounds of the change log; part of the replicated state. */
        size_t changes_max;
        uint64_t changes_max_age_ms;
        struct cs_observer observer;
        struct cs_health_table health;   /* its observer is not replicated */
        struct cs_latency_table latency; /* its observer is not replicated */
        struct cs_cidr_table cidr;       /* its observer is not replicated */
        struct cs_staging *stagings;     /* staged imports, oldest first */
        /* Not replicated.  While pins > 0 a frozen snapshot view
         * (consensus/snapshot.h) may be reading record sets from another
         * thread: record sets, zones and whole states the state lets go of
         * are kept on the retired list and freed when the last pin goes. */
        unsigned pins;
        struct cs_retired *retired;
        struct cs_change *evicted;          /* change records dropped while pinned */
        struct cs_change_seg *evicted_segs; /* their segments, once all dropped */
        uint64_t changes_evicted;           /* how many ever were (for a view) */
        /* Not replicated: the snapshot view being filled while the state
         * changes (copy on write, consensus/snapshot.c), or NULL, and the
         * generation of the last view taken. */
        struct cs_frozen *cow;
        uint32_t cow_gen;
        /* Not replicated: the last snapshot's zones, compressed in segments
         * the next one takes as they are where nothing changed
         * (consensus/segments.h), or NULL before the first. */
        struct cs_segments *segs;
        size_t segment_bytes; /* a segment's size (0: CS_SEGMENT_BYTES) */
};

/* ---- results ------------------------------------------------------------ */

#define CS_ERROR_BATCH UINT32_MAX /* error not tied to one action */

struct cs_error {
        uint32_t action; /* index in the batch, or CS_ERROR_BATCH */
        char field[64];  /* "owner", "type", "set_id", "ttl", "values", ... */
        char message[200];
};

struct cs_result {
        int status; /* 0 or a negative errno */
        char message[256];
        char change_id[CS_ID_MAXLEN + 1]; /* the change created or found */
        bool duplicate;                   /* the request id was already applied */
        uint64_t index;
        struct cs_error *errors; /* sorted by action */
        size_t n_errors, cap_errors;
};

void cs_result_init(struct cs_result *res);
void cs_result_reset(struct cs_result *res);
void cs_result_fini(struct cs_result *res);

/* ---- operations --------------------------------------------------------- */

void cs_state_init(struct cs_state *st);
void cs_state_fini(struct cs_state *st);
/* Borrowed: copied into the state. */
void cs_state_set_observer(struct cs_state *st, const struct cs_observer *obs);
/* Replaces *dst by *src (src is emptied); dst keeps its observer, pins and
 * retired list.  0, or -ENOMEM (dst is pinned and its old contents could not
 * be retired): nothing changed. */
int cs_state_move(struct cs_state *dst, struct cs_state *src);
/* Pins the state's record sets in memory (see `pins`); unpinning the last
 * pin frees what was retired meanwhile.  On the applying thread only. */
void cs_state_pin(struct cs_state *st);
void cs_state_unpin(struct cs_state *st);

int cs_state_zone_create(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_zone_spec *spec, struct cs_result *res);
/* Without force, fails with -ENOTEMPTY unless only the apex SOA and NS remain. */
int cs_state_zone_delete(struct cs_state *st, const struct cs_ctx *ctx,
                         const uint8_t *origin, size_t origin_len, bool force,
                         struct cs_result *res);
int cs_state_batch_apply(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_batch *batch, struct cs_result *res);
/* Validates only (e.g. before proposing): the state is not changed. */
int cs_state_batch_check(const struct cs_state *st, const struct cs_batch *batch,
                         struct cs_result *res);
/* Every change applied at or before index is INSYNC. */
int cs_state_changes_synced(struct cs_state *st, const struct cs_ctx *ctx, uint64_t index,
                            struct cs_result *res);
int cs_state_member_put(struct cs_state *st, const struct cs_ctx *ctx,
                        const struct cs_member_spec *spec, struct cs_result *res);
int cs_state_member_remove(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                           struct cs_result *res);

/* Staged imports (see struct cs_staging).  res->index of a begin is the
 * staging's id.  A begin whose request id was applied answers the change
 * (res->duplicate); one whose zone changed since (serial) fails -ESTALE;
 * one into a zone with another staging fails -EBUSY (the same request id
 * replaces its earlier staging: a retry).  A chunk whose actions are
 * rejected fails -EINVAL with the errors and marks the staging failed. */
int cs_state_stage_begin(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_stage_begin *b, struct cs_result *res);
int cs_state_stage_chunk(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_stage_chunk *c, struct cs_result *res);
int cs_state_stage_commit(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                          struct cs_result *res);
/* The next CS_STAGING_COPY_STEP sets of the zone into the copy; a chunk or
 * commit before the copy is complete is refused (-EPROTO), so that every
 * node validates against the whole copy whatever order its table has. */
int cs_state_stage_copy(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                        struct cs_result *res);
/* The STAGE_COPY entries a staging needs after its begin. */
static inline size_t cs_staging_copy_steps(const struct cs_staging *s)
{
        size_t left = s->live->rrsets.count - s->copied;
        return (left + CS_STAGING_COPY_STEP - 1) / CS_STAGING_COPY_STEP;
}
int cs_state_stage_abort(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                         struct cs_result *res);
/* Drops the stagings idle for CS_STAGING_IDLE_MS at command time now_ms
 * (the FSM calls it before every command). */
void cs_state_stage_expire(struct cs_state *st, uint64_t now_ms);
const struct cs_staging *cs_state_staging_get(const struct cs_state *st, uint64_t id);

/* ---- queries ------------------------------------------------------------ */

/* origin: wire name of any case. */
const struct cs_zone *cs_state_zone_get(const struct cs_state *st, const uint8_t *origin,
                                        size_t origin_len);
const struct cs_zone *cs_state_zone_by_id(const struct cs_state *st, const char *id);
/* owner: wire name of any case; set_id NULL means "". */
const struct cs_rrset *cs_zone_rrset_get(const struct cs_zone *zone, const uint8_t *owner,
                                         size_t owner_len, uint16_t type,
                                         const char *set_id);
static inline size_t cs_zone_rrset_count(const struct cs_zone *zone)
{
        return zone->rrsets.count;
}
size_t cs_state_zone_count(const struct cs_state *st);
/* Record sets in all zones: O(1), a count kept by every change. */
static inline size_t cs_state_rrset_count(const struct cs_state *st)
{
        return st->rrset_total;
}
/* Zones by name as text (cs_name_text; the API's order): the first that
 * sorts after marker (any case; NULL for the first zone), and the next one.
 * O(log n) and O(1); NULL at the end. */
const struct cs_zone *cs_state_zone_after(const struct cs_state *st, const char *marker);
const struct cs_zone *cs_state_zone_next(const struct cs_zone *zone);
/* Call fn on every item until it returns non-zero, which is returned. */
int cs_state_foreach_zone(const struct cs_state *st,
                          int (*fn)(const struct cs_zone *zone, void *arg), void *arg);
int cs_zone_foreach_rrset(const struct cs_zone *zone,
                          int (*fn)(const struct cs_rrset *rrset, void *arg), void *arg);

const struct cs_change *cs_state_change_get(const struct cs_state *st, const char *id);
const struct cs_change *cs_state_change_by_request(const struct cs_state *st,
                                                   const char *request_id);
/* The idempotency key of a request id: its length up to the "\n" of the
 * fingerprint (the whole id when it has none).  Change records are found by
 * it, and so are objects whose id the API derives from their create
 * request (health checks, CIDR collections). */
size_t cs_request_key_len(const char *request_id);
enum cs_change_status cs_state_change_status(const struct cs_state *st,
                                             const struct cs_change *change);
/* The i-th oldest change record kept, i < cs_state_change_count(). */
const struct cs_change *cs_state_change_at(const struct cs_state *st, size_t i);
size_t cs_state_change_count(const struct cs_state *st);

const struct cs_member *cs_state_member_get(const struct cs_state *st, uint64_t id);

/* The sets at (owner, type) counted by policy, or NULL; owner lowercased. */
const struct cs_group *cs_zone_group_get(const struct cs_zone *zone, const uint8_t *owner,
                                         size_t owner_len, uint16_t type);
/* The hosted zone that is the longest suffix of name (any case), or NULL. */
const struct cs_zone *cs_state_zone_find(const struct cs_state *st, const uint8_t *name,
                                         size_t name_len);

/* Whether a health check with this id (16 hex digits, consensus/health.h)
 * exists, so that record sets can name it. */
bool cs_state_health_check_exists(const struct cs_state *st, const char *id);

/* ---- used by the snapshot code ------------------------------------------ */

/* Adds a zone / record set / change / member as restored from a snapshot;
 * validated like commands.  0 or a negative errno with a message. */
int cs_state_restore_zone(struct cs_state *st, const uint8_t *origin, size_t origin_len,
                          const char *zone_id, const char *comment, uint64_t created_ms,
                          uint32_t serial, struct cs_zone **out, char *err,
                          size_t errlen);
int cs_state_restore_rrset(struct cs_zone *zone, const struct cs_rrset_spec *spec,
                           char *err, size_t errlen);
int cs_state_restore_change(struct cs_state *st, const struct cs_change *change,
                            char *err, size_t errlen);
/* Room in the tables for `zones` more zones, or in a zone's for `sets` more
 * record sets, before they are restored one by one (so that the tables do
 * not grow and rehash on the way).  The counts come from a snapshot: the
 * caller bounds them by what its bytes can hold.  0 or -ENOMEM. */
int cs_state_restore_reserve(struct cs_state *st, size_t zones);
int cs_zone_restore_reserve(struct cs_zone *zone, size_t sets);

#endif
