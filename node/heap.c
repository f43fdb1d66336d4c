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
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
static bool hooked; /* the heap goes on huge pages once large (below) */

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
        static char name[160];
        const char *version = jemalloc_string("version");
        const char *thp = jemalloc_string("opt.thp");
        const char *meta = jemalloc_string("opt.metadata_thp");
        snprintf(name, sizeof(name), "jemalloc %s, thp:%s%s, metadata_thp:%s",
                 version != NULL ? version : "(version unknown)",
                 thp != NULL ? thp : "(unknown)", hooked ? ", huge pages from 64 MB" : "",
                 meta != NULL ? meta : "(unknown)");
        return name;
#elif defined(__GLIBC__)
        return "glibc malloc";
#else
        return "the C library's malloc";
#endif
}

#ifdef QDNS_JEMALLOC
/*
 * The heap on huge pages once it is large.  jemalloc's thp:always advises
 * every extent onto huge pages from the first, which costs a small node
 * ~6 MB of RSS (a standalone node with a 10,000-name zone: 20.0 MB against
 * 13.9 MB): each arena's first extents are mostly empty 2 MB pages.  So the
 * node keeps jemalloc's thp at its default and installs extent hooks whose
 * alloc calls jemalloc's own and advises an extent onto huge pages
 * (MADV_HUGEPAGE) once the extents mapped add up to HEAP_HUGE_FROM.  A
 * large heap grows by extents of tens of MB (jemalloc's retained growth),
 * all advised; the first 64 MB stay on 4 KB pages.  On 4 KB pages a
 * restart at 1,500,000 zones took 48 s, on huge pages 18 s, and a creation
 * cost a fifth more CPU (BENCHMARKS.md).
 *
 * jemalloc's own metadata (its radix tree of extents, looked up by every
 * free, among it) goes the same way with its metadata_thp:auto, set here:
 * on huge pages once it has grown past a few blocks.  (Without it, a
 * creation cost 7-10 % more CPU than with thp:always: BENCHMARKS.md.)
 *
 * The hooks go on arena 0 at start and on every other arena once jemalloc
 * has made it (node_heap_new_arenas: each NODE_HEAP_IDLE_MS in a cluster,
 * each 10 s on every node, so the first MB of a new thread's arena may
 * stay on 4 KB pages): setting them on an arena not made yet would make
 * it, with its metadata, and a
 * host of many cores has 4 per core.  The huge arena (for blocks of 8 MB
 * and more) is made and hooked at start.
 */
#define HEAP_HUGE_FROM ((size_t)64 << 20)

/* jemalloc's settings built into the node (jemalloc reads this symbol at
 * its start; MALLOC_CONF, read after it, overrides). */
const char *malloc_conf = "metadata_thp:auto";

static extent_hooks_t *jemalloc_hooks; /* jemalloc's own (arena 0's) */
static size_t mapped;                  /* by extent_alloc (atomic) */
static unsigned narenas;
static bool *arena_hooked;   /* [narenas] */
static unsigned arenas_left; /* not hooked yet */

static void *extent_alloc(extent_hooks_t *h, void *addr, size_t size, size_t alignment,
                          bool *zero, bool *commit, unsigned arena)
{
        (void)h;
        void *p = jemalloc_hooks->alloc(jemalloc_hooks, addr, size, alignment, zero,
                                        commit, arena);
        if (p != NULL &&
            __atomic_add_fetch(&mapped, size, __ATOMIC_RELAXED) >= HEAP_HUGE_FROM) {
                int saved = errno; /* a malloc that worked leaves errno alone */
                (void)madvise(p, size, MADV_HUGEPAGE); /* advice: may be refused */
                errno = saved;
        }
        return p;
}

/* The node's alloc, and jemalloc's own functions for the rest (they do
 * not use the table they are called with: src/ehooks.c).  jemalloc's dalloc
 * is left out where it retains its extents, as on Linux, where it always
 * fails: a NULL one tells jemalloc so, and it keeps its way of not even
 * trying. */
static extent_hooks_t huge_when_large;

static bool hooked_arena0; /* jemalloc took the hooks for arena 0 */

static void hook_new_arenas(void)
{
        extent_hooks_t *mine = &huge_when_large;
        for (unsigned i = 0; i < narenas && arenas_left > 0; i++) {
                if (arena_hooked[i])
                        continue;
                /* Any setting of the arena reads only where it is made
                 * (creating nothing, unlike the hooks' own name). */
                char name[64];
                ssize_t decay;
                size_t len = sizeof(decay);
                snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", i);
                if (mallctl(name, &decay, &len, NULL, 0) != 0)
                        continue;
                snprintf(name, sizeof(name), "arena.%u.extent_hooks", i);
                /* Done either way: a refusal leaves the arena as jemalloc has it. */
                bool took = mallctl(name, NULL, NULL, &mine, sizeof(mine)) == 0;
                if (i == 0)
                        hooked_arena0 = took;
                arena_hooked[i] = true;
                arenas_left--;
        }
}

/* Reads jemalloc's hooks (arena 0's), builds the node's and puts them on
 * the arenas made so far.  False, and jemalloc as it was, if it refuses. */
static bool hook_arenas(void)
{
        bool retain = false;
        size_t len = sizeof(narenas), hlen = sizeof(jemalloc_hooks),
               rlen = sizeof(retain), guard = 0, glen = sizeof(guard);
        /* Guard pages (the operator's san_guard_*) need jemalloc's own
         * hooks: it cannot take them off an extent of other hooks. */
        if ((mallctl("opt.san_guard_large", &guard, &glen, NULL, 0) == 0 && guard != 0) ||
            (mallctl("opt.san_guard_small", &guard, &glen, NULL, 0) == 0 && guard != 0))
                return false;
        if (mallctl("arenas.narenas", &narenas, &len, NULL, 0) != 0 || narenas == 0 ||
            mallctl("opt.retain", &retain, &rlen, NULL, 0) != 0 ||
            mallctl("arena.0.extent_hooks", &jemalloc_hooks, &hlen, NULL, 0) != 0)
                return false;
        const extent_hooks_t *j = jemalloc_hooks;
        if (j == NULL || j->alloc == NULL)
                return false;
        huge_when_large = *j;
        huge_when_large.alloc = extent_alloc;
        if (retain)
                huge_when_large.dalloc = NULL;
        arena_hooked = calloc(narenas, sizeof(*arena_hooked));
        if (arena_hooked == NULL)
                return false;
        arenas_left = narenas;
        /* The huge arena, made now by a block of its size (address space
         * only), so that it is hooked before a restart's snapshot fills
         * blocks of hundreds of MB, before the loop's first tick. */
        size_t oversize = 0, olen = sizeof(oversize);
        if (mallctl("opt.oversize_threshold", &oversize, &olen, NULL, 0) == 0 &&
            oversize > 0 && oversize <= HEAP_HUGE_FROM) {
                void *volatile huge = malloc(oversize);
                free(huge);
        }
        hook_new_arenas();
        return hooked_arena0;
}

void node_heap_huge_pages(char **argv)
{
        (void)argv;
        /* jemalloc's thp: "default" (the node's), "always" or "never" (the
         * operator's MALLOC_CONF) */
        const char *thp = jemalloc_string("opt.thp");
        bool huge = !thp_off() && (thp == NULL || strcmp(thp, "never") != 0);
        pmap_flat_huge_pages(huge);
        if (huge && !hooked && thp != NULL && strcmp(thp, "default") == 0)
                hooked = hook_arenas();
}

void node_heap_new_arenas(void)
{
        if (hooked)
                hook_new_arenas();
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

void node_heap_new_arenas(void)
{
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
        node_heap_new_arenas();

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
