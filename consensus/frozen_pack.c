/*
 * frozen_pack.c — a snapshot view's encoding (see snapshot.h, frozen.c):
 * once the view holds everything, the zones are put in name order (only
 * those the applying thread took out of order are sorted and placed), then
 * packed with their record sets and the change records as msgpack, into a
 * plain buffer or an LZ4 frame compressed as it is packed.  Into a frame,
 * the segments nothing changed since the last snapshot go as the blocks
 * they were (segments.h), and the runs of changed ones are packed and cut
 * into the new table's segments; a plain encoding decompresses the kept
 * blocks.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/codec.h"
#include "consensus/frozen_priv.h"
#include "consensus/lz4frame.h"
#include "consensus/segments.h"
#include "consensus/snapshot.h"
#include "consensus/state_priv.h"
#include "consensus/wire.h"

/* ---- encoding ----------------------------------------------------------- */

static int name_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
        int c = memcmp(a, b, al < bl ? al : bl);
        return c ? c : (al > bl) - (al < bl);
}

static _Thread_local size_t *cmp_count; /* the encoding view's order_cmps */

static int frozen_zone_cmp(const void *a, const void *b)
{
        if (cmp_count != NULL)
                (*cmp_count)++;
        return cs_zorder_cmp(((const struct frozen_zone *)a)->zone->order,
                             ((const struct frozen_zone *)b)->zone->order);
}

/*
 * The zones in the index's name order (consensus/zorder.h) without sorting
 * them all: the walk took them in that order; only the few the applying
 * thread took ahead of it (copy on write, k of them) are out of place.  They
 * move to the end, are sorted (k log k), and each finds its place among the
 * walk's zones by a binary search (k log n); the packer then merges.  A sort
 * of every zone per snapshot (its comparisons a cache miss each) made a
 * snapshot's cost per zone grow with the catalog.
 */
static void order_zones(struct cs_frozen *f, size_t *n_walked, size_t *at)
{
        size_t w = 0;
        struct frozen_zone *loop = NULL;
        size_t k = 0;
        for (size_t i = 0; i < f->n_zones; i++)
                if (f->zv[i].by_loop)
                        k++;
        if (k > 0 && (loop = malloc(k * sizeof(*loop))) != NULL) {
                k = 0;
                for (size_t i = 0; i < f->n_zones; i++) {
                        if (f->zv[i].by_loop)
                                loop[k++] = f->zv[i];
                        else
                                f->zv[w++] = f->zv[i];
                }
                memcpy(f->zv + w, loop, k * sizeof(*loop));
                free(loop);
                qsort(f->zv + w, k, sizeof(*f->zv), frozen_zone_cmp);
                for (size_t j = 0; j < k; j++) {
                        size_t lo = 0, hi = w;
                        while (lo < hi) {
                                size_t mid = lo + (hi - lo) / 2;
                                if (frozen_zone_cmp(&f->zv[mid], &f->zv[w + j]) < 0)
                                        lo = mid + 1;
                                else
                                        hi = mid;
                        }
                        at[j] = lo;
                }
                *n_walked = w;
                return;
        }
        if (k > 0) /* no memory for the shortcut: sort them all */
                qsort(f->zv, f->n_zones, sizeof(*f->zv), frozen_zone_cmp);
        *n_walked = f->n_zones;
}

static int rrset_ptr_cmp(const void *a, const void *b)
{
        const struct cs_rrset *x = *(const struct cs_rrset *const *)a;
        const struct cs_rrset *y = *(const struct cs_rrset *const *)b;
        int c = name_cmp(x->owner, x->owner_len, y->owner, y->owner_len);
        if (c)
                return c;
        if (x->type != y->type)
                return x->type < y->type ? -1 : 1;
        return strcmp(x->set_id, y->set_id);
}

static void pack_zone(msgpack_packer *pk, const struct frozen_zone *fz,
                      const struct cs_rrset **sets)
{
        const struct cs_zone *z = fz->zone;
        msgpack_pack_array(pk, 6);
        cs_mp_pack_bin(pk, z->origin, z->origin_len);
        cs_mp_pack_str(pk, z->zone_id);
        cs_mp_pack_str(pk, z->comment);
        msgpack_pack_uint64(pk, z->created_ms);
        msgpack_pack_uint32(pk, fz->serial);
        msgpack_pack_uint64(pk, fz->count);
        if (fz->count == 2 && rrset_ptr_cmp(&sets[0], &sets[1]) > 0) {
                const struct cs_rrset *t = sets[0];
                sets[0] = sets[1];
                sets[1] = t;
        } else if (fz->count > 2) {
                qsort(sets, fz->count, sizeof(*sets), rrset_ptr_cmp);
        }
        for (size_t k = 0; k < fz->count; k++) {
                cs_mp_pack_chunk_head(pk, k, fz->count);
                const struct cs_rrset *r = sets[k];
                msgpack_pack_array(pk, 6);
                cs_mp_pack_bin(pk, r->owner, r->owner_len);
                msgpack_pack_uint16(pk, r->type);
                cs_mp_pack_str(pk, r->set_id);
                msgpack_pack_uint32(pk, r->ttl);
                msgpack_pack_array(pk, r->count);
                for (size_t v = 0; v < r->count; v++)
                        cs_mp_pack_bin(pk, r->values[v].data, r->values[v].len);
                cs_mp_pack_routing(pk, r->routing);
        }
}

/* Asks the cache for what packing the walk's zone i will read: its
 * struct first, then (once that has had time to arrive) its names and its
 * record sets. */
static void pack_prefetch(const struct cs_frozen *f, size_t i, size_t n_walked)
{
        if (i + PACK_AHEAD < n_walked)
                __builtin_prefetch(f->zv[i + PACK_AHEAD].zone);
        if (i + PACK_AHEAD / 2 < n_walked) {
                const struct frozen_zone *fz = &f->zv[i + PACK_AHEAD / 2];
                __builtin_prefetch(fz->zone->origin);
                __builtin_prefetch(fz->zone->zone_id);
                for (size_t s = 0; s < fz->count; s++)
                        __builtin_prefetch(f->sets[fz->first + s]);
        }
}

static void pack_changes(msgpack_packer *pk, const struct cs_frozen *f)
{
        for (size_t i = 0; i < f->n_changes; i++) {
                cs_mp_pack_chunk_head(pk, i, f->n_changes);
                const struct cs_change *c = f->changes[i];
                msgpack_pack_array(pk, 7);
                cs_mp_pack_str(pk, c->id);
                if (c->request_id)
                        cs_mp_pack_str(pk, c->request_id);
                else
                        msgpack_pack_nil(pk);
                msgpack_pack_int(pk, (int)c->kind);
                cs_mp_pack_bin(pk, c->origin, c->origin_len);
                cs_mp_pack_str(pk, c->zone_id);
                msgpack_pack_uint64(pk, c->submitted_ms);
                msgpack_pack_uint64(pk, c->index);
        }
}

/* Where the encoding goes (a growing buffer, or an LZ4 frame being
 * compressed), and how many bytes went there. */
struct dest {
        msgpack_packer_write write;
        void *data;
        size_t size;
        struct cs_lz4_writer *lz4; /* data, when the dest is an LZ4 frame */
};

static int dest_write(void *data, const char *buf, size_t len)
{
        struct dest *d = data;
        d->size += len;
        return d->write(d->data, buf, len);
}

/* A segment being cut from a run of changed ones, where its blocks start
 * in the frame and its content in the encoding. */
struct piece {
        struct cs_segment seg;
        size_t out0, raw0;
};

/* Ends a piece: its blocks (copied out of the frame) go to the new table. */
static int piece_end(struct cs_frozen *f, struct dest *d, struct piece *pc)
{
        size_t out1 = cs_lz4_cut(d->lz4);
        if (out1 == SIZE_MAX)
                return -ENOMEM;
        pc->seg.len = out1 - pc->out0;
        pc->seg.raw = d->size - pc->raw0;
        pc->seg.packed = true;
        if (pc->seg.len > 0) {
                if ((pc->seg.blocks = malloc(pc->seg.len)) == NULL)
                        return -ENOMEM;
                memcpy(pc->seg.blocks, cs_lz4_output(d->lz4, pc->out0), pc->seg.len);
        }
        int rv = cs_segments_push(f->fresh, &pc->seg);
        if (rv != 0)
                free(pc->seg.blocks);
        free(pc->seg.key);
        pc->seg.key = NULL;
        return rv;
}

static int piece_begin(struct dest *d, struct piece *pc, const char *key)
{
        memset(pc, 0, sizeof(*pc));
        if (key != NULL && (pc->seg.key = strdup(key)) == NULL)
                return -ENOMEM;
        pc->out0 = cs_lz4_cut(d->lz4);
        pc->raw0 = d->size;
        return pc->out0 == SIZE_MAX ? -ENOMEM : 0;
}

/* Packs one zone of a run, first ending the piece when it is full (the
 * zone then begins the next one, keyed by its name). */
static int run_zone(struct cs_frozen *f, struct dest *d, msgpack_packer *pk,
                    struct piece *pc, struct frozen_zone *fz)
{
        if (d->lz4 != NULL && pc->seg.zones > 0 &&
            d->size - pc->raw0 >= f->segment_bytes) {
                /* The piece ends before this zone, in the old segment
                 * holding its name: the names a piece covers lie in the old
                 * segments from_lo..from_hi, whose marks it inherits. */
                char text[1024];
                size_t hi = pc->seg.from_hi, at = pc->seg.from_lo;
                if (f->segs != NULL && f->segs->n > 0)
                        at = cs_segments_find(f->segs, fz->zone->order);
                pc->seg.from_hi = at;
                int rv = piece_end(f, d, pc);
                if (rv == 0)
                        rv = piece_begin(d, pc,
                                         cs_name_text(fz->zone->origin,
                                                      fz->zone->origin_len, text,
                                                      sizeof(text)));
                if (rv != 0)
                        return rv;
                pc->seg.from_lo = at;
                pc->seg.from_hi = hi;
        }
        pack_zone(pk, fz, fz->count ? f->sets + fz->first : NULL);
        pc->seg.zones++;
        pc->seg.items += 1 + fz->count;
        return 0;
}

/*
 * The zones of a lazy view, part by part (segments.h): a kept segment's
 * blocks go into the frame as they are (or, into a plain encoding,
 * decompressed), a run of changed segments is packed from its zones and,
 * into a frame, cut into the new table's segments as it goes.  n_walked
 * and at as order_zones left them; loop-taken zones only ever belong to
 * changed segments.
 */
static int pack_parts(struct cs_frozen *f, struct dest *d, msgpack_packer *pk,
                      size_t n_walked, const size_t *at)
{
        size_t k = f->n_zones - n_walked, *seg_of = NULL;
        if (n_walked != f->n_walked)
                return -ENOMEM; /* order_zones could not place them */
        if (k > 0 && (seg_of = calloc(k, sizeof(*seg_of))) == NULL)
                return -ENOMEM;
        for (size_t j = 0; f->segs != NULL && f->segs->n > 0 && j < k; j++)
                seg_of[j] = cs_segments_find(f->segs, f->zv[n_walked + j].zone->order);
        if (d->lz4 != NULL && (f->fresh = calloc(1, sizeof(*f->fresh))) != NULL)
                f->fresh->gen = f->gen;
        int rv = d->lz4 != NULL && f->fresh == NULL ? -ENOMEM : 0;
        size_t j = 0;
        for (size_t p = 0; p < f->n_parts && rv == 0; p++) {
                const struct frozen_part *part = &f->parts[p];
                if (cancelled(f)) {
                        rv = -ECANCELED;
                        break;
                }
                if (part->kept) {
                        const struct cs_segment *old = &f->segs->v[part->seg_lo];
                        f->kept_segs++;
                        f->kept_zones += old->zones;
                        f->kept_items += old->items;
                        if (d->lz4 == NULL) {
                                rv = cs_lz4_blocks_decode(old->blocks, old->len,
                                                          dest_write, d);
                                continue;
                        }
                        if (cs_lz4_put_blocks(d->lz4, old->blocks, old->len, old->raw) !=
                            0) {
                                rv = -ENOMEM;
                                break;
                        }
                        d->size += old->raw;
                        /* Not its marks: the applying thread writes them. */
                        struct cs_segment kept = {
                            .key = old->key,
                            .blocks = old->blocks,
                            .len = old->len,
                            .raw = old->raw,
                            .zones = old->zones,
                            .items = old->items,
                            .packed = true,
                            .reused = true,
                            .from_lo = part->seg_lo,
                            .from_hi = part->seg_lo,
                        };
                        rv = cs_segments_push(f->fresh, &kept);
                        continue;
                }
                struct piece pc;
                const char *key = f->segs != NULL && part->seg_lo < f->segs->n
                                      ? f->segs->v[part->seg_lo].key
                                      : NULL;
                if (d->lz4 != NULL)
                        rv = piece_begin(d, &pc, key);
                else
                        memset(&pc, 0, sizeof(pc));
                pc.seg.from_lo = part->seg_lo;
                pc.seg.from_hi = part->seg_hi;
                for (size_t i = part->z_lo; i < part->z_hi && rv == 0; i++) {
                        if (i % 4096 == 0 && cancelled(f))
                                rv = -ECANCELED;
                        for (; rv == 0 && j < k && at[j] <= i; j++)
                                rv = run_zone(f, d, pk, &pc, &f->zv[n_walked + j]);
                        pack_prefetch(f, i, part->z_hi);
                        if (rv == 0)
                                rv = run_zone(f, d, pk, &pc, &f->zv[i]);
                }
                for (; rv == 0 && j < k && seg_of[j] <= part->seg_hi; j++)
                        rv = run_zone(f, d, pk, &pc, &f->zv[n_walked + j]);
                if (rv != 0 || d->lz4 == NULL) {
                        free(pc.seg.key);
                        continue;
                }
                if (pc.seg.zones == 0 && f->fresh->n > 0) {
                        /* Nothing left in the run: the segment before it
                         * covers its names from now on. */
                        f->fresh->v[f->fresh->n - 1].from_hi = part->seg_hi;
                        free(pc.seg.key);
                        continue;
                }
                rv = piece_end(f, d, &pc);
        }
        /* Every zone the applying thread took belongs to a run and was
         * packed there; if one was not, this encoding is not the state's. */
        if (rv == 0 && j != k)
                rv = -EIO;
        free(seg_of);
        if (rv != 0) { /* a part of a table is no table */
                cs_segments_free(f->fresh);
                f->fresh = NULL;
        }
        return rv;
}

/* The zones of a view taken whole (or with no segments): the walk's zones,
 * each loop-taken zone before the walk's zone at its place. */
static int pack_merged(struct cs_frozen *f, msgpack_packer *pk, size_t n_walked,
                       const size_t *at)
{
        size_t j = n_walked;
        for (size_t i = 0; i <= n_walked; i++) {
                if (i % 4096 == 0 && cancelled(f))
                        return -ECANCELED;
                for (; j < f->n_zones && at[j - n_walked] == i; j++)
                        pack_zone(pk, &f->zv[j],
                                  f->zv[j].count ? f->sets + f->zv[j].first : NULL);
                pack_prefetch(f, i, n_walked);
                if (i < n_walked)
                        pack_zone(pk, &f->zv[i],
                                  f->zv[i].count ? f->sets + f->zv[i].first : NULL);
        }
        return 0;
}

/* Takes what the view still lacks, a slice at a time, then sorts the zones
 * and record sets (in place: the view is used once) and packs everything,
 * in the order the header promises, padded to whole 8-byte words (raft
 * wants them). */
static int pack_view(struct cs_frozen *f, struct dest *d)
{
        int rv;
        while ((rv = cs_snapshot_frozen_step(f, SLICE)) == 0)
                ;
        if (rv < 0)
                return rv;
        msgpack_packer pk;
        msgpack_packer_init(&pk, d, dest_write);
        dest_write(d, f->head.sb.data, f->head.sb.size);
        size_t n_walked = f->n_zones, *at = NULL;
        if (f->n_zones > 0 && (at = malloc(f->n_zones * sizeof(*at))) == NULL)
                return -ENOMEM;
        if (f->n_zones > 0) { /* zv and sets are NULL while empty */
                cmp_count = &f->order_cmps;
                order_zones(f, &n_walked, at);
                cmp_count = NULL;
        }
        rv = f->parts != NULL ? pack_parts(f, d, &pk, n_walked, at)
                              : pack_merged(f, &pk, n_walked, at);
        free(at);
        if (rv != 0)
                return rv;
        pack_changes(&pk, f);
        static const char zeros[8];
        dest_write(d, zeros, ((d->size + 7) & ~(size_t)7) - d->size);
        return 0;
}

void cs_snapshot_frozen_cancel(struct cs_frozen *f)
{
        atomic_store(&f->cancelled, true);
}

int cs_snapshot_encode_frozen(struct cs_frozen *f, void **out, size_t *out_len)
{
        struct sink sink;
        sink_init(&sink);
        struct dest d = {sink_write, &sink, 0, NULL};
        int rv = pack_view(f, &d);
        if (rv == 0 && (sink.failed || sink.sb.data == NULL))
                rv = -ENOMEM;
        if (rv != 0) {
                msgpack_sbuffer_destroy(&sink.sb);
                return rv;
        }
        *out_len = sink.sb.size;
        *out = msgpack_sbuffer_release(&sink.sb);
        return 0;
}

int cs_snapshot_encode_frozen_lz4(struct cs_frozen *f, size_t hint, void **out,
                                  size_t *out_len)
{
        struct cs_lz4_writer *w = cs_lz4_writer_new(hint);
        if (w == NULL)
                return -ENOMEM;
        struct dest d = {cs_lz4_write, w, 0, w};
        int rv = pack_view(f, &d);
        if (rv != 0) {
                cs_lz4_writer_free(w);
                return rv;
        }
        rv = cs_lz4_writer_finish(w, out, out_len);
        /* The segments it cut serve the next snapshot only if the whole
         * encoding was made: a part of a table would cover the names of
         * the rest with nothing. */
        f->fresh_whole = rv == 0 && f->fresh != NULL;
        return rv;
}
