/*
 * test_common_pmap.c — the persistent hash map and the reclaim list.
 *
 * Checks insert, replace, delete and lookup over 100k keys, keys whose hashes
 * collide (a hash function with few distinct values forces deep paths and
 * collision nodes), walking, and persistence: a version stays intact and
 * readable while a transaction builds the next one, the retired nodes are
 * exactly what the reclaim list frees, and an aborted transaction frees only
 * the nodes it created (run under ASan to catch leaks and double frees).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/hash.h"
#include "common/pmap.h"
#include "common/reclaim.h"

#define MANY 100000

struct item {
        uint64_t key;
        uint64_t value;
};

/* The hash used by a test: good, or one with only a few distinct values. */
enum hash_kind { HASH_GOOD, HASH_FEW, HASH_FEW_HIGH };

static enum hash_kind hash_kind;

static uint64_t key_hash(uint64_t key)
{
        switch (hash_kind) {
        case HASH_FEW:
                return key % 4; /* four values: full-depth collision nodes */
        case HASH_FEW_HIGH:
                /* Same low 60 bits, differing only in the last level. */
                return (key % 8) << 60;
        default:
                return hash_mix64(key);
        }
}

static bool item_match(const void *item, const void *key)
{
        return ((const struct item *)item)->key == *(const uint64_t *)key;
}

static uint64_t item_hash(const void *item, const void *ctx)
{
        return key_hash(((const struct item *)item)->key);
}

static uint64_t next_txn = 1;

static void txn_begin(struct pmap_txn *txn, struct reclaim_list *retired)
{
        reclaim_init(retired);
        txn->id = next_txn++;
        txn->retired = retired;
        txn->visited = 0;
}

static struct item *items_new(size_t n, uint64_t value)
{
        struct item *items = calloc(n, sizeof(*items));
        assert_non_null(items);
        for (size_t i = 0; i < n; i++) {
                items[i].key = i;
                items[i].value = value;
        }
        return items;
}

static void put(struct pmap_txn *txn, struct pmap *map, struct item *it, void **replaced)
{
        assert_int_equal(pmap_put(txn, map, key_hash(it->key), &it->key, it, item_match,
                                  item_hash, NULL, replaced),
                         0);
}

static struct item *get(const struct pmap *map, uint64_t key)
{
        return pmap_get(map, key_hash(key), &key, item_match);
}

static void *del(struct pmap_txn *txn, struct pmap *map, uint64_t key)
{
        void *removed = NULL;
        assert_int_equal(pmap_del(txn, map, key_hash(key), &key, item_match, &removed),
                         0);
        return removed;
}

/* Inserts n keys in one transaction, checks them, deletes them all. */
static void insert_get_delete(size_t n)
{
        struct pmap map = {NULL};
        struct pmap_txn txn;
        struct reclaim_list retired;
        txn_begin(&txn, &retired);
        struct item *items = items_new(n, 1);
        for (size_t i = 0; i < n; i++) {
                void *replaced = (void *)1;
                put(&txn, &map, &items[i], &replaced);
                assert_null(replaced);
        }
        for (size_t i = 0; i < n; i++)
                assert_ptr_equal(get(&map, i), &items[i]);
        uint64_t absent = n + 7;
        assert_null(get(&map, absent));
        /* Delete the odd keys, then the even ones. */
        for (size_t i = 1; i < n; i += 2)
                assert_ptr_equal(del(&txn, &map, i), &items[i]);
        for (size_t i = 0; i < n; i++)
                assert_ptr_equal(get(&map, i), i % 2 ? NULL : &items[i]);
        for (size_t i = 0; i < n; i += 2)
                assert_ptr_equal(del(&txn, &map, i), &items[i]);
        assert_true(pmap_empty(&map));
        assert_int_equal(retired.count, 0); /* every node was the txn's own */
        reclaim_fini(&retired);
        free(items);
}

static void test_insert_get_delete_100k_keys(void **state)
{
        hash_kind = HASH_GOOD;
        insert_get_delete(MANY);
}

static void test_insert_get_delete_with_few_distinct_hashes(void **state)
{
        hash_kind = HASH_FEW;
        insert_get_delete(3000); /* 750 items share each full hash */
}

static void test_insert_get_delete_with_hashes_differing_in_top_bits(void **state)
{
        hash_kind = HASH_FEW_HIGH;
        insert_get_delete(2000);
}

static void test_put_replaces_and_returns_old_item(void **state)
{
        hash_kind = HASH_GOOD;
        struct pmap map = {NULL};
        struct pmap_txn txn;
        struct reclaim_list retired;
        txn_begin(&txn, &retired);
        struct item a = {42, 1}, b = {42, 2};
        void *replaced;
        put(&txn, &map, &a, &replaced);
        assert_null(replaced);
        put(&txn, &map, &b, &replaced);
        assert_ptr_equal(replaced, &a);
        assert_ptr_equal(get(&map, 42), &b);
        pmap_free(&map, 0, NULL, NULL);
        reclaim_fini(&retired);
}

static void test_replace_in_collision_node(void **state)
{
        hash_kind = HASH_FEW;
        struct pmap map = {NULL};
        struct pmap_txn txn;
        struct reclaim_list retired;
        txn_begin(&txn, &retired);
        struct item *items = items_new(400, 1), *again = items_new(400, 2);
        for (size_t i = 0; i < 400; i++)
                put(&txn, &map, &items[i], NULL);
        for (size_t i = 0; i < 400; i += 3) {
                void *replaced;
                put(&txn, &map, &again[i], &replaced);
                assert_ptr_equal(replaced, &items[i]);
        }
        for (size_t i = 0; i < 400; i++)
                assert_int_equal(get(&map, i)->value, i % 3 ? 1 : 2);
        pmap_free(&map, 0, NULL, NULL);
        reclaim_fini(&retired);
        free(items);
        free(again);
}

static void test_delete_of_absent_key_changes_nothing(void **state)
{
        hash_kind = HASH_GOOD;
        struct pmap map = {NULL};
        struct pmap_txn txn;
        struct reclaim_list retired;
        txn_begin(&txn, &retired);
        assert_null(del(&txn, &map, 5)); /* empty map */
        struct item *items = items_new(100, 1);
        for (size_t i = 0; i < 100; i++)
                put(&txn, &map, &items[i], NULL);
        struct pmap_node *root = map.root;
        assert_null(del(&txn, &map, 1000));
        assert_ptr_equal(map.root, root);
        pmap_free(&map, 0, NULL, NULL);
        reclaim_fini(&retired);
        free(items);
}

struct walk_state {
        unsigned char *seen;
        size_t visits;
        size_t stop_after;
};

static int walk_cb(void *item, void *arg)
{
        struct walk_state *ws = arg;
        ws->seen[((struct item *)item)->key]++;
        if (++ws->visits == ws->stop_after)
                return 7;
        return 0;
}

static void test_walk_visits_every_item_once_and_stops_on_nonzero(void **state)
{
        hash_kind = HASH_GOOD;
        struct pmap map = {NULL};
        struct pmap_txn txn;
        struct reclaim_list retired;
        txn_begin(&txn, &retired);
        struct item *items = items_new(MANY, 1);
        for (size_t i = 0; i < MANY; i++)
                put(&txn, &map, &items[i], NULL);
        struct walk_state ws = {calloc(MANY, 1), 0, 0};
        assert_int_equal(pmap_walk(&map, walk_cb, &ws), 0);
        assert_int_equal(ws.visits, MANY);
        for (size_t i = 0; i < MANY; i++)
                assert_int_equal(ws.seen[i], 1);
        ws.visits = 0;
        ws.stop_after = 10;
        assert_int_equal(pmap_walk(&map, walk_cb, &ws), 7);
        assert_int_equal(ws.visits, 10);
        struct pmap empty = {NULL};
        assert_int_equal(pmap_walk(&empty, walk_cb, &ws), 0);
        free(ws.seen);
        pmap_free(&map, 0, NULL, NULL);
        reclaim_fini(&retired);
        free(items);
}

/* Builds version 1 with keys [0, n) in its own transaction. */
static struct pmap build_v1(struct item *items, size_t n)
{
        struct pmap map = {NULL};
        struct pmap_txn txn;
        struct reclaim_list retired;
        txn_begin(&txn, &retired);
        for (size_t i = 0; i < n; i++)
                put(&txn, &map, &items[i], NULL);
        assert_int_equal(retired.count, 0);
        reclaim_fini(&retired);
        return map;
}

/*
 * Changes v2 (a copy of v1's root) in a new transaction: replaces every 10th
 * key, deletes every 7th, adds n more.
 */
static void change_v2(struct pmap_txn *txn, struct pmap *v2, struct item *repl,
                      struct item *extra, size_t n)
{
        for (size_t i = 0; i < n; i += 10)
                put(txn, v2, &repl[i], NULL);
        for (size_t i = 3; i < n; i += 7)
                assert_non_null(del(txn, v2, i));
        for (size_t i = 0; i < n; i++) {
                extra[i].key = n + i;
                put(txn, v2, &extra[i], NULL);
        }
}

static void check_v1(const struct pmap *v1, struct item *items, size_t n)
{
        for (size_t i = 0; i < n; i++)
                assert_ptr_equal(get(v1, i), &items[i]);
        assert_null(get(v1, n));
}

static void check_v2(const struct pmap *v2, struct item *items, struct item *repl,
                     struct item *extra, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct item *want = &items[i];
                if (i >= 3 && (i - 3) % 7 == 0)
                        want = NULL;
                else if (i % 10 == 0)
                        want = &repl[i];
                assert_ptr_equal(get(v2, i), want);
                assert_ptr_equal(get(v2, n + i), &extra[i]);
        }
}

static void old_version_survives(enum hash_kind kind, size_t n)
{
        hash_kind = kind;
        struct item *items = items_new(n, 1), *repl = items_new(n, 2);
        struct item *extra = items_new(n, 3);
        struct pmap v1 = build_v1(items, n);
        struct pmap v2 = v1;
        struct pmap_txn txn;
        struct reclaim_list retired;
        txn_begin(&txn, &retired);
        change_v2(&txn, &v2, repl, extra, n);
        assert_ptr_not_equal(v2.root, v1.root);
        assert_true(retired.count > 0);
        /* Readers of v1 still see exactly v1 before the reclaim list runs. */
        check_v1(&v1, items, n);
        check_v2(&v2, items, repl, extra, n);
        /* The grace period ends: v1's private nodes go, v2 is untouched. */
        reclaim_fini(&retired);
        check_v2(&v2, items, repl, extra, n);
        pmap_free(&v2, 0, NULL, NULL);
        free(items);
        free(repl);
        free(extra);
}

static void test_old_version_intact_until_reclaim_runs(void **state)
{
        old_version_survives(HASH_GOOD, MANY);
}

static void test_old_version_intact_with_colliding_hashes(void **state)
{
        old_version_survives(HASH_FEW, 2000);
}

static void aborted_txn_frees_only_its_nodes(enum hash_kind kind, size_t n)
{
        hash_kind = kind;
        struct item *items = items_new(n, 1), *repl = items_new(n, 2);
        struct item *extra = items_new(n, 3);
        struct pmap v1 = build_v1(items, n);
        struct pmap v2 = v1;
        struct pmap_txn txn;
        struct reclaim_list retired;
        txn_begin(&txn, &retired);
        change_v2(&txn, &v2, repl, extra, n);
        /* Abort: free the new nodes, forget (do not run) the retired list. */
        pmap_free(&v2, txn.id, NULL, NULL);
        assert_null(v2.root);
        free(retired.entries);
        check_v1(&v1, items, n);
        pmap_free(&v1, 0, NULL, NULL); /* ASan: no double free, no leak */
        free(items);
        free(repl);
        free(extra);
}

static void test_abort_frees_only_new_nodes(void **state)
{
        aborted_txn_frees_only_its_nodes(HASH_GOOD, MANY);
}

static void test_abort_frees_only_new_nodes_with_colliding_hashes(void **state)
{
        aborted_txn_frees_only_its_nodes(HASH_FEW, 2000);
}

static size_t items_freed;

static void count_item_free(void *item, void *arg)
{
        items_freed++;
        (*(size_t *)arg)++;
}

static void test_pmap_free_with_txn_id_calls_item_free_under_new_nodes(void **state)
{
        hash_kind = HASH_GOOD;
        struct item *items = items_new(1000, 1), *extra = items_new(1, 2);
        struct pmap v1 = build_v1(items, 1000);
        struct pmap v2 = v1;
        struct pmap_txn txn;
        struct reclaim_list retired;
        txn_begin(&txn, &retired);
        extra->key = 5000;
        put(&txn, &v2, extra, NULL);
        size_t calls = 0;
        items_freed = 0;
        pmap_free(&v2, txn.id, count_item_free, &calls);
        /* Only the items in the copied path's nodes, never all of v1. */
        assert_true(calls >= 1 && calls < 1000);
        free(retired.entries);
        calls = 0;
        pmap_free(&v1, 0, count_item_free, &calls);
        assert_int_equal(calls, 1000);
        free(items);
        free(extra);
}

static unsigned reclaim_calls;

static void count_free(void *ptr)
{
        reclaim_calls++;
        free(ptr);
}

static void test_reclaim_list_runs_splices_and_finishes(void **state)
{
        struct reclaim_list a, b;
        reclaim_init(&a);
        reclaim_init(&b);
        reclaim_calls = 0;
        for (int i = 0; i < 1000; i++)
                assert_int_equal(reclaim_push(&a, count_free, malloc(8)), 0);
        for (int i = 0; i < 100; i++)
                assert_int_equal(reclaim_push(&b, count_free, malloc(8)), 0);
        assert_int_equal(reclaim_calls, 0); /* deferred, not run */
        assert_int_equal(reclaim_splice(&a, &b), 0);
        assert_int_equal(a.count, 1100);
        assert_int_equal(b.count, 0);
        reclaim_run(&a);
        assert_int_equal(reclaim_calls, 1100);
        assert_int_equal(a.count, 0);
        assert_int_equal(reclaim_push(&a, count_free, malloc(8)), 0);
        reclaim_fini(&a);
        assert_int_equal(reclaim_calls, 1101);
        assert_null(a.entries);
        reclaim_fini(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_insert_get_delete_100k_keys),
            cmocka_unit_test(test_insert_get_delete_with_few_distinct_hashes),
            cmocka_unit_test(test_insert_get_delete_with_hashes_differing_in_top_bits),
            cmocka_unit_test(test_put_replaces_and_returns_old_item),
            cmocka_unit_test(test_replace_in_collision_node),
            cmocka_unit_test(test_delete_of_absent_key_changes_nothing),
            cmocka_unit_test(test_walk_visits_every_item_once_and_stops_on_nonzero),
            cmocka_unit_test(test_old_version_intact_until_reclaim_runs),
            cmocka_unit_test(test_old_version_intact_with_colliding_hashes),
            cmocka_unit_test(test_abort_frees_only_new_nodes),
            cmocka_unit_test(test_abort_frees_only_new_nodes_with_colliding_hashes),
            cmocka_unit_test(test_pmap_free_with_txn_id_calls_item_free_under_new_nodes),
            cmocka_unit_test(test_reclaim_list_runs_splices_and_finishes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
