/*
 * test_common_zalloc.c — zeroed blocks that the allocator's per-thread
 * cache serves (common/zalloc.h).
 *
 * A small block is cleared even when the cache hands back one full of
 * bytes, a size that overflows is refused with ENOMEM, a large block is
 * zero too (calloc's), and — with glibc's allocator, not the sanitizer's
 * (whose quarantine never hands a block back at once) — a small block just
 * freed is the one zalloc returns, where calloc would go to the arena.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/zalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

static void all_zero(const unsigned char *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                assert_int_equal(p[i], 0);
}

static void test_small_blocks_are_cleared(void **state)
{
        (void)state;
        for (size_t size = 1; size <= ZALLOC_CACHED_MAX; size += 37) {
                unsigned char *dirty = malloc(size);
                assert_non_null(dirty);
                memset(dirty, 0xa5, size);
                free(dirty); /* the next block of this size may be this one */
                unsigned char *p = zalloc(1, size);
                assert_non_null(p);
                all_zero(p, size);
                free(p);
        }
        unsigned char *none = zalloc(0, 8);
        free(none); /* a unique pointer or NULL, as malloc(0) */
}

static void test_large_blocks_are_zero(void **state)
{
        (void)state;
        const size_t n = 3 * 1024 * 1024;
        unsigned char *p = zalloc(n, 1);
        assert_non_null(p);
        all_zero(p, n);
        free(p);
}

static void test_overflow_is_refused(void **state)
{
        (void)state;
        errno = 0;
        assert_null(zalloc(SIZE_MAX / 2 + 1, 2));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(zalloc(SIZE_MAX, SIZE_MAX));
        assert_int_equal(errno, ENOMEM);
}

static void test_freed_block_served_again(void **state)
{
        (void)state;
#if defined(__GLIBC__) && !defined(SANITIZED)
        const char *tunables = getenv("GLIBC_TUNABLES");
        if (tunables != NULL && strstr(tunables, "tcache") != NULL)
                skip(); /* a cache the operator resized, or turned off */
        /* The per-thread cache is last in, first out: what a write freed,
         * the next zeroed block of its size reuses, warm in the cache. */
        for (size_t size = 16; size <= 1000; size += 100) {
                volatile unsigned char *p = malloc(size);
                assert_non_null(p);
                p[0] = 1; /* used: the compiler keeps the allocation */
                uintptr_t freed = (uintptr_t)p;
                free((void *)p);
                unsigned char *q = zalloc(1, size);
                assert_int_equal((uintptr_t)q, freed);
                assert_int_equal(q[0], 0);
                free(q);
        }
#else
        skip();
#endif
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_small_blocks_are_cleared),
            cmocka_unit_test(test_large_blocks_are_zero),
            cmocka_unit_test(test_overflow_is_refused),
            cmocka_unit_test(test_freed_block_served_again),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
