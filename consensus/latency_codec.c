/*
 * latency_codec.c — msgpack forms of the latency map (see latency_codec.h).
 */
#include "consensus/latency_codec.h"

#include <errno.h>
#include <string.h>

#include "consensus/codec.h"

static void pack_prefix(msgpack_packer *pk, const struct cs_latency_prefix *p)
{
        msgpack_pack_uint8(pk, p->family);
        cs_mp_pack_bin(pk, p->addr, p->family == 4 ? 4 : 16);
        msgpack_pack_uint8(pk, p->len);
}

static int dec_prefix(const msgpack_object *f, struct cs_latency_prefix *p)
{
        uint32_t family, len;
        const uint8_t *addr;
        size_t n;
        memset(p, 0, sizeof(*p));
        if (cs_mp_u32(&f[0], &family) != 0 || (family != 4 && family != 6) ||
            cs_mp_bin(&f[1], 16, &addr, &n) != 0 || n != (family == 4 ? 4u : 16u) ||
            cs_mp_u32(&f[2], &len) != 0 || len > 128)
                return -EBADMSG;
        p->family = (uint8_t)family;
        p->len = (uint8_t)len; /* the range of the family: checked by the state */
        memcpy(p->addr, addr, n);
        return 0;
}

/* NULL as nil, anything else (even "") as a string: what decodes encodes
 * back to the same bytes. */
static void pack_opt_str(msgpack_packer *pk, const char *s)
{
        if (s != NULL)
                cs_mp_pack_str(pk, s);
        else
                msgpack_pack_nil(pk);
}

void cs_mp_pack_latency_batch(msgpack_packer *pk, const struct cs_latency_batch *b)
{
        msgpack_pack_array(pk, 3);
        msgpack_pack_uint64(pk, b->node);
        pack_opt_str(pk, b->region);
        msgpack_pack_array(pk, b->count);
        for (size_t i = 0; i < b->count; i++) {
                const struct cs_latency_item *it = &b->items[i];
                msgpack_pack_array(pk, CS_LATENCY_ITEM_FIELDS);
                pack_prefix(pk, &it->prefix);
                pack_opt_str(pk, it->region);
                msgpack_pack_uint32(pk, it->rtt_us);
                msgpack_pack_uint32(pk, it->samples);
        }
}

int cs_mp_latency_batch(const msgpack_object *o, msgpack_zone *zone,
                        struct cs_latency_batch *b)
{
        const msgpack_object *f, *items;
        size_t n;
        memset(b, 0, sizeof(*b));
        if (cs_mp_array(o, 3, false, &f, NULL) != 0 || cs_mp_u64(&f[0], &b->node) != 0 ||
            cs_mp_str(&f[1], zone, CS_LATENCY_REGION_MAXLEN, true, &b->region) != 0 ||
            cs_mp_array(&f[2], 0, true, &items, &n) != 0 || n > CS_LATENCY_BATCH_MAX)
                return -EBADMSG;
        struct cs_latency_item *v = msgpack_zone_malloc(zone, (n ? n : 1) * sizeof(*v));
        if (v == NULL)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const msgpack_object *itf;
                memset(&v[i], 0, sizeof(v[i]));
                if (cs_mp_array(&items[i], CS_LATENCY_ITEM_FIELDS, false, &itf, NULL) !=
                        0 ||
                    dec_prefix(itf, &v[i].prefix) != 0 ||
                    cs_mp_str(&itf[3], zone, CS_LATENCY_REGION_MAXLEN, true,
                              &v[i].region) != 0 ||
                    cs_mp_u32(&itf[4], &v[i].rtt_us) != 0 ||
                    cs_mp_u32(&itf[5], &v[i].samples) != 0)
                        return -EBADMSG;
        }
        b->items = v;
        b->count = n;
        return 0;
}

void cs_mp_pack_latency_entry(msgpack_packer *pk, const struct cs_latency_entry *e)
{
        msgpack_pack_array(pk, CS_LATENCY_ENTRY_FIELDS);
        pack_prefix(pk, &e->prefix);
        cs_mp_pack_str(pk, e->region);
        msgpack_pack_uint32(pk, e->op_rtt_us);
        msgpack_pack_uint32(pk, e->measured_rtt_us);
        msgpack_pack_uint32(pk, e->samples);
        msgpack_pack_uint64(pk, e->op_ms);
        msgpack_pack_uint64(pk, e->measured_ms);
        msgpack_pack_uint64(pk, e->measured_node);
}

int cs_mp_latency_entry(const msgpack_object *o, struct cs_latency_entry *e)
{
        const msgpack_object *f;
        memset(e, 0, sizeof(*e));
        if (cs_mp_array(o, CS_LATENCY_ENTRY_FIELDS, false, &f, NULL) != 0 ||
            dec_prefix(f, &e->prefix) != 0 || f[3].type != MSGPACK_OBJECT_STR ||
            f[3].via.str.size == 0 || f[3].via.str.size > CS_LATENCY_REGION_MAXLEN)
                return -EBADMSG;
        memcpy(e->region, f[3].via.str.ptr, f[3].via.str.size);
        if (strlen(e->region) != f[3].via.str.size || cs_mp_u32(&f[4], &e->op_rtt_us) ||
            cs_mp_u32(&f[5], &e->measured_rtt_us) || cs_mp_u32(&f[6], &e->samples) ||
            cs_mp_u64(&f[7], &e->op_ms) || cs_mp_u64(&f[8], &e->measured_ms) ||
            cs_mp_u64(&f[9], &e->measured_node))
                return -EBADMSG;
        return 0;
}
