/*
 * bigmem.h — memory for large read-mostly tables that lookups hit at
 * random (the GeoIP table, the CIDR tries).
 *
 * A table of tens of megabytes read at random pays, besides the cache
 * miss, a TLB miss on nearly every read with 4 KB pages (under a
 * hypervisor, a two-level page walk).  bigmem_alloc() returns memory
 * aligned to 2 MB and, for a block of 2 MB or more, asks the kernel for
 * transparent huge pages (madvise MADV_HUGEPAGE; a hint: the memory works
 * the same without them).  Smaller blocks are aligned to a cache line.
 * Free with bigmem_free() (free(3) underneath).
 *
 * bigmem_map() is for tables that grow and must start zeroed (the flat
 * hash tables of common/pmap_flat.c): pages mapped apart from the heap, zero
 * without a memset and faulted in as they are first touched, on huge pages
 * when asked.  Free with bigmem_unmap() and the same size.
 */
#ifndef COMMON_BIGMEM_H
#define COMMON_BIGMEM_H

#include <stdbool.h>
#include <stddef.h>

#define BIGMEM_HUGE ((size_t)2 << 20)

/* size bytes (uninitialized), or NULL. */
void *bigmem_alloc(size_t size);
void bigmem_free(void *p);

/* size bytes of zeroed pages, or NULL; huge (and size of 2 MB or more):
 * aligned to 2 MB and advised onto huge pages. */
void *bigmem_map(size_t size, bool huge);
void bigmem_unmap(void *p, size_t size);

#endif
