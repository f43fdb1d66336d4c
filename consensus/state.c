/*
 * state.c — the replicated state: zones and record sets, their keys and
 * lookups (see state.h); change batches are in batch.c, change records in
 * changes.c, the member table in members.c.
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

#include "consensus/health.h"
#include "consensus/state_priv.h"
#include "consensus/wire.h"

/* ---- results ------------------------------------------------------------ */

void cs_result_init(struct cs_result *res)
{
        memset(res, 0, sizeof(*res));
}

void cs_result_reset(struct cs_result *res)
{
        res->status = 0;
        res->message[0] = 0;
        res->change_id[0] = 0;
        res->duplicate = false;
        res->index = 0;
        res->n_errors = 0;
}

void cs_result_fini(struct cs_result *res)
{
        free(res->errors);
        cs_result_init(res);
}

void result_error(struct cs_result *res, uint32_t action, const char *field,
                  const char *fmt, ...)
{
        if (res->n_errors == res->cap_errors) {
                size_t cap = res->cap_errors ? res->cap_errors * 2 : 16;
                struct cs_error *e = realloc(res->errors, cap * sizeof(*e));
                if (e == NULL)
                        return; /* the status still says the batch failed */
                res->errors = e;
                res->cap_errors = cap;
        }
        struct cs_error *e = &res->errors[res->n_errors++];
        e->action = action;
        snprintf(e->field, sizeof(e->field), "%s", field);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
}

int result_fail(struct cs_result *res, int status, const char *fmt, ...)
{
        res->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(res->message, sizeof(res->message), fmt, ap);
        va_end(ap);
        return status;
}

/* ---- keys and sets ------------------------------------------------------ */

uint64_t rrset_key_hash(const struct rrset_key *key)
{
        uint64_t h = cs_hash_bytes(key->owner, key->owner_len, key->type);
        const char *sid = key->set_id ? key->set_id : "";
        return cs_hash_bytes(sid, strlen(sid), h);
}

bool rrset_match(const void *item, const void *key)
{
        const struct cs_rrset *r = item;
        const struct rrset_key *k = key;
        const char *sid = k->set_id ? k->set_id : "";
        return r->type == k->type && r->owner_len == k->owner_len &&
               memcmp(r->owner, k->owner, k->owner_len) == 0 &&
               strcmp(r->set_id, sid) == 0;
}

uint64_t owner_key_hash(const struct owner_key *key)
{
        return cs_hash_bytes(key->owner, key->len, 0x6f776e6572);
}

bool owner_match(const void *item, const void *key)
{
        const struct cs_owner *o = item;
        const struct owner_key *k = key;
        return o->len == k->len && memcmp(o->owner, k->owner, k->len) == 0;
}

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

uint64_t str_hash(const char *s)
{
        return cs_hash_bytes(s, strlen(s), 0x737472);
}

bool change_id_match(const void *item, const void *key)
{
        return strcmp(((const struct cs_change *)item)->id, key) == 0;
}

int rdata_cmp(const void *a, const void *b)
{
        const struct cs_rdata *x = a, *y = b;
        size_t n = x->len < y->len ? x->len : y->len;
        int c = n ? memcmp(x->data, y->data, n) : 0;
        if (c != 0)
                return c;
        return (x->len > y->len) - (x->len < y->len);
}

static size_t str_size(const char *s)
{
        return s && *s ? strlen(s) + 1 : 0;
}

/* Copies a string into p (when not empty); returns where it went or NULL. */
static const char *put_str(uint8_t **p, const char *s)
{
        size_t n = str_size(s);
        if (n == 0)
                return NULL;
        memcpy(*p, s, n);
        const char *out = (const char *)*p;
        *p += n;
        return out;
}

struct cs_rrset *rrset_new(const struct rrset_key *key, uint32_t ttl,
                           const struct cs_rdata *values, size_t count,
                           const struct cs_routing *routing)
{
        static const struct cs_routing none;
        const struct cs_routing *rt = routing ? routing : &none;
        size_t alias_len = cs_routing_is_alias(rt) ? rt->alias_name_len : 0;
        const char *sid = key->set_id ? key->set_id : "";
        size_t sid_len = strlen(sid);
        size_t bytes = 0;
        for (size_t i = 0; i < count; i++)
                bytes += values[i].len;
        size_t size = sizeof(struct cs_rrset) + count * sizeof(struct cs_rdata) +
                      key->owner_len + sid_len + 1 + bytes + alias_len +
                      str_size(rt->health_check_id) + str_size(rt->alias_zone_id);
        struct cs_rrset *r = malloc(size);
        if (r == NULL)
                return NULL;
        r->values = (struct cs_rdata *)(r + 1);
        uint8_t *p = (uint8_t *)(r->values + count);
        r->owner = p;
        memcpy(p, key->owner, key->owner_len);
        p += key->owner_len;
        r->set_id = (char *)p;
        memcpy(p, sid, sid_len + 1);
        p += sid_len + 1;
        for (size_t i = 0; i < count; i++) {
                if (values[i].len)
                        memcpy(p, values[i].data, values[i].len);
                r->values[i].data = p;
                r->values[i].len = values[i].len;
                p += values[i].len;
        }
        r->routing = *rt;
        r->routing.alias_name = NULL;
        r->routing.alias_name_len = 0;
        if (alias_len > 0) {
                cs_name_lower(p, rt->alias_name, alias_len);
                r->routing.alias_name = p;
                r->routing.alias_name_len = alias_len;
                p += alias_len;
        }
        r->routing.health_check_id = put_str(&p, rt->health_check_id);
        r->routing.alias_zone_id = put_str(&p, rt->alias_zone_id);
        r->owner_len = key->owner_len;
        r->type = key->type;
        r->ttl = ttl;
        r->count = count;
        r->hash = rrset_key_hash(key);
        return r;
}

/* ---- routing ------------------------------------------------------------ */

enum cs_policy cs_routing_policy(const struct cs_routing *r)
{
        if (r->has_weight)
                return CS_POLICY_WEIGHTED;
        if (r->failover != CS_FAILOVER_NONE)
                return CS_POLICY_FAILOVER;
        if (r->multi_value_answer)
                return CS_POLICY_MULTIVALUE;
        if (r->has_geo)
                return CS_POLICY_GEOLOCATION;
        return CS_POLICY_SIMPLE;
}

bool cs_routing_present(const struct cs_routing *r)
{
        return cs_routing_policy(r) != CS_POLICY_SIMPLE || cs_routing_is_alias(r) ||
               (r->health_check_id && *r->health_check_id);
}

static bool name_equal_ci(const uint8_t *a, const uint8_t *b, size_t len)
{
        uint8_t x[CS_NAME_MAXLEN], y[CS_NAME_MAXLEN];
        if (len > CS_NAME_MAXLEN)
                return false;
        cs_name_lower(x, a, len);
        cs_name_lower(y, b, len);
        return memcmp(x, y, len) == 0;
}

static bool policy_type_ok(uint16_t type)
{
        return type != CS_TYPE_SOA && type != CS_TYPE_NS && type != CS_TYPE_DS;
}

static bool code_ok(const char *s, size_t min, size_t max)
{
        size_t n = strnlen(s, max + 1);
        if (n < min || n > max)
                return false;
        for (size_t k = 0; k < n; k++)
                if (!((s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9')))
                        return false;
        return true;
}

/* The form of a geolocation (which codes exist is the API's check: the
 * state machine knows no country list, and must not depend on one). */
static void geo_check(const struct cs_routing *r, uint32_t i, struct cs_result *res)
{
        bool cont = r->geo_continent[0] != '\0', country = r->geo_country[0] != '\0';
        bool sub = r->geo_subdivision[0] != '\0';
        bool any = strcmp(r->geo_country, "*") == 0;
        if (cont == country)
                result_error(res, i, "geo_location",
                             "give one of continent_code and country_code");
        if (cont && !code_ok(r->geo_continent, 2, 2))
                result_error(res, i, "geo_location.continent_code",
                             "not a continent code");
        if (country && !any && !code_ok(r->geo_country, 2, 2))
                result_error(res, i, "geo_location.country_code", "not a country code");
        if (sub && (!country || any))
                result_error(res, i, "geo_location.subdivision_code",
                             "a subdivision needs its country_code");
        if (sub && !code_ok(r->geo_subdivision, 1, 3))
                result_error(res, i, "geo_location.subdivision_code",
                             "not a subdivision code");
}

void routing_check(const struct cs_state *st, const struct cs_rrset_spec *s,
                   const uint8_t *owner, uint32_t i, struct cs_result *res)
{
        const struct cs_routing *r = &s->routing;
        char type[16];
        cs_type_name(s->type, type, sizeof(type));
        unsigned policies = (unsigned)r->has_weight + (r->failover != CS_FAILOVER_NONE) +
                            (unsigned)r->multi_value_answer + (unsigned)r->has_geo;
        if (r->has_geo)
                geo_check(r, i, res);
        bool has_sid = s->set_id != NULL && s->set_id[0] != '\0';
        if (r->has_weight && r->weight > CS_WEIGHT_MAX)
                result_error(res, i, "weight", "weight %u is out of range 0-%d",
                             r->weight, CS_WEIGHT_MAX);
        if (r->failover > CS_FAILOVER_SECONDARY)
                result_error(res, i, "failover", "must be PRIMARY or SECONDARY");
        if (policies > 1)
                result_error(res, i,
                             r->multi_value_answer ? "multi_value_answer"
                             : r->has_geo          ? "geo_location"
                                                   : "failover",
                             "a record set takes one routing policy: weight, failover, "
                             "multi_value_answer or geo_location");
        if (policies > 0 && !has_sid)
                result_error(res, i, "set_id",
                             "a record set with a routing policy needs a set identifier");
        if (!policy_type_ok(s->type) && (policies > 0 || cs_routing_present(r)))
                result_error(res, i, "type",
                             "%s record sets cannot have a routing policy, health check "
                             "or alias target",
                             type);
        if (r->multi_value_answer && s->type == CS_TYPE_CNAME)
                result_error(res, i, "multi_value_answer",
                             "CNAME record sets cannot use multivalue answers");
        if (policies == 0 && r->health_check_id && r->health_check_id[0])
                result_error(
                    res, i, "health_check_id",
                    "a health check needs a routing policy (weight, failover, "
                    "multi_value_answer or geo_location): a simple record set is "
                    "always answered");
        if (!str_ok(r->health_check_id, CS_ID_MAXLEN))
                result_error(res, i, "health_check_id", "longer than %d characters",
                             CS_ID_MAXLEN);
        else if (st != NULL && r->health_check_id && r->health_check_id[0] &&
                 !cs_state_health_check_exists(st, r->health_check_id))
                result_error(res, i, "health_check_id",
                             "health check '%s' does not exist (create it first "
                             "under /v1/healthchecks)",
                             r->health_check_id);
        if (r->alias_name == NULL && r->alias_name_len == 0)
                return;
        int nl = r->alias_name ? cs_name_len(r->alias_name, r->alias_name_len) : -1;
        if (nl < 0 || (size_t)nl != r->alias_name_len) {
                result_error(res, i, "alias_target.dns_name", "not a valid domain name");
                return;
        }
        if (s->count > 0)
                result_error(res, i, "values",
                             "an alias has no records: it answers with its target's");
        if (!str_ok(r->alias_zone_id, CS_ID_MAXLEN))
                result_error(res, i, "alias_target.hosted_zone_id",
                             "longer than %d characters", CS_ID_MAXLEN);
        if (owner != NULL && (size_t)nl == s->owner_len &&
            name_equal_ci(owner, r->alias_name, s->owner_len))
                result_error(res, i, "alias_target.dns_name",
                             "an alias cannot point at its own name and type");
}

static bool str_same(const char *a, const char *b)
{
        return strcmp(a ? a : "", b ? b : "") == 0;
}

bool cs_routing_equal(const struct cs_routing *a, const struct cs_routing *b)
{
        size_t al = cs_routing_is_alias(a) ? a->alias_name_len : 0;
        size_t bl = cs_routing_is_alias(b) ? b->alias_name_len : 0;
        return a->has_weight == b->has_weight &&
               (!a->has_weight || a->weight == b->weight) && a->failover == b->failover &&
               a->multi_value_answer == b->multi_value_answer &&
               a->has_geo == b->has_geo &&
               (!a->has_geo || (strcmp(a->geo_continent, b->geo_continent) == 0 &&
                                strcmp(a->geo_country, b->geo_country) == 0 &&
                                strcmp(a->geo_subdivision, b->geo_subdivision) == 0)) &&
               str_same(a->health_check_id, b->health_check_id) && al == bl &&
               (al == 0 || (name_equal_ci(a->alias_name, b->alias_name, al) &&
                            a->evaluate_target_health == b->evaluate_target_health &&
                            str_same(a->alias_zone_id, b->alias_zone_id)));
}

uint64_t group_key_hash(const struct group_key *key)
{
        return cs_hash_bytes(key->owner, key->len, 0x67726f7570000000ull ^ key->type);
}

bool group_match(const void *item, const void *key)
{
        const struct cs_group *g = item;
        const struct group_key *k = key;
        return g->type == k->type && g->len == k->len &&
               memcmp(g->owner, k->owner, k->len) == 0;
}

struct cs_group *group_new(const uint8_t *owner, uint16_t len, uint16_t type)
{
        struct cs_group *g = calloc(1, sizeof(*g) + len);
        if (g == NULL)
                return NULL;
        memcpy(g->owner, owner, len);
        g->len = len;
        g->type = type;
        struct group_key k = {g->owner, len, type};
        g->hash = group_key_hash(&k);
        return g;
}

void group_count(uint32_t *n_sets, uint32_t n_policy[CS_POLICY_COUNT],
                 uint32_t *n_primary, uint32_t *n_secondary, const struct cs_routing *r,
                 int d)
{
        *n_sets += (uint32_t)d;
        n_policy[cs_routing_policy(r)] += (uint32_t)d;
        if (r->failover == CS_FAILOVER_PRIMARY)
                *n_primary += (uint32_t)d;
        else if (r->failover == CS_FAILOVER_SECONDARY)
                *n_secondary += (uint32_t)d;
}

const struct cs_group *cs_zone_group_get(const struct cs_zone *zone, const uint8_t *owner,
                                         size_t owner_len, uint16_t type)
{
        struct group_key k = {owner, (uint16_t)owner_len, type};
        return cs_hmap_get(&zone->groups, group_key_hash(&k), &k, group_match);
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

bool cs_state_health_check_exists(const struct cs_state *st, const char *id)
{
        uint64_t n;
        return cs_health_id_parse(id, &n) == 0 && cs_state_health_get(st, n) != NULL;
}

/* Adds a set of `r`'s routing to its group, creating the group (room must be
 * reserved).  Used where sets enter without a batch: zone creation, restore. */
static void group_add(struct cs_zone *z, const struct cs_rrset *r, struct cs_group *fresh)
{
        struct group_key k = {r->owner, r->owner_len, r->type};
        uint64_t h = group_key_hash(&k);
        struct cs_group *g = cs_hmap_get(&z->groups, h, &k, group_match);
        if (g == NULL) {
                g = fresh;
                cs_hmap_put(&z->groups, h, &k, g, group_match);
        } else {
                free(fresh);
        }
        group_count(&g->n_sets, g->n_policy, &g->n_primary, &g->n_secondary, &r->routing,
                    1);
}

struct cs_rrset *rrset_with_serial(const struct cs_rrset *soa, uint32_t serial)
{
        struct rrset_key key = {soa->owner, soa->owner_len, soa->type, soa->set_id};
        struct cs_rrset *r = rrset_new(&key, soa->ttl, soa->values, soa->count, NULL);
        if (r != NULL)
                cs_soa_set_serial((uint8_t *)r->values[0].data, r->values[0].len, serial);
        return r;
}

struct cs_owner *owner_new(const uint8_t *owner, uint16_t len)
{
        struct cs_owner *o = calloc(1, sizeof(*o) + len);
        if (o == NULL)
                return NULL;
        memcpy(o->owner, owner, len);
        o->len = len;
        struct owner_key k = {o->owner, len};
        o->hash = owner_key_hash(&k);
        return o;
}

int name_normalize(const uint8_t *name, size_t len, uint8_t out[CS_NAME_MAXLEN])
{
        if (name == NULL || len == 0 || len > CS_NAME_MAXLEN)
                return -EINVAL;
        int n = cs_name_len(name, len);
        if (n < 0 || (size_t)n != len)
                return -EINVAL;
        cs_name_lower(out, name, len);
        return 0;
}

char *str_dup(const char *s)
{
        return strdup(s ? s : "");
}

bool str_ok(const char *s, size_t max)
{
        return s == NULL || strlen(s) <= max;
}

/* ---- the state ---------------------------------------------------------- */

void cs_state_init(struct cs_state *st)
{
        memset(st, 0, sizeof(*st));
        cs_hmap_init(&st->zones);
        cs_hmap_init(&st->zone_ids);
        cs_zorder_init(&st->order);
        cs_hmap_init(&st->change_ids);
        cs_hmap_init(&st->request_ids);
        st->changes_max = CS_CHANGES_MAX;
        st->changes_max_age_ms = CS_CHANGES_MAX_AGE_MS;
}

static void zone_free(struct cs_zone *z)
{
        for (size_t i = 0; i < z->rrsets.cap; i++)
                free(z->rrsets.slots[i].item);
        for (size_t i = 0; i < z->owners.cap; i++)
                free(z->owners.slots[i].item);
        for (size_t i = 0; i < z->groups.cap; i++)
                free(z->groups.slots[i].item);
        cs_hmap_fini(&z->rrsets);
        cs_hmap_fini(&z->owners);
        cs_hmap_fini(&z->groups);
        free(z); /* origin, zone id, comment and link live in the same block */
}

void change_free(struct cs_change *c)
{
        if (c == NULL)
                return;
        free(c->id);
        free(c->request_id);
        free(c->origin);
        free(c->zone_id);
        free(c);
}

void member_clear(struct cs_member *m)
{
        free(m->name);
        free(m->raft_address);
        free(m->dns_address);
        free(m->api_address);
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
        changes_free_evicted(st);
        for (size_t i = 0; i < st->zones.cap; i++)
                if (st->zones.slots[i].item)
                        zone_free(st->zones.slots[i].item);
        cs_hmap_fini(&st->zones);
        cs_hmap_fini(&st->zone_ids);
        for (size_t i = 0; i < st->changes_count; i++)
                change_free(st->changes[(st->changes_head + i) % st->changes_cap]);
        free(st->changes);
        cs_hmap_fini(&st->change_ids);
        cs_hmap_fini(&st->request_ids);
        for (size_t i = 0; i < st->n_members; i++)
                member_clear(&st->members[i]);
        free(st->members);
        struct cs_health_observer hobs = st->health.observer;
        cs_health_table_fini(&st->health);
        struct cs_observer obs = st->observer;
        cs_state_init(st);
        st->observer = obs;
        st->health.observer = hobs;
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
        unsigned pins = dst->pins;
        struct cs_retired *retired = dst->retired, *gone = NULL;
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
                *old = *dst;
                old->pins = 0;
                old->retired = NULL;
                memset(&old->observer, 0, sizeof(old->observer));
                memset(&old->health.observer, 0, sizeof(old->health.observer));
                gone->items[gone->n++] = old;
        }
        *dst = *src;
        dst->observer = obs;
        dst->health.observer = hobs;
        dst->pins = pins;
        dst->retired = pins ? retired : NULL;
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
        return cs_hmap_get(&st->zones, cs_hash_bytes(lower, origin_len, 0), &k,
                           zone_match);
}

const struct cs_zone *cs_state_zone_by_id(const struct cs_state *st, const char *id)
{
        return cs_hmap_get(&st->zone_ids, str_hash(id), id, zone_id_match);
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
        for (size_t i = 0; i < st->zones.cap; i++) {
                if (st->zones.slots[i].item == NULL)
                        continue;
                int rv = fn(st->zones.slots[i].item, arg);
                if (rv != 0)
                        return rv;
        }
        return 0;
}

int cs_zone_foreach_rrset(const struct cs_zone *zone,
                          int (*fn)(const struct cs_rrset *rrset, void *arg), void *arg)
{
        for (size_t i = 0; i < zone->rrsets.cap; i++) {
                if (zone->rrsets.slots[i].item == NULL)
                        continue;
                int rv = fn(zone->rrsets.slots[i].item, arg);
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
        return cs_hmap_get(&zone->rrsets, rrset_key_hash(&k), &k, rrset_match);
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
static struct cs_zone *zone_new(const uint8_t *origin, size_t len, const char *zone_id,
                                const char *comment, uint64_t created_ms, uint32_t serial)
{
        uint64_t hash = cs_hash_bytes(origin, len, 0);
        size_t link = cs_zlink_size(hash);
        size_t id_len = strlen(zone_id ? zone_id : "") + 1;
        size_t comment_len = strlen(comment ? comment : "") + 1;
        struct cs_zone *z = calloc(1, sizeof(*z) + link + len + id_len + comment_len);
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
        if (cs_hmap_reserve(&st->zones, 1) || cs_hmap_reserve(&st->zone_ids, 1))
                return -ENOMEM;
        return 0;
}

static void zone_insert(struct cs_state *st, struct cs_zone *z)
{
        struct name_key k = {z->origin, z->origin_len};
        cs_hmap_put(&st->zones, z->hash, &k, z, zone_match);
        cs_hmap_put(&st->zone_ids, str_hash(z->zone_id), z->zone_id, z, zone_id_match);
        cs_zorder_insert(&st->order, z->order);
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
        if (cs_hmap_get(&st->zones, cs_hash_bytes(lower, len, 0), &k, zone_match))
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
            cs_hmap_reserve(&z->rrsets, 2) || cs_hmap_reserve(&z->owners, 1) ||
            cs_hmap_reserve(&z->groups, 2) || zone_insert_reserve(st)) {
                result_fail(res, -ENOMEM, "out of memory creating the zone");
                goto out;
        }
        status = change_prepare(st, ctx, CS_CHANGE_ZONE_CREATE, z, &change, res);
        if (status != 0)
                goto out;

        cs_hmap_put(&z->rrsets, soa->hash, &ks, soa, rrset_match);
        cs_hmap_put(&z->rrsets, ns->hash, &kn, ns, rrset_match);
        group_add(z, soa, g_soa);
        group_add(z, ns, g_ns);
        g_soa = g_ns = NULL;
        apex->n_sets = 2;
        struct owner_key ko = {apex->owner, apex->len};
        cs_hmap_put(&z->owners, apex->hash, &ko, apex, owner_match);
        soa = ns = NULL;
        apex = NULL;
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
        uint64_t hash = rrset_key_hash(&k);
        if (cs_hmap_get(&z->rrsets, hash, &k, rrset_match)) {
                snprintf(err, errlen, "duplicate record set");
                return -EINVAL;
        }
        struct owner_key ko = {lower, (uint16_t)s->owner_len};
        uint64_t oh = owner_key_hash(&ko);
        struct cs_owner *o = cs_hmap_get(&z->owners, oh, &ko, owner_match);
        struct cs_owner *fresh = NULL;
        if (o == NULL && (fresh = owner_new(lower, (uint16_t)s->owner_len)) == NULL)
                goto nomem;
        struct cs_rrset *r = rrset_new(&k, s->ttl, s->values, s->count, &s->routing);
        struct cs_group *g = group_new(lower, (uint16_t)s->owner_len, s->type);
        if (r == NULL || g == NULL || cs_hmap_reserve(&z->rrsets, 1) ||
            cs_hmap_reserve(&z->owners, 1) || cs_hmap_reserve(&z->groups, 1)) {
                free(r);
                free(g);
                free(fresh);
                goto nomem;
        }
        group_add(z, r, g);
        if (fresh) {
                cs_hmap_put(&z->owners, oh, &ko, fresh, owner_match);
                o = fresh;
        }
        o->n_sets++;
        if (s->type == CS_TYPE_CNAME)
                o->n_cname++;
        cs_hmap_put(&z->rrsets, hash, &k, r, rrset_match);
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
        cs_hmap_del(&st->zones, z->hash, &k, zone_match);
        cs_hmap_del(&st->zone_ids, str_hash(z->zone_id), z->zone_id, zone_id_match);
        cs_zorder_remove(&st->order, z->order);
        change_commit(st, ctx, change, res);
        if (st->observer.zone_deleted)
                st->observer.zone_deleted(st->observer.ctx, z->origin, z->origin_len);
        gone->items[gone->n++] = z;
        retire(st, gone);
        return 0;
}
