/*
 * test_consensus_compacted.c — the trim of an AppendEntries that reaches
 * below a snapshot (consensus/compacted.h), on crafted messages: which
 * entries stay, the previous index and term it names after, and that the
 * batches of dropped entries are freed exactly once (AddressSanitizer's
 * leak and double-free checks are the judge) while a batch a kept entry
 * shares stays.  test_consensus_replica.c sends one to a real follower.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "consensus/compacted.h"

/* Entries prev+1 .. prev+n; entry k's batch is batches[group[k]], its
 * 8-byte payload the index. */
struct message {
        struct raft_append_entries args;
        void *batches[4];
};

static void make(struct message *m, raft_index prev, unsigned n, const unsigned *group)
{
        memset(m, 0, sizeof(*m));
        m->args = (struct raft_append_entries){.term = 5,
                                               .prev_log_index = prev,
                                               .prev_log_term = prev ? 2 : 0,
                                               .leader_commit = prev + n,
                                               .n_entries = n};
        m->args.entries = raft_calloc(n ? n : 1, sizeof(struct raft_entry));
        for (unsigned k = 0; k < n; k++) {
                unsigned g = group ? group[k] : 0;
                if (m->batches[g] == NULL)
                        m->batches[g] = raft_calloc(n, 8);
                uint64_t index = prev + 1 + k;
                char *payload = (char *)m->batches[g] + 8 * k;
                memcpy(payload, &index, 8);
                m->args.entries[k] = (struct raft_entry){.term = 3,
                                                         .type = RAFT_COMMAND,
                                                         .buf = {payload, 8},
                                                         .batch = m->batches[g]};
        }
}

/* What raft does with a message it took: frees each batch once, then the
 * array (entryBatchesDestroy). */
static void destroy(struct raft_append_entries *args)
{
        void *last = NULL;
        for (unsigned k = 0; k < args->n_entries; k++)
                if (args->entries[k].batch != last)
                        raft_free(last = args->entries[k].batch);
        raft_free(args->entries);
}

static uint64_t index_of(const struct raft_entry *e)
{
        uint64_t v;
        memcpy(&v, e->buf.base, 8);
        return v;
}

static void test_entries_at_or_below_the_snapshot_are_dropped(void **state)
{
        (void)state;
        static const unsigned groups[] = {0, 0, 1, 1, 1, 1}; /* 6-7 | 8-11 */
        struct message m;
        make(&m, 5, 6, groups);
        assert_true(consensus_compacted_trim(&m.args, 8, 4));
        assert_int_equal(m.args.prev_log_index, 8);
        assert_int_equal(m.args.prev_log_term, 4);
        assert_int_equal(m.args.n_entries, 3);
        for (unsigned k = 0; k < 3; k++)
                assert_int_equal(index_of(&m.args.entries[k]), 9 + k);
        assert_int_equal(m.args.leader_commit, 11);
        destroy(&m.args); /* batch 0 went with entries 6-7 */
}

static void test_a_batch_shared_with_a_kept_entry_stays(void **state)
{
        (void)state;
        struct message m;
        make(&m, 0, 5, NULL); /* one batch, like raft_uv's */
        assert_true(consensus_compacted_trim(&m.args, 2, 1));
        assert_int_equal(m.args.n_entries, 3);
        assert_int_equal(index_of(&m.args.entries[0]), 3);
        assert_ptr_equal(m.args.entries[0].batch, m.batches[0]);
        destroy(&m.args);
}

static void test_all_below_becomes_a_heartbeat(void **state)
{
        (void)state;
        static const unsigned groups[] = {0, 1, 1};
        struct message m;
        make(&m, 0, 3, groups);
        assert_true(consensus_compacted_trim(&m.args, 10, 2));
        assert_null(m.args.entries);
        assert_int_equal(m.args.n_entries, 0);
        assert_int_equal(m.args.prev_log_index, 10);
        assert_int_equal(m.args.prev_log_term, 2);

        make(&m, 4, 0, NULL); /* a heartbeat already */
        struct raft_entry *array = m.args.entries;
        m.args.entries = NULL;
        raft_free(array);
        assert_true(consensus_compacted_trim(&m.args, 10, 2));
        assert_int_equal(m.args.prev_log_index, 10);
}

static void test_appends_at_or_after_the_snapshot_are_untouched(void **state)
{
        (void)state;
        struct message m;
        for (raft_index prev = 10; prev <= 11; prev++) {
                make(&m, prev, 4, NULL);
                assert_false(consensus_compacted_trim(&m.args, 10, 2));
                assert_int_equal(m.args.prev_log_index, prev);
                assert_int_equal(m.args.prev_log_term, 2);
                assert_int_equal(m.args.n_entries, 4);
                destroy(&m.args);
        }
        make(&m, 0, 2, NULL); /* no snapshot yet */
        assert_false(consensus_compacted_trim(&m.args, 0, 0));
        assert_int_equal(m.args.n_entries, 2);
        destroy(&m.args);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_entries_at_or_below_the_snapshot_are_dropped),
            cmocka_unit_test(test_a_batch_shared_with_a_kept_entry_stays),
            cmocka_unit_test(test_all_below_becomes_a_heartbeat),
            cmocka_unit_test(test_appends_at_or_after_the_snapshot_are_untouched),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
