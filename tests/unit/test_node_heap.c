/*
 * test_node_heap.c — the heap is trimmed once a burst of writes is over
 * (node/heap.c), on a real libuv loop and pool thread with the allocator's
 * own trim (jemalloc's purge of every arena, which must accept the call,
 * or glibc's malloc_trim): not during a burst (many entries a second), not before
 * NODE_HEAP_ENTRIES entries, once after a quiet window, and not again
 * until NODE_HEAP_ENTRIES more entries came.
 *
 * The state's big tables go on huge pages as the operator chose.  With
 * glibc's malloc (the sanitizer build): after node_heap_huge_pages finds
 * the operator's glibc.malloc.hugetlb set to 1 or 2 (read as glibc reads
 * GLIBC_TUNABLES: the last valid value of that exact name), or the mark of
 * its own exec, a 4 MB flat table is advised onto huge pages ("hg" in
 * /proc/self/smaps); after any other setting it is not.  With jemalloc
 * (the normal build, run twice by ctest): jemalloc runs with its default
 * thp and the node's extent hooks, which put the heap on huge pages once
 * 64 MB of it are mapped (blocks allocated past that are on mappings marked
 * "hg"), and the tables are on huge pages, unless the operator's
 * MALLOC_CONF=thp:never (the second run) overrides both.
 * (The exec itself is tested on a real node, tests/system/test_scale.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#ifdef QDNS_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif
#include <uv.h>

#include "common/pmap.h"
#include "node/heap.h"
#include "smaps_flags.h"

static uint64_t now_ms = 10000;

/* One tick a window later with the applied index at `applied`; runs the
 * loop until a queued trim has finished. */
static void tick(uv_loop_t *loop, uint64_t applied)
{
        now_ms += NODE_HEAP_IDLE_MS;
        node_heap_tick(loop, applied, now_ms);
        uv_run(loop, UV_RUN_DEFAULT);
}

static void trims_once_a_burst_is_over(void **state)
{
        (void)state;
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        /* Garbage to give back: a burst's worth of freed blocks. */
        void *blocks[4096];
        for (int i = 0; i < 4096; i++)
                blocks[i] = malloc(1024);
        for (int i = 0; i < 4096; i++)
                free(blocks[i]);

        tick(&loop, 0);                      /* the first window */
        tick(&loop, 1000);                   /* busy: 1,000 in a window */
        tick(&loop, 1000 + NODE_HEAP_QUIET); /* quiet, but too few so far */
        assert_int_equal(node_heap_trims(), 0);
        uint64_t a = 1000;
        for (int i = 0; i < 5; i++) /* a burst: never quiet */
                tick(&loop, a += 5000);
        assert_int_equal(node_heap_trims(), 0);
        tick(&loop, a += NODE_HEAP_QUIET - 1); /* quiet: trimmed */
        assert_int_equal(node_heap_trims(), 1);
        tick(&loop, a); /* quiet, but nothing since the trim */
        tick(&loop, a += 10);
        assert_int_equal(node_heap_trims(), 1);
        for (int i = 0; i < 3; i++) /* another burst, then quiet */
                tick(&loop, a += NODE_HEAP_ENTRIES);
        tick(&loop, a);
        assert_int_equal(node_heap_trims(), 2);
        assert_int_equal(uv_loop_close(&loop), 0);
}

/* Whether a table of 4 MB allocated now is advised onto huge pages. */
static bool big_table_huge(void)
{
        struct pmap_flat map;
        pmap_flat_init(&map);
        assert_int_equal(pmap_flat_reserve(&map, 100000), 0);
        char flags[512];
        assert_true(smaps_flags(map.slots, flags, sizeof(flags)));
        pmap_flat_fini(&map);
        return strstr(flags, " hg") != NULL;
}

/* Whether a block of the heap is on a mapping advised onto huge pages
 * before `most` bytes were allocated in blocks of `block` bytes (never
 * touched, so only address space). */
static bool heap_huge_after(size_t most, size_t block)
{
        size_t n = most / block, made = 0;
        void **blocks = calloc(n, sizeof(*blocks));
        assert_non_null(blocks);
        bool huge = false;
        char flags[512];
        while (!huge && made < n) {
                blocks[made] = malloc(block);
                assert_non_null(blocks[made]);
                assert_true(smaps_flags(blocks[made], flags, sizeof(flags)));
                huge = strstr(flags, " hg") != NULL;
                made++;
        }
        for (size_t i = 0; i < made; i++)
                free(blocks[i]);
        free(blocks);
        return huge;
}

#ifdef QDNS_JEMALLOC
/* An arena jemalloc makes after the start (this thread bound to the last
 * automatic one, which nothing has used) is on 4 KB pages until the next
 * tick puts the node's hooks on it; then its new extents are advised. */
static void arena_made_later_is_hooked_at_a_tick(void)
{
        unsigned narenas = 0, bound = 0, was = 0;
        size_t len = sizeof(narenas), wlen = sizeof(was);
        assert_int_equal(mallctl("arenas.narenas", &narenas, &len, NULL, 0), 0);
        uint64_t epoch = 1;
        assert_int_equal(mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)), 0);
        bound = narenas - 2; /* the last is the huge arena */
        char name[64];
        bool made = true;
        len = sizeof(made);
        snprintf(name, sizeof(name), "arena.%u.initialized", bound);
        assert_int_equal(mallctl(name, &made, &len, NULL, 0), 0);
        if (bound == 0 || made)
                skip(); /* no arena left to make here (one core, or all in use) */
        assert_int_equal(mallctl("thread.arena", &was, &wlen, &bound, sizeof(bound)), 0);
        assert_false(heap_huge_after(256 << 20, 4 << 20));
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        tick(&loop, 0);
        assert_int_equal(uv_loop_close(&loop), 0);
        assert_true(heap_huge_after(1 << 30, 4 << 20));
        assert_int_equal(mallctl("thread.arena", NULL, NULL, &was, sizeof(was)), 0);
}
#endif

static char *saved_tunables;

static int restore_environment(void **state)
{
        (void)state;
        if (saved_tunables != NULL)
                setenv("GLIBC_TUNABLES", saved_tunables, 1);
        else
                unsetenv("GLIBC_TUNABLES");
        free(saved_tunables);
        saved_tunables = NULL;
        unsetenv("QUORUMDNS_HEAP_EXECUTED");
        pmap_flat_huge_pages(false);
        return 0;
}

static void big_tables_follow_the_heap(void **state)
{
        (void)state;
        const char *thp = "/sys/kernel/mm/transparent_hugepage/enabled";
        FILE *f = fopen(thp, "re");
        char mode[128] = "";
        bool never = f == NULL || fgets(mode, sizeof(mode), f) == NULL ||
                     strstr(mode, "[never]") != NULL;
        if (f != NULL)
                fclose(f);
        if (never)
                skip(); /* no transparent huge pages here: nothing to follow */
        char *argv[] = {"test_node_heap", NULL};
        if (strncmp(node_heap_allocator(), "jemalloc ", 9) == 0) {
                const char *conf = getenv("MALLOC_CONF");
                bool huge = conf == NULL || strstr(conf, "thp:never") == NULL;
                pmap_flat_huge_pages(!huge); /* the call must set it */
                node_heap_huge_pages(argv);
                if (big_table_huge() != huge)
                        fail_msg("jemalloc, MALLOC_CONF=%s: big tables %s huge pages",
                                 conf != NULL ? conf : "", huge ? "not on" : "on");
                /* The node's own setting: jemalloc's default, and its extents
                 * advised onto huge pages once they add up to 64 MB. */
                if (conf == NULL)
                        assert_non_null(strstr(node_heap_allocator(),
                                               ", thp:default, huge pages from 64 MB"));
                assert_int_equal(heap_huge_after(1 << 30, 4 << 20), huge);
                /* jemalloc's huge arena (blocks of 8 MB and more) is made and
                 * hooked by node_heap_huge_pages. */
                assert_int_equal(heap_huge_after(1 << 30, 16 << 20), huge);
#ifdef QDNS_JEMALLOC
                if (huge)
                        arena_made_later_is_hooked_at_a_tick();
#endif
                return;
        }
        const char *was = getenv("GLIBC_TUNABLES");
        saved_tunables = was != NULL ? strdup(was) : NULL;
        assert_false(big_table_huge());
        /* The operator's settings (each names the tunable: no exec), read
         * as glibc reads them: the last valid value of that exact name. */
        static const struct {
                const char *tunables;
                bool huge;
        } cases[] = {
            {"glibc.malloc.hugetlb=1", true},
            {"glibc.malloc.tcache_count=0:glibc.malloc.hugetlb=0", false},
            {"glibc.malloc.hugetlb=1:glibc.malloc.hugetlb=0", false},
            {"glibc.malloc.hugetlb=0:glibc.malloc.hugetlb=2", true},
            {"glibc.malloc.hugetlb=1:glibc.malloc.hugetlb=7", true},
            {"glibc.malloc.hugetlb=0x1", true},
            {"glibc.malloc.hugetlb=", false},
            {"glibc.malloc.hugetlb=:glibc.malloc.arena_max=2", false},
            {"glibc.malloc.hugetlb=1junk", false},
            {"glibc.malloc.hugetlb=-1", false},
            {"xglibc.malloc.hugetlb=1", false},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                pmap_flat_huge_pages(!cases[i].huge); /* the call must set it */
                setenv("GLIBC_TUNABLES", cases[i].tunables, 1);
                node_heap_huge_pages(argv);
                if (big_table_huge() != cases[i].huge)
                        fail_msg("GLIBC_TUNABLES=%s: big tables %s huge pages",
                                 cases[i].tunables, cases[i].huge ? "not on" : "on");
        }
        pmap_flat_huge_pages(false);
        setenv("QUORUMDNS_HEAP_EXECUTED", "test_node_heap", 1); /* after its exec */
        node_heap_huge_pages(argv);
        assert_true(big_table_huge());
        assert_null(getenv("QUORUMDNS_HEAP_EXECUTED"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(trims_once_a_burst_is_over),
            cmocka_unit_test_teardown(big_tables_follow_the_heap, restore_environment),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
