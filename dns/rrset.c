/*
 * rrset.c — building record-set blobs (see rrset.h).
 *
 * Every edit decodes the old blob into a small array of set views, changes
 * that array, and encodes a fresh blob.  Names hold few sets, so this costs
 * the size of the name's data, never more.
 */
#include "dns/rrset.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/zalloc.h"
#include "dns/wire.h"

const struct dns_rrset_info *dns_rrsets_find(const struct dns_rrsets *sets, uint16_t type)
{
        if (sets == NULL)
                return NULL;
        for (unsigned i = 0; i < sets->count; i++) {
                if (sets->set[i].type == type)
                        return &sets->set[i];
                if (sets->set[i].type > type)
                        break;
        }
        return NULL;
}

const struct dns_rrset_info *dns_rrsets_get(const struct dns_rrsets *sets, uint16_t type,
                                            uint32_t set_id)
{
        if (sets == NULL)
                return NULL;
        for (unsigned i = 0; i < sets->count; i++)
                if (sets->set[i].type == type && sets->set[i].set_id == set_id)
                        return &sets->set[i];
        return NULL;
}

struct view {
        struct dns_rrset_info info;
        const uint8_t *data;  /* the set's records in the old blob */
        const uint8_t *extra; /* records appended after them (already encoded) */
        uint32_t extra_size;
        /* Written after the records of a geoproximity set (its place) or
         * of an IP-based set (a struct dns_cidr_ref, of the same size). */
        struct dns_prox prox;
};

_Static_assert(sizeof(struct dns_cidr_ref) == sizeof(struct dns_prox),
               "one trailer size for both kinds");

/* Bytes after a set's records: its place or its CIDR reference. */
static size_t trailer_size(const struct dns_rrset_info *info)
{
        return dns_rrset_has_place(info) || info->location == DNS_GEO_CIDR
                   ? sizeof(struct dns_prox)
                   : 0;
}

static int key_cmp(uint16_t ta, uint32_t ia, uint16_t tb, uint32_t ib)
{
        if (ta != tb)
                return ta < tb ? -1 : 1;
        if (ia != ib)
                return ia < ib ? -1 : 1;
        return 0;
}

#define STACK_VIEWS 16

/* Views of old's sets, in `stack` when they fit (then not to be freed). */
static struct view *decode(const struct dns_rrsets *old, size_t extra_slots, size_t *n,
                           struct view *stack)
{
        size_t count = old ? old->count : 0;
        struct view *v = stack;
        if (count + extra_slots > STACK_VIEWS)
                v = zalloc(count + extra_slots, sizeof(*v));
        else
                memset(v, 0, (count + extra_slots) * sizeof(*v));
        if (v == NULL)
                return NULL;
        for (size_t i = 0; i < count; i++) {
                v[i].info = old->set[i];
                v[i].data = dns_rrsets_data(old) + old->set[i].offset;
                if (trailer_size(&old->set[i]) != 0)
                        memcpy(&v[i].prox,
                               dns_rrsets_data(old) + old->set[i].offset +
                                   old->set[i].size,
                               sizeof(v[i].prox));
        }
        *n = count;
        return v;
}

static struct dns_rrsets *encode(const struct view *v, size_t n)
{
        size_t data = 0, live = 0;
        for (size_t i = 0; i < n; i++) {
                if (v[i].info.count == 0)
                        continue;
                data += v[i].info.size + v[i].extra_size + trailer_size(&v[i].info);
                live++;
        }
        if (live == 0)
                return NULL;
        struct dns_rrsets *out = malloc(sizeof(*out) + live * sizeof(out->set[0]) + data);
        if (out == NULL)
                return NULL;
        out->count = (uint16_t)live;
        out->pad = 0;
        out->data_size = (uint32_t)data;
        uint8_t *p = (uint8_t *)&out->set[live];
        uint32_t off = 0;
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
                if (v[i].info.count == 0)
                        continue;
                out->set[j] = v[i].info;
                out->set[j].offset = off;
                if (v[i].info.size != 0) /* a new set has no data (NULL) */
                        memcpy(p + off, v[i].data, v[i].info.size);
                if (v[i].extra_size != 0)
                        memcpy(p + off + v[i].info.size, v[i].extra, v[i].extra_size);
                out->set[j].size = v[i].info.size + v[i].extra_size;
                off += out->set[j].size;
                if (trailer_size(&v[i].info) != 0) {
                        memcpy(p + off, &v[i].prox, sizeof(v[i].prox));
                        off += sizeof(v[i].prox);
                }
                j++;
        }
        return out;
}

/* Index where key belongs; *found tells whether it is there. */
static size_t locate(struct view *v, size_t n, uint16_t type, uint32_t set_id,
                     bool *found)
{
        size_t i = 0;
        while (i < n && key_cmp(v[i].info.type, v[i].info.set_id, type, set_id) < 0)
                i++;
        *found = i < n && v[i].info.type == type && v[i].info.set_id == set_id;
        return i;
}

static void insert_at(struct view *v, size_t *n, size_t i, uint16_t type, uint32_t set_id,
                      uint32_t ttl)
{
        memmove(&v[i + 1], &v[i], (*n - i) * sizeof(*v));
        memset(&v[i], 0, sizeof(*v));
        v[i].info.type = type;
        v[i].info.set_id = set_id;
        v[i].info.ttl = ttl;
        (*n)++;
}

static void encode_rr(uint8_t *p, uint16_t type, uint32_t ttl, const uint8_t *rdata,
                      uint16_t rdlen)
{
        wire_put16(p, type);
        wire_put16(p + 2, 1 /* IN */);
        wire_put32(p + 4, ttl);
        wire_put16(p + 8, rdlen);
        memcpy(p + DNS_RR_HEADER, rdata, rdlen);
}

int dns_rrsets_add(const struct dns_rrsets *old, uint16_t type, uint32_t set_id,
                   uint32_t ttl, const uint8_t *rdata, uint16_t rdlen,
                   struct dns_rrsets **out)
{
        *out = NULL;
        int rc = 0;
        const struct dns_rrset_info *have = dns_rrsets_get(old, type, set_id);
        if (have != NULL) {
                if (have->count == UINT16_MAX)
                        return -E2BIG;
                for (const uint8_t *rr = dns_rrset_next(old, have, NULL); rr != NULL;
                     rr = dns_rrset_next(old, have, rr))
                        if (dns_rr_rdlen(rr) == rdlen &&
                            memcmp(dns_rr_rdata(rr), rdata, rdlen) == 0)
                                return 0;
                if (have->ttl != ttl) {
                        ttl = have->ttl;
                        rc = 1;
                }
        }
        uint8_t small[512];
        uint8_t *rec = DNS_RR_HEADER + (size_t)rdlen <= sizeof(small)
                           ? small
                           : malloc(DNS_RR_HEADER + (size_t)rdlen);
        if (rec == NULL)
                return -ENOMEM;
        size_t n;
        struct view stack[STACK_VIEWS];
        struct view *v = decode(old, 1, &n, stack);
        if (v == NULL) {
                if (rec != small)
                        free(rec);
                return -ENOMEM;
        }
        bool found;
        size_t i = locate(v, n, type, set_id, &found);
        if (!found)
                insert_at(v, &n, i, type, set_id, ttl);
        encode_rr(rec, type, ttl, rdata, rdlen);
        v[i].extra = rec;
        v[i].extra_size = DNS_RR_HEADER + rdlen;
        v[i].info.count++;
        *out = encode(v, n);
        if (v != stack)
                free(v);
        if (rec != small)
                free(rec);
        return *out != NULL ? rc : -ENOMEM;
}

int dns_rrsets_put(const struct dns_rrsets *old, uint16_t type, uint32_t set_id,
                   uint32_t ttl, const uint8_t *const *rdata, const uint16_t *rdlen,
                   size_t count, struct dns_rrsets **out)
{
        return dns_rrsets_put_route(old, type, set_id, ttl, rdata, rdlen, count, NULL,
                                    out);
}

void dns_rrset_prox_set(struct dns_prox *prox, const struct dns_route *route)
{
        double lat = route->prox_latitude * 1e-6 * 3.14159265358979323846 / 180.0;
        double lon = route->prox_longitude * 1e-6 * 3.14159265358979323846 / 180.0;
        double bias = route->prox_bias / 100.0;
        prox->x = (float)(cos(lat) * cos(lon));
        prox->y = (float)(cos(lat) * sin(lon));
        prox->z = (float)sin(lat);
        prox->factor = (float)(bias >= 0 ? 1.0 - bias : 1.0 / (1.0 + bias));
        prox->region = route->location == DNS_GEO_LATENCY ? route->latency_region : 0;
}

int dns_rrsets_put_route(const struct dns_rrsets *old, uint16_t type, uint32_t set_id,
                         uint32_t ttl, const uint8_t *const *rdata, const uint16_t *rdlen,
                         size_t count, const struct dns_route *route,
                         struct dns_rrsets **out)
{
        *out = NULL;
        if (route != NULL && route->health > DNS_HEALTH_MAX)
                return -E2BIG;
        size_t size = 0;
        for (size_t k = 0; k < count; k++)
                size += DNS_RR_HEADER + rdlen[k];
        uint8_t *recs = malloc(size ? size : 1);
        if (recs == NULL)
                return -ENOMEM;
        size_t n;
        struct view stack[STACK_VIEWS];
        struct view *v = decode(old, 1, &n, stack);
        if (v == NULL) {
                free(recs);
                return -ENOMEM;
        }
        bool found;
        size_t i = locate(v, n, type, set_id, &found);
        if (!found)
                insert_at(v, &n, i, type, set_id, ttl);
        size_t off = 0;
        for (size_t k = 0; k < count; k++) {
                encode_rr(recs + off, type, ttl, rdata[k], rdlen[k]);
                off += DNS_RR_HEADER + rdlen[k];
        }
        v[i].info.ttl = ttl;
        v[i].info.count = (uint16_t)count;
        v[i].info.routing = route ? dns_route_pack(route) : 0;
        v[i].info.location = route ? route->location : 0;
        memset(&v[i].prox, 0, sizeof(v[i].prox));
        if (route != NULL &&
            (route->location == DNS_GEO_PROXIMITY || route->location == DNS_GEO_LATENCY))
                dns_rrset_prox_set(&v[i].prox, route);
        if (route != NULL && route->location == DNS_GEO_CIDR) {
                struct dns_cidr_ref ref = {
                    route->cidr_collection, route->cidr_location, {0, 0, 0, 0}};
                memcpy(&v[i].prox, &ref, sizeof(ref));
        }
        v[i].info.size = 0;
        v[i].data = NULL;
        v[i].extra = recs;
        v[i].extra_size = (uint32_t)size;
        bool any = false;
        for (size_t k = 0; k < n; k++)
                any |= v[k].info.count != 0;
        *out = any ? encode(v, n) : NULL;
        if (v != stack)
                free(v);
        free(recs);
        return (any && *out == NULL) ? -ENOMEM : 0;
}
