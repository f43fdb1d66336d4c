/*
 * codec.c — bounded msgpack walking and typed getters (see codec.h).
 */
#include "consensus/codec.h"

#include <stdarg.h>
#include <stdio.h>

#include <errno.h>
#include <string.h>

static uint64_t be(const uint8_t *p, int n)
{
        uint64_t v = 0;
        for (int i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

long cs_mp_object_len(const uint8_t *buf, size_t len)
{
        size_t off = 0;
        uint64_t pending = 1; /* objects still to read */
        while (pending > 0) {
                if (off >= len)
                        return -1;
                uint8_t t = buf[off++];
                uint64_t skip = 0, items = 0;
                int hdr = 0; /* length bytes after the type byte */
                pending--;
                if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
                        /* fixint, nil, bool */
                } else if (t >= 0x80 && t <= 0x8f) {
                        items = 2 * (uint64_t)(t & 0x0f);
                } else if (t >= 0x90 && t <= 0x9f) {
                        items = t & 0x0f;
                } else if (t >= 0xa0 && t <= 0xbf) {
                        skip = t & 0x1f;
                } else {
                        switch (t) {
                        case 0xc4:
                        case 0xd9:
                                hdr = 1;
                                break; /* bin8, str8 */
                        case 0xc5:
                        case 0xda:
                                hdr = 2;
                                break;
                        case 0xc6:
                        case 0xdb:
                                hdr = 4;
                                break;
                        case 0xc7:
                                hdr = 1;
                                skip = 1;
                                break; /* ext8: + type byte */
                        case 0xc8:
                                hdr = 2;
                                skip = 1;
                                break;
                        case 0xc9:
                                hdr = 4;
                                skip = 1;
                                break;
                        case 0xca:
                                skip = 4;
                                break;
                        case 0xcb:
                                skip = 8;
                                break;
                        case 0xcc:
                        case 0xd0:
                                skip = 1;
                                break;
                        case 0xcd:
                        case 0xd1:
                                skip = 2;
                                break;
                        case 0xce:
                        case 0xd2:
                                skip = 4;
                                break;
                        case 0xcf:
                        case 0xd3:
                                skip = 8;
                                break;
                        case 0xd4:
                                skip = 2;
                                break; /* fixext: type + data */
                        case 0xd5:
                                skip = 3;
                                break;
                        case 0xd6:
                                skip = 5;
                                break;
                        case 0xd7:
                                skip = 9;
                                break;
                        case 0xd8:
                                skip = 17;
                                break;
                        case 0xdc:
                        case 0xdd: /* array16/32 */
                        case 0xde:
                        case 0xdf: { /* map16/32 */
                                int n = (t == 0xdc || t == 0xde) ? 2 : 4;
                                if (len - off < (size_t)n)
                                        return -1;
                                items = be(buf + off, n);
                                if (t >= 0xde)
                                        items *= 2;
                                off += (size_t)n;
                                break;
                        }
                        default:
                                return -1; /* 0xc1: never used */
                        }
                }
                if (hdr) {
                        if (len - off < (size_t)hdr)
                                return -1;
                        skip += be(buf + off, hdr);
                        off += (size_t)hdr;
                }
                if (skip > len - off)
                        return -1;
                off += skip;
                pending += items;
                if (pending > len - off)
                        return -1; /* every object needs at least one byte */
        }
        return (long)off;
}

int cs_mp_unpack(msgpack_unpacked *out, const uint8_t *buf, size_t len, size_t *off)
{
        if (*off > len)
                return -EBADMSG;
        long n = cs_mp_object_len(buf + *off, len - *off);
        if (n < 0)
                return -EBADMSG;
        size_t sub = 0;
        msgpack_unpack_return r =
            msgpack_unpack_next(out, (const char *)buf + *off, (size_t)n, &sub);
        if (r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES)
                return -EBADMSG;
        *off += sub;
        return 0;
}

int cs_mp_u64(const msgpack_object *o, uint64_t *v)
{
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return -EBADMSG;
        *v = o->via.u64;
        return 0;
}

int cs_mp_u32(const msgpack_object *o, uint32_t *v)
{
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
                return -EBADMSG;
        *v = (uint32_t)o->via.u64;
        return 0;
}

int cs_mp_u16(const msgpack_object *o, uint16_t *v)
{
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT16_MAX)
                return -EBADMSG;
        *v = (uint16_t)o->via.u64;
        return 0;
}

int cs_mp_bool(const msgpack_object *o, bool *v)
{
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
                return -EBADMSG;
        *v = o->via.boolean;
        return 0;
}

int cs_mp_str(const msgpack_object *o, msgpack_zone *zone, size_t max, bool nil_ok,
              const char **v)
{
        if (o->type == MSGPACK_OBJECT_NIL && nil_ok) {
                *v = NULL;
                return 0;
        }
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max ||
            (o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size) != NULL))
                return -EBADMSG;
        char *s = msgpack_zone_malloc(zone, o->via.str.size + 1);
        if (s == NULL)
                return -ENOMEM;
        if (o->via.str.size)
                memcpy(s, o->via.str.ptr, o->via.str.size);
        s[o->via.str.size] = 0;
        *v = s;
        return 0;
}

int cs_mp_bin(const msgpack_object *o, size_t max, const uint8_t **ptr, size_t *len)
{
        if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size > max)
                return -EBADMSG;
        /* An empty bin may have a NULL pointer: give a valid one. */
        *ptr = o->via.bin.size ? (const uint8_t *)o->via.bin.ptr : (const uint8_t *)"";
        *len = o->via.bin.size;
        return 0;
}

int cs_mp_array(const msgpack_object *o, size_t n, bool at_least,
                const msgpack_object **items, size_t *count)
{
        if (o->type != MSGPACK_OBJECT_ARRAY)
                return -EBADMSG;
        if (at_least ? o->via.array.size < n : o->via.array.size != n)
                return -EBADMSG;
        *items = o->via.array.ptr;
        if (count)
                *count = o->via.array.size;
        return 0;
}

void cs_mp_pack_str(msgpack_packer *pk, const char *s)
{
        size_t n = s ? strlen(s) : 0;
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, s ? s : "", n);
}

void cs_mp_pack_bin(msgpack_packer *pk, const void *data, size_t len)
{
        msgpack_pack_bin(pk, len);
        msgpack_pack_bin_body(pk, data, len);
}

void cs_mp_pack_member(msgpack_packer *pk, const struct cs_member_spec *m)
{
        msgpack_pack_array(pk, 6);
        msgpack_pack_uint64(pk, m->id);
        cs_mp_pack_str(pk, m->name);
        cs_mp_pack_str(pk, m->raft_address);
        cs_mp_pack_str(pk, m->dns_address);
        cs_mp_pack_str(pk, m->api_address);
        msgpack_pack_int(pk, (int)m->role);
}

int cs_mp_errorf(char *err, size_t errlen, int rv, const char *fmt, ...)
{
        if (err != NULL && errlen > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return rv;
}

void cs_mp_pack_routing(msgpack_packer *pk, const struct cs_routing *r)
{
        if (r == NULL || !cs_routing_present(r)) {
                msgpack_pack_nil(pk);
                return;
        }
        /* A geolocation is a 6th element, a geoproximity location a 7th, a
         * latency region an 8th, a CIDR location a 9th (those before nil
         * then); without them the array keeps the 5 elements older nodes
         * read. */
        msgpack_pack_array(pk, r->has_cidr      ? 9
                               : r->has_latency ? 8
                               : r->has_prox    ? 7
                               : r->has_geo     ? 6
                                                : 5);
        if (r->has_weight)
                msgpack_pack_uint32(pk, r->weight);
        else
                msgpack_pack_nil(pk);
        msgpack_pack_uint32(pk, r->failover);
        if (r->multi_value_answer)
                msgpack_pack_true(pk);
        else
                msgpack_pack_false(pk);
        if (r->health_check_id && r->health_check_id[0])
                cs_mp_pack_str(pk, r->health_check_id);
        else
                msgpack_pack_nil(pk);
        if (!cs_routing_is_alias(r)) {
                msgpack_pack_nil(pk);
        } else {
                msgpack_pack_array(pk, 3);
                cs_mp_pack_bin(pk, r->alias_name, r->alias_name_len);
                if (r->evaluate_target_health)
                        msgpack_pack_true(pk);
                else
                        msgpack_pack_false(pk);
                if (r->alias_zone_id && r->alias_zone_id[0])
                        cs_mp_pack_str(pk, r->alias_zone_id);
                else
                        msgpack_pack_nil(pk);
        }
        if (r->has_geo) {
                msgpack_pack_array(pk, 3);
                cs_mp_pack_str(pk, r->geo_continent);
                cs_mp_pack_str(pk, r->geo_country);
                cs_mp_pack_str(pk, r->geo_subdivision);
        } else if (r->has_prox || r->has_latency || r->has_cidr) {
                msgpack_pack_nil(pk);
        }
        if (r->has_prox) {
                msgpack_pack_array(pk, r->prox_region[0] ? 4 : 3);
                msgpack_pack_int32(pk, r->prox_latitude);
                msgpack_pack_int32(pk, r->prox_longitude);
                msgpack_pack_int32(pk, r->prox_bias);
                if (r->prox_region[0])
                        cs_mp_pack_str(pk, r->prox_region);
        } else if (r->has_latency || r->has_cidr) {
                msgpack_pack_nil(pk);
        }
        if (r->has_latency) { /* an 8th element (format 4 on) */
                msgpack_pack_array(pk, 3);
                cs_mp_pack_str(pk, r->latency_region);
                msgpack_pack_int32(pk, r->latency_latitude);
                msgpack_pack_int32(pk, r->latency_longitude);
        } else if (r->has_cidr) {
                msgpack_pack_nil(pk);
        }
        if (r->has_cidr) { /* a 9th element (format 6 on) */
                msgpack_pack_array(pk, 2);
                cs_mp_pack_str(pk, r->cidr_collection);
                cs_mp_pack_str(pk, r->cidr_location);
        }
}

/* A signed 32-bit integer (the state machine checks its range). */
static int mp_i32(const msgpack_object *o, int32_t *out)
{
        if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT32_MAX)
                *out = (int32_t)o->via.u64;
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= INT32_MIN)
                *out = (int32_t)o->via.i64;
        else
                return -EBADMSG;
        return 0;
}

/* A code of at most max characters into out (NUL-terminated). */
static int geo_code(const msgpack_object *o, char *out, size_t max)
{
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max)
                return -EBADMSG;
        memcpy(out, o->via.str.ptr, o->via.str.size);
        out[o->via.str.size] = '\0';
        return strlen(out) == o->via.str.size ? 0 : -EBADMSG;
}

int cs_mp_routing(const msgpack_object *o, msgpack_zone *zone, struct cs_routing *r)
{
        const msgpack_object *f, *af;
        memset(r, 0, sizeof(*r));
        if (o->type == MSGPACK_OBJECT_NIL)
                return 0;
        size_t nf = 0;
        if (cs_mp_array(o, 5, true, &f, &nf) != 0 || nf > 9)
                return -EBADMSG;
        if (nf == 9) {
                const msgpack_object *cf;
                if (cs_mp_array(&f[8], 2, false, &cf, NULL) != 0 ||
                    geo_code(&cf[0], r->cidr_collection, CS_CIDR_ID_MAXLEN) != 0 ||
                    geo_code(&cf[1], r->cidr_location, CS_CIDR_LOCATION_MAXLEN) != 0)
                        return -EBADMSG;
                r->has_cidr = true;
        }
        if (nf >= 8 && f[7].type != MSGPACK_OBJECT_NIL) {
                const msgpack_object *l;
                if (cs_mp_array(&f[7], 3, false, &l, NULL) != 0 ||
                    geo_code(&l[0], r->latency_region, CS_PROX_REGION_MAXLEN) != 0 ||
                    r->latency_region[0] == '\0' ||
                    mp_i32(&l[1], &r->latency_latitude) != 0 ||
                    mp_i32(&l[2], &r->latency_longitude) != 0)
                        return -EBADMSG;
                r->has_latency = true;
        }
        if (nf >= 7 && f[6].type != MSGPACK_OBJECT_NIL) {
                const msgpack_object *p;
                size_t np = 0;
                if (cs_mp_array(&f[6], 3, true, &p, &np) != 0 || np > 4 ||
                    mp_i32(&p[0], &r->prox_latitude) != 0 ||
                    mp_i32(&p[1], &r->prox_longitude) != 0 ||
                    mp_i32(&p[2], &r->prox_bias) != 0)
                        return -EBADMSG;
                if (np == 4 &&
                    (geo_code(&p[3], r->prox_region, CS_PROX_REGION_MAXLEN) != 0 ||
                     r->prox_region[0] == '\0'))
                        return -EBADMSG;
                r->has_prox = true;
        }
        if (nf >= 6 && f[5].type != MSGPACK_OBJECT_NIL) {
                const msgpack_object *g;
                if (cs_mp_array(&f[5], 3, false, &g, NULL) != 0 ||
                    geo_code(&g[0], r->geo_continent, 2) != 0 ||
                    geo_code(&g[1], r->geo_country, 2) != 0 ||
                    geo_code(&g[2], r->geo_subdivision, 3) != 0)
                        return -EBADMSG;
                r->has_geo = true;
        }
        if (f[0].type != MSGPACK_OBJECT_NIL) {
                if (cs_mp_u32(&f[0], &r->weight) != 0)
                        return -EBADMSG;
                r->has_weight = true;
        }
        if (cs_mp_u32(&f[1], &r->failover) != 0 ||
            cs_mp_bool(&f[2], &r->multi_value_answer) != 0 ||
            cs_mp_str(&f[3], zone, CS_ID_MAXLEN, true, &r->health_check_id) != 0)
                return -EBADMSG;
        if (f[4].type == MSGPACK_OBJECT_NIL)
                return 0;
        if (cs_mp_array(&f[4], 3, false, &af, NULL) != 0 ||
            cs_mp_bin(&af[0], 255, &r->alias_name, &r->alias_name_len) != 0 ||
            r->alias_name_len == 0 ||
            cs_mp_bool(&af[1], &r->evaluate_target_health) != 0 ||
            cs_mp_str(&af[2], zone, CS_ID_MAXLEN, true, &r->alias_zone_id) != 0)
                return -EBADMSG;
        return 0;
}
