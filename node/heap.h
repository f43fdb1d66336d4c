/*
 * heap.h — the glibc heap: on transparent huge pages, and its free part
 * handed back to the kernel once a burst of writes ends.
 *
 * A bulk load frees megabytes of short-lived memory (request bodies and
 * their parse trees, raft entries once compacted, encoded snapshots) that
 * glibc keeps inside the process.  The cluster's tick calls
 * node_heap_tick with the applied index: once at least NODE_HEAP_ENTRIES
 * entries were applied since the last trim and fewer than NODE_HEAP_QUIET
 * in the last NODE_HEAP_IDLE_MS,
 * malloc_trim runs on a libuv pool thread (never on the loop: it walks
 * every free list, tens of ms at 100,000s of zones).
 */
#ifndef NODE_HEAP_H
#define NODE_HEAP_H

#include <stdint.h>
#include <uv.h>

/*
 * The heap on transparent huge pages.  A node's state is gigabytes of small
 * blocks read in no order (hash slots, zones, record sets): on 4 KB pages
 * nearly every access misses the TLB, and in a virtual machine a miss and a
 * fault cost several times what they cost on the host.  glibc puts its heap
 * on huge pages only when told so at start (the tunable glibc.malloc.hugetlb
 * in GLIBC_TUNABLES, read before main), so this re-executes the node with
 * glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES (same pid, arguments and
 * process name; the new image finds a mark in its environment, takes the
 * name from it and removes it, and returns).  It returns (and the heap
 * keeps small pages) when GLIBC_TUNABLES already names that tunable (an
 * operator's choice, e.g. glibc.malloc.hugetlb=0), when the kernel's
 * transparent huge pages are off ("never"), or when the exec fails.  The
 * state's big hash tables (mapped apart from the heap) go on huge pages
 * when the node asked glibc for them, or when the operator's own value of
 * the tunable is 1 or 2 (pmap_flat_huge_pages).  Call first in main,
 * before any thread, descriptor or output.
 */
void node_heap_huge_pages(char **argv);

#define NODE_HEAP_ENTRIES 2048
#define NODE_HEAP_IDLE_MS 1000
#define NODE_HEAP_QUIET   64

/* On the loop; now_ms from a monotonic clock. */
void node_heap_tick(uv_loop_t *loop, uint64_t applied, uint64_t now_ms);
/* Trims finished since start (metrics, tests). */
uint64_t node_heap_trims(void);

#endif
