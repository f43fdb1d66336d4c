/*
 * bigmem.c — huge-page backed memory for large lookup tables (bigmem.h).
 *
 * A block of BIGMEM_HUGE bytes or more is rounded up to a whole number of
 * huge pages, aligned to one, and marked MADV_HUGEPAGE before anything
 * touches it, so that the first writes fault in huge pages where the
 * kernel has them.  A failed madvise (a kernel without THP) is ignored.
 * bigmem_map maps its own pages instead (zero, apart from the heap); for
 * huge pages it maps 2 MB more than asked and unmaps the part before the
 * first 2 MB boundary and the part after the block.
 */
#include "common/bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* Whole pages: munmap of the trimmed tail and of the block needs them. */
static size_t whole_pages(size_t size)
{
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        return (size + page - 1) / page * page;
}

void *bigmem_map(size_t size, bool huge)
{
        size = whole_pages(size);
        huge = huge && size >= BIGMEM_HUGE;
        size_t slack = huge ? BIGMEM_HUGE : 0;
        uint8_t *p = mmap(NULL, size + slack, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return NULL;
        if (huge) {
                /* Keep the aligned part: every 2 MB of it can be one page. */
                size_t head = (BIGMEM_HUGE - (uintptr_t)p % BIGMEM_HUGE) % BIGMEM_HUGE;
                if (head > 0)
                        munmap(p, head);
                munmap(p + head + size, slack - head);
                p += head;
#ifdef MADV_HUGEPAGE
                (void)madvise(p, size, MADV_HUGEPAGE);
#endif
        }
        return p;
}

void bigmem_unmap(void *p, size_t size)
{
        if (p != NULL)
                munmap(p, whole_pages(size));
}
