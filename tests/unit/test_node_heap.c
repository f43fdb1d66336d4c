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
 * (the normal build, run twice by ctest): jemalloc runs with the node's
 * own thp:always, and the tables are on huge pages, unless the operator's
 * MALLOC_CONF=thp:never (the second run) overrides it.
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
                /* The node's own setting, read by jemalloc at its start. */
                if (conf == NULL)
                        assert_non_null(strstr(node_heap_allocator(), ", thp:always"));
                pmap_flat_huge_pages(!huge); /* the call must set it */
                node_heap_huge_pages(argv);
                if (big_table_huge() != huge)
                        fail_msg("jemalloc, MALLOC_CONF=%s: big tables %s huge pages",
                                 conf != NULL ? conf : "", huge ? "not on" : "on");
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
