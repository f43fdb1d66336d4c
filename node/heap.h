/*
 * heap.h — the node's allocator: jemalloc in a normal build (glibc's malloc
 * where jemalloc is not linked: the sanitizer and fuzz builds, whose
 * AddressSanitizer owns malloc), the state's big tables on transparent huge
 * pages, and the free part of the heap handed back to the kernel once a
 * burst of writes ends.
 *
 * A node's state is millions of small blocks (zones, record sets, hash
 * slots) made and freed by every write.  glibc's malloc made each creation
 * cost more as the catalog grew (171-199 µs of CPU per zone created at
 * 1,200,000 zones, against 126-156 µs with jemalloc, flat; BENCHMARKS.md).
 *
 * A bulk load also frees megabytes of short-lived memory (request bodies and
 * their parse trees, raft entries once compacted, encoded snapshots) that
 * the allocator keeps inside the process.  The cluster's tick calls
 * node_heap_tick with the applied index: once at least NODE_HEAP_ENTRIES
 * entries were applied since the last trim and fewer than NODE_HEAP_QUIET
 * in the last NODE_HEAP_IDLE_MS, the heap is trimmed (jemalloc: every
 * arena's unused pages purged; glibc: malloc_trim) on a libuv pool thread,
 * never on the loop (glibc's walks every free list, tens of ms at 100,000s
 * of zones).
 */
#ifndef NODE_HEAP_H
#define NODE_HEAP_H

#include <stdint.h>
#include <uv.h>

/* The allocator in use, for the start-up log and the tests: "jemalloc
 * 5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c, thp:always" (its
 * version and huge-page setting) or "glibc malloc". */
const char *node_heap_allocator(void);

/*
 * The heap and the big tables on transparent huge pages.  A state of
 * gigabytes of small blocks read in no order misses the TLB on nearly
 * every access with 4 KB pages, and in a virtual machine a miss and a
 * fault cost several times what they cost on the host.  The state's big
 * hash tables (mapped apart from the heap, pmap_flat_huge_pages) go on
 * huge pages unless the kernel's transparent huge pages are off ("never")
 * or the operator said no:
 * - jemalloc: the node sets jemalloc's option thp:always (its extents on
 *   huge pages, also where the kernel gives them only when asked); the
 *   operator's MALLOC_CONF=thp:never keeps jemalloc and the tables on 4 KB
 *   pages.  No exec.
 * - glibc: glibc puts its heap on huge pages only when told so at start
 *   (the tunable glibc.malloc.hugetlb in GLIBC_TUNABLES, read before main),
 *   so this re-executes the node with glibc.malloc.hugetlb=1 added to
 *   GLIBC_TUNABLES (same pid, arguments and process name; the new image
 *   finds a mark in its environment, takes the name from it and removes
 *   it, and returns).  It returns without exec when GLIBC_TUNABLES already
 *   names that tunable (the operator's value then decides the tables too:
 *   huge for 1 or 2), when transparent huge pages are off, or when the exec
 *   fails.
 * Call first in main, before any thread, descriptor or output.
 */
void node_heap_huge_pages(char **argv);

/* Around loading the zone files of a standalone node at start: glibc keeps
 * the top of its heap through the load's many small frees (a 512 MB trim
 * threshold) and then trims it and returns to moderate thresholds (8 MB:
 * a cluster node's bulk loads free whole megabytes that a 512 MB threshold
 * would keep for good); jemalloc purges its unused pages at the end. */
void node_heap_load_begin(void);
void node_heap_load_end(void);

#define NODE_HEAP_ENTRIES 2048
#define NODE_HEAP_IDLE_MS 1000
#define NODE_HEAP_QUIET   64

/* On the loop; now_ms from a monotonic clock. */
void node_heap_tick(uv_loop_t *loop, uint64_t applied, uint64_t now_ms);
/* Trims the allocator carried out since start (metrics, tests). */
uint64_t node_heap_trims(void);

#endif
