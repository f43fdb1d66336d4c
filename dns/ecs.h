/*
 * ecs.h — EDNS Client Subnet (RFC 7871) and the client's location.
 *
 * The query parser (dns/packet.c) checks an ECS option with
 * dns_ecs_parse() and keeps where it lies in the query.  The server then
 * calls dns_query_locate() once per query with the packet's source
 * address: the location that routing decides on is the option's subnet —
 * cut to the configured longest prefix (default /24 and /56, as resolvers
 * expect) and only when the sender is a trusted resolver, if the operator
 * named some — else the source address itself.  An option that was used is
 * echoed in the response (FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as the
 * query had them) with the SCOPE PREFIX-LENGTH that routing says the answer
 * depended on: 0 unless a location-based policy chose it.  Nothing here
 * allocates, locks or calls the kernel.
 */
#ifndef DNS_ECS_H
#define DNS_ECS_H

#include <stdbool.h>
#include <stdint.h>

#include "dns/addr.h"

#define DNS_EDNS_ECS        8 /* option code */
#define DNS_ECS_FAMILY_IPV4 1 /* address family numbers (IANA) */
#define DNS_ECS_FAMILY_IPV6 2
#define DNS_ECS_TRUSTED_MAX 32

/* An ECS option as read from a query. */
struct dns_ecs {
        uint8_t family; /* DNS_ECS_FAMILY_* */
        uint8_t source; /* SOURCE PREFIX-LENGTH */
        uint8_t scope;  /* SCOPE PREFIX-LENGTH (0 in a valid query) */
        uint8_t addr_len;
        uint8_t addr[16]; /* the ADDRESS bytes, zero past addr_len */
};

/* What a node does with ECS. */
struct dns_ecs_config {
        bool enabled;     /* false: ECS ignored (never echoed) */
        uint8_t max_ipv4; /* longest source prefix used, 0..32 (default 24) */
        uint8_t max_ipv6; /* 0..128 (default 56) */
        /* When non-zero: ECS is used only from senders in these networks;
         * others are located by their own address. */
        unsigned trusted_count;
        struct dns_net trusted[DNS_ECS_TRUSTED_MAX];
};

/* The defaults: on, /24 and /56, from any sender. */
void dns_ecs_config_default(struct dns_ecs_config *cfg);

/*
 * Reads the option data (len bytes after OPTION-CODE and OPTION-LENGTH).
 * -EINVAL (the query is FORMERR, RFC 7871 §7.1.1) when the family is
 * unknown, the source prefix is longer than the family's address, the
 * address has more or fewer bytes than the prefix needs, bits past the
 * prefix are set, or the scope is not 0.
 */
int dns_ecs_parse(const uint8_t *data, uint16_t len, struct dns_ecs *out);

/* A query's client location: the network routing decides on. */
struct dns_location {
        struct dns_net net; /* family 0: unknown (no decision by location) */
        bool from_ecs;      /* the query's ECS option was used (and is echoed) */
};

/* The location of a client whose option is ecs (NULL: none), sent from
 * peer (NULL or family 0: unknown), under cfg (NULL: defaults). */
void dns_location_set(struct dns_location *loc, const struct dns_ecs *ecs,
                      const struct dns_client_addr *peer,
                      const struct dns_ecs_config *cfg);

/* Bytes the echoed option takes in a response (4 + option data). */
static inline unsigned dns_ecs_echo_size(const struct dns_ecs *ecs)
{
        return 4u + 4u + ecs->addr_len;
}

/* Writes the echoed option (see dns_ecs_echo_size) with the given scope. */
void dns_ecs_echo_write(uint8_t *out, const struct dns_ecs *ecs, uint8_t scope);

#endif
