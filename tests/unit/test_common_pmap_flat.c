/*
 * test_common_pmap_flat.c — the flat variant of common/pmap.h, and both
 * variants against one reference.
 *
 * A reference (an array indexed by key) and the map under test receive
 * the same random puts (inserts and replaces) and deletes; after every
 * step the lookup of the key touched, and at checkpoints every key and a
 * walk of the whole map, must agree with the reference.  Run for the flat
 * table and for the persistent trie (in one long transaction and in
 * transactions of a few changes, published one after another), with a
 * good hash and with one of few distinct values (long probe runs, deep
 * trie paths and collision nodes).
 *
 * Reserve then cannot fail: the allocator of this binary is wrapped at
 * link time (-Wl,--wrap=malloc,calloc,realloc,mmap, see
 * tests/CMakeLists.txt), so that after a successful pmap_flat_reserve(n)
 * every later allocation fails; n puts of new keys, replaces and deletes
 * must then all succeed without calling the allocator, and a reserve under
 * the failing allocator must return -ENOMEM and leave the map as it was.
 * Walk counting: pmap_flat_walk and pmap_flat_next add to
 * pmap_stats_walked, puts, gets and dels do not.
 *
 * Big tables double by a move (the old table beside the new one, a few
 * slots moved per write): the reference runs go through several moves,
 * and a move is checked on its own: lookups, replaces and deletions of
 * items on either side, a walk in slices that deletes as it goes, a
 * reserve for many that ends the move, and a failed reserve during one.
 *
 * Huge pages: once asked (pmap_flat_huge_pages), a table of 2 MB or more
 * starts at a 2 MB boundary and its mapping carries the kernel's "hg" flag
 * (madvise(MADV_HUGEPAGE), /proc/self/smaps), and holds its items; a
 * table allocated after the switch is off does not carry it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/hash.h"
#include "common/pmap.h"
#include "common/reclaim.h"
#include "smaps_flags.h"

/* The wrapped allocator: counts calls, and fails them all when armed. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

static bool alloc_fails;
static unsigned long alloc_calls;

void *__wrap_malloc(size_t size)
{
        alloc_calls++;
        return alloc_fails ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
        alloc_calls++;
        return alloc_fails ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
        alloc_calls++;
        return alloc_fails ? NULL : __real_realloc(p, size);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
        alloc_calls++;
        return alloc_fails ? MAP_FAILED : __real_mmap(addr, len, prot, flags, fd, off);
}

struct item {
        uint64_t key;
        uint64_t value;
};

static bool few_hashes; /* 8 distinct hash values */

static uint64_t key_hash(uint64_t key)
{
        return few_hashes ? hash_mix64(key % 8) : hash_mix64(key);
}

static bool item_match(const void *item, const void *key)
{
        return ((const struct item *)item)->key == *(const uint64_t *)key;
}

static uint64_t item_hash(const void *item, const void *ctx)
{
        return key_hash(((const struct item *)item)->key);
}

/* The map under test: flat, or the trie with its current transaction. */
struct subject {
        bool flat;
        size_t txn_changes; /* trie: changes per transaction (0: one for all) */
        struct pmap_flat f;
        struct pmap p;
        struct pmap_txn txn;
        struct reclaim_list retired;
        size_t in_txn;
        uint64_t next_txn;
};

static void subject_init(struct subject *s, bool flat, size_t txn_changes)
{
        memset(s, 0, sizeof(*s));
        s->flat = flat;
        s->txn_changes = txn_changes;
        pmap_flat_init(&s->f);
        s->next_txn = 1;
        reclaim_init(&s->retired);
        s->txn = (struct pmap_txn){s->next_txn++, &s->retired, 0};
}

/* Trie: the transaction ends (its version is published and the nodes it
 * replaced are freed: no reader is left) and the next one starts. */
static void subject_step(struct subject *s)
{
        if (s->flat || s->txn_changes == 0 || ++s->in_txn < s->txn_changes)
                return;
        reclaim_run(&s->retired);
        s->txn = (struct pmap_txn){s->next_txn++, &s->retired, 0};
        s->in_txn = 0;
}

static void *subject_put(struct subject *s, struct item *it)
{
        uint64_t h = key_hash(it->key);
        void *old = NULL;
        if (s->flat) {
                assert_int_equal(pmap_flat_reserve(&s->f, 1), 0);
                old = pmap_flat_put(&s->f, h, &it->key, it, item_match);
        } else {
                assert_int_equal(pmap_put(&s->txn, &s->p, h, &it->key, it, item_match,
                                          item_hash, NULL, &old),
                                 0);
        }
        subject_step(s);
        return old;
}

static void *subject_del(struct subject *s, uint64_t key)
{
        void *old = NULL;
        if (s->flat)
                old = pmap_flat_del(&s->f, key_hash(key), &key, item_match);
        else
                assert_int_equal(
                    pmap_del(&s->txn, &s->p, key_hash(key), &key, item_match, &old), 0);
        subject_step(s);
        return old;
}

static struct item *subject_get(const struct subject *s, uint64_t key)
{
        return s->flat ? pmap_flat_get(&s->f, key_hash(key), &key, item_match)
                       : pmap_get(&s->p, key_hash(key), &key, item_match);
}

struct tally {
        struct item *const *ref;
        size_t n_keys, seen;
};

static int tally_cb(void *item, void *arg)
{
        struct tally *t = arg;
        const struct item *it = item;
        assert_true(it->key < t->n_keys);
        assert_ptr_equal(t->ref[it->key], it);
        t->seen++;
        return 0;
}

static void subject_fini(struct subject *s)
{
        pmap_flat_fini(&s->f);
        pmap_free(&s->p, 0, NULL, NULL);
        reclaim_fini(&s->retired);
}

/* Random puts (new keys and replaces) and deletes over n_keys keys,
 * checked against the reference after every step. */
static void against_reference(bool flat, size_t txn_changes, size_t n_keys, size_t steps)
{
        struct subject s;
        subject_init(&s, flat, txn_changes);
        struct item **ref = __real_calloc(n_keys, sizeof(*ref));
        struct item *pool = __real_calloc(steps, sizeof(*pool));
        assert_non_null(ref);
        assert_non_null(pool);
        size_t live = 0;
        uint64_t rng = 0x9e3779b97f4a7c15ULL;
        for (size_t i = 0; i < steps; i++) {
                rng = hash_mix64(rng + i);
                uint64_t key = rng % n_keys;
                /* Two puts for one delete: the map grows, then churns. */
                if ((rng >> 32) % 3 != 0) {
                        pool[i] = (struct item){key, i};
                        assert_ptr_equal(subject_put(&s, &pool[i]), ref[key]);
                        live += ref[key] == NULL;
                        ref[key] = &pool[i];
                } else {
                        assert_ptr_equal(subject_del(&s, key), ref[key]);
                        live -= ref[key] != NULL;
                        ref[key] = NULL;
                }
                assert_ptr_equal(subject_get(&s, key), ref[key]);
                if (flat)
                        assert_int_equal(s.f.count, live);
                if (i % (steps / 8) == 0 || i == steps - 1) {
                        for (uint64_t k = 0; k < n_keys; k++)
                                assert_ptr_equal(subject_get(&s, k), ref[k]);
                        struct tally t = {ref, n_keys, 0};
                        if (flat)
                                assert_int_equal(pmap_flat_walk(&s.f, tally_cb, &t), 0);
                        else
                                assert_int_equal(pmap_walk(&s.p, tally_cb, &t), 0);
                        assert_int_equal(t.seen, live);
                }
        }
        subject_fini(&s);
        free(ref);
        free(pool);
}

static void test_flat_against_reference(void **state)
{
        few_hashes = false;
        against_reference(true, 0, 20000, 200000);
}

static void test_flat_against_reference_with_few_distinct_hashes(void **state)
{
        few_hashes = true;
        against_reference(true, 0, 600, 6000);
}

static void test_trie_against_reference_in_one_transaction(void **state)
{
        few_hashes = false;
        against_reference(false, 0, 20000, 200000);
}

static void test_trie_against_reference_in_small_transactions(void **state)
{
        few_hashes = false;
        against_reference(false, 3, 20000, 100000);
}

static void test_trie_against_reference_with_few_distinct_hashes(void **state)
{
        few_hashes = true;
        against_reference(false, 5, 600, 6000);
}

/* After reserve(n): n puts of new keys, replaces and deletes succeed with
 * every allocation failing, and call no allocator at all. */
static void reserve_then_cannot_fail(size_t start, size_t n)
{
        few_hashes = false;
        struct pmap_flat map;
        pmap_flat_init(&map);
        struct item *items = __real_calloc(start + n, sizeof(*items));
        struct item *again = __real_calloc(start + n, sizeof(*again));
        assert_non_null(items);
        assert_non_null(again);
        for (size_t i = 0; i < start + n; i++) {
                items[i] = (struct item){i, 1};
                again[i] = (struct item){i, 2};
        }
        assert_int_equal(pmap_flat_reserve(&map, start), 0);
        for (size_t i = 0; i < start; i++)
                assert_null(pmap_flat_put(&map, key_hash(i), &items[i].key, &items[i],
                                          item_match));

        assert_int_equal(pmap_flat_reserve(&map, n), 0);
        alloc_calls = 0;
        alloc_fails = true;
        for (size_t i = start; i < start + n; i++)
                assert_null(pmap_flat_put(&map, key_hash(i), &items[i].key, &items[i],
                                          item_match));
        for (size_t i = 0; i < start + n; i += 2)
                assert_ptr_equal(pmap_flat_put(&map, key_hash(i), &again[i].key,
                                               &again[i], item_match),
                                 &items[i]);
        for (size_t i = 1; i < start + n; i += 4)
                assert_ptr_equal(
                    pmap_flat_del(&map, key_hash(i), &items[i].key, item_match),
                    &items[i]);
        /* A reserve the table already has room for allocates nothing. */
        assert_int_equal(pmap_flat_reserve(&map, 0), 0);
        alloc_fails = false;
        assert_int_equal(alloc_calls, 0);
        for (size_t i = 0; i < start + n; i++) {
                const struct item *want = i % 4 == 1 ? NULL
                                          : i % 2    ? &items[i]
                                                     : &again[i];
                assert_ptr_equal(pmap_flat_get(&map, key_hash(i), &i, item_match), want);
        }
        pmap_flat_fini(&map);
        free(items);
        free(again);
}

static void test_flat_reserve_then_put_never_allocates(void **state)
{
        reserve_then_cannot_fail(0, 1);
        reserve_then_cannot_fail(0, 5);
        reserve_then_cannot_fail(3, 1000);
        reserve_then_cannot_fail(1000, 3);
        /* Tables of 1 MB and more are mapped pages (mmap, not calloc). */
        reserve_then_cannot_fail(10, 100000);
}

static void test_flat_reserve_under_failing_allocator_leaves_map_intact(void **state)
{
        few_hashes = false;
        struct pmap_flat map;
        pmap_flat_init(&map);
        alloc_fails = true;
        assert_int_equal(pmap_flat_reserve(&map, 1), -ENOMEM);
        alloc_fails = false;
        assert_int_equal(map.cap, 0);
        uint64_t k = 3;
        assert_null(pmap_flat_get(&map, key_hash(k), &k, item_match));
        assert_null(pmap_flat_del(&map, key_hash(k), &k, item_match));

        struct item items[64];
        assert_int_equal(pmap_flat_reserve(&map, 64), 0);
        for (size_t i = 0; i < 64; i++) {
                items[i] = (struct item){i, 1};
                pmap_flat_put(&map, key_hash(i), &items[i].key, &items[i], item_match);
        }
        struct pmap_slot *slots = map.slots;
        size_t cap = map.cap;
        for (size_t extra = 1; extra < 4096; extra *= 3) {
                alloc_fails = true;
                int rc = pmap_flat_reserve(&map, cap / 2 - 64 + extra);
                alloc_fails = false;
                assert_int_equal(rc, -ENOMEM);
                assert_ptr_equal(map.slots, slots);
                assert_int_equal(map.cap, cap);
                assert_int_equal(map.count, 64);
        }
        for (uint64_t i = 0; i < 64; i++)
                assert_ptr_equal(pmap_flat_get(&map, key_hash(i), &i, item_match),
                                 &items[i]);
        pmap_flat_fini(&map);
}

static int stop_at_third(void *item, void *arg)
{
        return ++*(int *)arg == 3 ? 9 : 0;
}

/* Full iterations are counted as walks; puts, gets and dels are not. */
static void test_flat_walks_counted_changes_not(void **state)
{
        few_hashes = false;
        struct pmap_flat map;
        pmap_flat_init(&map);
        struct item items[100];
        uint64_t before = pmap_stats_walked();
        assert_int_equal(pmap_flat_reserve(&map, 100), 0);
        for (size_t i = 0; i < 100; i++) {
                items[i] = (struct item){i, 1};
                pmap_flat_put(&map, key_hash(i), &items[i].key, &items[i], item_match);
        }
        for (uint64_t i = 0; i < 100; i += 2)
                assert_non_null(pmap_flat_get(&map, key_hash(i), &i, item_match));
        for (uint64_t i = 0; i < 100; i += 10)
                assert_non_null(pmap_flat_del(&map, key_hash(i), &i, item_match));
        assert_int_equal(pmap_stats_walked(), before);

        /* The cursor, resumed in slices of 7, sees each item once. */
        unsigned char seen[100] = {0};
        size_t cursor = 0, n = 0;
        struct item *it;
        for (;;) {
                size_t slice = 0;
                while (slice < 7 && (it = pmap_flat_next(&map, &cursor)) != NULL) {
                        seen[it->key]++;
                        slice++;
                        n++;
                }
                if (slice < 7)
                        break;
        }
        assert_int_equal(n, 90);
        for (size_t i = 0; i < 100; i++)
                assert_int_equal(seen[i], i % 10 == 0 ? 0 : 1);
        assert_int_equal(pmap_stats_walked() - before, map.cap);
        assert_null(pmap_flat_next(&map, &cursor)); /* stays at the end */

        before = pmap_stats_walked();
        int calls = 0;
        assert_int_equal(pmap_flat_walk(&map, stop_at_third, &calls), 9);
        assert_int_equal(calls, 3);
        assert_true(pmap_stats_walked() > before);
        pmap_flat_fini(&map);
}

static void test_flat_against_reference_through_moves(void **state)
{
        few_hashes = false;
        against_reference(true, 0, 300000, 900000);
}

/* A table of `n` items that has just started a move (old table beside the
 * new one, a few slots moved). */
static void start_move(struct pmap_flat *map, struct item *items, size_t n)
{
        pmap_flat_init(map);
        assert_int_equal(pmap_flat_reserve(map, n), 0);
        for (size_t i = 0; i < n; i++) {
                items[i] = (struct item){i, 1};
                pmap_flat_put(map, key_hash(i), &items[i].key, &items[i], item_match);
        }
        assert_null(map->move);
        size_t cap = map->cap;
        assert_int_equal(pmap_flat_reserve(map, cap / 2 - n + 1), 0);
        assert_non_null(map->move);
        assert_int_equal(map->cap, 2 * cap);
        assert_int_equal(map->count, n);
}

static void test_flat_move_keeps_every_item_reachable(void **state)
{
        few_hashes = false;
        enum { n = 6000 }; /* 16,384 slots, moved to 32,768 */
        struct pmap_flat map;
        struct item *items = calloc(n + 2000, sizeof(*items));
        struct item *again = calloc(n, sizeof(*again));
        start_move(&map, items, n);
        for (uint64_t i = 0; i < n; i++)
                assert_ptr_equal(pmap_flat_get(&map, key_hash(i), &i, item_match),
                                 &items[i]);
        /* Replaces (each moves a few slots) and deletions (none) while
         * most items are still in the old table, then new items until the
         * move is over. */
        for (uint64_t i = 0; i < n; i += 30) {
                again[i] = (struct item){i, 2};
                assert_ptr_equal(pmap_flat_put(&map, key_hash(i), &again[i].key,
                                               &again[i], item_match),
                                 &items[i]);
        }
        for (uint64_t i = 1; i < n; i += 3)
                assert_ptr_equal(pmap_flat_del(&map, key_hash(i), &i, item_match),
                                 &items[i]);
        assert_non_null(map.move);
        size_t live = n - (n + 1) / 3;
        assert_int_equal(map.count, live);
        uint64_t k = n;
        for (; map.move != NULL; k++) {
                assert_true(k < n + 2000);
                items[k] = (struct item){k, 1};
                assert_int_equal(pmap_flat_reserve(&map, 1), 0);
                assert_null(pmap_flat_put(&map, key_hash(k), &items[k].key, &items[k],
                                          item_match));
        }
        assert_int_equal(map.count, live + (k - n));
        for (uint64_t i = 0; i < k; i++) {
                const struct item *want = i >= n        ? &items[i]
                                          : i % 30 == 0 ? &again[i]
                                          : i % 3 == 1  ? NULL
                                                        : &items[i];
                assert_ptr_equal(pmap_flat_get(&map, key_hash(i), &i, item_match), want);
        }
        pmap_flat_fini(&map);
        free(items);
        free(again);
}

/* A walk in slices during a move sees each item once, also when it
 * deletes every other item it is given (stepping the cursor back). */
static void test_flat_walk_during_a_move_deletes_as_it_goes(void **state)
{
        few_hashes = false;
        enum { n = 6000 };
        struct pmap_flat map;
        struct item *items = calloc(n, sizeof(*items));
        start_move(&map, items, n);
        unsigned char *seen = calloc(n, 1);
        size_t cursor = 0, visits = 0;
        struct item *it;
        while ((it = pmap_flat_next(&map, &cursor)) != NULL) {
                seen[it->key]++;
                visits++;
                if (it->key % 2 == 0) {
                        assert_ptr_equal(
                            pmap_flat_del(&map, key_hash(it->key), &it->key, item_match),
                            it);
                        cursor--;
                }
        }
        assert_int_equal(visits, n);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(seen[i], 1);
        assert_int_equal(map.count, n / 2);
        size_t odd = 0;
        cursor = 0;
        while ((it = pmap_flat_next(&map, &cursor)) != NULL) {
                assert_int_equal(it->key % 2, 1);
                odd++;
        }
        assert_int_equal(odd, n / 2);
        pmap_flat_fini(&map);
        free(items);
        free(seen);
}

/* A reserve for more than the new table holds ends the move at once; one
 * that cannot allocate leaves the map (and its move) as it was. */
static void test_flat_reserve_during_a_move(void **state)
{
        few_hashes = false;
        enum { n = 6000 };
        struct pmap_flat map;
        struct item *items = calloc(n, sizeof(*items));
        start_move(&map, items, n);
        struct pmap_flat_move *move = map.move;
        struct pmap_slot *slots = map.slots;
        size_t cap = map.cap;
        alloc_fails = true;
        assert_int_equal(pmap_flat_reserve(&map, cap), -ENOMEM);
        alloc_fails = false;
        assert_ptr_equal(map.move, move);
        assert_ptr_equal(map.slots, slots);
        assert_int_equal(map.cap, cap);
        for (uint64_t i = 0; i < n; i++)
                assert_ptr_equal(pmap_flat_get(&map, key_hash(i), &i, item_match),
                                 &items[i]);

        assert_int_equal(pmap_flat_reserve(&map, cap), 0);
        assert_int_equal(map.cap, 4 * cap);
        assert_non_null(map.move); /* the next move, from the table just filled */
        assert_int_equal(map.count, n);
        for (uint64_t i = 0; i < n; i++)
                assert_ptr_equal(pmap_flat_get(&map, key_hash(i), &i, item_match),
                                 &items[i]);
        pmap_flat_fini(&map); /* frees a move under way too */
        free(items);
}

static void test_flat_big_tables_on_huge_pages_when_asked(void **state)
{
        few_hashes = false;
        if (access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK) != 0)
                skip();      /* a kernel without transparent huge pages */
        enum { n = 100000 }; /* 262,144 slots: 4 MB */
        struct item *items = calloc(n, sizeof(*items));
        assert_non_null(items);
        char flags[512];
        for (int on = 1; on >= 0; on--) {
                pmap_flat_huge_pages(on);
                struct pmap_flat map;
                pmap_flat_init(&map);
                assert_int_equal(pmap_flat_reserve(&map, n), 0);
                assert_true(map.cap * sizeof(struct pmap_slot) >= (2u << 20));
                for (uint64_t i = 0; i < n; i++) {
                        items[i] = (struct item){i, 1};
                        pmap_flat_put(&map, key_hash(i), &items[i].key, &items[i],
                                      item_match);
                }
                for (uint64_t i = 0; i < n; i++)
                        assert_ptr_equal(pmap_flat_get(&map, key_hash(i), &i, item_match),
                                         &items[i]);
                assert_true(smaps_flags(map.slots, flags, sizeof(flags)));
                if (on) {
                        assert_int_equal((uintptr_t)map.slots % (2u << 20), 0);
                        assert_non_null(strstr(flags, " hg"));
                } else {
                        assert_null(strstr(flags, " hg"));
                }
                pmap_flat_fini(&map);
        }
        free(items);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_flat_against_reference),
            cmocka_unit_test(test_flat_against_reference_with_few_distinct_hashes),
            cmocka_unit_test(test_trie_against_reference_in_one_transaction),
            cmocka_unit_test(test_trie_against_reference_in_small_transactions),
            cmocka_unit_test(test_trie_against_reference_with_few_distinct_hashes),
            cmocka_unit_test(test_flat_reserve_then_put_never_allocates),
            cmocka_unit_test(test_flat_reserve_under_failing_allocator_leaves_map_intact),
            cmocka_unit_test(test_flat_walks_counted_changes_not),
            cmocka_unit_test(test_flat_against_reference_through_moves),
            cmocka_unit_test(test_flat_move_keeps_every_item_reachable),
            cmocka_unit_test(test_flat_walk_during_a_move_deletes_as_it_goes),
            cmocka_unit_test(test_flat_reserve_during_a_move),
            cmocka_unit_test(test_flat_big_tables_on_huge_pages_when_asked),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
