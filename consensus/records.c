/*
 * records.c — the record-set objects of the replicated state (see
 * state_priv.h): their hash keys (by owner, type and set id; by owner; by
 * owner and type for routing groups), construction with everything owned
 * in one allocation, the canonical order of RDATA, and the checks of a
 * set's routing fields that need no other set.  state.c and batch.c build
 * zones from them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/zalloc.h"
#include "consensus/cidr.h"
#include "consensus/state.h"
#include "consensus/state_priv.h"
#include "consensus/wire.h"

uint64_t rrset_key_hash(const struct rrset_key *key)
{
        uint64_t h = hash_bytes(key->owner, key->owner_len, key->type);
        const char *sid = key->set_id ? key->set_id : "";
        return hash_bytes(sid, strlen(sid), h);
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
        return hash_bytes(key->owner, key->len, 0x6f776e6572);
}

bool owner_match(const void *item, const void *key)
{
        const struct cs_owner *o = item;
        const struct owner_key *k = key;
        return o->len == k->len && memcmp(o->owner, k->owner, k->len) == 0;
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

const struct cs_routing cs_routing_none;

struct cs_rrset *rrset_new(const struct rrset_key *key, uint32_t ttl,
                           const struct cs_rdata *values, size_t count,
                           const struct cs_routing *routing)
{
        const struct cs_routing *rt = routing ? routing : &cs_routing_none;
        /* Only a set with routing fields carries a block of them (after its
         * values, in the same allocation); the others share the zero one. */
        bool routed = cs_routing_present(rt);
        size_t alias_len = routed && cs_routing_is_alias(rt) ? rt->alias_name_len : 0;
        const char *sid = key->set_id ? key->set_id : "";
        size_t sid_len = strlen(sid);
        size_t bytes = 0;
        for (size_t i = 0; i < count; i++)
                bytes += values[i].len;
        size_t size = sizeof(struct cs_rrset) + count * sizeof(struct cs_rdata) +
                      key->owner_len + sid_len + 1 + bytes;
        if (routed)
                size += sizeof(struct cs_routing) + alias_len +
                        str_size(rt->health_check_id) + str_size(rt->alias_zone_id);
        struct cs_rrset *r = malloc(size);
        if (r == NULL)
                return NULL;
        r->values = (struct cs_rdata *)(r + 1);
        struct cs_routing *own = NULL;
        uint8_t *p = (uint8_t *)(r->values + count);
        if (routed) {
                own = (struct cs_routing *)p;
                p = (uint8_t *)(own + 1);
        }
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
        r->routing = &cs_routing_none;
        if (routed) {
                *own = *rt;
                own->alias_name = NULL;
                own->alias_name_len = 0;
                if (alias_len > 0) {
                        cs_name_lower(p, rt->alias_name, alias_len);
                        own->alias_name = p;
                        own->alias_name_len = alias_len;
                        p += alias_len;
                }
                own->health_check_id = put_str(&p, rt->health_check_id);
                own->alias_zone_id = put_str(&p, rt->alias_zone_id);
                r->routing = own;
        }
        r->owner_len = key->owner_len;
        r->type = key->type;
        r->ttl = ttl;
        r->count = count;
        r->hash = rrset_key_hash(key);
        return r;
}

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
        if (r->has_prox)
                return CS_POLICY_GEOPROXIMITY;
        if (r->has_cidr)
                return CS_POLICY_CIDR;
        if (r->has_latency)
                return CS_POLICY_LATENCY;
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

/* An IP-based set names a collection that exists and one of its
 * locations, or "*" (st NULL: only the form is checked). */
static void cidr_check(const struct cs_state *st, const struct cs_routing *r, uint32_t i,
                       struct cs_result *res)
{
        bool any = strcmp(r->cidr_location, "*") == 0;
        if (!cs_cidr_name_ok(r->cidr_collection, CS_CIDR_ID_MAXLEN)) {
                result_error(res, i, "cidr_routing_config.collection_id",
                             "not a collection id");
                return;
        }
        if (!any && !cs_cidr_name_ok(r->cidr_location, CS_CIDR_LOCATION_MAXLEN)) {
                result_error(res, i, "cidr_routing_config.location_name",
                             "1 to %d of A-Z a-z 0-9 _ -, or \"*\" (the default)",
                             CS_CIDR_LOCATION_MAXLEN);
                return;
        }
        if (st == NULL)
                return;
        const struct cs_cidr_collection *c = cs_state_cidr_get(st, r->cidr_collection);
        if (c == NULL)
                result_error(res, i, "cidr_routing_config.collection_id",
                             "CIDR collection '%s' does not exist (create it first under "
                             "/v1/cidrcollections)",
                             r->cidr_collection);
        else if (!any && cs_cidr_location_get(c, r->cidr_location) == NULL)
                result_error(res, i, "cidr_routing_config.location_name",
                             "collection '%s' has no location '%s' (add its CIDR blocks "
                             "first)",
                             c->name, r->cidr_location);
}

/* The ranges of a geoproximity location. */
static void prox_check(const struct cs_routing *r, uint32_t i, struct cs_result *res)
{
        if (r->prox_latitude < -CS_PROX_LAT_MAX || r->prox_latitude > CS_PROX_LAT_MAX)
                result_error(res, i, "geoproximity_location.coordinates.latitude",
                             "out of range -90..90");
        if (r->prox_longitude < -CS_PROX_LON_MAX || r->prox_longitude > CS_PROX_LON_MAX)
                result_error(res, i, "geoproximity_location.coordinates.longitude",
                             "out of range -180..180");
        size_t rl = strnlen(r->prox_region, sizeof(r->prox_region));
        if (rl == sizeof(r->prox_region))
                result_error(res, i, "geoproximity_location.region", "not terminated");
        for (size_t k = 0; k < rl; k++)
                if (!((r->prox_region[k] >= 'a' && r->prox_region[k] <= 'z') ||
                      (r->prox_region[k] >= '0' && r->prox_region[k] <= '9') ||
                      r->prox_region[k] == '-' || r->prox_region[k] == '_')) {
                        result_error(res, i, "geoproximity_location.region",
                                     "a region name is a-z 0-9 - _");
                        break;
                }
        if (r->prox_bias < -CS_PROX_BIAS_MAX || r->prox_bias > CS_PROX_BIAS_MAX)
                result_error(res, i, "geoproximity_location.bias", "out of range -%d..%d",
                             CS_PROX_BIAS_MAX, CS_PROX_BIAS_MAX);
}

/* A latency set's region and its coordinates. */
static void latency_check(const struct cs_routing *r, uint32_t i, struct cs_result *res)
{
        size_t rl = strnlen(r->latency_region, sizeof(r->latency_region));
        bool ok = rl > 0 && rl < sizeof(r->latency_region);
        for (size_t k = 0; ok && k < rl; k++)
                ok = (r->latency_region[k] >= 'a' && r->latency_region[k] <= 'z') ||
                     (r->latency_region[k] >= '0' && r->latency_region[k] <= '9') ||
                     r->latency_region[k] == '-' || r->latency_region[k] == '_';
        if (!ok)
                result_error(res, i, "region", "a region name is 1 to %d of a-z 0-9 - _",
                             CS_PROX_REGION_MAXLEN);
        if (r->latency_latitude < -CS_PROX_LAT_MAX ||
            r->latency_latitude > CS_PROX_LAT_MAX ||
            r->latency_longitude < -CS_PROX_LON_MAX ||
            r->latency_longitude > CS_PROX_LON_MAX)
                result_error(res, i, "region",
                             "the region's coordinates are out of range");
}

void routing_check(const struct cs_state *st, const struct cs_rrset_spec *s,
                   const uint8_t *owner, uint32_t i, struct cs_result *res)
{
        const struct cs_routing *r = &s->routing;
        unsigned policies = (unsigned)r->has_weight + (r->failover != CS_FAILOVER_NONE) +
                            (unsigned)r->multi_value_answer + (unsigned)r->has_geo +
                            (unsigned)r->has_prox + (unsigned)r->has_latency +
                            (unsigned)r->has_cidr;
        if (r->has_latency)
                latency_check(r, i, res);
        if (r->has_cidr)
                cidr_check(st, r, i, res);
        if (r->has_geo)
                geo_check(r, i, res);
        if (r->has_prox)
                prox_check(r, i, res);
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
                             : r->has_prox         ? "geoproximity_location"
                             : r->has_latency      ? "region"
                             : r->has_cidr         ? "cidr_routing_config"
                                                   : "failover",
                             "a record set takes one routing policy: weight, failover, "
                             "multi_value_answer, geo_location, geoproximity_location, "
                             "region or cidr_routing_config");
        if (policies > 0 && !has_sid)
                result_error(res, i, "set_id",
                             "a record set with a routing policy needs a set identifier");
        if (!policy_type_ok(s->type) && (policies > 0 || cs_routing_present(r))) {
                char type[16]; /* only here: a snprintf per set cost restores 4 % */
                cs_type_name(s->type, type, sizeof(type));
                result_error(res, i, "type",
                             "%s record sets cannot have a routing policy, health check "
                             "or alias target",
                             type);
        }
        if (r->multi_value_answer && s->type == CS_TYPE_CNAME)
                result_error(res, i, "multi_value_answer",
                             "CNAME record sets cannot use multivalue answers");
        if (policies == 0 && r->health_check_id && r->health_check_id[0])
                result_error(res, i, "health_check_id",
                             "a health check needs a routing policy (weight, failover, "
                             "multi_value_answer, geo_location, geoproximity_location or "
                             "region or cidr_routing_config): a simple record set is "
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
               a->has_prox == b->has_prox &&
               (!a->has_prox ||
                (a->prox_latitude == b->prox_latitude &&
                 a->prox_longitude == b->prox_longitude && a->prox_bias == b->prox_bias &&
                 strcmp(a->prox_region, b->prox_region) == 0)) &&
               a->has_latency == b->has_latency &&
               (!a->has_latency || (strcmp(a->latency_region, b->latency_region) == 0 &&
                                    a->latency_latitude == b->latency_latitude &&
                                    a->latency_longitude == b->latency_longitude)) &&
               a->has_cidr == b->has_cidr &&
               (!a->has_cidr || (strcmp(a->cidr_collection, b->cidr_collection) == 0 &&
                                 strcmp(a->cidr_location, b->cidr_location) == 0)) &&
               str_same(a->health_check_id, b->health_check_id) && al == bl &&
               (al == 0 || (name_equal_ci(a->alias_name, b->alias_name, al) &&
                            a->evaluate_target_health == b->evaluate_target_health &&
                            str_same(a->alias_zone_id, b->alias_zone_id)));
}

uint64_t group_key_hash(const struct group_key *key)
{
        return hash_bytes(key->owner, key->len, 0x67726f7570000000ull ^ key->type);
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
        struct cs_group *g = zalloc(1, sizeof(*g) + len);
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
        struct cs_owner *o = zalloc(1, sizeof(*o) + len);
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
