/*
 * rrset.h — the record sets of one owner name, as one immutable blob.
 *
 * A blob lists the sets sorted by (type, set id) and holds each record
 * pre-encoded as it goes on the wire after the owner name: type, class,
 * TTL, RDLENGTH, RDATA.  Answering an RRset is then a copy per record (plus
 * name compression inside the RDATA of the RFC 1035 types).  A record set is
 * keyed by (type, set id): set id 0 is the plain record set; routing policies
 * give each of their sets its own id.
 *
 * Blobs are never changed once published: every edit builds a new blob, so
 * the cost of a change is the size of that one name's data.
 *
 * A set may carry a routing policy (dns/route.h): its policy, weight,
 * failover role and health check index sit in its info.  An alias set holds
 * one pseudo-record whose RDATA is the target's wire name: it is never
 * written as it is, only followed (names holding routed sets are flagged
 * DNS_NODE_POLICY, and only the routed answer path reads them).
 */
#ifndef DNS_RRSET_H
#define DNS_RRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DNS_RR_HEADER 10 /* type, class, ttl, rdlength */

enum dns_policy {
        DNS_POLICY_NONE = 0, /* plain (or a plain alias) */
        DNS_POLICY_WEIGHTED = 1,
        DNS_POLICY_FAILOVER = 2,
        DNS_POLICY_MULTIVALUE = 3,
};

enum {
        DNS_ROUTE_ALIAS = 1 << 0,     /* the one record is the target's name */
        DNS_ROUTE_EVALUATE = 1 << 1,  /* alias: evaluate_target_health */
        DNS_ROUTE_PRIMARY = 1 << 2,   /* failover role */
        DNS_ROUTE_SECONDARY = 1 << 3, /* failover role */
};

/* What a routed set carries; all zero for a plain set. */
struct dns_route {
        uint8_t policy; /* enum dns_policy */
        uint8_t flags;  /* DNS_ROUTE_* */
        uint8_t weight;
        uint32_t health;   /* 0: no check; else 1 + index in the health version */
        uint32_t location; /* geolocation (dns_geo_key); 0: not a geolocation set */
        /* Geoproximity (location DNS_GEO_PROXIMITY): the record's place in
         * millionths of a degree and its bias -99..99. */
        int32_t prox_latitude, prox_longitude, prox_bias;
        /* Latency (location DNS_GEO_LATENCY): dns_latency_region_key() of
         * the set's region; its place is prox_latitude/longitude (bias 0). */
        uint64_t latency_region;
        /* IP-based (location DNS_GEO_CIDR): the numbers the node gave the
         * set's collection and location (dns_cidr_ref). */
        uint32_t cidr_collection, cidr_location;
};

/* Geolocation keys: a location packed in 31 bits so that matching is an
 * integer compare.  Bits 0-2: the level; 3-12: two letters (continent or
 * country, 5 bits each); 13-30: up to three subdivision characters (6 bits
 * each: A-Z, 0-9). */
enum dns_geo_level {
        DNS_GEO_DEFAULT = 1, /* "*" */
        DNS_GEO_CONTINENT = 2,
        DNS_GEO_COUNTRY = 3,
        DNS_GEO_SUBDIVISION = 4,
        DNS_GEO_PROXIMITY = 5, /* the location of every geoproximity set */
        DNS_GEO_LATENCY = 6,   /* the location of every latency set */
        DNS_GEO_CIDR = 7,      /* the location of every IP-based set */
};

static inline uint32_t dns_geo_char(char c)
{
        return c >= 'A' && c <= 'Z'   ? (uint32_t)(c - 'A' + 1)
               : c >= '0' && c <= '9' ? (uint32_t)(c - '0' + 27)
                                      : 0;
}

/* The key of a level with its code(s); 0 when a code is missing. */
static inline uint32_t dns_geo_key(enum dns_geo_level level, const char *two,
                                   const char *sub)
{
        if (level == DNS_GEO_DEFAULT)
                return DNS_GEO_DEFAULT;
        uint32_t a = dns_geo_char(two[0]), b = a ? dns_geo_char(two[1]) : 0;
        if (a == 0 || b == 0 || a > 26 || b > 26)
                return 0;
        uint32_t key = (uint32_t)level | a << 3 | b << 8;
        if (level != DNS_GEO_SUBDIVISION)
                return key;
        for (unsigned i = 0; i < 3 && sub[i] != '\0'; i++)
                key |= dns_geo_char(sub[i]) << (13 + 6 * i);
        return key >> 13 != 0 ? key : 0;
}

/* The most health checks a set can name (struct dns_route.health). */
#define DNS_HEALTH_MAX ((1u << 18) - 1)

struct dns_rrset_info {
        uint16_t type;
        uint16_t count; /* records */
        uint32_t ttl;
        uint32_t set_id; /* 0: plain record set */
        uint32_t offset; /* of the first record in the blob's data */
        uint32_t size;   /* bytes of all its records */
        /* struct dns_route packed (0: plain): policy in bits 0-1, flags in
         * 2-5, weight in 6-13, health check in 14-31; read it with the
         * accessors below. */
        uint32_t routing;
        /* dns_geo_key of a geolocation set, DNS_GEO_PROXIMITY for a
         * geoproximity set and DNS_GEO_LATENCY for a latency set (their
         * struct dns_prox follows its records in the blob's data, not
         * counted in size), DNS_GEO_CIDR for an IP-based set (its struct
         * dns_cidr_ref follows them the same way); 0: none of these */
        uint32_t location;
};

/* A geoproximity set's place, computed when the blob is built so that a
 * query only multiplies and adds: the point on the unit sphere and the
 * factor its bias puts on distances (1 - bias/100 for a positive bias,
 * 1 / (1 + bias/100) for a negative one).  Kept out of line so that every
 * other set's info stays small. */
struct dns_prox {
        float x, y, z, factor;
        uint64_t region; /* a latency set's region key; 0 otherwise */
};

static inline bool dns_rrset_has_place(const struct dns_rrset_info *info)
{
        return info->location == DNS_GEO_PROXIMITY || info->location == DNS_GEO_LATENCY;
}

/* An IP-based set's collection and location, as numbers the node interned
 * (node/publish.c); location DNS_CIDR_DEFAULT is "*".  The same size as
 * struct dns_prox: a set's trailer is one or the other. */
#define DNS_CIDR_DEFAULT 0u
struct dns_cidr_ref {
        uint32_t collection, location;
        uint32_t unused[4];
};

static inline bool dns_rrset_routed(const struct dns_rrset_info *info)
{
        return info->routing != 0 || info->location != 0;
}

static inline unsigned dns_rrset_policy(const struct dns_rrset_info *info)
{
        return info->routing & 3;
}

static inline unsigned dns_rrset_route_flags(const struct dns_rrset_info *info)
{
        return (info->routing >> 2) & 0xf;
}

static inline unsigned dns_rrset_weight(const struct dns_rrset_info *info)
{
        return (info->routing >> 6) & 0xff;
}

static inline uint32_t dns_rrset_health(const struct dns_rrset_info *info)
{
        return info->routing >> 14;
}

static inline uint32_t dns_route_pack(const struct dns_route *route)
{
        return (uint32_t)(route->policy & 3) | (uint32_t)(route->flags & 0xf) << 2 |
               (uint32_t)route->weight << 6 | route->health << 14;
}

struct dns_rrsets {
        uint16_t count;
        uint16_t pad;
        uint32_t data_size;
        struct dns_rrset_info set[]; /* followed by data_size bytes of records */
};

static inline const uint8_t *dns_rrsets_data(const struct dns_rrsets *sets)
{
        return (const uint8_t *)&sets->set[sets->count];
}

/* The place of a geoproximity or latency set of sets (all zero for any
 * other set). */
static inline struct dns_prox dns_rrset_prox(const struct dns_rrsets *sets,
                                             const struct dns_rrset_info *info)
{
        struct dns_prox p = {0, 0, 0, 0, 0};
        if (dns_rrset_has_place(info))
                memcpy(&p, dns_rrsets_data(sets) + info->offset + info->size, sizeof(p));
        return p;
}

/* The collection and location of an IP-based set (zero for any other). */
static inline struct dns_cidr_ref dns_rrset_cidr(const struct dns_rrsets *sets,
                                                 const struct dns_rrset_info *info)
{
        struct dns_cidr_ref r = {0, 0, {0, 0, 0, 0}};
        if (info->location == DNS_GEO_CIDR)
                memcpy(&r, dns_rrsets_data(sets) + info->offset + info->size, sizeof(r));
        return r;
}

/* First set of a type (any set id), or NULL.  sets may be NULL. */
const struct dns_rrset_info *dns_rrsets_find(const struct dns_rrsets *sets,
                                             uint16_t type);

/* The set with this exact key, or NULL. */
const struct dns_rrset_info *dns_rrsets_get(const struct dns_rrsets *sets, uint16_t type,
                                            uint32_t set_id);

/*
 * Builds in *out a copy of `old` (may be NULL) with one record added to the
 * set (type, set_id).  A record equal to one already present is not added
 * (*out = NULL, returns 0).  When the set exists with another TTL the set
 * keeps its TTL and 1 is returned.  Returns -ENOMEM or -E2BIG on failure.
 */
int dns_rrsets_add(const struct dns_rrsets *old, uint16_t type, uint32_t set_id,
                   uint32_t ttl, const uint8_t *rdata, uint16_t rdlen,
                   struct dns_rrsets **out);

/*
 * Builds in *out a copy of `old` where the set (type, set_id) is replaced by
 * `count` records (rdata[i], rdlen[i]) with this TTL, or removed when count
 * is 0.  *out is NULL when the result has no sets.  Returns 0 or -ENOMEM.
 */
int dns_rrsets_put(const struct dns_rrsets *old, uint16_t type, uint32_t set_id,
                   uint32_t ttl, const uint8_t *const *rdata, const uint16_t *rdlen,
                   size_t count, struct dns_rrsets **out);

/* A geoproximity route's place and bias as a struct dns_prox. */
void dns_rrset_prox_set(struct dns_prox *prox, const struct dns_route *route);

/* The same, the set carrying `route` (NULL: plain); -E2BIG when its health
 * check number is over DNS_HEALTH_MAX. */
int dns_rrsets_put_route(const struct dns_rrsets *old, uint16_t type, uint32_t set_id,
                         uint32_t ttl, const uint8_t *const *rdata, const uint16_t *rdlen,
                         size_t count, const struct dns_route *route,
                         struct dns_rrsets **out);

/* Walks the records of a set: returns the next record's wire or NULL. */
static inline const uint8_t *dns_rrset_next(const struct dns_rrsets *sets,
                                            const struct dns_rrset_info *info,
                                            const uint8_t *prev)
{
        const uint8_t *data = dns_rrsets_data(sets);
        const uint8_t *next;
        if (prev == NULL)
                next = data + info->offset;
        else
                next = prev + DNS_RR_HEADER + (((unsigned)prev[8] << 8) | prev[9]);
        return next < data + info->offset + info->size ? next : NULL;
}

static inline uint16_t dns_rr_rdlen(const uint8_t *rr)
{
        return (uint16_t)((rr[8] << 8) | rr[9]);
}

static inline const uint8_t *dns_rr_rdata(const uint8_t *rr)
{
        return rr + DNS_RR_HEADER;
}

#endif
