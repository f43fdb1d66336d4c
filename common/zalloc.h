/*
 * zalloc.h — a zeroed allocation that a small block freed a moment ago can
 * serve.
 *
 * glibc before 2.41 (Debian 12 has 2.36) serves calloc without its
 * per-thread cache: every calloc of a small block goes to the arena, and
 * when the block's bin is empty the arena sorts its unsorted chunks first.
 * In a node's heap of gigabytes those chunks are cold, so a write's few
 * small zeroed blocks (a table of a new zone, a batch's scratch arrays,
 * raft's message buffers) cost more the more the node holds: 7.7 % of a
 * follower's loop at 1,200,000 zones against 1.4 % at 10 (BENCHMARKS.md,
 * "calloc and the heap's size").  zalloc takes small blocks with malloc,
 * which the cache serves, and clears them; larger ones stay with calloc,
 * which leaves fresh pages of the system untouched.
 */
#ifndef COMMON_ZALLOC_H
#define COMMON_ZALLOC_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* glibc's per-thread cache holds blocks of at most 1032 bytes (tcache_max). */
#define ZALLOC_CACHED_MAX 1024

/* n zeroed elements of size bytes; NULL (errno ENOMEM) when out of memory
 * or when n * size overflows.  Freed with free(). */
static inline void *zalloc(size_t n, size_t size)
{
        size_t bytes;
        if (__builtin_mul_overflow(n, size, &bytes)) {
                errno = ENOMEM;
                return NULL;
        }
        if (bytes > ZALLOC_CACHED_MAX)
                return calloc(n, size);
        void *p = malloc(bytes);
        /* GCC turns a malloc followed by a memset to zero into calloc: the
         * empty statement hides the block from it. */
        __asm__ volatile("" : "+r"(p)::"memory");
        if (p != NULL)
                memset(p, 0, bytes);
        return p;
}

#endif
