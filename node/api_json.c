/*
 * api_json.c — record sets from and to JSON (see api_json.h).
 */
#include "node/api_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/name.h"
#include "dns/text.h"
#include "geo/geo.h"
#include "node/config.h"
#include "node/geoip.h"

#define MAX_VALUES 100000

void api_errors_init(struct api_errors *e)
{
        e->list = json_array();
}

void api_errors_add(struct api_errors *e, long index, const char *field, const char *fmt,
                    ...)
{
        char message[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        json_t *item = json_pack("{s:s, s:s}", "field", field, "message", message);
        if (index >= 0)
                json_object_set_new(item, "index", json_integer(index));
        json_array_append_new(e->list, item);
}

void api_rrset_free(struct api_rrset *set)
{
        for (size_t i = 0; i < set->count; i++)
                free((void *)set->values[i].data);
        free(set->values);
        set->values = NULL;
        set->count = 0;
}

/* A string of at most max bytes into buf; false (error added) otherwise. */
static bool parse_id(json_t *v, const char *path, long index, char *buf, size_t max,
                     struct api_errors *errs)
{
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > max ||
            strlen(json_string_value(v)) != json_string_length(v)) {
                api_errors_add(errs, index, path,
                               "must be a string of 1 to %zu characters", max);
                return false;
        }
        memcpy(buf, json_string_value(v), json_string_length(v) + 1);
        return true;
}

static void parse_alias(json_t *alias, const char *field, long index,
                        struct api_rrset *out, struct api_errors *errs)
{
        char path[300], err[512];
        snprintf(path, sizeof(path), "%s.alias_target", field);
        if (!json_is_object(alias)) {
                api_errors_add(errs, index, path,
                               "must be an object {\"dns_name\", "
                               "\"evaluate_target_health\", \"hosted_zone_id\"}");
                return;
        }
        json_t *name = json_object_get(alias, "dns_name");
        snprintf(path, sizeof(path), "%s.alias_target.dns_name", field);
        if (!json_is_string(name))
                api_errors_add(errs, index, path, "must be a domain name string");
        else if (dns_name_parse_text(json_string_value(name), out->alias_name, err,
                                     sizeof(err)) != 0)
                api_errors_add(errs, index, path, "%s", err);
        else
                out->routing.alias_name_len =
                    (size_t)dns_name_wire_len(out->alias_name, sizeof(out->alias_name));
        json_t *eval = json_object_get(alias, "evaluate_target_health");
        snprintf(path, sizeof(path), "%s.alias_target.evaluate_target_health", field);
        if (eval != NULL && !json_is_boolean(eval))
                api_errors_add(errs, index, path, "must be true or false");
        out->routing.evaluate_target_health = json_is_true(eval);
        json_t *zone = json_object_get(alias, "hosted_zone_id");
        snprintf(path, sizeof(path), "%s.alias_target.hosted_zone_id", field);
        if (zone != NULL && !json_is_null(zone))
                parse_id(zone, path, index, out->alias_zone_id, CS_ID_MAXLEN, errs);
}

/* geo_location {continent_code | country_code [, subdivision_code]}, as
 * Route 53's GeoLocation; codes must exist (ISO 3166-1 countries, the seven
 * continents, ISO 3166-2 subdivisions of the country); country "*" is the
 * default. */
static void parse_geo(json_t *geo, const char *field, long index, struct cs_routing *r,
                      struct api_errors *errs)
{
        char path[300];
        snprintf(path, sizeof(path), "%s.geo_location", field);
        if (!json_is_object(geo)) {
                api_errors_add(errs, index, path, "must be an object");
                return;
        }
        r->has_geo = true;
        static const char *const keys[] = {"continent_code", "country_code",
                                           "subdivision_code"};
        char *out[] = {r->geo_continent, r->geo_country, r->geo_subdivision};
        size_t max[] = {2, 2, 3};
        const char *key;
        json_t *v;
        json_object_foreach(geo, key, v)
        {
                if (strcmp(key, keys[0]) != 0 && strcmp(key, keys[1]) != 0 &&
                    strcmp(key, keys[2]) != 0)
                        api_errors_add(
                            errs, index, path,
                            "unknown field '%s' (continent_code, country_code, "
                            "subdivision_code)",
                            key);
        }
        for (int k = 0; k < 3; k++) {
                v = json_object_get(geo, keys[k]);
                snprintf(path, sizeof(path), "%s.geo_location.%s", field, keys[k]);
                if (v == NULL || json_is_null(v))
                        continue;
                const char *s = json_is_string(v) ? json_string_value(v) : NULL;
                if (s == NULL || strlen(s) == 0 || strlen(s) > max[k]) {
                        api_errors_add(errs, index, path,
                                       "must be a code of 1 to %zu characters", max[k]);
                        continue;
                }
                strcpy(out[k], s);
        }
        snprintf(path, sizeof(path), "%s.geo_location", field);
        bool cont = r->geo_continent[0] != '\0', country = r->geo_country[0] != '\0';
        if (cont == country) {
                api_errors_add(errs, index, path,
                               "give one of continent_code and country_code (\"*\": the "
                               "default location)");
                return;
        }
        snprintf(path, sizeof(path), "%s.geo_location.continent_code", field);
        if (cont && !geo_continent_valid(r->geo_continent))
                api_errors_add(
                    errs, index, path,
                    "'%s' is not a continent code (AF, AN, AS, EU, NA, OC, SA)",
                    r->geo_continent);
        bool any = strcmp(r->geo_country, "*") == 0;
        snprintf(path, sizeof(path), "%s.geo_location.country_code", field);
        if (country && !any && geo_country_continent(r->geo_country) == NULL)
                api_errors_add(errs, index, path,
                               "'%s' is not an ISO 3166-1 country code", r->geo_country);
        if (r->geo_subdivision[0] != '\0') {
                snprintf(path, sizeof(path), "%s.geo_location.subdivision_code", field);
                if (!country || any)
                        api_errors_add(errs, index, path,
                                       "a subdivision needs its country_code");
                else if (!node_geo_subdivision_exists(r->geo_country, r->geo_subdivision))
                        api_errors_add(errs, index, path,
                                       "'%s' is not an ISO 3166-2 subdivision of %s",
                                       r->geo_subdivision, r->geo_country);
        }
}

/* cidr_routing_config {collection_id, location_name} (Route 53's
 * CidrRoutingConfig); whether they exist is the state's check. */
static void parse_cidr(json_t *cidr, const char *field, long index, struct cs_routing *r,
                       struct api_errors *errs)
{
        char path[300];
        r->has_cidr = true;
        snprintf(path, sizeof(path), "%s.cidr_routing_config", field);
        if (!json_is_object(cidr)) {
                api_errors_add(errs, index, path,
                               "must be an object {\"collection_id\", "
                               "\"location_name\"}");
                return;
        }
        const char *key;
        json_t *v;
        json_object_foreach(cidr, key, v)
        {
                if (strcmp(key, "collection_id") != 0 &&
                    strcmp(key, "location_name") != 0) {
                        snprintf(path, sizeof(path), "%s.cidr_routing_config.%s", field,
                                 key);
                        api_errors_add(errs, index, path, "unknown field");
                }
        }
        const char *id = json_string_value(json_object_get(cidr, "collection_id"));
        snprintf(path, sizeof(path), "%s.cidr_routing_config.collection_id", field);
        if (id == NULL || strlen(id) == 0 || strlen(id) > CS_CIDR_ID_MAXLEN)
                api_errors_add(errs, index, path,
                               "must be the id of a CIDR collection (1 to %d characters)",
                               CS_CIDR_ID_MAXLEN);
        else
                snprintf(r->cidr_collection, sizeof(r->cidr_collection), "%s", id);
        const char *loc = json_string_value(json_object_get(cidr, "location_name"));
        snprintf(path, sizeof(path), "%s.cidr_routing_config.location_name", field);
        if (loc == NULL || strlen(loc) == 0 || strlen(loc) > CS_CIDR_LOCATION_MAXLEN)
                api_errors_add(errs, index, path,
                               "must be a location of the collection (1 to %d "
                               "characters) or \"*\" (the default)",
                               CS_CIDR_LOCATION_MAXLEN);
        else
                snprintf(r->cidr_location, sizeof(r->cidr_location), "%s", loc);
}

/* Degrees (a JSON number, or a decimal string as Route 53 writes them) in
 * -max..max into millionths; 0 or -1. */
static int parse_degrees(json_t *v, double max, int32_t *out)
{
        double d;
        if (json_is_number(v)) {
                d = json_number_value(v);
        } else if (json_is_string(v) && json_string_length(v) > 0 &&
                   json_string_length(v) < 32) {
                char *end;
                d = strtod(json_string_value(v), &end);
                if (*end != '\0')
                        return -1;
        } else {
                return -1;
        }
        if (!(d >= -max && d <= max)) /* also NaN */
                return -1;
        *out = (int32_t)llround(d * 1e6);
        return 0;
}

/* geoproximity_location {coordinates {latitude, longitude} | region, bias},
 * as Route 53's GeoProximityLocation; a region is one of this node's
 * --region-coordinates, turned into its coordinates here, when the set is
 * written (Route 53's AWSRegion and LocalZoneGroup name AWS's own). */
static void parse_prox(json_t *prox, const char *field, long index, struct cs_routing *r,
                       struct api_errors *errs)
{
        char path[300];
        snprintf(path, sizeof(path), "%s.geoproximity_location", field);
        if (!json_is_object(prox)) {
                api_errors_add(errs, index, path, "must be an object");
                return;
        }
        r->has_prox = true;
        const char *key;
        json_t *v;
        json_object_foreach(prox, key, v)
        {
                if (strcmp(key, "coordinates") != 0 && strcmp(key, "bias") != 0 &&
                    strcmp(key, "region") != 0)
                        api_errors_add(errs, index, path,
                                       "unknown field '%s' (coordinates or region, bias)",
                                       key);
        }
        json_t *bias = json_object_get(prox, "bias");
        snprintf(path, sizeof(path), "%s.geoproximity_location.bias", field);
        if (bias != NULL && !json_is_null(bias)) {
                if (!json_is_integer(bias) ||
                    json_integer_value(bias) < -CS_PROX_BIAS_MAX ||
                    json_integer_value(bias) > CS_PROX_BIAS_MAX)
                        api_errors_add(errs, index, path, "must be an integer -%d..%d",
                                       CS_PROX_BIAS_MAX, CS_PROX_BIAS_MAX);
                else
                        r->prox_bias = (int32_t)json_integer_value(bias);
        }
        json_t *coord = json_object_get(prox, "coordinates");
        json_t *region = json_object_get(prox, "region");
        if (region != NULL && !json_is_null(region)) {
                snprintf(path, sizeof(path), "%s.geoproximity_location.region", field);
                const char *name = json_string_value(region);
                if (coord != NULL && !json_is_null(coord))
                        api_errors_add(errs, index, path,
                                       "give one of coordinates and region");
                else if (name == NULL || strlen(name) == 0 ||
                         strlen(name) > CS_PROX_REGION_MAXLEN)
                        api_errors_add(errs, index, path,
                                       "must be a region name of 1 to %d characters",
                                       CS_PROX_REGION_MAXLEN);
                else if (node_region_find(name, &r->prox_latitude, &r->prox_longitude) !=
                         0)
                        api_errors_add(errs, index, path,
                                       "region '%s' has no coordinates on this node "
                                       "(--region-coordinates NAME=LAT,LON)",
                                       name);
                else
                        strcpy(r->prox_region, name);
                return;
        }
        snprintf(path, sizeof(path), "%s.geoproximity_location.coordinates", field);
        if (!json_is_object(coord)) {
                api_errors_add(
                    errs, index, path,
                    "must be an object {\"latitude\": ..., \"longitude\": ...}");
                return;
        }
        json_object_foreach(coord, key, v)
        {
                if (strcmp(key, "latitude") != 0 && strcmp(key, "longitude") != 0)
                        api_errors_add(errs, index, path,
                                       "unknown field '%s' (latitude, longitude)", key);
        }
        snprintf(path, sizeof(path), "%s.geoproximity_location.coordinates.latitude",
                 field);
        if (parse_degrees(json_object_get(coord, "latitude"), 90.0, &r->prox_latitude) !=
            0)
                api_errors_add(errs, index, path, "must be a number of degrees -90..90");
        snprintf(path, sizeof(path), "%s.geoproximity_location.coordinates.longitude",
                 field);
        if (parse_degrees(json_object_get(coord, "longitude"), 180.0,
                          &r->prox_longitude) != 0)
                api_errors_add(errs, index, path,
                               "must be a number of degrees -180..180");
}

/* region (Route 53's Region: the latency policy), one of this node's
 * --region-coordinates: its coordinates are taken here, when the set is
 * written, so every node ranks regions without an RTT alike. */
static void parse_latency_region(json_t *region, const char *field, long index,
                                 struct cs_routing *r, struct api_errors *errs)
{
        char path[300];
        snprintf(path, sizeof(path), "%s.region", field);
        const char *name = json_string_value(region);
        r->has_latency = true;
        if (name == NULL || strlen(name) == 0 || strlen(name) > CS_PROX_REGION_MAXLEN)
                api_errors_add(errs, index, path,
                               "must be a region name of 1 to %d characters",
                               CS_PROX_REGION_MAXLEN);
        else if (node_region_find(name, &r->latency_latitude, &r->latency_longitude) != 0)
                api_errors_add(errs, index, path,
                               "region '%s' has no coordinates on this node "
                               "(--region-coordinates NAME=LAT,LON)",
                               name);
        else
                strcpy(r->latency_region, name);
}

/* weight, failover, multi_value_answer, health_check_id, alias_target. */
static void parse_routing(json_t *obj, const char *field, long index,
                          struct api_rrset *out, struct api_errors *errs)
{
        char path[300];
        struct cs_routing *r = &out->routing;
        json_t *weight = json_object_get(obj, "weight");
        snprintf(path, sizeof(path), "%s.weight", field);
        if (weight != NULL && !json_is_null(weight)) {
                if (!json_is_integer(weight) || json_integer_value(weight) < 0 ||
                    json_integer_value(weight) > CS_WEIGHT_MAX)
                        api_errors_add(errs, index, path, "must be an integer 0..%d",
                                       CS_WEIGHT_MAX);
                else
                        r->weight = (uint32_t)json_integer_value(weight);
                r->has_weight = true;
        }
        json_t *failover = json_object_get(obj, "failover");
        snprintf(path, sizeof(path), "%s.failover", field);
        if (failover != NULL && !json_is_null(failover)) {
                const char *f =
                    json_is_string(failover) ? json_string_value(failover) : "";
                if (strcmp(f, "PRIMARY") == 0)
                        r->failover = CS_FAILOVER_PRIMARY;
                else if (strcmp(f, "SECONDARY") == 0)
                        r->failover = CS_FAILOVER_SECONDARY;
                else
                        api_errors_add(errs, index, path,
                                       "must be \"PRIMARY\" or \"SECONDARY\"");
        }
        json_t *multi = json_object_get(obj, "multi_value_answer");
        snprintf(path, sizeof(path), "%s.multi_value_answer", field);
        if (multi != NULL && !json_is_null(multi)) {
                if (!json_is_boolean(multi))
                        api_errors_add(errs, index, path, "must be true or false");
                r->multi_value_answer = json_is_true(multi);
        }
        json_t *check = json_object_get(obj, "health_check_id");
        snprintf(path, sizeof(path), "%s.health_check_id", field);
        if (check != NULL && !json_is_null(check))
                parse_id(check, path, index, out->health_check_id, CS_ID_MAXLEN, errs);
        json_t *alias = json_object_get(obj, "alias_target");
        if (alias != NULL && !json_is_null(alias))
                parse_alias(alias, field, index, out, errs);
        json_t *geo = json_object_get(obj, "geo_location");
        if (geo != NULL && !json_is_null(geo))
                parse_geo(geo, field, index, r, errs);
        json_t *prox = json_object_get(obj, "geoproximity_location");
        if (prox != NULL && !json_is_null(prox))
                parse_prox(prox, field, index, r, errs);
        json_t *region = json_object_get(obj, "region");
        if (region != NULL && !json_is_null(region))
                parse_latency_region(region, field, index, r, errs);
        json_t *cidr = json_object_get(obj, "cidr_routing_config");
        if (cidr != NULL && !json_is_null(cidr))
                parse_cidr(cidr, field, index, r, errs);
        bool policy = r->has_weight || r->failover != CS_FAILOVER_NONE ||
                      r->multi_value_answer || r->has_geo || r->has_prox ||
                      r->has_latency || r->has_cidr;
        /* Reported by api_rrset_check_write(): a DELETE may still name a
         * set written before routing existed, which has no policy. */
        out->sid_without_policy = out->set_id[0] != '\0' && !policy;
}

bool api_rrset_check_write(const struct api_rrset *set, const char *field, long index,
                           struct api_errors *errs)
{
        if (!set->sid_without_policy)
                return true;
        char path[300];
        snprintf(path, sizeof(path), "%s.set_identifier", field);
        api_errors_add(
            errs, index, path,
            "a set identifier needs a routing policy: \"weight\", "
            "\"failover\", \"multi_value_answer\", \"geo_location\", "
            "\"geoproximity_location\", \"region\" or \"cidr_routing_config\"");
        return false;
}

int api_rrset_parse(json_t *obj, const uint8_t *origin, const char *field, long index,
                    int require_values, struct api_rrset *out, struct api_errors *errs)
{
        size_t before = api_errors_count(errs);
        char path[256], err[512];
        memset(out, 0, sizeof(*out));
        if (!json_is_object(obj)) {
                api_errors_add(errs, index, field, "must be an object");
                return -1;
        }
        json_t *name = json_object_get(obj, "name");
        snprintf(path, sizeof(path), "%s.name", field);
        if (!json_is_string(name)) {
                api_errors_add(errs, index, path, "must be a domain name string");
        } else if (dns_name_parse_text(json_string_value(name), out->owner, err,
                                       sizeof(err)) != 0) {
                api_errors_add(errs, index, path, "%s", err);
        } else {
                out->owner_len = (uint16_t)dns_name_wire_len(out->owner, 256);
                if (!dns_name_in_zone(out->owner, origin)) {
                        char zone[1024];
                        api_errors_add(errs, index, path, "'%s' is not in the zone %s",
                                       json_string_value(name),
                                       dns_name_to_text(origin, zone, sizeof(zone)));
                }
        }
        json_t *type = json_object_get(obj, "type");
        snprintf(path, sizeof(path), "%s.type", field);
        if (!json_is_string(type))
                api_errors_add(errs, index, path, "must be a record type such as \"A\"");
        else if (dns_type_from_text(json_string_value(type), &out->type) != 0)
                api_errors_add(errs, index, path,
                               "'%.40s' is not a record type (A, AAAA, CNAME, MX, TXT, "
                               "…, or TYPE123)",
                               json_string_value(type));
        json_t *set_id = json_object_get(obj, "set_identifier");
        snprintf(path, sizeof(path), "%s.set_identifier", field);
        if (set_id != NULL && !json_is_null(set_id)) {
                if (!json_is_string(set_id) ||
                    strlen(json_string_value(set_id)) > CS_SET_ID_MAXLEN)
                        api_errors_add(errs, index, path,
                                       "must be a string of at most %d "
                                       "characters",
                                       CS_SET_ID_MAXLEN);
                else
                        strcpy(out->set_id, json_string_value(set_id));
        }
        json_t *ttl = json_object_get(obj, "ttl");
        snprintf(path, sizeof(path), "%s.ttl", field);
        out->ttl = 300;
        if (ttl != NULL) {
                if (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
                    json_integer_value(ttl) > CS_TTL_MAX)
                        api_errors_add(errs, index, path, "must be 0..2147483647");
                else
                        out->ttl = (uint32_t)json_integer_value(ttl);
        }
        parse_routing(obj, field, index, out, errs);
        json_t *records = json_object_get(obj, "records");
        snprintf(path, sizeof(path), "%s.records", field);
        bool alias = json_object_get(obj, "alias_target") != NULL &&
                     !json_is_null(json_object_get(obj, "alias_target"));
        if (alias && records != NULL &&
            (!json_is_array(records) || json_array_size(records) > 0)) {
                api_errors_add(errs, index, path,
                               "an alias has no records: it answers with its target's");
                return -1;
        }
        if (alias || (records == NULL && !require_values))
                return api_errors_count(errs) == before ? 0 : -1;
        if (!json_is_array(records) ||
            (require_values && json_array_size(records) == 0)) {
                api_errors_add(errs, index, path, "must be a non-empty array of strings");
                return -1;
        }
        size_t n = json_array_size(records);
        if (n > MAX_VALUES) {
                api_errors_add(errs, index, path, "at most %d values", MAX_VALUES);
                return -1;
        }
        out->values = calloc(n ? n : 1, sizeof(*out->values));
        /* Per thread: imports and bulk zone files are parsed on libuv's pool
         * while the loop parses other requests. */
        static _Thread_local uint8_t buf[65536];
        for (size_t i = 0; i < n && out->values; i++) {
                json_t *v = json_array_get(records, i);
                snprintf(path, sizeof(path), "%s.records[%zu]", field, i);
                if (!json_is_string(v)) {
                        api_errors_add(errs, index, path, "must be a string");
                        continue;
                }
                if (out->type == 0)
                        continue; /* type already reported */
                int len = dns_rdata_from_text(out->type, json_string_value(v), origin,
                                              buf, err, sizeof(err));
                if (len < 0) {
                        api_errors_add(errs, index, path, "%s", err);
                        continue;
                }
                uint8_t *copy = malloc(len ? (size_t)len : 1);
                memcpy(copy, buf, (size_t)len);
                out->values[out->count++] = (struct cs_rdata){copy, (uint16_t)len};
        }
        return api_errors_count(errs) == before ? 0 : -1;
}

json_t *api_name_json(const uint8_t *wire)
{
        char text[1024];
        return json_string(dns_name_to_text(wire, text, sizeof(text)));
}

json_t *api_time_json(uint64_t ms)
{
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char buf[64];
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (unsigned)(ms % 1000));
        return json_string(buf);
}

json_t *api_rrset_json(const struct cs_rrset *rrset)
{
        char type[32];
        json_t *records = json_array();
        json_t *out;
        for (size_t i = 0; i < rrset->count; i++) {
                char *text = dns_rdata_to_text(rrset->type, rrset->values[i].data,
                                               rrset->values[i].len);
                json_array_append_new(records, json_string(text ? text : ""));
                free(text);
        }
        out = json_pack("{s:o, s:s, s:s, s:I, s:o}", "name", api_name_json(rrset->owner),
                        "type", dns_type_to_text(rrset->type, type, sizeof(type)),
                        "set_identifier", rrset->set_id, "ttl", (json_int_t)rrset->ttl,
                        "records", records);
        api_routing_json(out, rrset->routing);
        return out;
}

/* Millionths of a degree as decimal text without trailing zeros. */
static void api_degrees_text(int32_t e6, char *out, size_t size)
{
        int64_t v = e6;
        uint64_t a = (uint64_t)(v < 0 ? -v : v);
        int n = snprintf(out, size, "%s%llu.%06llu", v < 0 ? "-" : "",
                         (unsigned long long)(a / 1000000),
                         (unsigned long long)(a % 1000000));
        while (n > 0 && out[n - 1] == '0')
                out[--n] = '\0';
        if (n > 0 && out[n - 1] == '.')
                out[--n] = '\0';
}

void api_routing_json(json_t *obj, const struct cs_routing *r)
{
        if (r->has_weight)
                json_object_set_new(obj, "weight", json_integer(r->weight));
        if (r->failover == CS_FAILOVER_PRIMARY || r->failover == CS_FAILOVER_SECONDARY)
                json_object_set_new(obj, "failover",
                                    json_string(r->failover == CS_FAILOVER_PRIMARY
                                                    ? "PRIMARY"
                                                    : "SECONDARY"));
        if (r->multi_value_answer)
                json_object_set_new(obj, "multi_value_answer", json_true());
        if (r->has_geo) {
                json_t *geo = json_object();
                if (r->geo_continent[0])
                        json_object_set_new(geo, "continent_code",
                                            json_string(r->geo_continent));
                if (r->geo_country[0])
                        json_object_set_new(geo, "country_code",
                                            json_string(r->geo_country));
                if (r->geo_subdivision[0])
                        json_object_set_new(geo, "subdivision_code",
                                            json_string(r->geo_subdivision));
                json_object_set_new(obj, "geo_location", geo);
        }
        if (r->has_prox && r->prox_region[0]) {
                json_object_set_new(obj, "geoproximity_location",
                                    json_pack("{s:s, s:i}", "region", r->prox_region,
                                              "bias", (int)r->prox_bias));
        } else if (r->has_prox) {
                char lat[24], lon[24];
                api_degrees_text(r->prox_latitude, lat, sizeof(lat));
                api_degrees_text(r->prox_longitude, lon, sizeof(lon));
                json_object_set_new(obj, "geoproximity_location",
                                    json_pack("{s:{s:s, s:s}, s:i}", "coordinates",
                                              "latitude", lat, "longitude", lon, "bias",
                                              (int)r->prox_bias));
        }
        if (r->has_latency)
                json_object_set_new(obj, "region", json_string(r->latency_region));
        if (r->has_cidr)
                json_object_set_new(obj, "cidr_routing_config",
                                    json_pack("{s:s, s:s}", "collection_id",
                                              r->cidr_collection, "location_name",
                                              r->cidr_location));
        if (r->health_check_id && r->health_check_id[0])
                json_object_set_new(obj, "health_check_id",
                                    json_string(r->health_check_id));
        if (!cs_routing_is_alias(r))
                return;
        json_t *alias = json_pack("{s:o, s:b}", "dns_name", api_name_json(r->alias_name),
                                  "evaluate_target_health", r->evaluate_target_health);
        if (r->alias_zone_id && r->alias_zone_id[0])
                json_object_set_new(alias, "hosted_zone_id",
                                    json_string(r->alias_zone_id));
        json_object_set_new(obj, "alias_target", alias);
}
