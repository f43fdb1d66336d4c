/*
 * bench_util.h — what the in-process benchmark drivers of tools/bench share:
 * the thread's CPU clock, a comparison for qsort over doubles (medians), a
 * xorshift generator whose sequence each driver seeds itself (so figures
 * repeat run to run), the heap in use, and the zone names the zone drivers
 * create ("z<i>.example.").  Header only: the drivers are single files,
 * some built by hand with cc (BENCHMARKS.md gives the commands).
 */
#ifndef TOOLS_BENCH_BENCH_UTIL_H
#define TOOLS_BENCH_BENCH_UTIL_H

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* CPU time of the calling thread, in nanoseconds. */
static inline double bench_cpu_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

/* The next value of a xorshift64 sequence (state never 0). */
static inline uint64_t bench_xorshift(uint64_t *state)
{
        uint64_t x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        return x;
}

/* Bytes the allocator has handed out (small blocks and mmapped ones). */
static inline size_t bench_heap_used(void)
{
        struct mallinfo2 mi = mallinfo2();
        return mi.uordblks + mi.hblkhd;
}

/* "z<i>.example." as a wire name in out (at least 24 bytes); its length. */
static inline size_t bench_zone_origin(unsigned i, uint8_t *out)
{
        char label[16];
        int n = snprintf(label, sizeof(label), "z%u", i);
        out[0] = (uint8_t)n;
        memcpy(out + 1, label, (size_t)n);
        memcpy(out + 1 + n, "\7example\0", 9);
        return 1 + (size_t)n + 9;
}

#endif
