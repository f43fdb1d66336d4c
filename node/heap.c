/*
 * heap.c — the node's allocator (jemalloc, or glibc's malloc where jemalloc
 * is not linked), the big tables on huge pages, and the heap trimmed after a
 * burst of writes (see heap.h).  The only file that knows which allocator
 * runs: QDNS_JEMALLOC is defined for it when the build links jemalloc.
 *
 * One process has one cluster, so the state is file-local: the window of
 * the last second (its first index), the index of the last trim, and the one
 * work request (a trim in flight is never queued twice; libuv's loop does
 * not end while it runs).
 */
#include "node/heap.h"

#ifdef QDNS_JEMALLOC
#include <jemalloc/jemalloc.h>
#elif defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pmap.h"

#define HUGETLB_TUNABLE "glibc.malloc.hugetlb"
#define THP_ENABLED     "/sys/kernel/mm/transparent_hugepage/enabled"
#define EXECUTED_MARK   "QUORUMDNS_HEAP_EXECUTED"

/* "always [madvise] never": the bracketed word is the mode. */
static bool thp_off(void)
{
        char mode[128] = "";
        FILE *f = fopen(THP_ENABLED, "re");
        if (f == NULL)
                return true;
        bool got = fgets(mode, sizeof(mode), f) != NULL;
        fclose(f);
        return !got || strstr(mode, "[never]") != NULL;
}

#ifdef QDNS_JEMALLOC
/* One of jemalloc's string settings ("version", "opt.thp"), or NULL. */
static const char *jemalloc_string(const char *name)
{
        const char *value = NULL;
        size_t len = sizeof(value);
        return mallctl(name, &value, &len, NULL, 0) == 0 ? value : NULL;
}
#endif

const char *node_heap_allocator(void)
{
#ifdef QDNS_JEMALLOC
        static char name[128];
        if (name[0] != '\0')
                return name;
        const char *version = jemalloc_string("version");
        const char *thp = jemalloc_string("opt.thp");
        snprintf(name, sizeof(name), "jemalloc %s, thp:%s",
                 version != NULL ? version : "(version unknown)",
                 thp != NULL ? thp : "(unknown)");
        return name;
#elif defined(__GLIBC__)
        return "glibc malloc";
#else
        return "the C library's malloc";
#endif
}

#ifdef QDNS_JEMALLOC
/* jemalloc's settings built into the node (jemalloc reads this symbol at its
 * start; MALLOC_CONF, read after it, overrides): its extents on transparent
 * huge pages also where the kernel gives them only when asked ("madvise").
 * On 4 KB pages a restart at 1,500,000 zones took 48 s, on huge pages 18 s,
 * and a creation cost a fifth more CPU (BENCHMARKS.md). */
const char *malloc_conf = "thp:always";

void node_heap_huge_pages(char **argv)
{
        (void)argv;
        /* jemalloc's thp: "default", "always" or "never" */
        const char *thp = jemalloc_string("opt.thp");
        pmap_flat_huge_pages(!thp_off() && (thp == NULL || strcmp(thp, "never") != 0));
}
#else
/* The value glibc takes for glibc.malloc.hugetlb from a GLIBC_TUNABLES
 * string: the last valid "name=value" of that exact name (a number in C
 * syntax, 0 to 2; glibc ignores any other value), else 0. */
static unsigned long operator_hugetlb(const char *set)
{
        unsigned long value = 0;
        const size_t name_len = sizeof(HUGETLB_TUNABLE) - 1;
        for (const char *p = set; *p != '\0';) {
                const char *end = strchr(p, ':');
                size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
                if (len > name_len &&
                    strncmp(p, HUGETLB_TUNABLE "=", name_len + 1) == 0) {
                        const char *v = p + name_len + 1;
                        char *stop;
                        unsigned long n = strtoul(v, &stop, 0);
                        if (*v >= '0' && *v <= '9' && stop == p + len && n <= 2)
                                value = n;
                }
                p += len + (end != NULL);
        }
        return value;
}

void node_heap_huge_pages(char **argv)
{
#ifdef __GLIBC__
        /* glibc rewrites GLIBC_TUNABLES in place as it reads it, and one
         * that does not know the tunable may drop it: the mark keeps the
         * node from executing itself again whatever it finds there.  It
         * carries the process's name, which the exec of /proc/self/exe
         * turned into "exe" (ps, pgrep and the tools look for the name). */
        const char *name = getenv(EXECUTED_MARK);
        if (name != NULL) {
                prctl(PR_SET_NAME, (unsigned long)name);
                unsetenv(EXECUTED_MARK);
                pmap_flat_huge_pages(true); /* as asked of glibc for the heap */
                return;
        }
        const char *set = getenv("GLIBC_TUNABLES");
        if (set != NULL && strstr(set, HUGETLB_TUNABLE) != NULL) {
                /* The operator's choice holds for the big tables too. */
                pmap_flat_huge_pages(operator_hugetlb(set) > 0 && !thp_off());
                return;
        }
        if (thp_off())
                return;
        char before[1024] = "", value[1024 + sizeof(HUGETLB_TUNABLE) + 3];
        if (set != NULL &&
            snprintf(before, sizeof(before), "%s", set) >= (int)sizeof(before))
                return;
        snprintf(value, sizeof(value), "%s%s" HUGETLB_TUNABLE "=1", before,
                 before[0] != '\0' ? ":" : "");
        char comm[16] = ""; /* the kernel's TASK_COMM_LEN */
        if (prctl(PR_GET_NAME, (unsigned long)comm) == 0 &&
            setenv("GLIBC_TUNABLES", value, 1) == 0 &&
            setenv(EXECUTED_MARK, comm, 1) == 0)
                execv("/proc/self/exe", argv);
        /* No exec (no /proc, say): run on as we are, with the environment
         * as it was, so that nothing started later sees a change. */
        unsetenv(EXECUTED_MARK);
        if (set != NULL)
                setenv("GLIBC_TUNABLES", before, 1);
        else
                unsetenv("GLIBC_TUNABLES");
#else
        (void)argv;
#endif
}
#endif

void node_heap_load_begin(void)
{
#if !defined(QDNS_JEMALLOC) && defined(__GLIBC__)
        mallopt(M_TRIM_THRESHOLD, 512 << 20);
        mallopt(M_TOP_PAD, 64 << 20);
#endif
}

/* Hands the heap's unused pages back to the kernel: on a pool thread, or
 * at start before the loop runs.  0, or the allocator refused. */
static int trim_now(void)
{
#ifdef QDNS_JEMALLOC
        char purge[64];
        snprintf(purge, sizeof(purge), "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
        return mallctl(purge, NULL, NULL, NULL, 0);
#elif defined(__GLIBC__)
        malloc_trim(0); /* 1 if it released memory, 0 if there was none */
        return 0;
#else
        return 0;
#endif
}

void node_heap_load_end(void)
{
        (void)trim_now(); /* a refusal only leaves the pages where they are */
#if !defined(QDNS_JEMALLOC) && defined(__GLIBC__)
        mallopt(M_TRIM_THRESHOLD, 8 << 20);
        mallopt(M_TOP_PAD, 1 << 20);
#endif
}

static uint64_t window_applied, window_ms, trimmed_applied;
static bool busy;
static uv_work_t work;
static uint64_t took_ns, trims;
static int trim_error;

static void trim_cb(uv_work_t *req)
{
        (void)req;
        uint64_t t0 = uv_hrtime();
        trim_error = trim_now();
        took_ns = uv_hrtime() - t0;
}

static void trimmed_cb(uv_work_t *req, int status)
{
        (void)req;
        busy = false;
        if (status != 0)
                return; /* cancelled: the loop is closing */
        if (trim_error != 0) {
                LOG_WARN("heap: %s refused to trim (error %d)", node_heap_allocator(),
                         trim_error);
                return;
        }
        trims++;
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
