/*
 * reclaim.c — deferred freeing (see reclaim.h): a growable array of
 * (function, pointer) pairs.
 */
#include "common/reclaim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void reclaim_init(struct reclaim_list *list)
{
        memset(list, 0, sizeof(*list));
}

int reclaim_reserve(struct reclaim_list *list, size_t extra)
{
        if (list->count + extra <= list->capacity)
                return 0;
        size_t cap = list->capacity ? list->capacity : 64;
        while (cap < list->count + extra)
                cap *= 2;
        struct reclaim_entry *grown = realloc(list->entries, cap * sizeof(*grown));
        if (grown == NULL)
                return -ENOMEM;
        list->entries = grown;
        list->capacity = cap;
        return 0;
}

int reclaim_push(struct reclaim_list *list, void (*free_fn)(void *), void *ptr)
{
        if (reclaim_reserve(list, 1) != 0)
                return -ENOMEM;
        list->entries[list->count++] = (struct reclaim_entry){free_fn, ptr};
        return 0;
}

void reclaim_run(struct reclaim_list *list)
{
        for (size_t i = 0; i < list->count; i++)
                list->entries[i].free_fn(list->entries[i].ptr);
        list->count = 0;
}

int reclaim_splice(struct reclaim_list *dst, struct reclaim_list *src)
{
        if (reclaim_reserve(dst, src->count) != 0)
                return -ENOMEM;
        memcpy(dst->entries + dst->count, src->entries,
               src->count * sizeof(*src->entries));
        dst->count += src->count;
        src->count = 0;
        return 0;
}

void reclaim_fini(struct reclaim_list *list)
{
        reclaim_run(list);
        free(list->entries);
        memset(list, 0, sizeof(*list));
}
