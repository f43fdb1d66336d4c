/*
 * pmap_flat.c — the flat table of pmap.h: open addressing with linear
 * probing, and big tables that double by a move.
 *
 * Slot i holds an item whose home slot is hash & (cap - 1) or an earlier
 * slot of the same probe run.  Deletion shifts later members of the run
 * back so that lookups stop at the first free slot without tombstones.
 *
 * A move (a big table doubling) keeps the old table beside the new one
 * until each of its slots was visited in order by move_some(); no item is
 * ever added to the old table, and a slot moved or deleted there becomes a
 * tombstone, so that its probe runs stay whole and every lookup there
 * still ends at a free slot (the old table was at most half full, and it
 * only loses items).  Items are in exactly one of the two tables.
 */
#include "common/pmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigmem.h"
#include "common/pmap_priv.h"
#include "common/zalloc.h"

/* Most tables are a zone's sets and owners, a few items each (a million
 * empty zones: 16 slots each cost 500 MB). */
#define FLAT_MIN_CAP 4

/* Tables from this size on are mapped pages of their own: zero without a
 * memset, faulted in as they fill.  A staged import sizes its copy's tables
 * for 300,000 sets at once; calloc cleared those 48 MB in one apply (60 to
 * 500 ms of the loop on a loaded machine). */
#define FLAT_MAP_BYTES ((size_t)1 << 20)

/* Mapped tables of 2 MB and more go on transparent huge pages when the
 * node asks for them (pmap_flat_huge_pages; common/bigmem.h). */
static bool huge_pages;

void pmap_flat_huge_pages(bool on)
{
        huge_pages = on;
}

/* Tables from this many slots on (64 KB) double by a move; smaller ones at
 * once (a few µs).  Each reserve and put moves FLAT_MOVE_STEP old slots:
 * a move starts at a load of 1/2 of the old table, and the new table needs
 * to double again only after a load of 1/2 of its own, i.e. after at least
 * old cap / 2 more items, by which time 2 slots per put have moved all. */
#define FLAT_MOVE_MIN_CAP 4096
#define FLAT_MOVE_STEP    16

struct pmap_flat_move {
        struct pmap_slot *old;
        size_t cap;
        size_t next; /* slots before it are moved */
};

/* Marks a slot of the old table moved or deleted (never a caller's item). */
static char tombstone_mark;
#define TOMBSTONE ((void *)&tombstone_mark)

static struct pmap_slot *slots_alloc(size_t cap)
{
        size_t bytes = cap * sizeof(struct pmap_slot);
        if (bytes < FLAT_MAP_BYTES)
                return zalloc(cap, sizeof(struct pmap_slot));
        return bigmem_map(bytes, huge_pages);
}

static void slots_free(struct pmap_slot *slots, size_t cap)
{
        if (slots == NULL)
                return;
        if (cap * sizeof(struct pmap_slot) < FLAT_MAP_BYTES)
                free(slots);
        else
                bigmem_unmap(slots, cap * sizeof(struct pmap_slot));
}

void pmap_flat_init(struct pmap_flat *map)
{
        map->slots = NULL;
        map->cap = 0;
        map->count = 0;
        map->move = NULL;
}

void pmap_flat_fini(struct pmap_flat *map)
{
        if (map->move != NULL) {
                slots_free(map->move->old, map->move->cap);
                free(map->move);
        }
        slots_free(map->slots, map->cap);
        pmap_flat_init(map);
}

/* The slot holding the item that matches key in one table, or NULL; a
 * table that has tombstones (the old one of a move) says so. */
static struct pmap_slot *find(struct pmap_slot *slots, size_t cap, uint64_t hash,
                              const void *key, pmap_match_fn match)
{
        size_t mask = cap - 1;
        for (size_t i = hash & mask;; i = (i + 1) & mask) {
                struct pmap_slot *s = &slots[i];
                if (s->item == NULL)
                        return NULL;
                if (s->hash == hash && s->item != TOMBSTONE && match(s->item, key))
                        return s;
        }
}

void *pmap_flat_get(const struct pmap_flat *map, uint64_t hash, const void *key,
                    pmap_match_fn match)
{
        if (map->cap == 0)
                return NULL;
        struct pmap_slot *s = find(map->slots, map->cap, hash, key, match);
        if (s == NULL && map->move != NULL)
                s = find(map->move->old, map->move->cap, hash, key, match);
        return s != NULL ? s->item : NULL;
}

static void insert_new(struct pmap_slot *slots, size_t cap, uint64_t hash, void *item)
{
        size_t mask = cap - 1;
        size_t i = hash & mask;
        while (slots[i].item != NULL)
                i = (i + 1) & mask;
        slots[i].hash = hash;
        slots[i].item = item;
}

/* Moves up to `budget` slots of the old table (all: SIZE_MAX) into the
 * new one, and frees the old one when every slot is moved. */
static void move_some(struct pmap_flat *map, size_t budget)
{
        struct pmap_flat_move *m = map->move;
        size_t end = m->cap - m->next < budget ? m->cap : m->next + budget;
        for (; m->next < end; m->next++) {
                struct pmap_slot *s = &m->old[m->next];
                if (s->item == NULL || s->item == TOMBSTONE)
                        continue;
                insert_new(map->slots, map->cap, s->hash, s->item);
                s->item = TOMBSTONE;
        }
        if (m->next == m->cap) {
                slots_free(m->old, m->cap);
                free(m);
                map->move = NULL;
        }
}

int pmap_flat_reserve(struct pmap_flat *map, size_t extra)
{
        size_t need = map->count + extra;
        if (need * 2 <= map->cap) {
                if (map->move != NULL)
                        move_some(map, FLAT_MOVE_STEP);
                return 0;
        }
        size_t cap = map->cap ? map->cap : FLAT_MIN_CAP;
        while (need * 2 > cap)
                cap *= 2;
        struct pmap_slot *slots = slots_alloc(cap);
        struct pmap_flat_move *m = NULL;
        if (slots != NULL && map->cap >= FLAT_MOVE_MIN_CAP &&
            (m = malloc(sizeof(*m))) == NULL) {
                slots_free(slots, cap);
                slots = NULL;
        }
        if (slots == NULL)
                return -ENOMEM;
        /* Outgrown during a move (a reserve for many at once): that move
         * ends here. */
        if (map->move != NULL)
                move_some(map, SIZE_MAX);
        if (m == NULL) {
                for (size_t i = 0; i < map->cap; i++)
                        if (map->slots[i].item != NULL)
                                insert_new(slots, cap, map->slots[i].hash,
                                           map->slots[i].item);
                slots_free(map->slots, map->cap);
        } else {
                *m = (struct pmap_flat_move){map->slots, map->cap, 0};
                map->move = m;
        }
        map->slots = slots;
        map->cap = cap;
        if (map->move != NULL)
                move_some(map, FLAT_MOVE_STEP);
        return 0;
}

void *pmap_flat_put(struct pmap_flat *map, uint64_t hash, const void *key, void *item,
                    pmap_match_fn match)
{
        if (map->move != NULL) {
                struct pmap_slot *s =
                    find(map->move->old, map->move->cap, hash, key, match);
                void *old = NULL;
                if (s != NULL) {
                        old = s->item;
                        s->item = item;
                }
                move_some(map, FLAT_MOVE_STEP);
                if (old != NULL)
                        return old;
        }
        size_t mask = map->cap - 1;
        size_t i = hash & mask;
        for (;; i = (i + 1) & mask) {
                struct pmap_slot *s = &map->slots[i];
                if (s->item == NULL)
                        break;
                if (s->hash == hash && match(s->item, key)) {
                        void *old = s->item;
                        s->item = item;
                        return old;
                }
        }
        map->slots[i].hash = hash;
        map->slots[i].item = item;
        map->count++;
        return NULL;
}

void *pmap_flat_del(struct pmap_flat *map, uint64_t hash, const void *key,
                    pmap_match_fn match)
{
        if (map->cap == 0)
                return NULL;
        if (map->move != NULL) {
                struct pmap_slot *s =
                    find(map->move->old, map->move->cap, hash, key, match);
                if (s != NULL) {
                        void *item = s->item;
                        s->item = TOMBSTONE;
                        map->count--;
                        return item;
                }
        }
        size_t mask = map->cap - 1;
        size_t i = hash & mask;
        for (;; i = (i + 1) & mask) {
                if (map->slots[i].item == NULL)
                        return NULL;
                if (map->slots[i].hash == hash && match(map->slots[i].item, key))
                        break;
        }
        void *item = map->slots[i].item;
        /* Backward shift: move each later run member whose home is not in
         * (hole, j] into the hole. */
        size_t hole = i;
        for (size_t j = (i + 1) & mask; map->slots[j].item != NULL; j = (j + 1) & mask) {
                size_t home = map->slots[j].hash & mask;
                bool stays =
                    hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
                if (stays)
                        continue;
                map->slots[hole] = map->slots[j];
                hole = j;
        }
        map->slots[hole].item = NULL;
        map->slots[hole].hash = 0;
        map->count--;
        return item;
}

/* The cursor runs over the old table of a move (if any), then the table. */
void *pmap_flat_next(const struct pmap_flat *map, size_t *cursor)
{
        size_t i = *cursor;
        size_t from = i;
        size_t old_cap = map->move != NULL ? map->move->cap : 0;
        for (; i < old_cap; i++) {
                void *item = map->move->old[i].item;
                if (item != NULL && item != TOMBSTONE) {
                        pmap_walked += i + 1 - from;
                        *cursor = i + 1;
                        return item;
                }
        }
        while (i < old_cap + map->cap && map->slots[i - old_cap].item == NULL)
                i++;
        pmap_walked += i - from;
        if (i >= old_cap + map->cap) {
                *cursor = i;
                return NULL;
        }
        pmap_walked++;
        *cursor = i + 1;
        return map->slots[i - old_cap].item;
}

int pmap_flat_walk(const struct pmap_flat *map, int (*fn)(void *item, void *arg),
                   void *arg)
{
        void *item;
        for (size_t i = 0; (item = pmap_flat_next(map, &i)) != NULL;) {
                int rc = fn(item, arg);
                if (rc != 0)
                        return rc;
        }
        return 0;
}
