/*
 * heap.h — free heap handed back to the kernel once a burst of writes ends.
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

#define NODE_HEAP_ENTRIES 2048
#define NODE_HEAP_IDLE_MS 1000
#define NODE_HEAP_QUIET   64

/* On the loop; now_ms from a monotonic clock. */
void node_heap_tick(uv_loop_t *loop, uint64_t applied, uint64_t now_ms);
/* Trims finished since start (metrics, tests). */
uint64_t node_heap_trims(void);

#endif
