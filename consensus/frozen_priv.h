/*
 * frozen_priv.h — what the two halves of a snapshot view share: frozen.c
 * (freezing, the walk that takes zones, the applying thread's copy on
 * write, thawing) and frozen_pack.c (ordering, packing and compressing
 * what the view took, and cutting the segments of the next snapshot).
 * Not for other modules: snapshot.h is the views' interface.
 */
#ifndef CONSENSUS_FROZEN_PRIV_H
#define CONSENSUS_FROZEN_PRIV_H

#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/segments.h"
#include "consensus/state.h"

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

static inline int sink_write(void *data, const char *buf, size_t len)
{
        struct sink *k = data;
        if (len > 0 && !k->failed && msgpack_sbuffer_write(&k->sb, buf, len) != 0)
                k->failed = true;
        return k->failed ? -1 : 0;
}

static inline void sink_init(struct sink *k)
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

static inline bool cancelled(struct cs_frozen *f)
{
        return atomic_load_explicit(&f->cancelled, memory_order_relaxed);
}

#endif
