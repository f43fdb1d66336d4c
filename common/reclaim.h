/*
 * reclaim.h — deferred freeing of memory that readers may still see.
 *
 * Writers build a new version of a persistent structure next to the one
 * readers use, publish it with one pointer swap, and push everything the new
 * version no longer references onto a reclaim list.  The list is run once no
 * reader can still hold the old version (a grace period: immediately when the
 * readers run on the writer's thread between packets, after every reader
 * thread passed a quiescent point when they do not).
 */
#ifndef COMMON_RECLAIM_H
#define COMMON_RECLAIM_H

#include <stddef.h>

struct reclaim_entry {
        void (*free_fn)(void *ptr);
        void *ptr;
};

struct reclaim_list {
        struct reclaim_entry *entries;
        size_t count;
        size_t capacity;
};

void reclaim_init(struct reclaim_list *list);

/* Makes room for `extra` more entries: the next `extra` pushes cannot fail.
 * 0 or -ENOMEM. */
int reclaim_reserve(struct reclaim_list *list, size_t extra);

/* Defers free_fn(ptr).  Returns 0 or -ENOMEM (then nothing was deferred). */
int reclaim_push(struct reclaim_list *list, void (*free_fn)(void *), void *ptr);

/* Frees everything deferred so far and empties the list. */
void reclaim_run(struct reclaim_list *list);

/* Moves every entry of src to the end of dst; src is left empty. */
int reclaim_splice(struct reclaim_list *dst, struct reclaim_list *src);

/* Runs the list and releases its own storage. */
void reclaim_fini(struct reclaim_list *list);

#endif
