/*
 * latency_body.c — the latency map's API bodies into command batches (see
 * latency.h): prefixes, regions and RTTs checked here, every problem
 * reported at once with its field, before anything is proposed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/config.h"
#include "node/latency.h"

int node_latency_prefix_parse(const char *text, struct cs_latency_prefix *p, char *why,
                              size_t whylen)
{
        char addr[64];
        memset(p, 0, sizeof(*p));
        const char *slash = text ? strchr(text, '/') : NULL;
        if (slash == NULL || (size_t)(slash - text) >= sizeof(addr) || slash == text) {
                snprintf(why, whylen,
                         "must be ADDRESS/LENGTH (192.0.2.0/24, 2001:db8::/48)");
                return -EINVAL;
        }
        memcpy(addr, text, (size_t)(slash - text));
        addr[slash - text] = '\0';
        bool v6 = strchr(addr, ':') != NULL;
        if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, p->addr) != 1) {
                snprintf(why, whylen, "'%s' is not an IPv%c address", addr,
                         v6 ? '6' : '4');
                return -EINVAL;
        }
        const char *len = slash + 1;
        char *end;
        unsigned max = v6 ? 128 : 32;
        unsigned long n = strtoul(len, &end, 10);
        if (len[0] < '0' || len[0] > '9' || *end != '\0' || n > max || end - len > 3) {
                snprintf(why, whylen, "the length must be 0..%u", max);
                return -EINVAL;
        }
        p->family = v6 ? 6 : 4;
        p->len = (uint8_t)n;
        if (cs_latency_prefix_check(p) != 0) {
                struct cs_latency_prefix fixed = *p;
                for (unsigned b = p->len; b < 128; b++)
                        fixed.addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
                char want[64];
                node_latency_prefix_text(&fixed, want, sizeof(want));
                snprintf(why, whylen, "bits are set past /%u (the prefix is %s)", p->len,
                         want);
                return -EINVAL;
        }
        return 0;
}

void node_latency_prefix_text(const struct cs_latency_prefix *p, char *out, size_t size)
{
        char addr[INET6_ADDRSTRLEN];
        if (inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, addr, sizeof(addr)) ==
            NULL)
                snprintf(addr, sizeof(addr), "?");
        snprintf(out, size, "%s/%u", addr, p->len);
}

static const char *const put_fields[] = {"prefix", "region", "rtt_ms", NULL};
static const char *const delete_fields[] = {"prefix", "region", NULL};
static const char *const measured_fields[] = {"prefix", "rtt_us", "samples", NULL};

static bool known(const char *const *fields, const char *key)
{
        for (unsigned i = 0; fields[i] != NULL; i++)
                if (strcmp(fields[i], key) == 0)
                        return true;
        return false;
}

/* A JSON integer in [min, max] into *out: 0 or -1. */
static int integer(json_t *v, json_int_t min, json_int_t max, uint32_t *out)
{
        if (!json_is_integer(v) || json_integer_value(v) < min ||
            json_integer_value(v) > max)
                return -1;
        *out = (uint32_t)json_integer_value(v);
        return 0;
}

static void parse_entry(json_t *e, size_t i, enum node_latency_body mode,
                        struct cs_latency_item *it, struct api_errors *errs)
{
        char path[64], why[160];
        memset(it, 0, sizeof(*it));
        snprintf(path, sizeof(path), "entries[%zu]", i);
        if (!json_is_object(e)) {
                api_errors_add(errs, -1, path, "must be an object");
                return;
        }
        const char *const *fields = mode == NODE_LATENCY_BODY_PUT      ? put_fields
                                    : mode == NODE_LATENCY_BODY_DELETE ? delete_fields
                                                                       : measured_fields;
        const char *key;
        json_t *v;
        json_object_foreach(e, key, v)
        {
                if (!known(fields, key)) {
                        snprintf(path, sizeof(path), "entries[%zu]", i);
                        api_errors_add(errs, -1, path, "unknown field '%.40s'", key);
                }
        }
        snprintf(path, sizeof(path), "entries[%zu].prefix", i);
        const char *prefix = json_string_value(json_object_get(e, "prefix"));
        if (prefix == NULL)
                api_errors_add(errs, -1, path, "must be a string ADDRESS/LENGTH");
        else if (node_latency_prefix_parse(prefix, &it->prefix, why, sizeof(why)) != 0)
                api_errors_add(errs, -1, path, "%s", why);
        else if (mode == NODE_LATENCY_BODY_MEASURED &&
                 it->prefix.len != (it->prefix.family == 4 ? 24 : 48))
                api_errors_add(errs, -1, path, "measured prefixes are /24 or /48");
        if (mode != NODE_LATENCY_BODY_MEASURED) {
                snprintf(path, sizeof(path), "entries[%zu].region", i);
                json_t *region = json_object_get(e, "region");
                int32_t lat, lon;
                it->region = json_string_value(region);
                if (mode == NODE_LATENCY_BODY_DELETE &&
                    (region == NULL || json_is_null(region)))
                        it->region = NULL; /* every region of the prefix */
                else if (!cs_latency_region_ok(it->region))
                        api_errors_add(errs, -1, path,
                                       "must be a region name of 1 to %d of a-z 0-9 - _",
                                       CS_LATENCY_REGION_MAXLEN);
                else if (mode == NODE_LATENCY_BODY_PUT &&
                         node_region_find(it->region, &lat, &lon) != 0)
                        api_errors_add(errs, -1, path,
                                       "region '%s' is not known on this node "
                                       "(--region-coordinates NAME=LAT,LON)",
                                       it->region);
        }
        if (mode == NODE_LATENCY_BODY_PUT) {
                snprintf(path, sizeof(path), "entries[%zu].rtt_ms", i);
                json_t *rtt = json_object_get(e, "rtt_ms");
                double ms = json_is_number(rtt) ? json_number_value(rtt) : NAN;
                if (!(ms >= 0.001 && ms <= CS_LATENCY_RTT_MAX_US / 1000.0))
                        api_errors_add(errs, -1, path,
                                       "must be a number of milliseconds 0.001..%u",
                                       CS_LATENCY_RTT_MAX_US / 1000);
                else
                        it->rtt_us = (uint32_t)llround(ms * 1000.0);
        }
        if (mode == NODE_LATENCY_BODY_MEASURED) {
                snprintf(path, sizeof(path), "entries[%zu].rtt_us", i);
                if (integer(json_object_get(e, "rtt_us"), 1, CS_LATENCY_RTT_MAX_US,
                            &it->rtt_us) != 0)
                        api_errors_add(errs, -1, path, "must be an integer 1..%u",
                                       CS_LATENCY_RTT_MAX_US);
                snprintf(path, sizeof(path), "entries[%zu].samples", i);
                if (integer(json_object_get(e, "samples"), 1, UINT32_MAX, &it->samples) !=
                    0)
                        api_errors_add(errs, -1, path, "must be a positive integer");
        }
}

int node_latency_body_parse(json_t *body, enum node_latency_body mode,
                            struct cs_latency_batch *out, struct cs_latency_item **items,
                            struct api_errors *errs)
{
        size_t before = api_errors_count(errs);
        memset(out, 0, sizeof(*out));
        *items = NULL;
        if (!json_is_object(body)) {
                api_errors_add(errs, -1, "body", "must be a JSON object");
                return -EINVAL;
        }
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v)
        {
                bool ok = strcmp(key, "entries") == 0 ||
                          (mode == NODE_LATENCY_BODY_MEASURED &&
                           (strcmp(key, "node") == 0 || strcmp(key, "region") == 0));
                if (!ok)
                        api_errors_add(errs, -1, key, "unknown field");
        }
        if (mode == NODE_LATENCY_BODY_MEASURED) {
                json_t *node = json_object_get(body, "node");
                if (!json_is_integer(node) || json_integer_value(node) <= 0)
                        api_errors_add(errs, -1, "node", "must be a node id");
                else
                        out->node = (uint64_t)json_integer_value(node);
                out->region = json_string_value(json_object_get(body, "region"));
                if (!cs_latency_region_ok(out->region))
                        api_errors_add(errs, -1, "region", "must be a region name");
        }
        json_t *list = json_object_get(body, "entries");
        size_t max = mode == NODE_LATENCY_BODY_MEASURED ? CS_LATENCY_MEASURED_BATCH_MAX
                                                        : CS_LATENCY_BATCH_MAX;
        size_t n = json_array_size(list);
        if (!json_is_array(list) || n == 0 || n > max) {
                api_errors_add(errs, -1, "entries",
                               "must be an array of 1 to %zu entries", max);
                return -EINVAL;
        }
        struct cs_latency_item *v2 = calloc(n, sizeof(*v2));
        if (v2 == NULL)
                return -ENOMEM;
        for (size_t i = 0; i < n && api_errors_count(errs) - before < 100; i++)
                parse_entry(json_array_get(list, i), i, mode, &v2[i], errs);
        if (api_errors_count(errs) > before) {
                free(v2);
                return -EINVAL;
        }
        out->items = v2;
        out->count = n;
        *items = v2;
        return 0;
}
