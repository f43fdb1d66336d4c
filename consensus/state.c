/*
 * state.c — the replicated state: zones, their record sets and lookups (see
 * state.h); record-set objects are in records.c, results in result.c,
 * change batches in batch.c (their checks in batch_validate.c), change
 * records in changes.c, the member table in members.c, health checks in
 * health.c.
 *
 * Every operation follows the same order: look up the request id (a retried
 * command returns the change it already made), validate, allocate everything
 * the change needs (hash-table room included), then commit without any
 * failure path and tell the observer.  A failed operation leaves the state
 * exactly as it was.
 */
#include "consensus/state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/zalloc.h"
#include "consensus/cidr.h"
#include "consensus/health.h"
#include "consensus/latency.h"
#include "consensus/segments.h"
#include "consensus/state_priv.h"
#include "consensus/wire.h"

/* ---- zone keys and lookups -------------------------------------------- */

struct name_key {
        const uint8_t *name;
        uint16_t len;
};

static bool zone_match(const void *item, const void *key)
{
        const struct cs_zone *z = item;
        const struct name_key *k = key;
        return z->origin_len == k->len && memcmp(z->origin, k->name, k->len) == 0;
}

static bool zone_id_match(const void *item, const void *key)
{
        return strcmp(((const struct cs_zone *)item)->zone_id, key) == 0;
}

const struct cs_group *cs_zone_group_get(const struct cs_zone *zone, const uint8_t *owner,
                                         size_t owner_len, uint16_t type)
{
        struct group_key k = {owner, (uint16_t)owner_len, type};
        return pmap_flat_get(&zone->groups, group_key_hash(&k), &k, group_match);
}

const struct cs_zone *cs_state_zone_find(const struct cs_state *st, const uint8_t *name,
                                         size_t name_len)
{
        uint8_t lower[CS_NAME_MAXLEN];
        if (name_normalize(name, name_len, lower) != 0)
                return NULL;
        for (size_t off = 0; off < name_len; off += 1u + lower[off]) {
                const struct cs_zone *z =
                    cs_state_zone_get(st, lower + off, name_len - off);
                if (z != NULL)
                        return z;
        }
        return NULL;
}

/* Adds a set of `r`'s routing to its group, creating the group (room must be
 * reserved).  Used where sets enter without a batch: zone creation, restore. */
static void group_add(struct cs_zone *z, const struct cs_rrset *r, struct cs_group *fresh)
{
        struct group_key k = {r->owner, r->owner_len, r->type};
        uint64_t h = fresh->hash; /* group_new hashed the same key */
        struct cs_group *g = pmap_flat_get(&z->groups, h, &k, group_match);
        if (g == NULL) {
                g = fresh;
                pmap_flat_put(&z->groups, h, &k, g, group_match);
        } else {
                free(fresh);
        }
        group_count(&g->n_sets, g->n_policy, &g->n_primary, &g->n_secondary, r->routing,
                    1);
}

/* ---- the state ---------------------------------------------------------- */

void cs_state_init(struct cs_state *st)
{
        memset(st, 0, sizeof(*st));
        pmap_flat_init(&st->zones);
        pmap_flat_init(&st->zone_ids);
        cs_zorder_init(&st->order);
        pmap_flat_init(&st->change_ids);
        pmap_flat_init(&st->request_ids);
        st->changes_max = CS_CHANGES_MAX;
        st->changes_max_age_ms = CS_CHANGES_MAX_AGE_MS;
        cs_latency_table_init(&st->latency);
}

void cs_zone_free(struct cs_zone *z)
{
        zone_free(z);
}

void zone_free(struct cs_zone *z)
{
        struct pmap_flat *const tables[] = {&z->rrsets, &z->owners, &z->groups};
        for (size_t t = 0; t < 3; t++) {
                void *item;
                for (size_t i = 0; (item = pmap_flat_next(tables[t], &i)) != NULL;)
                        free(item);
        }
        pmap_flat_fini(&z->rrsets);
        pmap_flat_fini(&z->owners);
        pmap_flat_fini(&z->groups);
        free(z); /* origin, zone id, comment and link live in the same block */
}

/* ---- retired objects --------------------------------------------------- */

struct cs_retired *retired_new(enum retired_kind kind, size_t cap)
{
        struct cs_retired *r = malloc(sizeof(*r) + (cap ? cap : 1) * sizeof(void *));
        if (r != NULL) {
                r->next = NULL;
                r->kind = kind;
                r->n = 0;
        }
        return r;
}

static void retired_free(struct cs_retired *r)
{
        while (r != NULL) {
                struct cs_retired *next = r->next;
                for (size_t i = 0; i < r->n; i++) {
                        if (r->kind == RETIRED_RRSETS) {
                                free(r->items[i]);
                        } else if (r->kind == RETIRED_ZONE) {
                                zone_free(r->items[i]);
                        } else {
                                cs_state_fini(r->items[i]);
                                free(r->items[i]);
                        }
                }
                free(r);
                r = next;
        }
}

void retire(struct cs_state *st, struct cs_retired *r)
{
        if (st->pins == 0 || r->n == 0) {
                retired_free(r);
                return;
        }
        r->next = st->retired;
        st->retired = r;
}

void cs_state_pin(struct cs_state *st)
{
        st->pins++;
}

void cs_state_unpin(struct cs_state *st)
{
        if (st->pins > 0 && --st->pins == 0) {
                retired_free(st->retired);
                st->retired = NULL;
                changes_free_evicted(st);
        }
}

void cs_state_fini(struct cs_state *st)
{
        retired_free(st->retired); /* the end: nothing reads the state any more */
        stagings_free(st);
        cs_segments_free(st->segs);
        struct cs_zone *z;
        for (size_t i = 0; (z = pmap_flat_next(&st->zones, &i)) != NULL;)
                zone_free(z);
        pmap_flat_fini(&st->zones);
        pmap_flat_fini(&st->zone_ids);
        changes_fini(st);
        pmap_flat_fini(&st->change_ids);
        pmap_flat_fini(&st->request_ids);
        for (size_t i = 0; i < st->n_members; i++)
                member_clear(&st->members[i]);
        free(st->members);
        struct cs_health_observer hobs = st->health.observer;
        cs_health_table_fini(&st->health);
        struct cs_latency_observer lobs = st->latency.observer;
        cs_latency_table_fini(&st->latency);
        struct cs_cidr_observer cobs = st->cidr.observer;
        cs_cidr_table_fini(&st->cidr);
        struct cs_observer obs = st->observer;
        cs_state_init(st);
        st->observer = obs;
        st->health.observer = hobs;
        st->latency.observer = lobs;
        st->cidr.observer = cobs;
}

void cs_state_set_observer(struct cs_state *st, const struct cs_observer *obs)
{
        if (obs)
                st->observer = *obs;
        else
                memset(&st->observer, 0, sizeof(st->observer));
}

int cs_state_move(struct cs_state *dst, struct cs_state *src)
{
        struct cs_observer obs = dst->observer;
        struct cs_health_observer hobs = dst->health.observer;
        struct cs_latency_observer lobs = dst->latency.observer;
        struct cs_cidr_observer cobs = dst->cidr.observer;
        unsigned pins = dst->pins;
        struct cs_retired *retired = dst->retired, *gone = NULL;
        struct cs_frozen *cow = dst->cow;
        uint32_t cow_gen = dst->cow_gen;
        uint64_t evicted = dst->changes_evicted;
        if (pins == 0) {
                cs_state_fini(dst); /* nothing is retired without pins */
        } else {
                /* A frozen view reads the old contents: retire them whole. */
                struct cs_state *old = malloc(sizeof(*old));
                gone = retired_new(RETIRED_STATE, 1);
                if (gone == NULL || old == NULL) {
                        free(gone);
                        free(old);
                        return -ENOMEM;
                }
                /* A view being filled takes what it still lacks first,
                 * and hands no segments to the new contents. */
                cs_frozen_complete(dst);
                cs_frozen_replaced(dst);
                *old = *dst;
                old->pins = 0;
                old->retired = NULL;
                old->cow = NULL;
                memset(&old->observer, 0, sizeof(old->observer));
                memset(&old->health.observer, 0, sizeof(old->health.observer));
                memset(&old->latency.observer, 0, sizeof(old->latency.observer));
                memset(&old->cidr.observer, 0, sizeof(old->cidr.observer));
                gone->items[gone->n++] = old;
        }
        *dst = *src;
        dst->observer = obs;
        dst->health.observer = hobs;
        dst->latency.observer = lobs;
        dst->cidr.observer = cobs;
        dst->pins = pins;
        dst->retired = pins ? retired : NULL;
        dst->cow = cow;
        dst->cow_gen = cow_gen;
        dst->changes_evicted = evicted;
        if (gone != NULL)
                retire(dst, gone);
        cs_state_init(src);
        return 0;
}

/* ---- zones -------------------------------------------------------------- */

const struct cs_zone *cs_state_zone_get(const struct cs_state *st, const uint8_t *origin,
                                        size_t origin_len)
{
        uint8_t lower[CS_NAME_MAXLEN];
        if (name_normalize(origin, origin_len, lower) != 0)
                return NULL;
        struct name_key k = {lower, (uint16_t)origin_len};
        return pmap_flat_get(&st->zones, hash_bytes(lower, origin_len, 0), &k,
                             zone_match);
}

const struct cs_zone *cs_state_zone_by_id(const struct cs_state *st, const char *id)
{
        return pmap_flat_get(&st->zone_ids, str_hash(id), id, zone_id_match);
}

const struct cs_zone *cs_state_zone_after(const struct cs_state *st, const char *marker)
{
        const struct cs_zlink *link = cs_zorder_after(&st->order, marker);
        return link ? link->zone : NULL;
}

const struct cs_zone *cs_state_zone_next(const struct cs_zone *zone)
{
        const struct cs_zlink *next = zone->order->next[0];
        return next ? next->zone : NULL;
}

size_t cs_state_zone_count(const struct cs_state *st)
{
        return st->zones.count;
}

int cs_state_foreach_zone(const struct cs_state *st,
                          int (*fn)(const struct cs_zone *zone, void *arg), void *arg)
{
        const struct cs_zone *z;
        for (size_t i = 0; (z = pmap_flat_next(&st->zones, &i)) != NULL;) {
                int rv = fn(z, arg);
                if (rv != 0)
                        return rv;
        }
        return 0;
}

int cs_zone_foreach_rrset(const struct cs_zone *zone,
                          int (*fn)(const struct cs_rrset *rrset, void *arg), void *arg)
{
        const struct cs_rrset *r;
        for (size_t i = 0; (r = pmap_flat_next(&zone->rrsets, &i)) != NULL;) {
                int rv = fn(r, arg);
                if (rv != 0)
                        return rv;
        }
        return 0;
}

const struct cs_rrset *cs_zone_rrset_get(const struct cs_zone *zone, const uint8_t *owner,
                                         size_t owner_len, uint16_t type,
                                         const char *set_id)
{
        uint8_t lower[CS_NAME_MAXLEN];
        if (name_normalize(owner, owner_len, lower) != 0)
                return NULL;
        struct rrset_key k = {lower, (uint16_t)owner_len, type, set_id};
        return pmap_flat_get(&zone->rrsets, rrset_key_hash(&k), &k, rrset_match);
}

/* Checks one set of a zone being created; errors go to res. */
static void check_apex_set(const struct cs_rrset_spec *s, uint16_t type,
                           const char *field, struct cs_result *res,
                           struct cs_rdata **sorted)
{
        *sorted = NULL;
        if (s->ttl > CS_TTL_MAX)
                result_error(res, CS_ERROR_BATCH, field, "TTL %u is over %u", s->ttl,
                             CS_TTL_MAX);
        if (s->count == 0 || (type == CS_TYPE_SOA && s->count != 1)) {
                result_error(res, CS_ERROR_BATCH, field, "%s",
                             type == CS_TYPE_SOA ? "the SOA set needs exactly one value"
                                                 : "the NS set needs at least one value");
                return;
        }
        for (size_t i = 0; i < s->count; i++) {
                const char *why =
                    cs_rdata_check(type, s->values[i].data, s->values[i].len);
                if (why) {
                        result_error(res, CS_ERROR_BATCH, field, "value %zu: %s", i, why);
                        return;
                }
        }
        struct cs_rdata *v = malloc(s->count * sizeof(*v));
        if (v == NULL) {
                result_error(res, CS_ERROR_BATCH, field, "out of memory");
                return;
        }
        memcpy(v, s->values, s->count * sizeof(*v));
        qsort(v, s->count, sizeof(*v), rdata_cmp);
        for (size_t i = 1; i < s->count; i++)
                if (rdata_cmp(&v[i - 1], &v[i]) == 0) {
                        result_error(res, CS_ERROR_BATCH, field, "duplicate value");
                        free(v);
                        return;
                }
        *sorted = v;
}

/* One allocation per zone: the struct, its link in the name order, then
 * origin, zone id and comment (a million zones: tens of MB of malloc
 * headers and rounding saved). */
struct cs_zone *zone_new(const uint8_t *origin, size_t len, const char *zone_id,
                         const char *comment, uint64_t created_ms, uint32_t serial)
{
        uint64_t hash = hash_bytes(origin, len, 0);
        size_t link = cs_zlink_size(hash);
        size_t id_len = strlen(zone_id ? zone_id : "") + 1;
        size_t comment_len = strlen(comment ? comment : "") + 1;
        struct cs_zone *z = zalloc(1, sizeof(*z) + link + len + id_len + comment_len);
        if (z == NULL)
                return NULL;
        z->order = (struct cs_zlink *)(z + 1);
        z->origin = (uint8_t *)z->order + link;
        z->zone_id = (char *)z->origin + len;
        z->comment = z->zone_id + id_len;
        memcpy(z->origin, origin, len);
        memcpy(z->zone_id, zone_id ? zone_id : "", id_len);
        memcpy(z->comment, comment ? comment : "", comment_len);
        z->origin_len = (uint16_t)len;
        z->hash = hash;
        z->created_ms = created_ms;
        z->serial = serial;
        cs_zlink_init(z->order, z);
        return z;
}

static int zone_insert_reserve(struct cs_state *st)
{
        if (pmap_flat_reserve(&st->zones, 1) || pmap_flat_reserve(&st->zone_ids, 1))
                return -ENOMEM;
        return 0;
}

static void zone_insert(struct cs_state *st, struct cs_zone *z)
{
        struct name_key k = {z->origin, z->origin_len};
        pmap_flat_put(&st->zones, z->hash, &k, z, zone_match);
        pmap_flat_put(&st->zone_ids, str_hash(z->zone_id), z->zone_id, z, zone_id_match);
        st->rrset_total += z->rrsets.count; /* a restored zone's sets: dec_zone */
        cs_frozen_zone_link(st, z);         /* the name order, and not in a view */
}

static const char *zone_spec_problem(const struct cs_state *st, const uint8_t *lower,
                                     size_t len, const char *zone_id, const char *comment,
                                     int *status)
{
        struct name_key k = {lower, (uint16_t)len};
        *status = -EINVAL;
        if (zone_id == NULL || zone_id[0] == 0 || strlen(zone_id) > CS_ID_MAXLEN)
                return "zone id must have 1 to 64 characters";
        if (!str_ok(comment, CS_COMMENT_MAXLEN))
                return "comment longer than 256 characters";
        *status = -EEXIST;
        if (pmap_flat_get(&st->zones, hash_bytes(lower, len, 0), &k, zone_match))
                return "a zone with this origin exists";
        if (cs_state_zone_by_id(st, zone_id))
                return "a zone with this id exists";
        return NULL;
}

int cs_state_zone_create(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_zone_spec *spec, struct cs_result *res)
{
        uint8_t origin[CS_NAME_MAXLEN];
        char text[1024];
        struct cs_rdata *soa_v = NULL, *ns_v = NULL;
        struct cs_zone *z = NULL;
        struct cs_change *change = NULL;
        struct cs_rrset *soa = NULL, *ns = NULL;
        struct cs_owner *apex = NULL;
        struct cs_group *g_soa = NULL, *g_ns = NULL;
        uint32_t serial = 0;
        int status;

        cs_result_reset(res);
        res->index = ctx->index;
        st->last_index = ctx->index;
        if (change_seen(st, ctx, res))
                return 0;
        if (name_normalize(spec->origin, spec->origin_len, origin) != 0)
                return result_fail(res, -EINVAL, "origin is not a valid wire name");
        const char *why = zone_spec_problem(st, origin, spec->origin_len, spec->zone_id,
                                            spec->comment, &status);
        if (why)
                return result_fail(
                    res, status, "zone %s: %s",
                    cs_name_text(origin, spec->origin_len, text, sizeof(text)), why);
        check_apex_set(&spec->soa, CS_TYPE_SOA, "soa", res, &soa_v);
        check_apex_set(&spec->ns, CS_TYPE_NS, "ns", res, &ns_v);
        if (res->n_errors > 0) {
                status = result_fail(res, -EINVAL, "the zone's SOA or NS set is invalid");
                goto out;
        }
        cs_soa_serial(soa_v[0].data, soa_v[0].len, &serial);

        struct rrset_key ks = {origin, (uint16_t)spec->origin_len, CS_TYPE_SOA, ""};
        struct rrset_key kn = {origin, (uint16_t)spec->origin_len, CS_TYPE_NS, ""};
        status = -ENOMEM;
        z = zone_new(origin, spec->origin_len, spec->zone_id, spec->comment,
                     ctx->timestamp_ms, serial);
        soa = rrset_new(&ks, spec->soa.ttl, soa_v, 1, NULL);
        ns = rrset_new(&kn, spec->ns.ttl, ns_v, spec->ns.count, NULL);
        apex = owner_new(origin, (uint16_t)spec->origin_len);
        g_soa = group_new(origin, (uint16_t)spec->origin_len, CS_TYPE_SOA);
        g_ns = group_new(origin, (uint16_t)spec->origin_len, CS_TYPE_NS);
        if (!z || !soa || !ns || !apex || !g_soa || !g_ns ||
            pmap_flat_reserve(&z->rrsets, 2) || pmap_flat_reserve(&z->owners, 1) ||
            pmap_flat_reserve(&z->groups, 2) || zone_insert_reserve(st)) {
                result_fail(res, -ENOMEM, "out of memory creating the zone");
                goto out;
        }
        pmap_flat_put(&z->rrsets, soa->hash, &ks, soa, rrset_match);
        pmap_flat_put(&z->rrsets, ns->hash, &kn, ns, rrset_match);
        group_add(z, soa, g_soa);
        group_add(z, ns, g_ns);
        g_soa = g_ns = NULL;
        apex->n_sets = 2;
        struct owner_key ko = {apex->owner, apex->len};
        pmap_flat_put(&z->owners, apex->hash, &ko, apex, owner_match);
        soa = ns = NULL;
        apex = NULL;
        /* Its records, as one batch on the zone nobody sees yet: a failing
         * one leaves nothing behind (z is freed below). */
        if (spec->n_actions > 0) {
                struct cs_batch b = {origin, spec->origin_len, NULL, spec->actions,
                                     spec->n_actions};
                status = staged_batch_apply(st, z, &b, res, NULL, NULL);
                if (status != 0)
                        goto out;
        }
        status = change_prepare(st, ctx, CS_CHANGE_ZONE_CREATE, z, &change, res);
        if (status != 0)
                goto out;
        zone_insert(st, z);
        change_commit(st, ctx, change, res);
        if (st->observer.zone_created)
                st->observer.zone_created(st->observer.ctx, z);
        z = NULL;
        status = 0;
out:
        free(soa);
        free(ns);
        free(apex);
        free(g_soa);
        free(g_ns);
        if (z)
                zone_free(z);
        free(soa_v);
        free(ns_v);
        return status;
}

int cs_state_restore_zone(struct cs_state *st, const uint8_t *origin, size_t origin_len,
                          const char *zone_id, const char *comment, uint64_t created_ms,
                          uint32_t serial, struct cs_zone **out, char *err, size_t errlen)
{
        uint8_t lower[CS_NAME_MAXLEN];
        int status;
        if (name_normalize(origin, origin_len, lower) != 0) {
                snprintf(err, errlen, "zone origin is not a valid wire name");
                return -EINVAL;
        }
        const char *why =
            zone_spec_problem(st, lower, origin_len, zone_id, comment, &status);
        if (why) {
                snprintf(err, errlen, "zone %s: %s", zone_id ? zone_id : "?", why);
                return status;
        }
        struct cs_zone *z =
            zone_new(lower, origin_len, zone_id, comment, created_ms, serial);
        if (z == NULL || zone_insert_reserve(st) != 0) {
                if (z)
                        zone_free(z);
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        zone_insert(st, z);
        *out = z;
        return 0;
}

int cs_state_restore_reserve(struct cs_state *st, size_t zones)
{
        if (pmap_flat_reserve(&st->zones, zones) ||
            pmap_flat_reserve(&st->zone_ids, zones))
                return -ENOMEM;
        return 0;
}

int cs_zone_restore_reserve(struct cs_zone *z, size_t sets)
{
        /* Groups: one per owner and type, so at most one per set.  Owners
         * are fewer (the apex has several sets) and grow as they come. */
        if (pmap_flat_reserve(&z->rrsets, sets) || pmap_flat_reserve(&z->groups, sets))
                return -ENOMEM;
        return 0;
}

int cs_state_restore_rrset(struct cs_zone *z, const struct cs_rrset_spec *s, char *err,
                           size_t errlen)
{
        uint8_t lower[CS_NAME_MAXLEN];
        const char *why = NULL;
        if (name_normalize(s->owner, s->owner_len, lower) != 0 ||
            !cs_name_in_zone(lower, s->owner_len, z->origin, z->origin_len))
                why = "record set owner is not a name in the zone";
        else if (cs_type_check(s->type) ||
                 (s->count == 0) != cs_routing_is_alias(&s->routing) ||
                 s->ttl > CS_TTL_MAX || !str_ok(s->set_id, CS_SET_ID_MAXLEN))
                why = "record set type, TTL, set id or value count is invalid";
        if (why == NULL) {
                struct cs_result rr;
                cs_result_init(&rr);
                routing_check(NULL, s, lower, 0, &rr);
                if (rr.n_errors > 0) {
                        snprintf(err, errlen, "record set routing: %s: %s",
                                 rr.errors[0].field, rr.errors[0].message);
                        cs_result_fini(&rr);
                        return -EINVAL;
                }
                cs_result_fini(&rr);
        }
        for (size_t i = 0; why == NULL && i < s->count; i++) {
                why = cs_rdata_check(s->type, s->values[i].data, s->values[i].len);
                if (i > 0 && why == NULL &&
                    rdata_cmp(&s->values[i - 1], &s->values[i]) >= 0)
                        why = "record set values are not in canonical order";
        }
        if (why) {
                snprintf(err, errlen, "%s", why);
                return -EINVAL;
        }
        struct rrset_key k = {lower, (uint16_t)s->owner_len, s->type, s->set_id};
        /* The set first: its hash (rrset_new's) serves the duplicate check. */
        struct cs_rrset *r = rrset_new(&k, s->ttl, s->values, s->count, &s->routing);
        if (r == NULL)
                goto nomem;
        uint64_t hash = r->hash;
        if (pmap_flat_get(&z->rrsets, hash, &k, rrset_match)) {
                free(r);
                snprintf(err, errlen, "duplicate record set");
                return -EINVAL;
        }
        struct owner_key ko = {lower, (uint16_t)s->owner_len};
        uint64_t oh = owner_key_hash(&ko);
        struct cs_owner *o = pmap_flat_get(&z->owners, oh, &ko, owner_match);
        struct cs_owner *fresh = NULL;
        struct cs_group *g = group_new(lower, (uint16_t)s->owner_len, s->type);
        if ((o == NULL && (fresh = owner_new(lower, (uint16_t)s->owner_len)) == NULL) ||
            g == NULL || pmap_flat_reserve(&z->rrsets, 1) ||
            pmap_flat_reserve(&z->owners, 1) || pmap_flat_reserve(&z->groups, 1)) {
                free(r);
                free(g);
                free(fresh);
                goto nomem;
        }
        group_add(z, r, g);
        if (fresh) {
                pmap_flat_put(&z->owners, oh, &ko, fresh, owner_match);
                o = fresh;
        }
        o->n_sets++;
        if (s->type == CS_TYPE_CNAME)
                o->n_cname++;
        pmap_flat_put(&z->rrsets, hash, &k, r, rrset_match);
        if (s->type == CS_TYPE_SOA)
                cs_soa_serial(r->values[0].data, r->values[0].len, &z->serial);
        return 0;
nomem:
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
}

int cs_state_zone_delete(struct cs_state *st, const struct cs_ctx *ctx,
                         const uint8_t *origin, size_t origin_len, bool force,
                         struct cs_result *res)
{
        char text[1024];
        struct cs_change *change;
        cs_result_reset(res);
        res->index = ctx->index;
        st->last_index = ctx->index;
        if (change_seen(st, ctx, res))
                return 0;
        struct cs_zone *z = (struct cs_zone *)cs_state_zone_get(st, origin, origin_len);
        if (z == NULL)
                return result_fail(res, -ENOENT, "no such zone");
        cs_name_text(z->origin, z->origin_len, text, sizeof(text));
        if (staging_holds(st, z))
                return result_fail(res, -EBUSY,
                                   "an import into zone %s is being committed; retry "
                                   "once it is done",
                                   text);
        if (!force && z->rrsets.count > 2)
                return result_fail(res, -ENOTEMPTY,
                                   "zone %s holds %zu record set%s besides the apex SOA "
                                   "and NS; delete them first, or delete the zone with "
                                   "force=true (quorumctl zone delete --force)",
                                   text, z->rrsets.count - 2,
                                   z->rrsets.count - 2 == 1 ? "" : "s");
        struct cs_retired *gone = retired_new(RETIRED_ZONE, 1);
        if (gone == NULL)
                return result_fail(res, -ENOMEM, "out of memory");
        int rv = change_prepare(st, ctx, CS_CHANGE_ZONE_DELETE, z, &change, res);
        if (rv != 0) {
                free(gone);
                return rv;
        }
        struct name_key k = {z->origin, z->origin_len};
        cs_frozen_zone_touch(st, z); /* a view being filled takes it first */
        pmap_flat_del(&st->zones, z->hash, &k, zone_match);
        pmap_flat_del(&st->zone_ids, str_hash(z->zone_id), z->zone_id, zone_id_match);
        st->rrset_total -= z->rrsets.count;
        cs_frozen_zone_unlink(st, z);
        change_commit(st, ctx, change, res);
        if (st->observer.zone_deleted)
                st->observer.zone_deleted(st->observer.ctx, z->origin, z->origin_len);
        gone->items[gone->n++] = z;
        retire(st, gone);
        return 0;
}
