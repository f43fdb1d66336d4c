/*
 * cidr_codec.c — msgpack forms of CIDR collections (see cidr_codec.h).
 */
#include "consensus/cidr_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/codec.h"

static size_t addr_bytes(uint8_t family)
{
        return family == 4 ? 4 : 16;
}

void cs_mp_pack_cidr_blocks(msgpack_packer *pk, const struct cs_cidr_block *blocks,
                            size_t n)
{
        size_t size = 0;
        for (size_t i = 0; i < n; i++)
                size += 2 + addr_bytes(blocks[i].family);
        msgpack_pack_bin(pk, size);
        for (size_t i = 0; i < n; i++) {
                uint8_t head[2] = {blocks[i].family == 4 ? 4 : 6, blocks[i].len};
                msgpack_pack_bin_body(pk, head, 2);
                msgpack_pack_bin_body(pk, blocks[i].addr, addr_bytes(blocks[i].family));
        }
}

int cs_mp_cidr_blocks(const msgpack_object *o, msgpack_zone *zone, size_t max,
                      struct cs_cidr_block **blocks, size_t *n)
{
        if (o->type != MSGPACK_OBJECT_BIN)
                return -EBADMSG;
        const uint8_t *p = (const uint8_t *)o->via.bin.ptr;
        size_t len = o->via.bin.size;
        /* Count first: the smallest block takes 6 bytes. */
        size_t count = 0;
        for (size_t off = 0; off < len; count++) {
                if (len - off < 2 || (p[off] != 4 && p[off] != 6))
                        return -EBADMSG;
                size_t need = 2 + addr_bytes(p[off]);
                if (len - off < need)
                        return -EBADMSG;
                off += need;
        }
        if (count > max)
                return -EBADMSG;
        struct cs_cidr_block *b =
            msgpack_zone_malloc(zone, (count ? count : 1) * sizeof(*b));
        if (b == NULL)
                return -ENOMEM;
        size_t off = 0;
        for (size_t i = 0; i < count; i++) {
                memset(&b[i], 0, sizeof(b[i]));
                b[i].family = p[off];
                b[i].len = p[off + 1];
                memcpy(b[i].addr, p + off + 2, addr_bytes(p[off]));
                off += 2 + addr_bytes(p[off]);
        }
        *blocks = b;
        *n = count;
        return 0;
}

void cs_mp_pack_cidr_change(msgpack_packer *pk, const struct cs_cidr_change *c)
{
        msgpack_pack_array(pk, 3);
        cs_mp_pack_str(pk, c->id);
        if (c->has_version)
                msgpack_pack_uint64(pk, c->version);
        else
                msgpack_pack_nil(pk);
        msgpack_pack_array(pk, c->n_actions);
        for (size_t i = 0; i < c->n_actions; i++) {
                const struct cs_cidr_action *a = &c->actions[i];
                msgpack_pack_array(pk, 3);
                msgpack_pack_uint32(pk, a->kind);
                cs_mp_pack_str(pk, a->location);
                cs_mp_pack_cidr_blocks(pk, a->blocks, a->count);
        }
}

int cs_mp_cidr_change(const msgpack_object *o, msgpack_zone *zone,
                      struct cs_cidr_change *c)
{
        const msgpack_object *f, *items;
        size_t n;
        memset(c, 0, sizeof(*c));
        if (cs_mp_array(o, 3, false, &f, NULL) != 0)
                return -EBADMSG;
        int rv = cs_mp_str(&f[0], zone, CS_CIDR_ID_MAXLEN, false, &c->id);
        if (rv != 0)
                return rv;
        if (f[1].type != MSGPACK_OBJECT_NIL) {
                if (cs_mp_u64(&f[1], &c->version) != 0)
                        return -EBADMSG;
                c->has_version = true;
        }
        if (cs_mp_array(&f[2], 0, true, &items, &n) != 0)
                return -EBADMSG;
        struct cs_cidr_action *a = msgpack_zone_malloc(zone, (n ? n : 1) * sizeof(*a));
        if (a == NULL)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const msgpack_object *af;
                struct cs_cidr_block *blocks;
                if (cs_mp_array(&items[i], 3, false, &af, NULL) != 0 ||
                    cs_mp_u32(&af[0], &a[i].kind) != 0)
                        return -EBADMSG;
                rv = cs_mp_str(&af[1], zone, CS_CIDR_LOCATION_MAXLEN, false,
                               &a[i].location);
                if (rv == 0)
                        rv = cs_mp_cidr_blocks(&af[2], zone, CS_CIDR_CHANGE_MAX, &blocks,
                                               &a[i].count);
                if (rv != 0)
                        return rv;
                a[i].blocks = blocks;
        }
        c->actions = a;
        c->n_actions = n;
        return 0;
}

int cs_mp_pack_cidr_collection(msgpack_packer *pk, const struct cs_cidr_collection *c)
{
        uint32_t *order = malloc((c->n_locations + 1) * sizeof(*order));
        uint16_t *rank = malloc((c->n_locations + 1) * sizeof(*rank));
        struct cs_cidr_block *blocks =
            malloc((c->n_entries < CS_CIDR_CHUNK ? c->n_entries + 1 : CS_CIDR_CHUNK) *
                   sizeof(*blocks));
        uint8_t *ranks = malloc(2 * CS_CIDR_CHUNK);
        if (order == NULL || rank == NULL || blocks == NULL || ranks == NULL) {
                free(order);
                free(rank);
                free(blocks);
                free(ranks);
                return -ENOMEM;
        }
        cs_cidr_location_order(c, order);
        for (size_t i = 0; i < c->n_locations; i++)
                rank[order[i]] = (uint16_t)i;
        msgpack_pack_array(pk, 7);
        cs_mp_pack_str(pk, c->id);
        cs_mp_pack_str(pk, c->name);
        msgpack_pack_uint64(pk, c->version);
        msgpack_pack_uint64(pk, c->created_ms);
        msgpack_pack_uint64(pk, c->updated_ms);
        msgpack_pack_array(pk, c->n_locations);
        for (size_t i = 0; i < c->n_locations; i++)
                cs_mp_pack_str(pk, c->locations[order[i]].name);
        msgpack_pack_uint64(pk, c->n_entries);
        for (size_t at = 0; at < c->n_entries; at += CS_CIDR_CHUNK) {
                size_t n =
                    c->n_entries - at < CS_CIDR_CHUNK ? c->n_entries - at : CS_CIDR_CHUNK;
                for (size_t i = 0; i < n; i++) {
                        blocks[i] = c->entries[at + i].block;
                        uint16_t r = rank[c->entries[at + i].location];
                        ranks[2 * i] = (uint8_t)(r >> 8);
                        ranks[2 * i + 1] = (uint8_t)r;
                }
                msgpack_pack_array(pk, 2);
                cs_mp_pack_cidr_blocks(pk, blocks, n);
                cs_mp_pack_bin(pk, ranks, 2 * n);
        }
        free(order);
        free(rank);
        free(blocks);
        free(ranks);
        return 0;
}
