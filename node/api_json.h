/*
 * api_json.h — record sets between JSON (presentation format) and the
 * replicated state's wire form.
 *
 * Parsing never stops at the first problem: every error is appended to an
 * error list with the JSON path of the field ("changes[3].rrset.ttl"), so a
 * change batch reports all its problems in one answer.
 */
#ifndef NODE_API_JSON_H
#define NODE_API_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/state.h"

struct api_errors {
        json_t *list; /* [{"index":…,"field":…,"message":…}] */
};

void api_errors_init(struct api_errors *e);
void api_errors_add(struct api_errors *e, long index, const char *field, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
static inline size_t api_errors_count(const struct api_errors *e)
{
        return json_array_size(e->list);
}

/* A record set parsed from JSON; owns its buffers. */
struct api_rrset {
        uint8_t owner[256];
        uint16_t owner_len;
        uint16_t type;
        char set_id[CS_SET_ID_MAXLEN + 1];
        uint32_t ttl;
        struct cs_rdata *values;
        size_t count;
        /* Routing fields; the strings and the name are in the buffers below
         * (api_rrset_spec points the spec at them). */
        struct cs_routing routing;
        char health_check_id[CS_ID_MAXLEN + 1];
        uint8_t alias_name[256];
        char alias_zone_id[CS_ID_MAXLEN + 1];
        bool sid_without_policy; /* see api_rrset_check_write() */
};

/* The rule for sets being written (CREATE, UPSERT, import): a set
 * identifier needs a routing policy.  Adds the error and returns false when
 * broken.  (DELETE may name an older set that has one without a policy.) */
bool api_rrset_check_write(const struct api_rrset *set, const char *field, long index,
                           struct api_errors *errs);

/*
 * Parses {"name","type","set_identifier","ttl","records"} of a set in the
 * zone `origin`, with the routing fields "weight", "failover",
 * "multi_value_answer", "health_check_id" and "alias_target" {"dns_name",
 * "evaluate_target_health", "hosted_zone_id"} (Route 53's names).  `field`
 * is the JSON path of obj; errors go to errs under `index`.
 * require_values: records must be non-empty (an alias has none).  Returns 0
 * when no error was added.
 */
int api_rrset_parse(json_t *obj, const uint8_t *origin, const char *field, long index,
                    int require_values, struct api_rrset *out, struct api_errors *errs);
void api_rrset_free(struct api_rrset *set);
static inline struct cs_rrset_spec api_rrset_spec(const struct api_rrset *s)
{
        struct cs_rrset_spec spec = {s->owner, s->owner_len, s->type,  s->set_id,
                                     s->ttl,   s->values,    s->count, s->routing};
        spec.routing.health_check_id = s->health_check_id[0] ? s->health_check_id : NULL;
        spec.routing.alias_zone_id = s->alias_zone_id[0] ? s->alias_zone_id : NULL;
        spec.routing.alias_name = s->routing.alias_name_len ? s->alias_name : NULL;
        return spec;
}

/* Adds the routing fields of a set (only those it has) to obj. */
void api_routing_json(json_t *obj, const struct cs_routing *routing);

json_t *api_rrset_json(const struct cs_rrset *rrset);
/* "example.com." for a wire name. */
json_t *api_name_json(const uint8_t *wire);
/* RFC 3339 UTC time from milliseconds since the epoch. */
json_t *api_time_json(uint64_t ms);

#endif
