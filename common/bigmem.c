/*
 * bigmem.c — huge-page backed memory for large lookup tables (bigmem.h).
 *
 * A block of BIGMEM_HUGE bytes or more is rounded up to a whole number of
 * huge pages, aligned to one, and marked MADV_HUGEPAGE before anything
 * touches it, so that the first writes fault in huge pages where the
 * kernel has them.  A failed madvise (a kernel without THP) is ignored.
 */
#include "common/bigmem.h"

#include <stdlib.h>
#include <sys/mman.h>

void *bigmem_alloc(size_t size)
{
        if (size < BIGMEM_HUGE) {
                size_t n = (size + 63) & ~(size_t)63;
                return aligned_alloc(64, n ? n : 64);
        }
        size_t n = (size + BIGMEM_HUGE - 1) & ~(BIGMEM_HUGE - 1);
        void *p = NULL;
        if (n < size || posix_memalign(&p, BIGMEM_HUGE, n) != 0)
                return NULL;
#ifdef MADV_HUGEPAGE
        (void)madvise(p, n, MADV_HUGEPAGE);
#endif
        return p;
}

void bigmem_free(void *p)
{
        free(p);
}
