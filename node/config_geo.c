/*
 * config_geo.c — the node's location settings: EDNS Client Subnet
 * (ecs, ecs-max-ipv4-prefix, ecs-max-ipv6-prefix, ecs-trusted) and the
 * GeoIP database (geoip-db), and the regions geoproximity record sets may
 * name (region-coordinates NAME=LAT,LON[;NAME=LAT,LON..], a table for the
 * whole process: the API turns a region into its coordinates when a set is
 * written, so every node answers from the replicated coordinates), and how
 * often measured RTTs go to the latency map (latency-report-interval).
 *
 * config.c hands every key it reads (file line or flag) to
 * node_config_apply_geo() first; a key that is not one of these comes back
 * as 1 and config.c goes on with its own.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/config.h"

static int parse_prefix(const char *key, const char *value, unsigned max, uint8_t *out,
                        char *err, size_t n)
{
        char *end;
        if (value[0] < '0' || value[0] > '9')
                goto bad;
        unsigned long v = strtoul(value, &end, 10);
        if (*end != '\0' || v > max)
                goto bad;
        *out = (uint8_t)v;
        return 0;
bad:
        snprintf(err, n, "%s: '%s' is not 0..%u", key, value, max);
        return -1;
}

static int parse_trusted(struct dns_ecs_config *ecs, const char *value, char *err,
                         size_t n)
{
        ecs->trusted_count = 0;
        if (strcmp(value, "any") == 0)
                return 0;
        char copy[2048], *save = NULL;
        snprintf(copy, sizeof(copy), "%s", value);
        for (char *item = strtok_r(copy, ",", &save); item != NULL;
             item = strtok_r(NULL, ",", &save)) {
                if (ecs->trusted_count == DNS_ECS_TRUSTED_MAX ||
                    dns_net_parse(item, &ecs->trusted[ecs->trusted_count]) != 0) {
                        snprintf(err, n,
                                 "ecs-trusted: '%s' is not a network (192.0.2.0/24, "
                                 "2001:db8::/32; at most %d)",
                                 item, DNS_ECS_TRUSTED_MAX);
                        return -1;
                }
                ecs->trusted_count++;
        }
        if (ecs->trusted_count == 0) {
                snprintf(err, n, "ecs-trusted: no network given (\"any\" for all)");
                return -1;
        }
        return 0;
}

struct region {
        char name[NODE_REGION_NAMEMAX + 1];
        int32_t lat, lon;
};
static struct region regions[NODE_REGIONS_MAX];
static unsigned n_regions;

int node_region_find(const char *name, int32_t *lat, int32_t *lon)
{
        for (unsigned i = 0; i < n_regions; i++)
                if (strcmp(regions[i].name, name) == 0) {
                        *lat = regions[i].lat;
                        *lon = regions[i].lon;
                        return 0;
                }
        return -ENOENT;
}

static bool region_name_ok(const char *s, size_t len)
{
        if (len == 0 || len > NODE_REGION_NAMEMAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                      s[i] == '-' || s[i] == '_'))
                        return false;
        return true;
}

static int parse_degree(const char *s, double max, int32_t *out)
{
        char *end;
        double d = strtod(s, &end);
        if (end == s || *end != '\0' || !(d >= -max && d <= max))
                return -1;
        *out = (int32_t)llround(d * 1e6);
        return 0;
}

/* NAME=LAT,LON[;NAME=LAT,LON..]: a name given again takes its new place. */
static int parse_regions(const char *value, char *err, size_t n)
{
        char copy[4096], *save = NULL;
        if (strlen(value) >= sizeof(copy)) {
                snprintf(err, n, "region-coordinates: longer than %zu bytes",
                         sizeof(copy) - 1);
                return -1;
        }
        snprintf(copy, sizeof(copy), "%s", value);
        for (char *item = strtok_r(copy, ";", &save); item != NULL;
             item = strtok_r(NULL, ";", &save)) {
                char *eq = strchr(item, '='), *comma = eq ? strchr(eq, ',') : NULL;
                struct region r;
                if (eq == NULL || comma == NULL ||
                    !region_name_ok(item, (size_t)(eq - item)))
                        goto bad;
                *eq = *comma = '\0';
                if (parse_degree(eq + 1, 90.0, &r.lat) != 0 ||
                    parse_degree(comma + 1, 180.0, &r.lon) != 0)
                        goto bad;
                snprintf(r.name, sizeof(r.name), "%s", item);
                unsigned i = 0;
                while (i < n_regions && strcmp(regions[i].name, r.name) != 0)
                        i++;
                if (i == NODE_REGIONS_MAX) {
                        snprintf(err, n, "region-coordinates: more than %d regions",
                                 NODE_REGIONS_MAX);
                        return -1;
                }
                regions[i] = r;
                if (i == n_regions)
                        n_regions++;
                continue;
        bad:
                snprintf(err, n,
                         "region-coordinates: '%s' is not NAME=LAT,LON (a name of "
                         "a-z 0-9 - _, latitude -90..90, longitude -180..180)",
                         item);
                return -1;
        }
        return 0;
}

int node_config_apply_geo(struct node_config *cfg, const char *key, const char *value,
                          char *err, size_t n)
{
        struct dns_ecs_config *ecs = &cfg->ecs;
        if (strcmp(key, "ecs") == 0) {
                if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
                        snprintf(err, n, "ecs: '%s' is not on or off", value);
                        return -1;
                }
                ecs->enabled = value[1] == 'n';
                return 0;
        }
        if (strcmp(key, "ecs-max-ipv4-prefix") == 0)
                return parse_prefix(key, value, 32, &ecs->max_ipv4, err, n);
        if (strcmp(key, "ecs-max-ipv6-prefix") == 0)
                return parse_prefix(key, value, 128, &ecs->max_ipv6, err, n);
        if (strcmp(key, "ecs-trusted") == 0)
                return parse_trusted(ecs, value, err, n);
        if (strcmp(key, "region-coordinates") == 0)
                return parse_regions(value, err, n);
        if (strcmp(key, "latency-report-interval") == 0) {
                char *end;
                unsigned long secs = strtoul(value, &end, 10);
                if (value[0] < '0' || value[0] > '9' || *end != '\0' || secs == 0 ||
                    secs > 3600) {
                        snprintf(err, n,
                                 "latency-report-interval: '%s' is not 1..3600 seconds",
                                 value);
                        return -1;
                }
                cfg->latency_report_ms = (unsigned)secs * 1000;
                return 0;
        }
        if (strcmp(key, "geoip-db") == 0) {
                size_t len = strlen(value);
                if (len == 0 || len >= sizeof(cfg->geoip_db)) {
                        snprintf(err, n, "geoip-db: path empty or longer than %zu bytes",
                                 sizeof(cfg->geoip_db) - 1);
                        return -1;
                }
                memcpy(cfg->geoip_db, value, len + 1);
                return 0;
        }
        return 1;
}
