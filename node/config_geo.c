/*
 * config_geo.c — the node's location settings: EDNS Client Subnet
 * (ecs, ecs-max-ipv4-prefix, ecs-max-ipv6-prefix, ecs-trusted) and the
 * GeoIP database (geoip-db).
 *
 * config.c hands every key it reads (file line or flag) to
 * node_config_apply_geo() first; a key that is not one of these comes back
 * as 1 and config.c goes on with its own.
 */
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
