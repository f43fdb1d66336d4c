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
 * changed ones is walked, packed and cut anew (frozen_pack.c), and the new
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

#include "consensus/frozen.h"
#include "consensus/frozen_priv.h"
#include "consensus/latency.h"
#include "consensus/segments.h"
#include "consensus/snapshot.h"
#include "consensus/state_priv.h"

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

size_t cs_snapshot_kept_bytes(const struct cs_state *st)
{
        return st->segs != NULL ? st->segs->bytes : 0;
}

size_t cs_snapshot_frozen_packed_zones(const struct cs_frozen *f)
{
        return f->n_zones;
}

size_t cs_snapshot_frozen_kept_segments(const struct cs_frozen *f)
{
        return f->kept_segs;
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
