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
 */
#ifndef COMMON_BIGMEM_H
#define COMMON_BIGMEM_H

#include <stddef.h>

#define BIGMEM_HUGE ((size_t)2 << 20)

/* size bytes (uninitialized), or NULL. */
void *bigmem_alloc(size_t size);
void bigmem_free(void *p);

#endif
