/*
 * publish.c — the replicated state, published to the DNS engine (see
 * cluster.h and cluster_priv.h).
 *
 * The state machine's observer turns every applied command into one
 * dns_db transaction: zone created or deleted, a batch's changed record
 * sets (with their routing: set ids and health check ids interned into the
 * small numbers the engine keeps).  A restored snapshot is published as
 * every zone at once, built over many loop turns (publish_all.c), which
 * also takes the changes applied meanwhile.  A publish that fails marks its
 * zone stale; the tick publishes stale zones again, whole, from the
 * replicated state, until it succeeds.
 *
 * A staged import (consensus/staging.c) is built as a DNS zone of its own
 * while its chunks apply, each chunk costing its own sets: a private db
 * whose transaction ids come from the served db, and a transaction that is
 * never committed.  Its commit moves that zone into one transaction of the
 * served db (dns_txn_zone_adopt): queries see the old zone or the new one,
 * and the commit's loop turn costs a pointer, not 300,000 sets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/zalloc.h"
#include "dns/name.h"
#include "dns/route.h"
#include "dns/wire.h"
#include "node/api_routing.h"
#include "node/cluster_priv.h"

/* ---- publishing to the DNS engine ------------------------------------------------ */

#define PUBLISH_SMALL_SET 16 /* values of a set published without an allocation */

/* Routing set ids are strings in the state and small numbers in the engine. */
static uint32_t set_id_of(struct node_cluster *c, const char *name)
{
        if (name == NULL || *name == '\0')
                return 0;
        for (uint32_t i = 0; i < c->set_id_count; i++)
                if (strcmp(c->set_ids[i], name) == 0)
                        return i + 1;
        char **grown = realloc(c->set_ids, (c->set_id_count + 1) * sizeof(*grown));
        if (grown == NULL)
                return 0;
        c->set_ids = grown;
        c->set_ids[c->set_id_count] = strdup(name);
        return ++c->set_id_count;
}

struct node_health_id {
        uint64_t hash;
        uint32_t number; /* index + 1 */
        char id[];
};

static bool health_id_match(const void *item, const void *key)
{
        return strcmp(((const struct node_health_id *)item)->id, key) == 0;
}

uint32_t node_cluster_health_index(struct node_cluster *c, const char *check_id)
{
        if (check_id == NULL || *check_id == '\0')
                return 0;
        uint64_t h = hash_bytes(check_id, strlen(check_id), 0x6865616c7468);
        struct node_health_id *known =
            pmap_flat_get(&c->health_map, h, check_id, health_id_match);
        if (known != NULL)
                return known->number;
        size_t len = strlen(check_id);
        struct node_health_id *fresh = malloc(sizeof(*fresh) + len + 1);
        struct node_health_id **grown =
            realloc(c->health_ids, (c->health_id_count + 1) * sizeof(*grown));
        if (grown != NULL)
                c->health_ids = grown;
        if (fresh == NULL || grown == NULL || pmap_flat_reserve(&c->health_map, 1) != 0) {
                free(fresh);
                return 0;
        }
        fresh->hash = h;
        fresh->number = c->health_id_count + 1;
        memcpy(fresh->id, check_id, len + 1);
        c->health_ids[c->health_id_count++] = fresh;
        pmap_flat_put(&c->health_map, h, fresh->id, fresh, health_id_match);
        if (c->health_interned != NULL)
                c->health_interned(c->health_ctx);
        return fresh->number;
}

const char *node_cluster_health_id(const struct node_cluster *c, uint32_t number)
{
        return number >= 1 && number <= c->health_id_count ? c->health_ids[number - 1]->id
                                                           : NULL;
}

int node_publish_rrset(struct node_cluster *c, struct dns_txn *txn, const uint8_t *origin,
                       const uint8_t *owner, uint16_t type, const char *set_id,
                       const struct cs_rrset *rrset)
{
        struct dns_route route = {0};
        if (rrset != NULL && cs_routing_present(rrset->routing)) {
                api_route_of(
                    rrset->routing,
                    node_cluster_health_index(c, rrset->routing->health_check_id),
                    &route);
                if (rrset->routing->has_cidr)
                        node_publish_cidr_ref(c, rrset->routing, &route.cidr_collection,
                                              &route.cidr_location);
                if (route.flags & DNS_ROUTE_ALIAS) {
                        /* The alias's one pseudo-record: its target's name. */
                        const uint8_t *target = rrset->routing->alias_name;
                        uint16_t target_len = (uint16_t)rrset->routing->alias_name_len;
                        int rc = dns_txn_rrset_put_route(txn, origin, owner, type,
                                                         set_id_of(c, set_id), rrset->ttl,
                                                         &target, &target_len, 1, &route);
                        if (rc == -EINVAL || rc == -E2BIG) {
                                LOG_ERROR("alias record set is replicated but cannot be "
                                          "served: %s",
                                          txn->error);
                                return 0;
                        }
                        return rc;
                }
        }
        /* The usual set's value pointers live on the stack: two callocs per
         * published set searched a heap that grows with the catalog. */
        const uint8_t *data_small[PUBLISH_SMALL_SET];
        uint16_t len_small[PUBLISH_SMALL_SET];
        size_t n = rrset ? rrset->count : 0;
        bool small = n <= PUBLISH_SMALL_SET;
        const uint8_t **data = small ? data_small : zalloc(n, sizeof(*data));
        uint16_t *len = small ? len_small : zalloc(n, sizeof(*len));
        int rc = -ENOMEM;
        if (data != NULL && len != NULL) {
                for (size_t i = 0; i < n; i++) {
                        data[i] = rrset->values[i].data;
                        len[i] = rrset->values[i].len;
                }
                rc = dns_txn_rrset_put_route(
                    txn, origin, owner, type, set_id_of(c, set_id),
                    rrset ? rrset->ttl : 0, data, len, n,
                    route.policy || route.flags || route.health || route.location ? &route
                                                                                  : NULL);
        }
        if (!small) {
                free(data);
                free(len);
        }
        if (rc == -EINVAL || rc == -E2BIG) {
                char text[1024];
                LOG_ERROR("record set at %s is replicated but cannot be served: %s",
                          dns_name_to_text(owner, text, sizeof(text)), txn->error);
                return 0; /* the rest of the batch is still published */
        }
        return rc;
}

struct zone_fill {
        struct node_cluster *c;
        struct dns_txn *txn;
        const uint8_t *origin;
        int rc;
};

static int fill_rrset(const struct cs_rrset *rrset, void *arg)
{
        struct zone_fill *f = arg;
        f->rc = node_publish_rrset(f->c, f->txn, f->origin, rrset->owner, rrset->type,
                                   rrset->set_id, rrset);
        return f->rc;
}

int node_publish_zone(struct node_cluster *c, struct dns_txn *txn,
                      const struct cs_zone *zone)
{
        if (dns_txn_zone_create(txn, zone->origin, true) != 0)
                return -ENOMEM;
        struct zone_fill f = {c, txn, zone->origin, 0};
        cs_zone_foreach_rrset(zone, fill_rrset, &f);
        return f.rc;
}

/* ---- failed publishes, redone from the replicated state ---------------------------
 *
 * A publish that fails (no memory for the transaction, a commit refused)
 * leaves the served view behind the state.  The zone is marked stale (every
 * zone when a whole-state publish failed, or when too many are) and the tick
 * publishes it again from the replicated state, zone by zone, until it
 * succeeds.  Later changes of a stale zone are published as usual meanwhile;
 * the republish replaces the zone as a whole. */

#ifdef QDNS_FAULT_HOOKS
/* Test builds: QDNS_FAULT_PUBLISH_FAIL=N:K fails K publishes in a row,
 * starting with the Nth publish of this process (K defaults to 1). */
static bool fault_publish_fails(void)
{
        static long first = -1, count, seen;
        if (first < 0) {
                const char *env = getenv("QDNS_FAULT_PUBLISH_FAIL");
                char *end = NULL;
                first = env != NULL ? strtol(env, &end, 10) : 0;
                count = end != NULL && *end == ':' ? strtol(end + 1, NULL, 10) : 1;
                if (first < 0)
                        first = 0;
        }
        seen++;
        return first > 0 && seen >= first && seen < first + count;
}
#endif

static bool is_stale(const struct node_cluster *c, const uint8_t *origin, size_t len)
{
        for (unsigned i = 0; i < c->n_stale; i++)
                if (c->stale[i].len == len &&
                    memcmp(c->stale[i].origin, origin, len) == 0)
                        return true;
        return false;
}

bool node_publish_current(const struct node_cluster *c, const uint8_t *origin, size_t len)
{
        if (!c->restored || c->rebuild != NULL || c->stale_all)
                return false;
        return origin != NULL ? !is_stale(c, origin, len) : c->n_stale == 0;
}

static void mark_stale(struct node_cluster *c, const uint8_t *origin, size_t len)
{
        if (origin == NULL || c->n_stale == NODE_CLUSTER_MAX_STALE) {
                c->stale_all = true;
                return;
        }
        if (is_stale(c, origin, len))
                return;
        memcpy(c->stale[c->n_stale].origin, origin, len);
        c->stale[c->n_stale].len = (uint16_t)len;
        c->n_stale++;
}

/* Commits (rc == 0) or aborts txn; a failure marks origin (NULL: every
 * zone) stale for the tick to publish again.  Returns the outcome. */
static int publish_finish(struct node_cluster *c, struct dns_txn *txn, int rc,
                          const char *what, const uint8_t *origin, size_t origin_len)
{
#ifdef QDNS_FAULT_HOOKS
        if (rc == 0 && fault_publish_fails()) {
                rc = -ENOMEM;
                snprintf(txn->error, sizeof(txn->error),
                         "commit refused (injected: QDNS_FAULT_PUBLISH_FAIL)");
        }
#endif
        if (rc == 0)
                rc = dns_txn_commit(txn);
        else
                dns_txn_abort(txn);
        if (rc != 0) {
                if (c->publish_failures++ % 50 == 0)
                        LOG_ERROR("publishing %s to DNS failed: %s; served data lags the "
                                  "replicated state until it is published again",
                                  what, txn->error[0] ? txn->error : strerror(-rc));
                mark_stale(c, origin, origin_len);
        }
        return rc;
}

static int publish_begin(struct node_cluster *c, struct dns_txn *txn, const char *what,
                         const uint8_t *origin, size_t origin_len)
{
        int rc = dns_txn_begin(c->db, txn);
        if (rc != 0) {
                if (c->publish_failures++ % 50 == 0)
                        LOG_ERROR("publishing %s to DNS failed: cannot begin a "
                                  "transaction: %s",
                                  what, strerror(-rc));
                mark_stale(c, origin, origin_len);
        }
        return rc;
}

static void on_zone_created(void *ctx, const struct cs_zone *zone)
{
        struct node_cluster *c = ctx;
        struct dns_txn txn;
        if (node_rebuild_zone(c, zone->origin, zone->origin_len))
                return;
        if (publish_begin(c, &txn, "a new zone", zone->origin, zone->origin_len) != 0)
                return;
        publish_finish(c, &txn, node_publish_zone(c, &txn, zone), "a new zone",
                       zone->origin, zone->origin_len);
}

static void on_zone_deleted(void *ctx, const uint8_t *origin, uint16_t origin_len)
{
        struct node_cluster *c = ctx;
        struct dns_txn txn;
        if (node_rebuild_zone(c, origin, origin_len))
                return;
        if (publish_begin(c, &txn, "a zone deletion", origin, origin_len) != 0)
                return;
        int rc = dns_txn_zone_delete(&txn, origin);
        publish_finish(c, &txn, rc == -ENOENT ? 0 : rc, "a zone deletion", origin,
                       origin_len);
}

static void on_rrsets_changed(void *ctx, const struct cs_zone *zone,
                              const struct cs_rrset_change *changes, size_t n)
{
        struct node_cluster *c = ctx;
        struct dns_txn txn;
        if (node_rebuild_changes(c, zone, changes, n))
                return;
        if (publish_begin(c, &txn, "a change batch", zone->origin, zone->origin_len) != 0)
                return;
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++)
                rc = node_publish_rrset(c, &txn, zone->origin, changes[i].owner,
                                        changes[i].type, changes[i].set_id,
                                        changes[i].rrset);
        publish_finish(c, &txn, rc, "a change batch", zone->origin, zone->origin_len);
}

/* ---- staged imports ---------------------------------------------------------------- */

/* What nothing reads any more, freed on libuv's pool: 300,000 sets or DNS
 * names took the loop 0.2-0.6 s to free.  Counted in c->discards until the
 * after-work callback ran: the node's stop waits for them (main.c), so a
 * free never runs on the pool while the node exits. */
struct discard {
        uv_work_t req;
        struct node_cluster *c;
        void (*fn)(void *arg);
        void *arg;
        unsigned delay_ms; /* test builds: QDNS_FAULT_DISCARD_MS, a slow free */
};

static void discard_work(uv_work_t *req)
{
        struct discard *d = req->data;
        if (d->delay_ms > 0)
                uv_sleep(d->delay_ms);
        d->fn(d->arg);
}

static void discard_done(uv_work_t *req, int status)
{
        struct discard *d = req->data;
        struct node_cluster *c = d->c;
        if (status != 0)
                d->fn(d->arg);
        free(d);
        c->discards--;
}

void node_publish_discard(struct node_cluster *c, void (*fn)(void *arg), void *arg)
{
        struct discard *d = malloc(sizeof(*d));
        if (d != NULL) {
                d->c = c;
                d->fn = fn;
                d->arg = arg;
                d->delay_ms = 0;
#ifdef QDNS_FAULT_HOOKS
                const char *slow = getenv("QDNS_FAULT_DISCARD_MS");
                d->delay_ms = slow != NULL ? (unsigned)strtoul(slow, NULL, 10) : 0;
#endif
                d->req.data = d;
                if (uv_queue_work(c->loop, &d->req, discard_work, discard_done) == 0) {
                        c->discards++;
                        return;
                }
        }
        free(d);
        fn(arg);
}

static void free_state_zone(void *zone)
{
        cs_zone_free(zone);
}

static void free_dns_zone(void *zone)
{
        dns_zone_free(zone);
}

static void on_discard(void *ctx, struct cs_zone *contents)
{
        node_publish_discard(ctx, free_state_zone, contents);
}

struct node_dns_staging {
        uint64_t id;
        struct dns_db db;   /* private; its transaction ids are the served db's */
        struct dns_txn txn; /* builds the zone; never committed */
        bool failed;        /* the build failed: the commit publishes the zone whole */
        struct node_dns_staging *next;
};

static void dns_staging_free(void *arg)
{
        struct node_dns_staging *d = arg;
        dns_txn_abort(&d->txn);
        dns_db_fini(&d->db);
        free(d);
}

static struct node_dns_staging *dns_staging_take(struct node_cluster *c, uint64_t id)
{
        for (struct node_dns_staging **p = &c->dns_stagings; *p != NULL; p = &(*p)->next)
                if ((*p)->id == id) {
                        struct node_dns_staging *d = *p;
                        *p = d->next;
                        return d;
                }
        return NULL;
}

static void dns_stagings_free(struct node_cluster *c)
{
        while (c->dns_stagings != NULL) {
                struct node_dns_staging *d = c->dns_stagings;
                c->dns_stagings = d->next;
                dns_staging_free(d);
        }
}

static void on_staging_begun(void *ctx, const struct cs_staging *s)
{
        struct node_cluster *c = ctx;
        struct node_dns_staging *d = calloc(1, sizeof(*d));
        if (d == NULL)
                return; /* the commit publishes the zone whole */
        d->id = s->id;
        if (dns_db_init(&d->db) != 0) {
                free(d);
                return;
        }
        dns_db_share_txn_ids(&d->db, c->db);
        if (dns_txn_begin(&d->db, &d->txn) != 0 ||
            node_publish_zone(c, &d->txn, s->shadow) != 0)
                d->failed = true;
        d->next = c->dns_stagings;
        c->dns_stagings = d;
}

static void on_staging_changed(void *ctx, const struct cs_staging *s,
                               const struct cs_rrset_change *changes, size_t n)
{
        struct node_cluster *c = ctx;
        struct node_dns_staging *d = c->dns_stagings;
        while (d != NULL && d->id != s->id)
                d = d->next;
        if (d == NULL || d->failed)
                return;
        for (size_t i = 0; i < n && !d->failed; i++)
                d->failed = node_publish_rrset(c, &d->txn, s->shadow->origin,
                                               changes[i].owner, changes[i].type,
                                               changes[i].set_id, changes[i].rrset) != 0;
}

static void on_staging_ended(void *ctx, const struct cs_staging *s,
                             const struct cs_zone *zone)
{
        struct node_cluster *c = ctx;
        struct node_dns_staging *d = dns_staging_take(c, s->id);
        if (zone == NULL) { /* discarded */
                if (d != NULL)
                        node_publish_discard(c, dns_staging_free, d);
                return;
        }
        if (node_rebuild_zone(c, zone->origin, zone->origin_len)) {
                if (d != NULL) /* the whole-state publish takes the zone */
                        node_publish_discard(c, dns_staging_free, d);
                return;
        }
        const struct cs_rrset *soa =
            cs_zone_rrset_get(zone, zone->origin, zone->origin_len, DNS_TYPE_SOA, "");
        struct dns_txn txn;
        if (d == NULL || d->failed || soa == NULL ||
            node_publish_rrset(c, &d->txn, zone->origin, soa->owner, soa->type,
                               soa->set_id, soa) != 0) {
                /* The zone as a whole from the state, at the next tick. */
                LOG_ERROR("the DNS copy of a staged import could not be built; zone "
                          "published again whole from the replicated state");
                mark_stale(c, zone->origin, zone->origin_len);
        } else if (publish_begin(c, &txn, "a staged import", zone->origin,
                                 zone->origin_len) == 0) {
                struct dns_zone *old = NULL;
                int rc = dns_txn_zone_adopt(&txn, &d->txn, zone->origin, &old);
                rc = publish_finish(c, &txn, rc, "a staged import", zone->origin,
                                    zone->origin_len);
                if (rc == 0 && old != NULL) /* the commit's grace period is over */
                        node_publish_discard(c, free_dns_zone, old);
        }
        if (d != NULL)
                node_publish_discard(c, dns_staging_free, d);
}

static int collect_origin(void *item, void *arg)
{
        const struct dns_zone *zone = item;
        struct dns_txn *txn = arg;
        return dns_txn_zone_delete(txn, zone->origin) == -ENOMEM ? -ENOMEM : 0;
}

struct restore_fill {
        struct node_cluster *c;
        struct dns_txn *txn;
        int rc;
};

static int restore_zone(const struct cs_zone *zone, void *arg)
{
        struct restore_fill *f = arg;
        f->rc = node_publish_zone(f->c, f->txn, zone);
        return f->rc;
}

/* The whole state replaces the whole served view, in one transaction on
 * the loop: for tools/bench/zones_publish.c (a node publishes a restored
 * state in slices, publish_all.c). */
int node_publish_all(struct node_cluster *c, const char *what)
{
        struct dns_txn txn;
        uint64_t started = node_now_ms();
        if (publish_begin(c, &txn, what, NULL, 0) != 0)
                return -ENOMEM;
        /* Delete every zone of the old catalog (deleting while walking the
         * transaction's own copy is safe: the walk reads the published one). */
        const struct dns_catalog *cur = dns_db_current(c->db);
        int rc = pmap_walk(&cur->zones, collect_origin, &txn);
        struct restore_fill f = {c, &txn, 0};
        if (rc == 0)
                cs_state_foreach_zone(&c->state, restore_zone, &f);
        rc = publish_finish(c, &txn, rc ? rc : f.rc, what, NULL, 0);
        /* Rare and proportional to the catalog: worth a line in the log. */
        LOG_INFO("published %s: %zu zones in %llu ms%s", what,
                 cs_state_zone_count(&c->state),
                 (unsigned long long)(node_now_ms() - started), rc ? " (failed)" : "");
        return rc;
}

/* One stale zone as the state has it now: replaced, or deleted when gone. */
static int republish_zone(struct node_cluster *c, const uint8_t *origin, size_t len)
{
        struct dns_txn txn;
        if (publish_begin(c, &txn, "a zone again", origin, len) != 0)
                return -ENOMEM;
        const struct cs_zone *zone = cs_state_zone_get(&c->state, origin, len);
        int rc;
        if (zone != NULL) {
                rc = node_publish_zone(c, &txn, zone);
        } else {
                rc = dns_txn_zone_delete(&txn, origin);
                rc = rc == -ENOENT ? 0 : rc;
        }
        return publish_finish(c, &txn, rc, "a zone again", origin, len);
}

/* From the tick: publish what is stale again until nothing is. */
void node_publish_retry(struct node_cluster *c)
{
        if (c->cidr_stale && node_publish_cidr_all(c) == 0)
                LOG_INFO("DNS serves the replicated CIDR collections again");
        if (c->rebuild != NULL || (!c->stale_all && c->n_stale == 0))
                return; /* a whole-state publish under way covers every zone */
        if (c->stale_all) {
                c->stale_all = false;
                c->n_stale = 0;
                LOG_INFO("publishing every zone again after %u failed publishes",
                         c->publish_failures);
                node_rebuild_start(c, "the whole state again");
                return;
        }
        unsigned n = c->n_stale;
        struct node_stale_zone todo[NODE_CLUSTER_MAX_STALE];
        memcpy(todo, c->stale, n * sizeof(todo[0]));
        c->n_stale = 0;
        for (unsigned i = 0; i < n; i++) {
                if (republish_zone(c, todo[i].origin, todo[i].len) == 0) {
                        char text[1024];
                        LOG_INFO("DNS serves zone %s as replicated again (published "
                                 "again after a failed publish)",
                                 dns_name_to_text(todo[i].origin, text, sizeof(text)));
                }
        }
        if (!c->stale_all && c->n_stale == 0)
                c->publish_failures = 0;
}

static void on_restored(void *ctx, const struct cs_state *state)
{
        struct node_cluster *c = ctx;
        dns_stagings_free(c); /* the restored state has none */
        node_rebuild_start(c, "a restored snapshot");
        node_members_check(c);
}

static void on_members_changed(void *ctx, const struct cs_state *state)
{
        node_members_check(ctx);
}

void node_publish_observe(struct node_cluster *c)
{
        struct cs_observer obs = {.ctx = c,
                                  .zone_created = on_zone_created,
                                  .zone_deleted = on_zone_deleted,
                                  .rrsets_changed = on_rrsets_changed,
                                  .members_changed = on_members_changed,
                                  .restored = on_restored,
                                  .staging_begun = on_staging_begun,
                                  .staging_changed = on_staging_changed,
                                  .staging_ended = on_staging_ended,
                                  .discard = on_discard};
        cs_state_set_observer(&c->state, &obs);
        node_publish_cidr_observe(c);
}

/* A whole-state publish cut short by the stop: its partial build (a private
 * catalog of up to every zone, seconds to free at 1,000,000 zones) is freed
 * on the pool.  node_rebuild_free frees what the cluster it is given holds
 * in `rebuild`; its slices' handles are closed by now (rebuild_timer_ready
 * is false), so a zeroed holder carrying only the build is all it reads. */
static void rebuild_free_off_loop(void *arg)
{
        struct node_cluster *holder = arg;
        node_rebuild_free(holder);
        free(holder);
}

void node_publish_fini(struct node_cluster *c)
{
        struct node_cluster *holder = c->rebuild != NULL && !c->rebuild_timer_ready
                                          ? calloc(1, sizeof(*holder))
                                          : NULL;
        if (holder != NULL) {
                holder->rebuild = c->rebuild;
                c->rebuild = NULL;
                node_publish_discard(c, rebuild_free_off_loop, holder);
        }
        node_rebuild_free(c); /* inline when no holder could be made */
        dns_stagings_free(c);
        for (uint32_t i = 0; i < c->set_id_count; i++)
                free(c->set_ids[i]);
        free(c->set_ids);
        c->set_ids = NULL;
        c->set_id_count = 0;
        for (uint32_t i = 0; i < c->health_id_count; i++)
                free(c->health_ids[i]);
        free(c->health_ids);
        c->health_ids = NULL;
        c->health_id_count = 0;
        pmap_flat_fini(&c->health_map);
        node_publish_cidr_fini(c);
}
