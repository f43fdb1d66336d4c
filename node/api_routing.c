/*
 * api_routing.c — routed record sets as master-file comment lines (see
 * api_routing.h): api_rrset_json() writes a line's JSON, api_rrset_parse()
 * reads it back, so export and import use the API's own record-set form.
 */
#include "node/api_routing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dns/latency.h"
#include "dns/name.h"

bool api_rrset_is_routed(const struct cs_rrset *rrset)
{
        return rrset->set_id[0] != '\0' || cs_routing_present(rrset->routing);
}

char *api_routed_line(const struct cs_rrset *rrset)
{
        json_t *obj = api_rrset_json(rrset);
        char *json = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        json_decref(obj);
        if (json == NULL)
                return NULL;
        size_t n = strlen(API_ROUTED_PREFIX) + strlen(json) + 2;
        char *line = malloc(n);
        if (line != NULL)
                snprintf(line, n, "%s%s\n", API_ROUTED_PREFIX, json);
        free(json);
        return line;
}

static void line_error(json_t *errors, unsigned line, const char *message)
{
        char field[32];
        snprintf(field, sizeof(field), "line %u", line);
        if (json_array_size(errors) < 100)
                json_array_append_new(errors,
                                      json_pack("{s:s, s:s, s:i}", "field", field,
                                                "message", message, "line", line));
}

int api_routed_parse(const char *text, size_t len, const uint8_t *origin,
                     struct api_rrset **sets, unsigned **lines, size_t *n, json_t *errors)
{
        size_t prefix = strlen(API_ROUTED_PREFIX), cap = 0;
        unsigned lineno = 0;
        *sets = NULL;
        *n = 0;
        if (lines != NULL)
                *lines = NULL;
        for (size_t pos = 0; pos < len;) {
                const char *start = text + pos;
                const char *nl = memchr(start, '\n', len - pos);
                size_t line_len = nl ? (size_t)(nl - start) : len - pos;
                pos += line_len + (nl ? 1 : 0);
                lineno++;
                if (line_len < prefix || memcmp(start, API_ROUTED_PREFIX, prefix) != 0)
                        continue;
                json_error_t jerr;
                json_t *obj = json_loadb(start + prefix, line_len - prefix, 0, &jerr);
                if (obj == NULL) {
                        char msg[256];
                        snprintf(msg, sizeof(msg), "routed record set: invalid JSON: %s",
                                 jerr.text);
                        line_error(errors, lineno, msg);
                        continue;
                }
                if (*n == cap) {
                        cap = cap ? cap * 2 : 16;
                        struct api_rrset *grown = realloc(*sets, cap * sizeof(*grown));
                        if (grown != NULL)
                                *sets = grown;
                        unsigned *more =
                            lines ? realloc(*lines, cap * sizeof(*more)) : NULL;
                        if (more != NULL)
                                *lines = more;
                        if (grown == NULL || (lines != NULL && more == NULL)) {
                                json_decref(obj);
                                return -ENOMEM;
                        }
                }
                if (lines != NULL)
                        (*lines)[*n] = lineno;
                struct api_errors errs;
                api_errors_init(&errs);
                if (api_rrset_parse(obj, origin, "rrset", -1, 1, &(*sets)[*n], &errs) ==
                        0 &&
                    api_rrset_check_write(&(*sets)[*n], "rrset", -1, &errs)) {
                        (*n)++;
                } else {
                        api_rrset_free(&(*sets)[*n]);
                        for (size_t i = 0; i < json_array_size(errs.list); i++) {
                                json_t *e = json_array_get(errs.list, i);
                                char msg[600];
                                snprintf(
                                    msg, sizeof(msg), "%s: %s",
                                    json_string_value(json_object_get(e, "field")),
                                    json_string_value(json_object_get(e, "message")));
                                line_error(errors, lineno, msg);
                        }
                }
                json_decref(errs.list);
                json_decref(obj);
        }
        return 0;
}

void api_route_of(const struct cs_routing *r, uint32_t health, struct dns_route *route)
{
        static const uint8_t policies[] = {
            [CS_POLICY_SIMPLE] = DNS_POLICY_NONE,
            [CS_POLICY_WEIGHTED] = DNS_POLICY_WEIGHTED,
            [CS_POLICY_FAILOVER] = DNS_POLICY_FAILOVER,
            [CS_POLICY_MULTIVALUE] = DNS_POLICY_MULTIVALUE,
            [CS_POLICY_GEOLOCATION] = DNS_POLICY_NONE,  /* route->location says it */
            [CS_POLICY_GEOPROXIMITY] = DNS_POLICY_NONE, /* route->location says it */
            [CS_POLICY_LATENCY] = DNS_POLICY_NONE,      /* route->location says it */
            [CS_POLICY_CIDR] = DNS_POLICY_NONE,         /* route->location says it */
        };
        memset(route, 0, sizeof(*route));
        route->policy = policies[cs_routing_policy(r)];
        route->weight = (uint8_t)(r->has_weight ? r->weight : 0);
        if (r->failover == CS_FAILOVER_PRIMARY)
                route->flags |= DNS_ROUTE_PRIMARY;
        else if (r->failover == CS_FAILOVER_SECONDARY)
                route->flags |= DNS_ROUTE_SECONDARY;
        if (cs_routing_is_alias(r))
                route->flags |= DNS_ROUTE_ALIAS |
                                (r->evaluate_target_health ? DNS_ROUTE_EVALUATE : 0);
        route->health = health;
        if (r->has_geo)
                route->location =
                    strcmp(r->geo_country, "*") == 0
                        ? dns_geo_key(DNS_GEO_DEFAULT, "", "")
                    : r->geo_subdivision[0]
                        ? dns_geo_key(DNS_GEO_SUBDIVISION, r->geo_country,
                                      r->geo_subdivision)
                    : r->geo_country[0]
                        ? dns_geo_key(DNS_GEO_COUNTRY, r->geo_country, "")
                        : dns_geo_key(DNS_GEO_CONTINENT, r->geo_continent, "");
        if (r->has_prox) {
                route->location = DNS_GEO_PROXIMITY;
                route->prox_latitude = r->prox_latitude;
                route->prox_longitude = r->prox_longitude;
                route->prox_bias = r->prox_bias;
        }
        if (r->has_latency) {
                route->location = DNS_GEO_LATENCY;
                route->prox_latitude = r->latency_latitude;
                route->prox_longitude = r->latency_longitude;
                route->latency_region = dns_latency_region_key(r->latency_region);
        }
        if (r->has_cidr) /* the numbers are the node's: publish_cidr.c */
                route->location = DNS_GEO_CIDR;
}

/* One parsed routed set into the zone of txn that holds its name. */
static int load_one(struct dns_txn *txn, const struct api_rrset *set, uint32_t set_id,
                    char *why, size_t whylen)
{
        /* The longest suffix that is a zone (the transaction's label range
         * is only counted at commit, so each suffix is tried). */
        const struct dns_zone *zone = NULL;
        for (size_t off = 0; zone == NULL && set->owner[off] != 0;
             off += 1u + set->owner[off])
                zone = dns_txn_zone(txn, set->owner + off);
        if (zone == NULL) {
                snprintf(why, whylen, "routed record set: its name is in no zone loaded");
                return -EINVAL;
        }
        if (set->health_check_id[0] != '\0') {
                snprintf(why, whylen,
                         "routed record set: health checks need cluster mode");
                return -EINVAL;
        }
        if (set->routing.has_cidr) {
                snprintf(why, whylen,
                         "routed record set: IP-based routing needs cluster mode (CIDR "
                         "collections are replicated)");
                return -EINVAL;
        }
        struct dns_route route;
        struct cs_rrset_spec spec = api_rrset_spec(set); /* points the routing at set */
        api_route_of(&spec.routing, 0, &route);
        const uint8_t *one = set->alias_name;
        uint16_t one_len = (uint16_t)set->routing.alias_name_len;
        const uint8_t **data = NULL;
        uint16_t *len = NULL;
        size_t n = 1;
        if (!(route.flags & DNS_ROUTE_ALIAS)) {
                n = set->count;
                data = calloc(n ? n : 1, sizeof(*data));
                len = calloc(n ? n : 1, sizeof(*len));
                if (data == NULL || len == NULL) {
                        free(data);
                        free(len);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < n; i++) {
                        data[i] = set->values[i].data;
                        len[i] = set->values[i].len;
                }
        }
        int rc = dns_txn_rrset_put_route(txn, zone->origin, set->owner, set->type, set_id,
                                         set->ttl, data ? data : &one,
                                         len ? len : &one_len, n, &route);
        if (rc == -EINVAL)
                snprintf(why, whylen, "routed record set: %s", txn->error);
        free(data);
        free(len);
        return rc;
}

int api_routed_load(struct dns_txn *txn, const char *path,
                    void (*report)(void *ctx, const char *file, unsigned line,
                                   const char *message),
                    void *ctx, size_t *records)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
                int rc = -errno;
                if (fd >= 0)
                        close(fd);
                return rc;
        }
        if (st.st_size == 0) {
                close(fd);
                return 0;
        }
        char *text = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (text == MAP_FAILED)
                return -errno;
        int problems = 0;
        size_t len = (size_t)st.st_size;
        /* Most zone files have no routed line: look before parsing. */
        bool any = len >= strlen(API_ROUTED_PREFIX) &&
                   (memcmp(text, API_ROUTED_PREFIX, strlen(API_ROUTED_PREFIX)) == 0 ||
                    memmem(text, len, "\n" API_ROUTED_PREFIX,
                           strlen(API_ROUTED_PREFIX) + 1) != NULL);
        if (!any) {
                munmap(text, len);
                return 0;
        }
        static const uint8_t root[1] = {0};
        struct api_rrset *sets = NULL;
        unsigned *lines = NULL;
        size_t n = 0;
        json_t *errors = json_array();
        int rc = errors ? api_routed_parse(text, len, root, &sets, &lines, &n, errors)
                        : -ENOMEM;
        munmap(text, len);
        for (size_t i = 0; errors != NULL && i < json_array_size(errors); i++) {
                json_t *e = json_array_get(errors, i);
                report(ctx, path,
                       (unsigned)json_integer_value(json_object_get(e, "line")),
                       json_string_value(json_object_get(e, "message")));
                problems++;
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
                char why[600];
                /* Engine set ids: above any the zone file gives (0). */
                int one = load_one(txn, &sets[i], (uint32_t)(i + 1), why, sizeof(why));
                if (one == -ENOMEM)
                        rc = -ENOMEM;
                else if (one != 0) {
                        report(ctx, path, lines[i], why);
                        problems++;
                } else {
                        *records += sets[i].routing.alias_name_len ? 0 : sets[i].count;
                }
        }
        for (size_t i = 0; i < n; i++)
                api_rrset_free(&sets[i]);
        free(sets);
        free(lines);
        json_decref(errors);
        return rc != 0 ? rc : problems;
}
