/*
 * heap.c — trims the heap after a burst of writes (see heap.h).
 *
 * One process has one cluster, so the state is file-local: the window of
 * the last second (its first index), the index of the last trim, and the one
 * work request (a trim in flight is never queued twice; libuv's loop does
 * not end while it runs).
 */
#include "node/heap.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdbool.h>

#include "common/log.h"

static uint64_t window_applied, window_ms, trimmed_applied;
static bool busy;
static uv_work_t work;
static uint64_t took_ns, trims;

static void trim_cb(uv_work_t *req)
{
        (void)req;
        uint64_t t0 = uv_hrtime();
#ifdef __GLIBC__
        malloc_trim(0);
#endif
        took_ns = uv_hrtime() - t0;
}

static void trimmed_cb(uv_work_t *req, int status)
{
        (void)req;
        busy = false;
        if (status == 0)
                trims++;
        if (status == 0)
                LOG_INFO("heap trimmed after writes in %.1f ms (on a pool thread)",
                         (double)took_ns / 1e6);
}

void node_heap_tick(uv_loop_t *loop, uint64_t applied, uint64_t now_ms)
{
        if (now_ms - window_ms < NODE_HEAP_IDLE_MS)
                return;
        /* Quiet: fewer than NODE_HEAP_QUIET entries in the last window
         * (health votes and INSYNC marks go on while nothing is written). */
        bool quiet = applied - window_applied < NODE_HEAP_QUIET;
        window_applied = applied;
        window_ms = now_ms;
        if (busy || !quiet || applied - trimmed_applied < NODE_HEAP_ENTRIES)
                return;
        if (uv_queue_work(loop, &work, trim_cb, trimmed_cb) == 0) {
                busy = true;
                trimmed_applied = applied;
        }
}

uint64_t node_heap_trims(void)
{
        return trims;
}
