/*
 * db.h — the served zones: published versions and write transactions.
 *
 * Readers call dns_db_current() once per batch of packets and use the
 * catalog it returns (an immutable set of zone versions) without locks.  A
 * writer opens a transaction, edits zones, and commits: the new catalog is
 * published with one atomic pointer store, so readers see all of a
 * transaction or none of it, and memory the new catalog no longer uses is
 * freed after a grace period.  Edits copy only the path from a zone's apex to
 * the changed names (dns/zone.h), so a commit costs what changed, not the
 * size of the zone.  This is the interface zone files, replication and DNS
 * UPDATE all write through.
 *
 * One writer at a time, on the thread that owns the db: a commit over a
 * catalog that is no longer the current one (another transaction committed
 * since this one began) is refused, so no writer's commit undoes another's.
 * Errors leave a message in txn->error; after any error the transaction
 * must be aborted.
 */
#ifndef DNS_DB_H
#define DNS_DB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pmap.h"
#include "common/qsbr.h"
#include "common/reclaim.h"
#include "dns/name.h"
#include "dns/zone.h"

struct dns_health;
struct dns_geo;
struct dns_latency_map;
struct dns_cidr;

struct dns_catalog {
        struct pmap zones; /* struct dns_zone by origin */
        /* Health of the checks routed sets name (dns/route.h); NULL: every
         * check healthy.  Replaced by dns_db_health_publish(). */
        const struct dns_health *health;
        /* Where clients are (dns/route.h); NULL: no GeoIP database.
         * Replaced by dns_db_geo_publish(). */
        const struct dns_geo *geo;
        /* Client network -> region -> RTT (dns/latency.h); NULL: none.
         * Replaced by dns_db_latency_publish(). */
        const struct dns_latency_map *latency;
        /* CIDR collections' tries (dns/route.h); NULL: none.  Replaced by
         * dns_db_cidr_publish(). */
        const struct dns_cidr *cidr;
        size_t zone_count;
        uint64_t version;   /* transaction that published it */
        uint8_t min_labels; /* fewest labels of any origin (lookup start) */
        uint8_t max_labels; /* most labels of any origin */
        /* Zones per origin label count: min/max follow from it at commit in
         * constant time, so a commit never walks the catalog. */
        uint32_t zones_at_depth[DNS_NAME_MAXLABELS + 1];
};

struct dns_db {
        _Atomic(struct dns_catalog *) current;
        uint64_t last_txn;
        /* NULL: transaction ids come from last_txn; else from another db's
         * (dns_db_share_txn_ids), so that a zone built here may move there. */
        uint64_t *txn_ids;
        /* Reader threads (the UDP servers) register here; a commit frees
         * the old catalog's memory only after a grace period.  Readers on
         * the writer's own thread (TCP, between packets) need not. */
        struct qsbr readers;
        /* Called after the grace period, before the memory is freed
         * (tests observe commits with it); may be NULL. */
        void (*synchronize)(void *ctx);
        void *synchronize_ctx;
};

struct dns_txn {
        struct dns_db *db;
        struct dns_catalog *catalog;    /* the version being built */
        const struct dns_catalog *base; /* the version it was copied from */
        struct pmap_txn ptxn;
        struct reclaim_list retired;      /* what the new version stops using */
        const struct dns_zone *last_zone; /* cache for dns_txn_zone() */
        struct dns_node *last_node;       /* node of the last record added */
        const struct dns_zone *last_node_zone;
        uint16_t last_owner_len;
        uint8_t last_owner[DNS_NAME_MAXLEN + 1];
        char error[512];
};

int dns_db_init(struct dns_db *db);
void dns_db_fini(struct dns_db *db);

static inline const struct dns_catalog *dns_db_current(struct dns_db *db)
{
        return atomic_load_explicit(&db->current, memory_order_acquire);
}

/* The zone that is the longest suffix of name, or NULL. */
const struct dns_zone *dns_catalog_find(const struct dns_catalog *cat,
                                        const struct dns_lname *name);
/* The same, trying `hint` (a zone of cat, or NULL: the zone of the query
 * before) first: when it has the most labels of any origin and is a
 * suffix of name, no other zone can be a longer one, and the catalog is
 * not searched. */
const struct dns_zone *dns_catalog_find_hinted(const struct dns_catalog *cat,
                                               const struct dns_lname *name,
                                               const struct dns_zone *hint);

/* The zone with exactly this origin, or NULL. */
const struct dns_zone *dns_catalog_get(const struct dns_catalog *cat,
                                       const struct dns_lname *origin);

/*
 * Makes db draw its transaction ids from `from` (which must outlive it).  A
 * zone built by a transaction of db (never committed) can then move into a
 * transaction of `from` with dns_txn_zone_adopt: every id is unique across
 * both, so `from` copies the zone's objects before changing them, as it does
 * for any published object.  This is how a staged import is built over many
 * loop turns and published by one pointer (node/publish.c).
 */
void dns_db_share_txn_ids(struct dns_db *db, struct dns_db *from);

int dns_txn_begin(struct dns_db *db, struct dns_txn *txn);
int dns_txn_commit(struct dns_txn *txn);
void dns_txn_abort(struct dns_txn *txn);

/* Adds an empty zone (replacing any zone with this origin when `replace`). */
int dns_txn_zone_create(struct dns_txn *txn, const uint8_t *origin, bool replace);
int dns_txn_zone_delete(struct dns_txn *txn, const uint8_t *origin);

/*
 * Adds one record to (owner, type, set_id) of the zone `origin`.  Enforces
 * the rules of zone data: owner inside the zone, SOA only at the apex and
 * alone, CNAME alone at its name and single, no DNAME.  Returns 0, 1 when
 * the record's TTL differed from its set's (the set's is kept), or a
 * negative error with a message.
 */
int dns_txn_rr_add(struct dns_txn *txn, const uint8_t *origin, const uint8_t *owner,
                   uint16_t type, uint32_t set_id, uint32_t ttl, const uint8_t *rdata,
                   uint16_t rdlen);

/* Replaces (count > 0) or deletes (count == 0) the set (owner, type, set_id). */
int dns_txn_rrset_put(struct dns_txn *txn, const uint8_t *origin, const uint8_t *owner,
                      uint16_t type, uint32_t set_id, uint32_t ttl,
                      const uint8_t *const *rdata, const uint16_t *rdlen, size_t count);

/* The same for a set with a routing policy (route may be NULL: plain).  An
 * alias (DNS_ROUTE_ALIAS) has one record: the target's wire name. */
int dns_txn_rrset_put_route(struct dns_txn *txn, const uint8_t *origin,
                            const uint8_t *owner, uint16_t type, uint32_t set_id,
                            uint32_t ttl, const uint8_t *const *rdata,
                            const uint16_t *rdlen, size_t count,
                            const struct dns_route *route);

/*
 * Moves the zone `origin` that transaction `from` created (and has not
 * committed) into `to`, replacing any zone of that origin there; `from`
 * no longer holds it (abort `from` afterwards).  The dbs must share ids
 * (dns_db_share_txn_ids).  0, -ENOENT (from has no zone it created with that
 * origin) or -ENOMEM (both unchanged for readers; abort `to`, which then
 * leaks the zone: out of memory only).  The published zone it replaces, if
 * any, goes to *replaced (may be NULL: freed with the commit): once `to` is
 * committed, nothing reads it; free it with dns_zone_free (any thread).
 */
int dns_txn_zone_adopt(struct dns_txn *to, struct dns_txn *from, const uint8_t *origin,
                       struct dns_zone **replaced);
void dns_zone_free(struct dns_zone *zone);

/*
 * Replaces every zone of `to` with every zone `from` built, in one step: a
 * whole catalog built over many loop turns (node/publish_all.c) is
 * published by one commit of `to`, whatever its size.  The dbs must share
 * ids (dns_db_share_txn_ids) and `to` must not have changed zones itself;
 * `from` keeps no zone (abort it afterwards).  The zones `to` held go to
 * *replaced (NULL when it held none): once `to` is committed nothing reads
 * them; free them with dns_zones_free (any thread: at a million zones that
 * takes seconds).  0 or -ENOMEM (nothing changed).  After a 0, committing
 * `to` (with no further change) cannot fail.
 */
struct dns_zones;
int dns_txn_zones_adopt(struct dns_txn *to, struct dns_txn *from,
                        struct dns_zones **replaced);
void dns_zones_free(struct dns_zones *zones);

/* The zone as the transaction sees it now, or NULL. */
const struct dns_zone *dns_txn_zone(struct dns_txn *txn, const uint8_t *origin);

#endif
