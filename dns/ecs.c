/*
 * ecs.c — EDNS Client Subnet checks, client location and the echo (see
 * ecs.h).
 *
 * Bytes come from the query's OPT record, already bounded by the parser;
 * they are checked once here, kept as a struct dns_ecs in the query, turned
 * into a location by dns_location_set() and written back by
 * dns_ecs_echo_write() with the scope routing reports.
 */
#include "dns/ecs.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/rrl.h"

void dns_ecs_config_default(struct dns_ecs_config *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        cfg->enabled = true;
        cfg->max_ipv4 = 24;
        cfg->max_ipv6 = 56;
}

int dns_ecs_parse(const uint8_t *data, uint16_t len, struct dns_ecs *out)
{
        memset(out, 0, sizeof(*out));
        if (len < 4)
                return -EINVAL;
        out->family = data[0] == 0 ? data[1] : 0; /* FAMILY is 16 bits */
        unsigned max = out->family == DNS_ECS_FAMILY_IPV4   ? 32
                       : out->family == DNS_ECS_FAMILY_IPV6 ? 128
                                                            : 0;
        if (max == 0)
                return -EINVAL; /* FAMILY not supported */
        out->source = data[2];
        out->scope = data[3];
        if (out->source > max || out->scope != 0)
                return -EINVAL;
        unsigned need = (out->source + 7u) / 8u;
        if (len - 4u != need)
                return -EINVAL; /* too few or too many ADDRESS octets */
        out->addr_len = (uint8_t)need;
        memcpy(out->addr, data + 4, need);
        unsigned rest = out->source % 8;
        if (rest != 0 && (out->addr[need - 1] & (uint8_t)(0xffu >> rest)) != 0)
                return -EINVAL; /* bits set past SOURCE PREFIX-LENGTH */
        return 0;
}

static bool trusted(const struct dns_ecs_config *cfg, const struct dns_client_addr *peer)
{
        if (cfg->trusted_count == 0)
                return true;
        if (peer == NULL || peer->family == 0)
                return false;
        for (unsigned i = 0; i < cfg->trusted_count; i++)
                if (dns_net_contains(&cfg->trusted[i], peer))
                        return true;
        return false;
}

void dns_location_set(struct dns_location *loc, const struct dns_ecs *ecs,
                      const struct dns_client_addr *peer,
                      const struct dns_ecs_config *cfg)
{
        static const struct dns_ecs_config defaults = {
            .enabled = true, .max_ipv4 = 24, .max_ipv6 = 56};
        if (cfg == NULL)
                cfg = &defaults;
        memset(loc, 0, sizeof(*loc));
        if (ecs != NULL && cfg->enabled && trusted(cfg, peer)) {
                bool v4 = ecs->family == DNS_ECS_FAMILY_IPV4;
                unsigned max = v4 ? cfg->max_ipv4 : cfg->max_ipv6;
                unsigned prefix = ecs->source < max ? ecs->source : max;
                loc->net.family = v4 ? AF_INET : AF_INET6;
                loc->net.prefix = (uint8_t)prefix;
                memcpy(loc->net.bytes, ecs->addr, (prefix + 7) / 8);
                if (prefix % 8 != 0)
                        loc->net.bytes[prefix / 8] &= (uint8_t)(0xff00u >> (prefix % 8));
                loc->from_ecs = true;
                return;
        }
        if (peer != NULL && peer->family != 0) {
                loc->net.family = peer->family;
                loc->net.prefix = (uint8_t)(8 * peer->len);
                /* Fixed sizes: a copy of a length the compiler does not
                 * know is a `rep movs`, slow to start (every query). */
                if (peer->len == 4)
                        memcpy(loc->net.bytes, peer->bytes, 4);
                else if (peer->len == 16)
                        memcpy(loc->net.bytes, peer->bytes, 16);
                else
                        memcpy(loc->net.bytes, peer->bytes, peer->len);
        }
}

void dns_ecs_echo_write(uint8_t *out, const struct dns_ecs *ecs, uint8_t scope)
{
        out[0] = 0;
        out[1] = DNS_EDNS_ECS;
        out[2] = 0;
        out[3] = (uint8_t)(4 + ecs->addr_len);
        out[4] = 0;
        out[5] = ecs->family;
        out[6] = ecs->source;
        out[7] = scope;
        memcpy(out + 8, ecs->addr, ecs->addr_len);
}
