/*
 * addr.h — a client's address as the limits see it: family and the 4 or 16
 * address bytes, without port, so that it can be compared, hashed and
 * masked to a network (IPv4 /24, IPv6 /56) cheaply on the query path.
 */
#ifndef DNS_ADDR_H
#define DNS_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

struct dns_client_addr {
        uint8_t family; /* AF_INET or AF_INET6; 0: unknown */
        uint8_t len;    /* 4 or 16 */
        uint8_t bytes[16];
};

/* Reads sa byte-wise: callers fill it through other struct types. */
static inline void dns_client_addr_set(struct dns_client_addr *a,
                                       const struct sockaddr *sa)
{
        const char *raw = (const char *)sa;
        sa_family_t family;
        memcpy(&family, raw + offsetof(struct sockaddr, sa_family), sizeof(family));
        memset(a, 0, sizeof(*a));
        if (family == AF_INET) {
                a->family = AF_INET;
                a->len = 4;
                memcpy(a->bytes, raw + offsetof(struct sockaddr_in, sin_addr), 4);
        } else if (family == AF_INET6) {
                a->family = AF_INET6;
                a->len = 16;
                memcpy(a->bytes, raw + offsetof(struct sockaddr_in6, sin6_addr), 16);
        }
}

/* A network: family, prefix length and the address bytes (masked);
 * parsed and matched by dns/rrl.h's dns_net_parse / dns_net_contains. */
struct dns_net {
        uint8_t family;
        uint8_t prefix;
        uint8_t bytes[16];
};

static inline bool dns_client_addr_equal(const struct dns_client_addr *a,
                                         const struct dns_client_addr *b)
{
        return a->family == b->family && memcmp(a->bytes, b->bytes, 16) == 0;
}

#endif
