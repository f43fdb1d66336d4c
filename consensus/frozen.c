/*
 * frozen.c — snapshot views: the state as it was at one moment, encoded on
 * another thread while the applying thread goes on (see snapshot.h).
 *
 * Freezing costs the same whatever the size of the state: it packs the
 * small parts (header, members, health checks; snapshot.c), notes where the
 * zones' name order starts and how many change records there are, starts a
 * new view generation and pins the state.  Nothing is copied per zone.
 *
 * The encoder then walks the zones in name order (the skip list's level 0,
 * consensus/zorder.h), a slice at a time under the view's mutex, and takes
 * each zone it meets: its serial and a pointer to each of its record sets;
 * a zone taken carries the view's generation.  The applying thread, before
 * it changes a zone's sets or serial or deletes it (cs_frozen_zone_touch),
 * takes that zone for the view first when the encoder has not: copy on
 * write at the grain of a zone, paid once per view by the zones changed
 * while it is being filled, never by the others.  Zones created meanwhile
 * carry the generation already and are skipped; a deleted zone under the
 * walk's cursor moves the cursor on.  Change records: the view notes the
 * record count and the eviction count at the freeze; records evicted while
 * the state is pinned stay on its evicted list, so the frozen ones are the
 * oldest evicted since the freeze followed by the head of the ring.
 *
 * Record sets are never changed in place and what the state lets go of is
 * retired until the last unpin, so once everything is taken the ordering
 * and packing (the bulk of the work) need no lock.  The mutex is held by
 * the applying thread only for a test and a pointer update, or to take one
 * zone; by the encoder for one slice, after which a waiting applying thread
 * goes first.
 *
 * Zones are packed in the zone index's name order, the order the walk took
 * them in: only the zones taken by the applying thread are sorted and
 * placed (order_zones), so a snapshot's cost per zone does not grow with
 * the catalog.
 *
 * The walk goes segment by segment (segments.h): a segment in which no
 * zone changed since the last snapshot is not walked (the cursor jumps
 * past its names) and its blocks go into the frame as they were; a run of
 * changed ones is walked, packed and cut anew (pack_parts), and the new
 * table goes to the state when the view is thawed.  So the zones that did
 * not change cost a snapshot a copy of their compressed bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/codec.h"
#include "consensus/frozen.h"
#include "consensus/latency.h"
#include "consensus/lz4frame.h"
#include "consensus/segments.h"
#include "consensus/snapshot.h"
#include "consensus/state_priv.h"
#include "consensus/wire.h"

#define CHUNK 1024
/* Objects (zones, record sets) the encoder takes per hold of the mutex. */
#define SLICE 1024
/* Zones the walk and the packer fetch ahead of the one they work on. */
#define WALK_BATCH 16
#define PACK_AHEAD 8

/* A stretch of the name order as the walk found it: one segment kept as
 * it is, or a run of changed segments and the zones the walk took in them
 * (its zones zv[z_lo..z_hi) once ordered; segments.h). */
struct frozen_part {
        bool kept;
        size_t seg_lo, seg_hi; /* in the table at the freeze */
        size_t z_lo, z_hi;
};

struct frozen_zone {
        const struct cs_zone *zone; /* origin, ids, comment: never change */
        uint32_t serial;            /* as frozen: the serial does */
        bool by_loop;               /* taken out of name order (copy on write) */
        size_t first, count;        /* its record sets in `sets` */
};

/* An sbuffer that remembers a failed write: msgpack_sbuffer_write returns
 * -1 when it cannot grow, and the packer carries on without checking, so a
 * later, smaller write could succeed and leave a hole. */
struct sink {
        msgpack_sbuffer sb;
        bool failed;
};

static int sink_write(void *data, const char *buf, size_t len)
{
        struct sink *k = data;
        if (len > 0 && !k->failed && msgpack_sbuffer_write(&k->sb, buf, len) != 0)
                k->failed = true;
        return k->failed ? -1 : 0;
}

static void sink_init(struct sink *k)
{
        msgpack_sbuffer_init(&k->sb);
        k->failed = false;
}

struct cs_frozen {
        struct sink head; /* header, members, health checks */
        /* Filled as the state changes (registered as st->cow), or NULL: a
         * view taken whole at once (cs_snapshot_encode, or a second view). */
        struct cs_state *st;
        pthread_mutex_t lock; /* lazy views: guards all below */
        /* The applying thread waits for the lock: the encoder lets it in
         * between slices (a mutex is not fair: an encoder relocking at once
         * starved the loop for the whole walk, into elections). */
        atomic_int loop_waiting;
        atomic_bool cancelled; /* cs_snapshot_frozen_cancel: stop encoding */
        uint32_t gen;
        const struct cs_zlink *cursor; /* the walk's next zone */
        bool walked;                   /* every zone of the freeze taken */
        bool changes_taken;
        size_t changes_at_freeze;
        uint64_t evicted_at_freeze;
        bool failed; /* out of memory while taking */
        struct frozen_zone *zv;
        size_t n_zones, cap_zones;
        const struct cs_rrset **sets;
        size_t n_sets, cap_sets;
        const struct cs_change **changes; /* in apply order */
        size_t n_changes;
        size_t loop_items; /* objects taken on the applying thread */
        size_t order_cmps; /* zone comparisons made to order the zones */
        size_t grows;      /* times zv or sets grew while the view filled */
        size_t n_small;    /* latency-map entries, packed with the header */
        /* Segments (a lazy view): the table at the freeze (NULL: none yet),
         * the one this view builds, the walk's segment and the parts it
         * found, the zones the walk took, and what was kept. */
        const struct cs_segments *segs;
        struct cs_segments *fresh;
        bool fresh_whole; /* the encoding that built fresh was made */
        bool replaced;    /* the state was replaced: fresh is not for it */
        size_t seg;
        bool seg_entered;
        struct frozen_part *parts;
        size_t n_parts, cap_parts;
        size_t n_walked;
        size_t segment_bytes;
        size_t kept_zones, kept_segs, kept_items;
};

static bool grow(void **arr, size_t *cap, size_t need, size_t size)
{
        if (need <= *cap)
                return true;
        size_t n = *cap ? *cap : 64;
        while (n < need)
                n *= 2;
        void *p = realloc(*arr, n * size);
        if (p == NULL)
                return false;
        *arr = p;
        *cap = n;
        return true;
}

/* Takes a zone's serial and record sets into the view (a lazy view's
 * caller marks the zone taken). */
static void take_zone(struct cs_frozen *f, const struct cs_zone *z, bool by_loop)
{
        size_t caps = f->cap_zones + f->cap_sets;
        if (f->failed ||
            !grow((void **)&f->zv, &f->cap_zones, f->n_zones + 1, sizeof(*f->zv)) ||
            !grow((void **)&f->sets, &f->cap_sets, f->n_sets + z->rrsets.count,
                  sizeof(*f->sets))) {
                f->failed = true;
                return;
        }
        f->grows += f->cap_zones + f->cap_sets != caps;
        struct frozen_zone *fz = &f->zv[f->n_zones++];
        fz->zone = z;
        fz->serial = z->serial;
        fz->by_loop = by_loop;
        fz->first = f->n_sets;
        const struct cs_rrset *r;
        for (size_t s = 0; (r = pmap_flat_next(&z->rrsets, &s)) != NULL;)
                f->sets[f->n_sets++] = r;
        fz->count = f->n_sets - fz->first;
}

/* The change records of the freeze: those evicted since (newest first on
 * st->evicted; the frozen ones are the oldest of them), then the ring's. */
static void take_changes(struct cs_frozen *f, const struct cs_state *st)
{
        size_t n0 = f->changes_at_freeze;
        uint64_t e = st->changes_evicted - f->evicted_at_freeze;
        size_t k = e < n0 ? (size_t)e : n0;
        f->changes_taken = true;
        f->changes = malloc((n0 ? n0 : 1) * sizeof(*f->changes));
        if (f->changes == NULL) {
                f->failed = true;
                return;
        }
        const struct cs_change *c = st->evicted;
        for (uint64_t j = 0; j < e && c != NULL; j++, c = c->evicted_next)
                if (j >= e - k)
                        f->changes[e - 1 - j] = c;
        for (size_t i = 0; i < n0 - k; i++)
                f->changes[k + i] = cs_state_change_at(st, i);
        f->n_changes = n0;
}

static bool cancelled(struct cs_frozen *f)
{
        return atomic_load_explicit(&f->cancelled, memory_order_relaxed);
}

static size_t seg_count(const struct cs_frozen *f)
{
        return f->segs != NULL && f->segs->n > 0 ? f->segs->n : 1;
}

/* Where segment i ends: the next one's key (NULL: at the last name). */
static const char *seg_end(const struct cs_frozen *f, size_t i)
{
        return f->segs != NULL && i + 1 < f->segs->n ? f->segs->v[i + 1].key : NULL;
}

static bool seg_kept(const struct cs_frozen *f, size_t i)
{
        return f->segs != NULL && i < f->segs->n &&
               cs_segment_kept(&f->segs->v[i], f->gen);
}

static void part_push(struct cs_frozen *f, bool kept)
{
        if (!grow((void **)&f->parts, &f->cap_parts, f->n_parts + 1, sizeof(*f->parts))) {
                f->failed = true;
                return;
        }
        f->parts[f->n_parts++] =
            (struct frozen_part){kept, f->seg, f->seg, f->n_walked, f->n_walked};
}

/* The walk reaches segment f->seg: a kept one is a part of its own, and the
 * cursor jumps past its names (a search, not a visit of its zones); a
 * changed one starts a run that goes on to the next kept one, so that the
 * walk compares its zones with that segment's key alone, not with every
 * changed segment's (whether a segment is kept for a view is settled at its
 * freeze: later marks carry the view's own generation). */
static void enter_segment(struct cs_frozen *f)
{
        struct frozen_part *last = f->n_parts ? &f->parts[f->n_parts - 1] : NULL;
        if (seg_kept(f, f->seg)) {
                part_push(f, true);
                const char *end = seg_end(f, f->seg);
                f->cursor = end ? cs_zorder_from(&f->st->order, end) : NULL;
                f->seg++;
                return;
        }
        if (last == NULL || last->kept)
                part_push(f, false);
        if (f->failed)
                return;
        while (f->seg + 1 < seg_count(f) && !seg_kept(f, f->seg + 1))
                f->seg++;
        f->parts[f->n_parts - 1].seg_hi = f->seg;
        f->seg_entered = true;
}

/* Under the lock: takes zones worth about `budget` objects, segment by
 * segment; the count of objects visited goes to *done.  A batch of zones
 * at a time: their links are followed first, fetching each zone, then each
 * zone's table of sets, so that the batch's cache misses overlap instead
 * of queueing one after the other (the walk is a pointer chase through
 * memory that is not in the cache at a million zones). */
static void walk(struct cs_frozen *f, size_t budget, size_t *done)
{
        size_t n = 0, nseg = seg_count(f);
        while (f->seg < nseg && n < budget && !f->failed) {
                if (!f->seg_entered) {
                        enter_segment(f);
                        n++;
                        continue;
                }
                if (f->cursor == NULL) { /* no zone left for it */
                        f->seg++;
                        f->seg_entered = false;
                        continue;
                }
                const struct cs_zlink *batch[WALK_BATCH];
                size_t k = 0;
                for (const struct cs_zlink *l = f->cursor; l != NULL && k < WALK_BATCH;
                     l = l->next[0]) {
                        batch[k++] = l;
                        __builtin_prefetch(l->zone);
                }
                for (size_t i = 0; i < k; i++)
                        __builtin_prefetch(batch[i]->zone->rrsets.slots);
                const char *end = seg_end(f, f->seg);
                for (size_t i = 0; i < k; i++) {
                        if (end != NULL && cs_zorder_cmp_key(batch[i], end) >= 0) {
                                f->seg++; /* the zone is the next segment's */
                                f->seg_entered = false;
                                break;
                        }
                        struct cs_zone *z = (struct cs_zone *)batch[i]->zone;
                        f->cursor = batch[i]->next[0];
                        n++;
                        if (z->snap_gen != f->gen) {
                                n += z->rrsets.count;
                                z->snap_gen = f->gen;
                                take_zone(f, z, false);
                                f->n_walked++;
                                f->parts[f->n_parts - 1].z_hi = f->n_walked;
                        }
                }
        }
        if (f->seg >= nseg || f->failed)
                f->walked = true;
        *done += n;
}

int cs_snapshot_frozen_step(struct cs_frozen *f, size_t budget)
{
        if (f->st == NULL) /* taken whole */
                return f->failed ? -ENOMEM : 1;
        size_t done = 0;
        pthread_mutex_lock(&f->lock);
        /* Once everything is taken, the packing sees the cancel. */
        if (!f->walked && cancelled(f)) {
                pthread_mutex_unlock(&f->lock);
                return -ECANCELED;
        }
        if (!f->changes_taken)
                take_changes(f, f->st);
        if (!f->walked)
                walk(f, budget, &done);
        int rv = f->failed ? -ENOMEM : f->walked ? 1 : 0;
        pthread_mutex_unlock(&f->lock);
        while (atomic_load(&f->loop_waiting) > 0) /* its turn first */
                sched_yield();
        return rv;
}

/* ---- the applying thread's side ---------------------------------------- */

static void loop_lock(struct cs_frozen *f)
{
        atomic_fetch_add(&f->loop_waiting, 1);
        pthread_mutex_lock(&f->lock);
        atomic_fetch_sub(&f->loop_waiting, 1);
}

void cs_frozen_zone_touch(struct cs_state *st, struct cs_zone *z)
{
        struct cs_frozen *f = st->cow;
        if (f == NULL) {
                cs_segments_mark(st->segs, z->order, st->cow_gen);
                return;
        }
        loop_lock(f);
        size_t seg = cs_segments_mark(st->segs, z->order, st->cow_gen);
        /* A zone of a segment the view keeps is in its blocks already. */
        if (!f->walked && z->snap_gen != f->gen && !seg_kept(f, seg)) {
                f->loop_items += 1 + z->rrsets.count;
                z->snap_gen = f->gen;
                take_zone(f, z, true);
        }
        pthread_mutex_unlock(&f->lock);
}

void cs_frozen_zone_link(struct cs_state *st, struct cs_zone *z)
{
        struct cs_frozen *f = st->cow;
        z->snap_gen = st->cow_gen; /* not in the view being filled, if any */
        if (f != NULL)
                loop_lock(f);
        cs_zorder_insert(&st->order, z->order);
        cs_segments_mark(st->segs, z->order, st->cow_gen);
        if (f != NULL)
                pthread_mutex_unlock(&f->lock);
}

void cs_frozen_zone_unlink(struct cs_state *st, struct cs_zone *z)
{
        struct cs_frozen *f = st->cow;
        if (f != NULL) {
                loop_lock(f);
                if (f->cursor == z->order)
                        f->cursor = z->order->next[0];
        }
        cs_segments_mark(st->segs, z->order, st->cow_gen);
        cs_zorder_remove(&st->order, z->order);
        if (f != NULL)
                pthread_mutex_unlock(&f->lock);
}

void cs_frozen_lock(struct cs_state *st)
{
        if (st->cow != NULL)
                loop_lock(st->cow);
}

void cs_frozen_unlock(struct cs_state *st)
{
        if (st->cow != NULL)
                pthread_mutex_unlock(&st->cow->lock);
}

void cs_frozen_complete(struct cs_state *st)
{
        struct cs_frozen *f = st->cow;
        if (f == NULL)
                return;
        loop_lock(f);
        if (!f->changes_taken) {
                take_changes(f, st);
                f->loop_items += f->n_changes;
        }
        walk(f, SIZE_MAX, &f->loop_items);
        pthread_mutex_unlock(&f->lock);
}

void cs_frozen_replaced(struct cs_state *st)
{
        if (st->cow != NULL)
                st->cow->replaced = true;
}

/* ---- views -------------------------------------------------------------- */

static void frozen_free(struct cs_frozen *f)
{
        if (f == NULL)
                return;
        if (f->st != NULL)
                pthread_mutex_destroy(&f->lock);
        msgpack_sbuffer_destroy(&f->head.sb);
        cs_segments_free(f->fresh);
        free(f->parts);
        free(f->zv);
        free(f->sets);
        free(f->changes);
        free(f);
}

static struct cs_frozen *frozen_new(const struct cs_state *st)
{
        struct cs_frozen *f = calloc(1, sizeof(*f));
        msgpack_packer pk;
        if (f == NULL)
                return NULL;
        sink_init(&f->head);
        atomic_init(&f->loop_waiting, 0);
        atomic_init(&f->cancelled, false);
        f->n_small = cs_state_latency_count(st);
        msgpack_packer_init(&pk, &f->head, sink_write);
        if (cs_snapshot_pack_small(&pk, st) != 0 || f->head.failed) {
                frozen_free(f);
                return NULL;
        }
        return f;
}

/* A view taken whole, on the applying thread (cost: a pointer per zone,
 * record set and change record), in name order. */
static int freeze_whole(const struct cs_state *st, struct cs_frozen **out)
{
        struct cs_frozen *f = frozen_new(st);
        if (f == NULL)
                return -ENOMEM;
        for (const struct cs_zlink *l = st->order.head[0]; l != NULL && !f->failed;
             l = l->next[0])
                take_zone(f, l->zone, false);
        f->changes_at_freeze = st->changes_count;
        f->evicted_at_freeze = st->changes_evicted;
        take_changes(f, st);
        f->walked = true;
        if (f->failed) {
                frozen_free(f);
                return -ENOMEM;
        }
        *out = f;
        return 0;
}

int cs_snapshot_freeze(struct cs_state *st, struct cs_frozen **out)
{
        if (st->cow != NULL) { /* one view fills at a time: take this whole */
                int rv = freeze_whole(st, out);
                if (rv == 0)
                        cs_state_pin(st);
                return rv;
        }
        struct cs_frozen *f = frozen_new(st);
        if (f == NULL)
                return -ENOMEM;
        /* The view takes at most the zones and record sets there are now
         * (a zone changed before the walk meets it is taken as it was;
         * zones created meanwhile are not taken): room for all of them
         * here, where it costs an address range, so the walk never grows
         * an array while it holds the lock.  Grown by doubling under it, a
         * realloc copied tens of megabytes into memory the host had to
         * fault in: the likely cause of a loop held 1.2 s at 1.1 M zones. */
        size_t zones = cs_state_zone_count(st), sets = cs_state_rrset_count(st);
        /* Before the first encoding (since the start, or a restore): a
         * table of one segment that covers every name and holds nothing,
         * so that the changes made while this view is encoded are marked
         * and the table it builds hands them on. */
        if (st->segs == NULL && (st->segs = cs_segments_unpacked()) == NULL) {
                frozen_free(f);
                return -ENOMEM;
        }
        if (!grow((void **)&f->zv, &f->cap_zones, zones, sizeof(*f->zv)) ||
            !grow((void **)&f->sets, &f->cap_sets, sets, sizeof(*f->sets)) ||
            pthread_mutex_init(&f->lock, NULL) != 0) {
                frozen_free(f);
                return -ENOMEM;
        }
        f->st = st;
        if (++st->cow_gen == 0) /* 0 is what restored zones carry */
                st->cow_gen = 1;
        f->gen = st->cow_gen;
        f->cursor = st->order.head[0];
        f->segs = st->segs;
        f->segment_bytes = st->segment_bytes ? st->segment_bytes : CS_SEGMENT_BYTES;
        f->changes_at_freeze = st->changes_count;
        f->evicted_at_freeze = st->changes_evicted;
        st->cow = f;
        cs_state_pin(st);
        *out = f;
        return 0;
}

void cs_snapshot_thaw(struct cs_state *st, struct cs_frozen *f)
{
        if (f == NULL)
                return;
        if (st->cow == f)
                st->cow = NULL;
        /* The segments the encoding cut, for the next snapshot: only those
         * of a whole encoding of this state's own table. */
        if (f->fresh_whole && !f->replaced && st->segs == f->segs) {
                cs_segments_install(&st->segs, f->fresh);
                f->fresh = NULL;
        }
        frozen_free(f);
        cs_state_unpin(st);
}

size_t cs_snapshot_frozen_items(const struct cs_frozen *f)
{
        return f->n_zones + f->n_sets + f->n_changes + f->n_small + f->kept_items;
}

size_t cs_snapshot_frozen_loop_items(const struct cs_frozen *f)
{
        return f->loop_items;
}

size_t cs_snapshot_frozen_order_cmps(const struct cs_frozen *f)
{
        return f->order_cmps;
}

size_t cs_snapshot_frozen_grows(const struct cs_frozen *f)
{
        return f->grows;
}

size_t cs_snapshot_frozen_kept_zones(const struct cs_frozen *f)
{
        return f->kept_zones;
}

size_t cs_snapshot_frozen_kept_segments(const struct cs_frozen *f)
{
        return f->kept_segs;
}

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
                if (k % CHUNK == 0) {
                        size_t left = fz->count - k;
                        msgpack_pack_array(pk, left < CHUNK ? left : CHUNK);
                }
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
                if (i % CHUNK == 0) {
                        size_t left = f->n_changes - i;
                        msgpack_pack_array(pk, left < CHUNK ? left : CHUNK);
                }
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

int cs_snapshot_encode(const struct cs_state *st, void **out, size_t *out_len)
{
        struct cs_frozen *f;
        int rv = freeze_whole(st, &f);
        if (rv != 0)
                return rv;
        rv = cs_snapshot_encode_frozen(f, out, out_len);
        frozen_free(f);
        return rv;
}
