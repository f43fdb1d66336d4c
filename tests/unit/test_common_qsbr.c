/*
 * test_common_qsbr.c — grace periods for reader threads.
 *
 * Two reader threads keep loading a published object and checking its
 * content while the writer replaces it 5,000 times, freeing each old one
 * right after qsbr_synchronize(): a grace period that ended too early shows
 * up as a wrong value, or under ASan as a use after free.  Also checks that
 * synchronize returns at once when every reader is offline, and that an
 * unregistered reader is no longer waited for.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/qsbr.h"

#define MAGIC 0x5eed5eedu

struct object {
        uint32_t magic;
        uint32_t serial;
};

struct shared {
        struct qsbr q;
        _Atomic(struct object *) current;
        atomic_bool done;
        atomic_uint bad;
        atomic_ulong reads;
};

struct reader_arg {
        struct shared *sh;
        struct qsbr_reader reader;
};

static void *reader_run(void *arg)
{
        struct reader_arg *r = arg;
        struct shared *sh = r->sh;
        while (!atomic_load(&sh->done)) {
                qsbr_online(&sh->q, &r->reader);
                for (int i = 0; i < 16; i++) {
                        struct object *o = atomic_load(&sh->current);
                        if (o->magic != MAGIC)
                                atomic_fetch_add(&sh->bad, 1);
                        atomic_fetch_add(&sh->reads, 1);
                }
                qsbr_offline(&r->reader);
        }
        return NULL;
}

static struct object *object_new(uint32_t serial)
{
        struct object *o = malloc(sizeof(*o));
        o->magic = MAGIC;
        o->serial = serial;
        return o;
}

static void test_readers_never_see_freed_objects(void **state)
{
        struct shared sh;
        qsbr_init(&sh.q);
        atomic_init(&sh.current, object_new(0));
        atomic_init(&sh.done, false);
        atomic_init(&sh.bad, 0);
        atomic_init(&sh.reads, 0);
        struct reader_arg readers[2];
        pthread_t threads[2];
        for (int i = 0; i < 2; i++) {
                readers[i].sh = &sh;
                qsbr_register(&sh.q, &readers[i].reader);
                assert_int_equal(
                    pthread_create(&threads[i], NULL, reader_run, &readers[i]), 0);
        }
        while (atomic_load(&sh.reads) < 1000)
                sched_yield(); /* both readers are at work before the first swap */
        unsigned long before = atomic_load(&sh.reads);
        for (uint32_t serial = 1; serial <= 5000; serial++) {
                struct object *old = atomic_load(&sh.current);
                atomic_store(&sh.current, object_new(serial));
                qsbr_synchronize(&sh.q);
                old->magic = 0; /* what a reuse of the memory would do */
                free(old);
        }
        atomic_store(&sh.done, true);
        for (int i = 0; i < 2; i++) {
                pthread_join(threads[i], NULL);
                qsbr_unregister(&sh.q, &readers[i].reader);
        }
        assert_int_equal(atomic_load(&sh.bad), 0);
        assert_true(atomic_load(&sh.reads) > before);
        free(atomic_load(&sh.current));
        qsbr_fini(&sh.q);
}

static void test_offline_and_unregistered_readers_are_not_waited_for(void **state)
{
        struct qsbr q;
        qsbr_init(&q);
        struct qsbr_reader idle, gone;
        qsbr_register(&q, &idle);
        qsbr_register(&q, &gone);
        qsbr_synchronize(&q); /* both offline: returns */
        qsbr_online(&q, &gone);
        qsbr_unregister(&q, &gone); /* online, but no longer a reader */
        qsbr_synchronize(&q);
        qsbr_online(&q, &idle);
        qsbr_offline(&idle);
        qsbr_synchronize(&q);
        qsbr_unregister(&q, &idle);
        qsbr_fini(&q);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_readers_never_see_freed_objects),
            cmocka_unit_test(test_offline_and_unregistered_readers_are_not_waited_for),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
