/*
 * api_body.h — the write requests' JSON bodies, validated into the replicated
 * state's terms: a zone creation (POST /v1/zones) and a change batch
 * (POST /v1/zones/{zone}/changes).
 *
 * Pure functions of the body: no request, no state, no I/O, so the handlers,
 * the unit tests (tests/unit/test_node_api_body.c) and the fuzz target
 * (tests/fuzz/fuzz_api_body.c) run the same code.  Every problem goes to the
 * error list with the JSON path of its field; parsing goes on after an error
 * so one answer lists them all.
 */
#ifndef NODE_API_BODY_H
#define NODE_API_BODY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/state.h"
#include "node/api_json.h"

#define API_ZONE_NS_MAX 16

/* A zone creation parsed from a JSON object (POST /v1/zones, and each item
 * of POST /v1/zones/bulk); self-contained (every pointer inside points into
 * it).  zone_id is filled by node_api_zone_spec_command (api_zones.c). */
struct node_api_zone_spec {
        uint8_t origin[256];
        size_t origin_len;
        char comment[CS_COMMENT_MAXLEN + 1];
        uint32_t ttl;
        uint8_t ns[API_ZONE_NS_MAX][256];
        struct cs_rdata ns_values[API_ZONE_NS_MAX];
        size_t ns_count;
        uint8_t soa_rdata[600];
        struct cs_rdata soa_value;
        char zone_id[32];
};

/* Returns 0 when body is a valid zone creation (errs untouched); every
 * problem goes to errs with index and a field name starting with prefix
 * ("" for POST /v1/zones). */
int node_api_zone_spec_parse(json_t *body, const char *prefix, long index,
                             struct node_api_zone_spec *z, struct api_errors *errs);
/* The state machine's view; zone_id is borrowed. */
struct cs_zone_spec node_api_zone_spec_view(const struct node_api_zone_spec *z,
                                            const char *zone_id);

/* A change batch; owns its record sets (api_batch_free). */
struct api_batch {
        struct api_rrset *sets;
        struct cs_action *actions;
        size_t n;
        char comment[CS_COMMENT_MAXLEN + 1];
};

/*
 * Parses {"comment","changes":[{"action","rrset"}…]} for the zone `origin`
 * (wire form, borrowed).  Returns 0 when valid; out must be freed either way.
 */
int api_batch_parse(json_t *body, const uint8_t *origin, struct api_batch *out,
                    struct api_errors *errs);
void api_batch_free(struct api_batch *b);

#endif
