/*
 * test_consensus_snapshot.c — what a corrupt snapshot may cost its reader
 * (consensus/snapshot.c, cs_snapshot_decode).
 *
 * A snapshot of 2,000 zones is encoded, then forged: its header's zone
 * count, or the record set count of its first zone, set to 2^40.  The
 * decoder must refuse both, and make room in its tables only for objects
 * that arrive: the largest single allocation made while decoding (the
 * allocator of this binary is wrapped at link time:
 * -Wl,--wrap=malloc,calloc,realloc,mmap, see tests/CMakeLists.txt) stays
 * within that of the honest decode and below half the file's size.  Before,
 * a forged count reserved table room for as many objects as the bytes left
 * could hold at their fewest bytes, 3 to 18 times the file.
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

#include <cmocka.h>
#include <msgpack.h>

#include "consensus/snapshot.h"
#include "consensus/state.h"

#include "consensus_fixtures.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

static bool watching;
static size_t largest; /* the largest allocation while watching */

static void seen(size_t size)
{
        if (watching && size > largest)
                largest = size;
}

void *__wrap_malloc(size_t size)
{
        seen(size);
        return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
        seen(n * size);
        return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
        seen(size);
        return __real_realloc(p, size);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
        seen(len);
        return __real_mmap(addr, len, prot, flags, fd, off);
}

#define ZONES 2000

static void encode_zones(void **buf, size_t *len)
{
        struct cs_state st;
        cs_state_init(&st);
        uint64_t index = 0;
        for (int i = 0; i < ZONES; i++) {
                struct zone_fixture zf;
                struct cs_result res;
                char origin[64], id[32];
                snprintf(origin, sizeof(origin), "zone%d.example.", i);
                snprintf(id, sizeof(id), "z%d", i);
                zone_spec(&zf, origin, id, 1);
                cs_result_init(&res);
                assert_int_equal(zone_create_at(&st, &index, &zf, &res), 0);
                cs_result_fini(&res);
        }
        assert_int_equal(cs_snapshot_encode(&st, buf, len), 0);
        cs_state_fini(&st);
}

/* A copy of buf whose top-level object number `object` (an array) has its
 * element `field` replaced by `value`. */
static void *forge(const void *buf, size_t len, unsigned object, unsigned field,
                   uint64_t value, size_t *out_len)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_unpacked u;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_unpacked_init(&u);
        size_t off = 0, at = 0;
        for (unsigned i = 0; i <= object; i++) {
                at = off;
                assert_int_equal(msgpack_unpack_next(&u, buf, len, &off),
                                 MSGPACK_UNPACK_SUCCESS);
        }
        if (at > 0)
                msgpack_sbuffer_write(&sb, buf, at);
        const msgpack_object *o = &u.data;
        assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
        assert_true(field < o->via.array.size);
        msgpack_pack_array(&pk, o->via.array.size);
        for (unsigned k = 0; k < o->via.array.size; k++) {
                if (k == field)
                        msgpack_pack_uint64(&pk, value);
                else
                        msgpack_pack_object(&pk, o->via.array.ptr[k]);
        }
        msgpack_sbuffer_write(&sb, (const char *)buf + off, len - off);
        msgpack_unpacked_destroy(&u);
        *out_len = sb.size;
        return sb.data; /* free() */
}

/* Decodes buf; the largest allocation made meanwhile. */
static size_t decode_largest(const void *buf, size_t len, int *rv)
{
        struct cs_state st;
        char err[256];
        cs_state_init(&st);
        largest = 0;
        watching = true;
        *rv = cs_snapshot_decode(buf, len, &st, err, sizeof(err));
        watching = false;
        cs_state_fini(&st);
        return largest;
}

/* Objects before the zones: the header, members, and the headers of the
 * (empty) health, latency and CIDR sections. */
#define FIRST_ZONE 5

static void forged_counts_reserve_no_more_than_the_objects_that_arrive(void **state)
{
        (void)state;
        void *buf;
        size_t len;
        int rv;
        encode_zones(&buf, &len);
        size_t honest = decode_largest(buf, len, &rv);
        assert_int_equal(rv, 0);
        printf("snapshot of %d zones: %zu bytes; largest allocation %zu\n", ZONES, len,
               honest);

        size_t flen;
        void *forged = forge(buf, len, 0, 7, (uint64_t)1 << 40, &flen); /* zone count */
        size_t zones = decode_largest(forged, flen, &rv);
        printf("zone count forged: largest allocation %zu\n", zones);
        assert_int_equal(rv, -EBADMSG);
        assert_true(zones <= honest);
        assert_true(zones <= flen / 2);
        free(forged);

        forged = forge(buf, len, FIRST_ZONE, 5, (uint64_t)1 << 40, &flen); /* its sets */
        size_t sets = decode_largest(forged, flen, &rv);
        printf("record set count forged: largest allocation %zu\n", sets);
        assert_int_equal(rv, -EBADMSG);
        assert_true(sets <= honest);
        assert_true(sets <= flen / 2);
        free(forged);
        free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(forged_counts_reserve_no_more_than_the_objects_that_arrive),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
