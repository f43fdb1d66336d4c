/*
 * hmap.c — open-addressing hash table (see hmap.h).
 *
 * Slot i holds an item whose home slot is hash & (cap - 1) or an earlier slot
 * of the same probe run.  Deletion shifts later members of the run back so
 * that lookups stop at the first free slot without tombstones.
 */
#include "consensus/hmap.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "common/hash.h"

/* Most tables are a zone's sets and owners, a few items each (a million
 * empty zones: 16 slots each cost 500 MB). */
#define HMAP_MIN_CAP 4

/* Tables from this size on are mapped pages of their own: zero without a
 * memset, faulted in as they fill.  A staged import sizes its copy's tables
 * for 300,000 sets at once; calloc cleared those 48 MB in one apply (60 to
 * 500 ms of the loop on a loaded machine). */
#define HMAP_MAP_BYTES ((size_t)1 << 20)

static struct cs_hslot *slots_alloc(size_t cap)
{
        size_t bytes = cap * sizeof(struct cs_hslot);
        if (bytes < HMAP_MAP_BYTES)
                return calloc(cap, sizeof(struct cs_hslot));
        void *p =
            mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
}

static void slots_free(struct cs_hslot *slots, size_t cap)
{
        if (slots == NULL)
                return;
        if (cap * sizeof(struct cs_hslot) < HMAP_MAP_BYTES)
                free(slots);
        else
                munmap(slots, cap * sizeof(struct cs_hslot));
}

void cs_hmap_init(struct cs_hmap *map)
{
        map->slots = NULL;
        map->cap = 0;
        map->count = 0;
}

void cs_hmap_fini(struct cs_hmap *map)
{
        slots_free(map->slots, map->cap);
        cs_hmap_init(map);
}

void *cs_hmap_get(const struct cs_hmap *map, uint64_t hash, const void *key,
                  cs_hmap_match_fn match)
{
        if (map->cap == 0)
                return NULL;
        size_t mask = map->cap - 1;
        for (size_t i = hash & mask;; i = (i + 1) & mask) {
                const struct cs_hslot *s = &map->slots[i];
                if (s->item == NULL)
                        return NULL;
                if (s->hash == hash && match(s->item, key))
                        return s->item;
        }
}

static void insert_new(struct cs_hslot *slots, size_t cap, uint64_t hash, void *item)
{
        size_t mask = cap - 1;
        size_t i = hash & mask;
        while (slots[i].item != NULL)
                i = (i + 1) & mask;
        slots[i].hash = hash;
        slots[i].item = item;
}

int cs_hmap_reserve(struct cs_hmap *map, size_t extra)
{
        size_t need = map->count + extra;
        if (need * 2 <= map->cap)
                return 0;
        size_t cap = map->cap ? map->cap : HMAP_MIN_CAP;
        while (need * 2 > cap)
                cap *= 2;
        struct cs_hslot *slots = slots_alloc(cap);
        if (slots == NULL)
                return -ENOMEM;
        for (size_t i = 0; i < map->cap; i++)
                if (map->slots[i].item != NULL)
                        insert_new(slots, cap, map->slots[i].hash, map->slots[i].item);
        slots_free(map->slots, map->cap);
        map->slots = slots;
        map->cap = cap;
        return 0;
}

void *cs_hmap_put(struct cs_hmap *map, uint64_t hash, const void *key, void *item,
                  cs_hmap_match_fn match)
{
        size_t mask = map->cap - 1;
        size_t i = hash & mask;
        for (;; i = (i + 1) & mask) {
                struct cs_hslot *s = &map->slots[i];
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

void *cs_hmap_del(struct cs_hmap *map, uint64_t hash, const void *key,
                  cs_hmap_match_fn match)
{
        if (map->cap == 0)
                return NULL;
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

uint64_t cs_hash_bytes(const void *data, size_t len, uint64_t seed)
{
        const uint8_t *p = data;
        uint64_t h = 0xcbf29ce484222325ULL ^ seed;
        for (size_t i = 0; i < len; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return hash_mix64(h);
}
