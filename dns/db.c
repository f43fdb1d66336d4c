/*
 * db.c — published catalogs and write transactions (see db.h).
 *
 * Copy-on-write discipline: every object (catalog, zone, node, hash-map
 * node, rrsets blob) records the transaction that created it.  A
 * transaction changes its own objects in place and copies any other object
 * before changing it, pushing the original on its reclaim list; an object's
 * ancestors are always copied before the object, so a published version is
 * never written.  Abort frees what the transaction created and forgets its
 * reclaim list; commit publishes, waits for a grace period, and runs it.
 */
#include "dns/db.h"

#include "common/lpm.h"
#include "dns/latency.h"
#include "dns/route.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/packet.h"
#include "dns/wire.h"

struct origin_key {
        const uint8_t *wire;
        uint16_t len;
};

static bool zone_match(const void *item, const void *key)
{
        const struct dns_zone *zone = item;
        const struct origin_key *k = key;
        return zone->origin_len == k->len && wire_equal(zone->origin, k->wire, k->len);
}

static uint64_t zone_hash(const void *item, const void *ctx)
{
        return ((const struct dns_zone *)item)->hash;
}

const struct dns_zone *dns_catalog_get(const struct dns_catalog *cat,
                                       const struct dns_lname *origin)
{
        struct origin_key key = {origin->wire, origin->len};
        return pmap_get(&cat->zones, origin->hash[0], &key, zone_match);
}

const struct dns_zone *dns_catalog_find(const struct dns_catalog *cat,
                                        const struct dns_lname *name)
{
        if (cat->zone_count == 0 || name->nlabels < cat->min_labels)
                return NULL;
        unsigned first =
            name->nlabels > cat->max_labels ? name->nlabels - cat->max_labels : 0;
        for (unsigned i = first; i <= (unsigned)(name->nlabels - cat->min_labels); i++) {
                struct origin_key key = {&name->wire[name->off[i]],
                                         (uint16_t)(name->len - name->off[i])};
                const struct dns_zone *zone =
                    pmap_get(&cat->zones, name->hash[i], &key, zone_match);
                if (zone != NULL)
                        return zone;
        }
        return NULL;
}

const struct dns_zone *dns_catalog_find_hinted(const struct dns_catalog *cat,
                                               const struct dns_lname *name,
                                               const struct dns_zone *hint)
{
        if (hint != NULL && hint->origin_labels == cat->max_labels &&
            name->nlabels >= hint->origin_labels) {
                unsigned i = name->nlabels - hint->origin_labels;
                if (name->hash[i] == hint->hash &&
                    name->len - name->off[i] == hint->origin_len &&
                    wire_equal(&name->wire[name->off[i]], hint->origin, hint->origin_len))
                        return hint;
        }
        return dns_catalog_find(cat, name);
}

/* ---- freeing ---------------------------------------------------------------- */

static void node_free_deep(void *item, void *arg)
{
        struct dns_node *node = item;
        pmap_free(&node->children, 0, node_free_deep, NULL);
        free((void *)node->rrsets);
        free(node);
}

static void zone_free_deep(void *ptr)
{
        struct dns_zone *zone = ptr;
        node_free_deep(zone->apex, NULL);
        free(zone);
}

static void zone_free_deep_item(void *item, void *arg)
{
        zone_free_deep(item);
}

/* Frees what transaction `id` created under node (abort). */
static void node_free_owned(void *item, void *arg)
{
        struct dns_node *node = item;
        uint64_t id = *(const uint64_t *)arg;
        if (node->txn != id)
                return;
        pmap_free(&node->children, id, node_free_owned, arg);
        if (node->flags & DNS_NODE_FRESH)
                free((void *)node->rrsets);
        free(node);
}

static void zone_free_owned(void *item, void *arg)
{
        struct dns_zone *zone = item;
        uint64_t id = *(const uint64_t *)arg;
        if (zone->txn != id)
                return;
        node_free_owned(zone->apex, arg);
        free(zone);
}

/* ---- db ----------------------------------------------------------------------- */

int dns_db_init(struct dns_db *db)
{
        memset(db, 0, sizeof(*db));
        struct dns_catalog *cat = calloc(1, sizeof(*cat));
        if (cat == NULL)
                return -ENOMEM;
        atomic_store(&db->current, cat);
        qsbr_init(&db->readers);
        return 0;
}

void dns_db_share_txn_ids(struct dns_db *db, struct dns_db *from)
{
        db->txn_ids = from->txn_ids ? from->txn_ids : &from->last_txn;
}

void dns_db_fini(struct dns_db *db)
{
        struct dns_catalog *cat = atomic_load(&db->current);
        if (cat != NULL) {
                pmap_free(&cat->zones, 0, zone_free_deep_item, NULL);
                free((void *)cat->health);
                if (cat->geo != NULL)
                        cat->geo->release((void *)cat->geo);
                dns_latency_free((void *)cat->latency);
                const struct dns_cidr *cidr = cat->cidr;
                for (uint32_t i = 0; cidr != NULL && i < cidr->count; i++)
                        lpm_free((struct lpm *)cidr->table[i].trie);
                free((void *)cidr);
                free(cat);
        }
        atomic_store(&db->current, NULL);
        qsbr_fini(&db->readers);
}

/* ---- transactions -------------------------------------------------------------- */

static int fail(struct dns_txn *txn, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct dns_txn *txn, int rc, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(txn->error, sizeof(txn->error), fmt, ap);
        va_end(ap);
        return rc;
}

int dns_txn_begin(struct dns_db *db, struct dns_txn *txn)
{
        memset(txn, 0, sizeof(*txn));
        const struct dns_catalog *cur = dns_db_current(db);
        struct dns_catalog *cat = malloc(sizeof(*cat));
        if (cat == NULL)
                return -ENOMEM;
        *cat = *cur;
        txn->db = db;
        txn->catalog = cat;
        txn->base = cur;
        reclaim_init(&txn->retired);
        txn->ptxn.id = ++*(db->txn_ids ? db->txn_ids : &db->last_txn);
        txn->ptxn.retired = &txn->retired;
        cat->version = txn->ptxn.id;
        return 0;
}

static void recount_labels(struct dns_catalog *cat);

int dns_txn_commit(struct dns_txn *txn)
{
        struct dns_db *db = txn->db;
        struct dns_catalog *old = atomic_load(&db->current);
        if (old != txn->base) { /* another writer overlapped: it would be undone */
                fail(txn, -EBUSY,
                     "another transaction was committed since this one began");
                dns_txn_abort(txn);
                return -EBUSY;
        }
        recount_labels(txn->catalog);
        if (reclaim_push(&txn->retired, free, old) != 0) {
                dns_txn_abort(txn);
                return -ENOMEM;
        }
        atomic_store_explicit(&db->current, txn->catalog, memory_order_release);
        qsbr_synchronize(&db->readers);
        if (db->synchronize != NULL)
                db->synchronize(db->synchronize_ctx);
        reclaim_fini(&txn->retired);
        txn->catalog = NULL;
        return 0;
}

void dns_txn_abort(struct dns_txn *txn)
{
        if (txn->catalog == NULL)
                return;
        uint64_t id = txn->ptxn.id;
        pmap_free(&txn->catalog->zones, id, zone_free_owned, &id);
        free(txn->catalog);
        txn->catalog = NULL;
        free(txn->retired.entries); /* forget, do not run: published data */
        reclaim_init(&txn->retired);
}

/* Constant time: one pass over the per-depth counts, not over the zones. */
static void recount_labels(struct dns_catalog *cat)
{
        int min = -1, max = 0;
        for (int d = 0; d <= DNS_NAME_MAXLABELS; d++) {
                if (cat->zones_at_depth[d] == 0)
                        continue;
                if (min < 0)
                        min = d;
                max = d;
        }
        cat->min_labels = (uint8_t)(min < 0 ? 0 : min);
        cat->max_labels = (uint8_t)max;
}

static struct dns_node *node_new(uint64_t txn, const uint8_t *label)
{
        unsigned len = label ? label[0] : 0;
        struct dns_node *node = malloc(sizeof(*node) + 1 + len);
        if (node == NULL)
                return NULL;
        node->txn = txn;
        node->children.root = NULL;
        node->rrsets = NULL;
        node->flags = 0;
        node->label[0] = (uint8_t)len;
        for (unsigned i = 1; i <= len; i++)
                node->label[i] = common_dname_lower_table[label[i]];
        return node;
}

static struct dns_node *node_copy(struct dns_txn *txn, const struct dns_node *node)
{
        size_t size = sizeof(*node) + 1 + node->label[0];
        struct dns_node *copy = malloc(size);
        if (copy == NULL)
                return NULL;
        memcpy(copy, node, size);
        copy->txn = txn->ptxn.id;
        copy->flags &= (uint16_t)~DNS_NODE_FRESH;
        return copy;
}

int dns_txn_zone_create(struct dns_txn *txn, const uint8_t *origin, bool replace)
{
        txn->last_zone = NULL;
        txn->last_node = NULL;
        struct dns_lname name;
        char text[1024];
        if (dns_lname_from_wire(&name, origin, DNS_NAME_MAXLEN + 1) < 0)
                return fail(txn, -EINVAL, "invalid zone name");
        struct dns_zone *zone = malloc(sizeof(*zone) + name.len);
        struct dns_node *apex = node_new(txn->ptxn.id, NULL);
        if (zone == NULL || apex == NULL) {
                free(zone);
                free(apex);
                return fail(txn, -ENOMEM, "out of memory");
        }
        zone->txn = txn->ptxn.id;
        zone->hash = name.hash[0];
        zone->apex = apex;
        zone->origin_len = name.len;
        zone->origin_labels = name.nlabels;
        memcpy(zone->origin, name.wire, name.len);
        struct origin_key key = {zone->origin, zone->origin_len};
        if (!replace && pmap_get(&txn->catalog->zones, zone->hash, &key, zone_match)) {
                free(zone);
                free(apex);
                return fail(txn, -EEXIST, "zone %s already exists",
                            dns_name_to_text(origin, text, sizeof(text)));
        }
        void *replaced = NULL;
        int rc = pmap_put(&txn->ptxn, &txn->catalog->zones, zone->hash, &key, zone,
                          zone_match, zone_hash, NULL, &replaced);
        if (rc != 0) {
                free(zone);
                free(apex);
                return fail(txn, rc, "out of memory");
        }
        if (replaced == NULL) {
                txn->catalog->zone_count++;
                txn->catalog->zones_at_depth[zone->origin_labels]++;
        } else if (((struct dns_zone *)replaced)->txn != txn->ptxn.id)
                rc = reclaim_push(&txn->retired, zone_free_deep, replaced);
        else
                zone_free_owned(replaced, &txn->ptxn.id);
        if (rc != 0)
                return fail(txn, rc, "out of memory");
        txn->last_zone = zone; /* its sets come next: no second walk */
        return 0;
}

int dns_txn_zone_delete(struct dns_txn *txn, const uint8_t *origin)
{
        txn->last_zone = NULL;
        txn->last_node = NULL;
        struct dns_lname name;
        char text[1024];
        if (dns_lname_from_wire(&name, origin, DNS_NAME_MAXLEN + 1) < 0)
                return fail(txn, -EINVAL, "invalid zone name");
        struct origin_key key = {name.wire, name.len};
        void *removed = NULL;
        int rc = pmap_del(&txn->ptxn, &txn->catalog->zones, name.hash[0], &key,
                          zone_match, &removed);
        if (rc != 0)
                return fail(txn, rc, "out of memory");
        if (removed == NULL)
                return fail(txn, -ENOENT, "no zone %s",
                            dns_name_to_text(origin, text, sizeof(text)));
        txn->catalog->zone_count--;
        txn->catalog->zones_at_depth[((struct dns_zone *)removed)->origin_labels]--;
        if (((struct dns_zone *)removed)->txn == txn->ptxn.id) {
                zone_free_owned(removed, &txn->ptxn.id);
                return 0;
        }
        return reclaim_push(&txn->retired, zone_free_deep, removed);
}

const struct dns_zone *dns_txn_zone(struct dns_txn *txn, const uint8_t *origin)
{
        const struct dns_zone *last = txn->last_zone;
        if (last != NULL && dns_name_equal(last->origin, origin))
                return last;
        struct dns_lname name;
        if (dns_lname_from_wire(&name, origin, DNS_NAME_MAXLEN + 1) < 0)
                return NULL;
        txn->last_zone = dns_catalog_get(txn->catalog, &name);
        return txn->last_zone;
}

static struct dns_zone *zone_writable(struct dns_txn *txn, const struct dns_zone *zone)
{
        if (zone->txn == txn->ptxn.id)
                return (struct dns_zone *)zone;
        size_t size = sizeof(*zone) + zone->origin_len;
        struct dns_zone *copy = malloc(size);
        if (copy == NULL)
                return NULL;
        memcpy(copy, zone, size);
        copy->txn = txn->ptxn.id;
        txn->last_zone = NULL;
        txn->last_node = NULL;
        struct origin_key key = {copy->origin, copy->origin_len};
        if (pmap_put(&txn->ptxn, &txn->catalog->zones, copy->hash, &key, copy, zone_match,
                     zone_hash, NULL, NULL) != 0 ||
            reclaim_push(&txn->retired, free, (void *)zone) != 0) {
                free(copy);
                return NULL;
        }
        return copy;
}

/* The nodes from the apex to a name, made writable. */
struct path {
        struct dns_node *node[DNS_NAME_MAXLABELS + 1];
        unsigned depth; /* node[depth - 1] is the name's node */
};

/*
 * Makes the path from the apex to `name` writable, creating missing nodes
 * when `create`; returns 0, -ENOENT (missing and !create) or -ENOMEM.
 */
static int path_open(struct dns_txn *txn, struct dns_zone *zone,
                     const struct dns_lname *name, bool create, struct path *path)
{
        uint64_t id = txn->ptxn.id;
        if (zone->apex->txn != id) {
                struct dns_node *apex = node_copy(txn, zone->apex);
                if (apex == NULL || reclaim_push(&txn->retired, free, zone->apex) != 0) {
                        free(apex);
                        return -ENOMEM;
                }
                zone->apex = apex;
        }
        struct dns_node *node = zone->apex;
        path->depth = 0;
        path->node[path->depth++] = node;
        for (unsigned i = dns_zone_apex_label(zone, name); i > 0; i--) {
                const uint8_t *label = &name->wire[name->off[i - 1]];
                struct dns_node *child =
                    pmap_get(&node->children, name->hash[i - 1], label, dns_node_match);
                struct dns_node *next = NULL;
                if (child == NULL) {
                        if (!create)
                                return -ENOENT;
                        next = node_new(id, label);
                } else if (child->txn != id) {
                        next = node_copy(txn, child);
                        if (next != NULL &&
                            reclaim_push(&txn->retired, free, child) != 0) {
                                free(next);
                                return -ENOMEM;
                        }
                } else {
                        node = child;
                        path->node[path->depth++] = node;
                        continue;
                }
                if (next == NULL)
                        return -ENOMEM;
                if (pmap_put(&txn->ptxn, &node->children, name->hash[i - 1], label, next,
                             dns_node_match, dns_node_hash, &name->hash[i], NULL) != 0) {
                        free(next);
                        return -ENOMEM;
                }
                node = next;
                path->node[path->depth++] = node;
        }
        return 0;
}

static bool is_meta_type(uint16_t type)
{
        return type == DNS_TYPE_RRSIG || type == DNS_TYPE_NSEC;
}

/* Checks the zone-data rules for putting `type` at `node`; 0 or -EINVAL. */
static int check_rules(struct dns_txn *txn, const struct dns_zone *zone,
                       const struct dns_node *node, bool at_apex, const uint8_t *owner,
                       uint16_t type, size_t records, bool replacing)
{
        /* The owner's text is made only for a message (this runs per record). */
#define TEXT dns_name_to_text(owner, text, sizeof(text))
        char text[1024];
        const struct dns_rrsets *sets = node ? node->rrsets : NULL;
        if (type == DNS_TYPE_SOA && !at_apex)
                return fail(txn, -EINVAL, "SOA record at %s, which is not the zone apex",
                            TEXT);
        if (type == DNS_TYPE_DNAME)
                return fail(txn, -EINVAL, "DNAME at %s: DNAME is not supported", TEXT);
        if ((type == DNS_TYPE_SOA || type == DNS_TYPE_CNAME) && records > 1)
                return fail(txn, -EINVAL, "more than one %s record at %s",
                            type == DNS_TYPE_SOA ? "SOA" : "CNAME", TEXT);
        if (sets == NULL)
                return 0;
        for (unsigned i = 0; i < sets->count; i++) {
                uint16_t t = sets->set[i].type;
                if (t == type) {
                        if (!replacing &&
                            (type == DNS_TYPE_SOA || type == DNS_TYPE_CNAME))
                                return fail(txn, -EINVAL, "more than one %s record at %s",
                                            type == DNS_TYPE_SOA ? "SOA" : "CNAME", TEXT);
                        continue;
                }
                if (is_meta_type(t) || is_meta_type(type))
                        continue;
                if (type == DNS_TYPE_CNAME || t == DNS_TYPE_CNAME)
                        return fail(txn, -EINVAL, "CNAME and other data at %s", TEXT);
        }
        return 0;
}
#undef TEXT

static uint16_t flags_of(const struct dns_node *node, bool apex)
{
        uint16_t flags = node->flags & DNS_NODE_FRESH;
        if (!apex && dns_rrsets_find(node->rrsets, DNS_TYPE_NS))
                flags |= DNS_NODE_CUT;
        if (dns_rrsets_find(node->rrsets, DNS_TYPE_CNAME))
                flags |= DNS_NODE_CNAME;
        for (unsigned i = 0; node->rrsets && i < node->rrsets->count; i++)
                if (dns_rrset_routed(&node->rrsets->set[i]))
                        flags |= DNS_NODE_POLICY;
        return flags;
}

static int set_rrsets(struct dns_txn *txn, struct dns_node *node, bool apex,
                      struct dns_rrsets *sets)
{
        if (node->rrsets != NULL) {
                if (node->flags & DNS_NODE_FRESH)
                        free((void *)node->rrsets);
                else if (reclaim_push(&txn->retired, free, (void *)node->rrsets) != 0)
                        return -ENOMEM;
        }
        node->rrsets = sets;
        node->flags |= DNS_NODE_FRESH;
        node->flags = flags_of(node, apex);
        return 0;
}

/* Removes empty nodes at the end of the path, bottom up (never the apex). */
static int prune(struct dns_txn *txn, struct path *path, const struct dns_lname *name,
                 unsigned apex_label)
{
        txn->last_node = NULL;
        while (path->depth > 1) {
                struct dns_node *node = path->node[path->depth - 1];
                if (node->rrsets != NULL || !pmap_empty(&node->children))
                        return 0;
                struct dns_node *parent = path->node[path->depth - 2];
                unsigned i = apex_label - (path->depth - 1); /* node's label index */
                if (pmap_del(&txn->ptxn, &parent->children, name->hash[i],
                             &name->wire[name->off[i]], dns_node_match, NULL) != 0)
                        return -ENOMEM;
                free(node); /* path nodes belong to this transaction */
                path->depth--;
        }
        return 0;
}

static int prepare(struct dns_txn *txn, const uint8_t *origin, const uint8_t *owner,
                   const struct dns_zone **zone, struct dns_lname *name)
{
        char text[1024], ztext[1024];
        *zone = dns_txn_zone(txn, origin);
        if (*zone == NULL)
                return fail(txn, -ENOENT, "no zone %s",
                            dns_name_to_text(origin, ztext, sizeof(ztext)));
        if (dns_lname_from_wire(name, owner, DNS_NAME_MAXLEN + 1) < 0)
                return fail(txn, -EINVAL, "invalid owner name");
        if (!dns_name_in_zone(owner, origin))
                return fail(txn, -EINVAL, "%s is outside the zone %s",
                            dns_name_to_text(owner, text, sizeof(text)),
                            dns_name_to_text(origin, ztext, sizeof(ztext)));
        return 0;
}

int dns_txn_rr_add(struct dns_txn *txn, const uint8_t *origin, const uint8_t *owner,
                   uint16_t type, uint32_t set_id, uint32_t ttl, const uint8_t *rdata,
                   uint16_t rdlen)
{
        const struct dns_zone *zone;
        struct dns_lname name;
        int rc = prepare(txn, origin, owner, &zone, &name);
        if (rc != 0)
                return rc;
        bool apex = name.nlabels == zone->origin_labels;
        const char *why = dns_rdata_check(type, rdata, rdlen);
        if (why != NULL)
                return fail(txn, -EINVAL, "%s", why);
        struct dns_zone *wz = zone_writable(txn, zone);
        struct path path;
        struct dns_node *node;
        if (wz == NULL)
                return fail(txn, -ENOMEM, "out of memory");
        if (txn->last_node != NULL && txn->last_node_zone == wz &&
            txn->last_owner_len == name.len &&
            memcmp(txn->last_owner, name.wire, name.len) == 0) {
                /* Records of one name usually come together: skip the walk. */
                node = txn->last_node;
                path.depth = 0;
        } else {
                if (path_open(txn, wz, &name, true, &path) != 0)
                        return fail(txn, -ENOMEM, "out of memory");
                node = path.node[path.depth - 1];
        }
        if (type == DNS_TYPE_SOA || type == DNS_TYPE_CNAME) {
                const struct dns_rrset_info *have =
                    dns_rrsets_get(node->rrsets, type, set_id);
                if (have != NULL) {
                        const uint8_t *rr = dns_rrset_next(node->rrsets, have, NULL);
                        if (dns_rr_rdlen(rr) == rdlen &&
                            memcmp(dns_rr_rdata(rr), rdata, rdlen) == 0)
                                return 0; /* the same record again */
                }
        }
        rc = check_rules(txn, wz, node, apex, owner, type, 1, false);
        if (rc != 0) {
                /* Leave no empty node behind. */
                txn->last_node = NULL;
                if (path.depth > 0)
                        prune(txn, &path, &name, dns_zone_apex_label(wz, &name));
                return rc;
        }
        struct dns_rrsets *sets;
        rc = dns_rrsets_add(node->rrsets, type, set_id, ttl, rdata, rdlen, &sets);
        if (rc < 0)
                return fail(txn, rc,
                            rc == -E2BIG ? "too many records in one set"
                                         : "out of memory");
        if (sets == NULL)
                return 0; /* duplicate record */
        if (set_rrsets(txn, node, apex, sets) != 0) {
                free(sets);
                return fail(txn, -ENOMEM, "out of memory");
        }
        txn->last_node = node;
        txn->last_node_zone = wz;
        txn->last_owner_len = name.len;
        memcpy(txn->last_owner, name.wire, name.len);
        return rc;
}

int dns_txn_rrset_put(struct dns_txn *txn, const uint8_t *origin, const uint8_t *owner,
                      uint16_t type, uint32_t set_id, uint32_t ttl,
                      const uint8_t *const *rdata, const uint16_t *rdlen, size_t count)
{
        return dns_txn_rrset_put_route(txn, origin, owner, type, set_id, ttl, rdata,
                                       rdlen, count, NULL);
}

int dns_txn_rrset_put_route(struct dns_txn *txn, const uint8_t *origin,
                            const uint8_t *owner, uint16_t type, uint32_t set_id,
                            uint32_t ttl, const uint8_t *const *rdata,
                            const uint16_t *rdlen, size_t count,
                            const struct dns_route *route)
{
        bool alias = route != NULL && (route->flags & DNS_ROUTE_ALIAS);
        const struct dns_zone *zone;
        struct dns_lname name;
        int rc = prepare(txn, origin, owner, &zone, &name);
        if (rc != 0)
                return rc;
        bool apex = name.nlabels == zone->origin_labels;
        const struct dns_node *cur = dns_zone_find(zone, &name);
        if (count == 0) {
                if (cur == NULL || dns_rrsets_get(cur->rrsets, type, set_id) == NULL)
                        return 0;
        } else {
                rc = check_rules(txn, zone, cur, apex, owner, type, count, true);
                if (rc != 0)
                        return rc;
                for (size_t i = 0; i < count; i++) {
                        const char *why =
                            !alias ? dns_rdata_check(type, rdata[i], rdlen[i])
                            : count != 1 ||
                                    dns_name_wire_len(rdata[i], rdlen[i]) != rdlen[i]
                                ? "malformed domain name in the record data"
                                : NULL;
                        if (why != NULL)
                                return fail(txn, -EINVAL, "%s", why);
                }
        }
        struct dns_zone *wz = zone_writable(txn, zone);
        struct path path;
        if (wz == NULL || path_open(txn, wz, &name, true, &path) != 0)
                return fail(txn, -ENOMEM, "out of memory");
        struct dns_node *node = path.node[path.depth - 1];
        struct dns_rrsets *sets;
        rc = dns_rrsets_put_route(node->rrsets, type, set_id, ttl, rdata, rdlen, count,
                                  route, &sets);
        if (rc != 0)
                return fail(txn, rc,
                            rc == -E2BIG ? "health check number over the engine's limit"
                                         : "out of memory");
        if (set_rrsets(txn, node, apex, sets) != 0) {
                free(sets);
                return fail(txn, -ENOMEM, "out of memory");
        }
        if (prune(txn, &path, &name, dns_zone_apex_label(zone, &name)) != 0)
                return fail(txn, -ENOMEM, "out of memory");
        return 0;
}

void dns_zone_free(struct dns_zone *zone)
{
        zone_free_deep(zone);
}

int dns_txn_zone_adopt(struct dns_txn *to, struct dns_txn *from, const uint8_t *origin,
                       struct dns_zone **out_replaced)
{
        if (out_replaced != NULL)
                *out_replaced = NULL;
        struct dns_lname name;
        char text[1024];
        if (dns_lname_from_wire(&name, origin, DNS_NAME_MAXLEN + 1) < 0)
                return fail(to, -EINVAL, "invalid zone name");
        struct origin_key key = {name.wire, name.len};
        struct dns_zone *zone =
            pmap_get(&from->catalog->zones, name.hash[0], &key, zone_match);
        if (zone == NULL || zone->txn != from->ptxn.id)
                return fail(to, -ENOENT, "no zone %s built by the transaction",
                            dns_name_to_text(origin, text, sizeof(text)));
        void *replaced = NULL;
        int rc = pmap_put(&to->ptxn, &to->catalog->zones, zone->hash, &key, zone,
                          zone_match, zone_hash, NULL, &replaced);
        if (rc == 0)
                rc = pmap_del(&from->ptxn, &from->catalog->zones, name.hash[0], &key,
                              zone_match, NULL);
        if (rc != 0)
                return fail(to, rc, "out of memory");
        from->catalog->zone_count--;
        from->catalog->zones_at_depth[zone->origin_labels]--;
        from->last_zone = NULL;
        from->last_node = NULL;
        to->last_zone = NULL;
        to->last_node = NULL;
        if (replaced == NULL) {
                to->catalog->zone_count++;
                to->catalog->zones_at_depth[zone->origin_labels]++;
                return 0;
        }
        if (((struct dns_zone *)replaced)->txn == to->ptxn.id)
                zone_free_owned(replaced, &to->ptxn.id);
        else if (out_replaced != NULL)
                *out_replaced = replaced;
        else if (reclaim_push(&to->retired, zone_free_deep, replaced) != 0)
                return fail(to, -ENOMEM, "out of memory");
        return 0;
}

struct dns_zones {
        struct pmap map; /* the published zones a whole-catalog adoption replaced */
};

int dns_txn_zones_adopt(struct dns_txn *to, struct dns_txn *from,
                        struct dns_zones **replaced)
{
        *replaced = NULL;
        struct dns_catalog *t = to->catalog, *f = from->catalog;
        struct dns_zones *old = NULL;
        /* The commit's one push (the old catalog) cannot fail after this:
         * a commit that failed would abort `to`, and the abort frees only
         * what `to` made, so the adopted zones would be lost to both. */
        if (reclaim_reserve(&to->retired, 1) != 0)
                return fail(to, -ENOMEM, "out of memory");
        if (t->zones.root != NULL) {
                old = malloc(sizeof(*old));
                if (old == NULL)
                        return fail(to, -ENOMEM, "out of memory");
                old->map = t->zones;
        }
        t->zones = f->zones;
        t->zone_count = f->zone_count;
        memcpy(t->zones_at_depth, f->zones_at_depth, sizeof(t->zones_at_depth));
        f->zones.root = NULL;
        f->zone_count = 0;
        memset(f->zones_at_depth, 0, sizeof(f->zones_at_depth));
        from->last_zone = NULL;
        from->last_node = NULL;
        to->last_zone = NULL;
        to->last_node = NULL;
        *replaced = old;
        return 0;
}

void dns_zones_free(struct dns_zones *zones)
{
        if (zones == NULL)
                return;
        pmap_free(&zones->map, 0, zone_free_deep_item, NULL);
        free(zones);
}
