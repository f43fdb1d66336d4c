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
};

/*
 * Parses {"name","type","set_identifier","ttl","records"} of a set in the
 * zone `origin`.  `field` is the JSON path of obj; errors go to errs under
 * `index`.  require_values: records must be non-empty.  Returns 0 when no
 * error was added.
 */
int api_rrset_parse(json_t *obj, const uint8_t *origin, const char *field, long index,
                    int require_values, struct api_rrset *out, struct api_errors *errs);
void api_rrset_free(struct api_rrset *set);
static inline struct cs_rrset_spec api_rrset_spec(const struct api_rrset *s)
{
        return (struct cs_rrset_spec){s->owner, s->owner_len, s->type, s->set_id,
                                      s->ttl,   s->values,    s->count};
}

json_t *api_rrset_json(const struct cs_rrset *rrset);
/* "example.com." for a wire name. */
json_t *api_name_json(const uint8_t *wire);
/* RFC 3339 UTC time from milliseconds since the epoch. */
json_t *api_time_json(uint64_t ms);

#endif
