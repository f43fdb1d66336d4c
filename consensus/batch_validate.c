/*
 * batch_validate.c — a change batch's checks: every error of every action.
 *
 * Validation walks the actions in order against an overlay (batch_validate.h):
 * a small hash table of the record sets the batch touches ("pends", each
 * starting from the set in the zone, if any) and one of the owner names it
 * touches (set counters for the CNAME rule).  An action sees the effect of
 * the earlier actions of its batch, so DELETE then CREATE of one set
 * replaces it.  Every error is recorded (action index, field, message); the
 * CNAME rule is checked per owner once all actions are seen.  The cost is
 * proportional to the batch: nothing iterates over the zone.
 *
 * Routing policies (state.h, struct cs_routing) add the rules of a group —
 * the sets of one (owner, type): one policy for all, at most one PRIMARY and
 * one SECONDARY — checked on a third overlay of group counters, and the
 * rules of aliases (target in a hosted zone, with a set of that type),
 * checked once every action is seen, since a batch may create the target.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/zalloc.h"
#include "consensus/batch_validate.h"
#include "consensus/state.h"
#include "consensus/state_priv.h"
#include "consensus/wire.h"

static bool pend_match(const void *item, const void *key)
{
        const struct pend *p = item;
        const struct rrset_key *k = key;
        return p->key.type == k->type && p->key.owner_len == k->owner_len &&
               memcmp(p->owner, k->owner, k->owner_len) == 0 &&
               strcmp(p->key.set_id, k->set_id) == 0;
}

static bool pown_match(const void *item, const void *key)
{
        const struct pown *o = item;
        const struct owner_key *k = key;
        return o->len == k->len && memcmp(o->owner, k->owner, k->len) == 0;
}

static bool pgroup_match(const void *item, const void *key)
{
        const struct pgroup *g = item;
        const struct group_key *k = key;
        return g->type == k->type && g->len == k->len &&
               memcmp(g->owner, k->owner, k->len) == 0;
}

int batch_work_init(struct batch_work *w, const struct cs_state *st,
                    const struct cs_zone *zone, const struct cs_batch *b)
{
        size_t total = 0;
        memset(w, 0, sizeof(*w));
        w->st = st;
        w->zone = zone;
        for (size_t i = 0; i < b->n_actions; i++)
                total += b->actions[i].rrset.count;
        /* One pend and one owner per action, plus the apex SOA. */
        w->pa = zalloc(b->n_actions + 1, sizeof(*w->pa));
        w->oa = zalloc(b->n_actions + 1, sizeof(*w->oa));
        w->sorted = malloc((total + 1) * sizeof(*w->sorted));
        w->slice = malloc((b->n_actions + 1) * sizeof(*w->slice));
        w->ga = zalloc(b->n_actions + 1, sizeof(*w->ga));
        w->ok = zalloc(b->n_actions + 1, sizeof(*w->ok));
        if (!w->pa || !w->oa || !w->sorted || !w->slice || !w->ga || !w->ok ||
            pmap_flat_reserve(&w->pends, b->n_actions + 1) ||
            pmap_flat_reserve(&w->powns, b->n_actions + 1) ||
            pmap_flat_reserve(&w->pgroups, b->n_actions + 1))
                return -ENOMEM;
        return 0;
}

void batch_work_fini(struct batch_work *w, bool committed)
{
        for (size_t i = 0; i < w->n_pend; i++)
                if (!committed || !w->pa[i].exists)
                        free(w->pa[i].built);
        for (size_t i = 0; i < w->n_pown; i++)
                if (!committed)
                        free(w->oa[i].fresh);
        for (size_t i = 0; i < w->n_group; i++)
                if (!committed)
                        free(w->ga[i].fresh);
        pmap_flat_fini(&w->pends);
        pmap_flat_fini(&w->powns);
        pmap_flat_fini(&w->pgroups);
        free(w->ga);
        free(w->ok);
        free(w->pa);
        free(w->oa);
        free(w->sorted);
        free(w->slice);
}

struct pend *batch_pend_get(struct batch_work *w, const struct rrset_key *key)
{
        uint64_t h = rrset_key_hash(key);
        struct pend *p = pmap_flat_get(&w->pends, h, key, pend_match);
        if (p)
                return p;
        p = &w->pa[w->n_pend++];
        p->hash = h;
        memcpy(p->owner, key->owner, key->owner_len);
        p->key = *key;
        p->key.owner = p->owner;
        p->orig = pmap_flat_get(&w->zone->rrsets, h, key, rrset_match);
        p->exists = p->orig != NULL;
        pmap_flat_put(&w->pends, h, key, p, pend_match);
        return p;
}

static struct pown *pown_get(struct batch_work *w, const uint8_t *owner, uint16_t len)
{
        struct owner_key k = {owner, len};
        uint64_t h = owner_key_hash(&k);
        struct pown *o = pmap_flat_get(&w->powns, h, &k, pown_match);
        if (o)
                return o;
        o = &w->oa[w->n_pown++];
        o->hash = h;
        memcpy(o->owner, owner, len);
        o->len = len;
        o->orig = pmap_flat_get(&w->zone->owners, h, &k, owner_match);
        o->n_sets = o->orig ? o->orig->n_sets : 0;
        o->n_cname = o->orig ? o->orig->n_cname : 0;
        k.owner = o->owner;
        pmap_flat_put(&w->powns, h, &k, o, pown_match);
        return o;
}

static struct pgroup *pgroup_get(struct batch_work *w, const uint8_t *owner, uint16_t len,
                                 uint16_t type)
{
        struct group_key k = {owner, len, type};
        uint64_t h = group_key_hash(&k);
        struct pgroup *g = pmap_flat_get(&w->pgroups, h, &k, pgroup_match);
        if (g)
                return g;
        g = &w->ga[w->n_group++];
        g->hash = h;
        memcpy(g->owner, owner, len);
        g->len = len;
        g->type = type;
        g->orig = pmap_flat_get(&w->zone->groups, h, &k, group_match);
        if (g->orig) {
                g->n_sets = g->orig->n_sets;
                memcpy(g->n_policy, g->orig->n_policy, sizeof(g->n_policy));
                g->n_primary = g->orig->n_primary;
                g->n_secondary = g->orig->n_secondary;
        }
        k.owner = g->owner;
        pmap_flat_put(&w->pgroups, h, &k, g, pgroup_match);
        return g;
}

static const struct cs_routing *pend_routing(const struct pend *p)
{
        return p->from_action ? &p->routing : p->orig->routing;
}

/* Moves p's set in or out of its group's counters (before p->exists moves). */
static void count_group(struct batch_work *w, struct pend *p, const struct cs_routing *r,
                        int d, uint32_t i)
{
        struct pgroup *g = pgroup_get(w, p->owner, p->key.owner_len, p->key.type);
        group_count(&g->n_sets, g->n_policy, &g->n_primary, &g->n_secondary, r, d);
        g->last_action = i;
}

static const char *rrset_text(const struct rrset_key *k, char *buf, size_t size)
{
        char name[1024], type[16];
        cs_name_text(k->owner, k->owner_len, name, sizeof(name));
        cs_type_name(k->type, type, sizeof(type));
        if (k->set_id[0])
                snprintf(buf, size, "%s %s (set %s)", name, type, k->set_id);
        else
                snprintf(buf, size, "%s %s", name, type);
        return buf;
}

static bool is_apex(const struct cs_zone *z, const uint8_t *owner, size_t len)
{
        return len == z->origin_len && memcmp(owner, z->origin, len) == 0;
}

/* The checks one action passes or fails on its own.  Fills lower and the
 * sorted slice of values; returns whether the action is well formed. */
static bool check_action(struct batch_work *w, uint32_t i, const struct cs_action *a,
                         uint8_t *lower, struct cs_rdata *sorted, struct cs_result *res)
{
        const struct cs_zone *z = w->zone;
        const struct cs_rrset_spec *s = &a->rrset;
        size_t before = res->n_errors;
        char name[1024], origin[1024], type[16];
        bool name_ok = false;

        if (a->kind != CS_ACTION_CREATE && a->kind != CS_ACTION_DELETE &&
            a->kind != CS_ACTION_UPSERT)
                result_error(res, i, "action", "unknown action %d", (int)a->kind);
        if (name_normalize(s->owner, s->owner_len, lower) != 0) {
                result_error(res, i, "owner", "not a valid domain name in wire form");
        } else if (!cs_name_in_zone(lower, s->owner_len, z->origin, z->origin_len)) {
                result_error(
                    res, i, "owner", "%s is not in zone %s",
                    cs_name_text(lower, s->owner_len, name, sizeof(name)),
                    cs_name_text(z->origin, z->origin_len, origin, sizeof(origin)));
        } else {
                name_ok = true;
        }
        const char *why = cs_type_check(s->type);
        cs_type_name(s->type, type, sizeof(type));
        if (why)
                result_error(res, i, "type", "%s", why);
        if (s->type == CS_TYPE_SOA && name_ok && !is_apex(z, lower, s->owner_len))
                result_error(res, i, "type", "SOA is only allowed at the zone apex");
        size_t sid_len = s->set_id ? strlen(s->set_id) : 0;
        if (sid_len > CS_SET_ID_MAXLEN)
                result_error(res, i, "set_id", "longer than %d characters",
                             CS_SET_ID_MAXLEN);
        if (sid_len > 0 &&
            (s->type == CS_TYPE_SOA || s->type == CS_TYPE_NS || s->type == CS_TYPE_DS))
                result_error(res, i, "set_id",
                             "%s record sets cannot have a set identifier", type);
        if (s->ttl > CS_TTL_MAX)
                result_error(res, i, "ttl", "TTL %u is over %u", s->ttl, CS_TTL_MAX);
        bool alias = s->routing.alias_name != NULL || s->routing.alias_name_len > 0;
        if (s->count == 0 && !alias)
                result_error(res, i, "values", "at least one value is needed");
        else if (s->count > 1 && (s->type == CS_TYPE_CNAME || s->type == CS_TYPE_SOA))
                result_error(res, i, "values", "a %s record set has exactly one value",
                             type);
        routing_check(w->st, s, name_ok ? lower : NULL, i, res);
        if (why == NULL)
                for (size_t v = 0; v < s->count; v++) {
                        const char *bad =
                            cs_rdata_check(s->type, s->values[v].data, s->values[v].len);
                        if (bad)
                                result_error(res, i, "values", "value %zu: %s", v, bad);
                }
        if (s->count > 0) {
                memcpy(sorted, s->values, s->count * sizeof(*sorted));
                qsort(sorted, s->count, sizeof(*sorted), rdata_cmp);
        }
        for (size_t v = 1; v < s->count; v++)
                if (rdata_cmp(&sorted[v - 1], &sorted[v]) == 0) {
                        result_error(res, i, "values", "duplicate value");
                        break;
                }
        return res->n_errors == before;
}

static bool same_values(const struct cs_rdata *a, size_t na, const struct cs_rdata *b,
                        size_t nb)
{
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (rdata_cmp(&a[i], &b[i]) != 0)
                        return false;
        return true;
}

static void count_owner(struct batch_work *w, struct pend *p, bool exists_after,
                        uint32_t i)
{
        if (p->exists == exists_after)
                return;
        struct pown *o = pown_get(w, p->owner, p->key.owner_len);
        long d = exists_after ? 1 : -1;
        o->n_sets += d;
        if (p->key.type == CS_TYPE_CNAME)
                o->n_cname += d;
        o->last_action = i;
        p->exists = exists_after;
}

/* The effect of one well-formed action on the overlay. */
static void apply_action(struct batch_work *w, uint32_t i, const struct cs_action *a,
                         const uint8_t *lower, const struct cs_rdata *sorted,
                         struct cs_result *res)
{
        const struct cs_rrset_spec *s = &a->rrset;
        struct rrset_key key = {lower, (uint16_t)s->owner_len, s->type,
                                s->set_id ? s->set_id : ""};
        struct pend *p = batch_pend_get(w, &key);
        char text[1200];

        switch (a->kind) {
        case CS_ACTION_CREATE:
                if (p->exists) {
                        result_error(res, i, "rrset", "%s already exists",
                                     rrset_text(&key, text, sizeof(text)));
                        return;
                }
                break;
        case CS_ACTION_DELETE: {
                if (s->type == CS_TYPE_SOA) {
                        result_error(res, i, "type",
                                     "the SOA record set cannot be deleted");
                        return;
                }
                if (s->type == CS_TYPE_NS && is_apex(w->zone, lower, s->owner_len)) {
                        result_error(
                            res, i, "type",
                            "the NS record set at the zone apex cannot be deleted");
                        return;
                }
                if (!p->exists) {
                        result_error(res, i, "rrset", "%s does not exist",
                                     rrset_text(&key, text, sizeof(text)));
                        return;
                }
                uint32_t ttl = p->from_action ? p->ttl : p->orig->ttl;
                const struct cs_rdata *vals =
                    p->from_action ? p->values : p->orig->values;
                size_t n = p->from_action ? p->count : p->orig->count;
                bool ok = true;
                if (ttl != s->ttl) {
                        result_error(res, i, "ttl",
                                     "TTL %u does not match the TTL %u of %s", s->ttl,
                                     ttl, rrset_text(&key, text, sizeof(text)));
                        ok = false;
                }
                if (!same_values(sorted, s->count, vals, n)) {
                        result_error(res, i, "values", "values do not match those of %s",
                                     rrset_text(&key, text, sizeof(text)));
                        ok = false;
                }
                if (!cs_routing_equal(&s->routing, pend_routing(p))) {
                        result_error(res, i, "rrset",
                                     "routing fields do not match those of %s",
                                     rrset_text(&key, text, sizeof(text)));
                        ok = false;
                }
                if (ok) {
                        count_group(w, p, pend_routing(p), -1, i);
                        count_owner(w, p, false, i);
                        p->from_action = true;
                        p->count = 0;
                        p->values = NULL;
                        p->put_here = false;
                }
                return;
        }
        default:
                break;
        }
        if (p->put_here && key.set_id[0] != '\0') {
                result_error(
                    res, i, "set_id",
                    "duplicate set identifier: %s is written twice in this batch",
                    rrset_text(&key, text, sizeof(text)));
                return;
        }
        if (p->exists)
                count_group(w, p, pend_routing(p), -1, i);
        count_group(w, p, &s->routing, 1, i);
        count_owner(w, p, true, i);
        p->from_action = true;
        p->put_here = true;
        p->ttl = s->ttl;
        p->values = sorted;
        p->count = s->count;
        p->routing = s->routing;
}

static const char *const policy_names[] = {"simple",     "weighted",       "failover",
                                           "multivalue", "geolocation",    "geoproximity",
                                           "latency",    "IP-based (CIDR)"};
static const char *const policy_fields[] = {"set_id",       "weight",
                                            "failover",     "multi_value_answer",
                                            "geo_location", "geoproximity_location",
                                            "region",       "cidr_routing_config"};

/* The rules of each group the batch touched. */
static void check_groups(struct batch_work *w, struct cs_result *res)
{
        char name[1024], type[16];
        for (size_t i = 0; i < w->n_group; i++) {
                const struct pgroup *g = &w->ga[i];
                if (g->n_sets == 0)
                        continue;
                cs_name_text(g->owner, g->len, name, sizeof(name));
                cs_type_name(g->type, type, sizeof(type));
                int first = -1, second = -1;
                for (int k = 0; k < CS_POLICY_COUNT; k++)
                        if (g->n_policy[k] > 0) {
                                if (first < 0)
                                        first = k;
                                else if (second < 0)
                                        second = k;
                        }
                if (second >= 0)
                        result_error(res, g->last_action, policy_fields[second],
                                     "%s %s mixes %s and %s record sets: the sets of one "
                                     "name and type must all use the same routing policy",
                                     name, type, policy_names[first],
                                     policy_names[second]);
                if (g->n_primary > 1 || g->n_secondary > 1)
                        result_error(
                            res, g->last_action, "failover",
                            "%s %s has %u PRIMARY and %u SECONDARY record sets: a "
                            "failover pair has one of each",
                            name, type, g->n_primary, g->n_secondary);
        }
}

/* An alias must point at a set of its type in a zone hosted here. */
static void check_alias(struct batch_work *w, uint32_t i, const struct cs_rrset_spec *s,
                        struct cs_result *res)
{
        const struct cs_routing *r = &s->routing;
        char name[1024], type[16];
        uint8_t target[CS_NAME_MAXLEN];
        if (name_normalize(r->alias_name, r->alias_name_len, target) != 0)
                return; /* reported by routing_check */
        cs_name_text(target, r->alias_name_len, name, sizeof(name));
        cs_type_name(s->type, type, sizeof(type));
        const struct cs_zone *z = cs_state_zone_find(w->st, target, r->alias_name_len);
        /* The batch's own zone when it holds the target and the state has
         * no closer zone for it: the batch may apply to a staging's copy of
         * the zone, or to a zone being created with its records, which the
         * state does not hold yet (then z is NULL or an ancestor). */
        if (z != w->zone &&
            cs_name_in_zone(target, r->alias_name_len, w->zone->origin,
                            w->zone->origin_len) &&
            (z == NULL || z->origin_len <= w->zone->origin_len))
                z = w->zone;
        if (z == NULL) {
                result_error(res, i, "alias_target.dns_name",
                             "%s is not in a zone hosted by this cluster", name);
                return;
        }
        if (r->alias_zone_id && r->alias_zone_id[0] &&
            strcmp(r->alias_zone_id, z->zone_id) != 0) {
                result_error(res, i, "alias_target.hosted_zone_id",
                             "%s is in zone %s, not %s", name, z->zone_id,
                             r->alias_zone_id);
                return;
        }
        uint32_t n = 0;
        if (z == w->zone) {
                struct group_key k = {target, (uint16_t)r->alias_name_len, s->type};
                const struct pgroup *g =
                    pmap_flat_get(&w->pgroups, group_key_hash(&k), &k, pgroup_match);
                const struct cs_group *og =
                    g ? NULL : cs_zone_group_get(z, target, r->alias_name_len, s->type);
                n = g ? g->n_sets : og ? og->n_sets : 0;
        } else {
                const struct cs_group *og =
                    cs_zone_group_get(z, target, r->alias_name_len, s->type);
                n = og ? og->n_sets : 0;
        }
        if (n == 0)
                result_error(res, i, "alias_target.dns_name",
                             "no %s record set at %s to alias", type, name);
}

/* Errors come per action in order, then CNAME errors: a stable sort. */
static void sort_errors(struct cs_result *res, size_t first_late)
{
        if (first_late >= res->n_errors)
                return;
        /* Insertion of the few late errors keeps the order of the others. */
        for (size_t i = first_late; i < res->n_errors; i++) {
                struct cs_error e = res->errors[i];
                size_t j = i;
                while (j > 0 && res->errors[j - 1].action > e.action) {
                        res->errors[j] = res->errors[j - 1];
                        j--;
                }
                res->errors[j] = e;
        }
}

int batch_validate(struct batch_work *w, const struct cs_batch *b, struct cs_result *res)
{
        char name[1024];
        size_t off = 0;
        for (size_t i = 0; i < b->n_actions; i++) {
                const struct cs_action *a = &b->actions[i];
                uint8_t lower[CS_NAME_MAXLEN];
                w->slice[i] = off;
                struct cs_rdata *sorted = w->sorted + off;
                off += a->rrset.count;
                w->ok[i] = check_action(w, (uint32_t)i, a, lower, sorted, res);
                if (w->ok[i])
                        apply_action(w, (uint32_t)i, a, lower, sorted, res);
        }
        size_t late = res->n_errors;
        for (size_t i = 0; i < b->n_actions; i++) {
                const struct cs_action *a = &b->actions[i];
                if (w->ok[i] && a->kind != CS_ACTION_DELETE &&
                    cs_routing_is_alias(&a->rrset.routing))
                        check_alias(w, (uint32_t)i, &a->rrset, res);
        }
        check_groups(w, res);
        for (size_t i = 0; i < w->n_pown; i++) {
                const struct pown *o = &w->oa[i];
                if (o->n_cname > 0 && o->n_cname != o->n_sets)
                        result_error(res, o->last_action, "type",
                                     "CNAME cannot coexist with other record types at %s",
                                     cs_name_text(o->owner, o->len, name, sizeof(name)));
        }
        sort_errors(res, late);
        if (res->n_errors > 0)
                return result_fail(res, -EINVAL, "change batch rejected: %zu error%s",
                                   res->n_errors, res->n_errors == 1 ? "" : "s");
        return 0;
}
