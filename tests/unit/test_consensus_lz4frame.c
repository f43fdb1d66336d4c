/*
 * test_consensus_lz4frame.c — snapshots as LZ4 frames (consensus/lz4frame.h):
 * the frame written while packing holds exactly the bytes written, with its
 * content size in the header (raft allocates by it); a state encoded as a
 * frame decodes to the state the plain encoding gives; and damaged frames
 * (truncated at every length, any byte flipped, bytes after the frame, a
 * header that claims more than the bytes can expand to) are refused with a
 * reason, never read past and never allocated for.  `lz4 -dc` reading a
 * node's snapshot files is in tests/system/test_cluster.py (the lagging
 * node caught up by snapshot).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "consensus/lz4frame.h"
#include "consensus/snapshot.h"
#include "consensus_fixtures.h"

/* Bytes that compress somewhat, as an encoding does: runs of a few
 * patterns with a counter in them. */
static uint8_t *content(size_t n)
{
        uint8_t *b = malloc(n);
        uint32_t x = 12345;
        for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                b[i] = (i % 64 < 40) ? (uint8_t)("zone-name.example."[i % 18])
                                     : (uint8_t)(x >> 24);
        }
        return b;
}

/* Writes `b` in pieces of 1, 2, ... 97 bytes, as a packer does. */
static void write_frame(const uint8_t *b, size_t n, size_t hint, void **out,
                        size_t *out_len)
{
        struct cs_lz4_writer *w = cs_lz4_writer_new(hint);
        assert_non_null(w);
        size_t at = 0, piece = 1;
        while (at < n) {
                size_t k = n - at < piece ? n - at : piece;
                assert_int_equal(cs_lz4_write(w, (const char *)b + at, k), 0);
                at += k;
                piece = piece % 97 + 1;
        }
        assert_int_equal(cs_lz4_writer_finish(w, out, out_len), 0);
}

static void round_trip(size_t n, size_t hint)
{
        uint8_t *b = content(n);
        void *frame, *back;
        size_t len, back_len;
        char err[160];
        write_frame(b, n, hint, &frame, &len);
        assert_true(cs_lz4_is_frame(frame, len));
        assert_int_equal(cs_lz4_decode(frame, len, &back, &back_len, err, sizeof(err)),
                         0);
        assert_int_equal(back_len, n);
        assert_memory_equal(back, b, n);
        free(back);
        free(frame);
        free(b);
}

/* One byte, a block less one, exactly blocks, many blocks with the output
 * grown from nothing, and with room from the start. */
static void frames_hold_what_was_written(void **state)
{
        (void)state;
        static const size_t sizes[] = {1, 7, 65535, 65536, 65537, 3 * 65536, 3000000};
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                round_trip(sizes[i], 0);
                round_trip(sizes[i], sizes[i]);
        }
}

/* Nothing written is no frame: raft refuses an empty snapshot anyway. */
static void an_empty_frame_is_refused(void **state)
{
        (void)state;
        void *out = NULL;
        size_t len = 0;
        struct cs_lz4_writer *w = cs_lz4_writer_new(0);
        assert_non_null(w);
        assert_int_not_equal(cs_lz4_writer_finish(w, &out, &len), 0);
        assert_null(out);
        cs_lz4_writer_free(NULL);
}

/* A state with zones of every size of record set list, frozen and encoded
 * as the FSM does: the frame decodes to the state the plain encoding
 * describes, byte for byte once encoded again. */
static void a_state_as_a_frame_decodes_to_the_same_state(void **state)
{
        (void)state;
        struct cs_state st, back;
        struct cs_result res;
        struct zone_fixture zf;
        uint64_t index = 0;
        state_with_example_zone(&st, &res, &zf, &index);
        char origin[64], id[16];
        for (unsigned z = 0; z < 3000; z++) {
                snprintf(origin, sizeof(origin), "z%u.example.org.", z);
                snprintf(id, sizeof(id), "Z%u", z + 2);
                zone_spec(&zf, origin, id, z);
                assert_int_equal(zone_create_at(&st, &index, &zf, &res), 0);
        }
        void *raw, *frame, *again;
        size_t raw_len, frame_len, again_len;
        struct cs_frozen *f;
        char err[256];
        assert_int_equal(cs_snapshot_encode(&st, &raw, &raw_len), 0);
        assert_int_equal(cs_snapshot_freeze(&st, &f), 0);
        assert_int_equal(cs_snapshot_encode_frozen_lz4(f, 0, &frame, &frame_len), 0);
        cs_snapshot_thaw(&st, f);
        assert_true(cs_lz4_is_frame(frame, frame_len));
        assert_true(frame_len < raw_len / 2);
        cs_state_init(&back);
        assert_int_equal(cs_snapshot_decode(frame, frame_len, &back, err, sizeof(err)),
                         0);
        assert_int_equal(cs_state_zone_count(&back), 3001);
        assert_int_equal(cs_snapshot_encode(&back, &again, &again_len), 0);
        assert_int_equal(again_len, raw_len);
        assert_memory_equal(again, raw, raw_len);
        free(raw);
        free(frame);
        free(again);
        cs_state_fini(&back);
        state_end(&st, &res);
}

/* Cut at every length, and every byte flipped in turn: refused with a
 * reason, or the same content (a match offset that now points at the same
 * bytes of this periodic content).  The content checksum catches a flip
 * that changes the content, the header's checksum one in the header. */
static void damaged_frames_are_refused(void **state)
{
        (void)state;
        size_t n = 70000;
        uint8_t *b = content(n);
        void *frame, *back = NULL;
        size_t len, back_len;
        char err[160];
        write_frame(b, n, 0, &frame, &len);
        uint8_t *copy = malloc(len);
        for (size_t cut = 0; cut < len; cut++) {
                memcpy(copy, frame, cut);
                err[0] = 0;
                assert_int_equal(
                    cs_lz4_decode(copy, cut, &back, &back_len, err, sizeof(err)),
                    -EBADMSG);
                assert_true(err[0] != 0);
        }
        for (size_t at = 0; at < len; at++) {
                memcpy(copy, frame, len);
                copy[at] ^= 0x41;
                err[0] = 0;
                back = NULL;
                int rv = cs_lz4_decode(copy, len, &back, &back_len, err, sizeof(err));
                if (rv == 0) { /* a match offset that copies the same bytes */
                        assert_int_equal(back_len, n);
                        assert_memory_equal(back, b, n);
                        free(back);
                } else {
                        assert_int_equal(rv, -EBADMSG);
                        assert_null(back);
                        assert_true(err[0] != 0);
                }
        }
        /* Anything after the frame: refused. */
        uint8_t *longer = malloc(len + 8);
        memcpy(longer, frame, len);
        memset(longer + len, 0, 8);
        for (size_t extra = 1; extra <= 8; extra++) {
                err[0] = 0;
                assert_int_equal(cs_lz4_decode(longer, len + extra, &back, &back_len, err,
                                               sizeof(err)),
                                 -EBADMSG);
                assert_non_null(strstr(err, "after its end"));
        }
        free(longer);
        free(copy);
        free(frame);
        free(b);
}

/* 64 MB of zeros compress to ~256 KB; its first 64 bytes still carry a
 * header that says 64 MB, more than 64 bytes can expand to: refused before
 * anything is allocated for it.  Not a frame at all: said so. */
static void a_header_that_claims_too_much_is_refused(void **state)
{
        (void)state;
        size_t n = 64u << 20;
        uint8_t *zeros = calloc(1, n);
        void *frame, *back = NULL;
        size_t len, back_len;
        char err[160];
        struct cs_lz4_writer *w = cs_lz4_writer_new(0);
        assert_non_null(w);
        assert_int_equal(cs_lz4_write(w, (const char *)zeros, n), 0);
        assert_int_equal(cs_lz4_writer_finish(w, &frame, &len), 0);
        free(zeros);
        assert_int_equal(cs_lz4_decode(frame, len, &back, &back_len, err, sizeof(err)),
                         0);
        assert_int_equal(back_len, n);
        free(back);
        assert_int_equal(cs_lz4_decode(frame, 64, &back, &back_len, err, sizeof(err)),
                         -EBADMSG);
        assert_non_null(strstr(err, "content size"));
        static const uint8_t msgpack[] = {0x99, 0xaf, 'q', 'u', 'o'};
        assert_false(cs_lz4_is_frame(msgpack, sizeof(msgpack)));
        assert_int_equal(
            cs_lz4_decode(msgpack, sizeof(msgpack), &back, &back_len, err, sizeof(err)),
            -EBADMSG);
        assert_non_null(strstr(err, "not an LZ4 frame"));
        free(frame);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(frames_hold_what_was_written),
            cmocka_unit_test(an_empty_frame_is_refused),
            cmocka_unit_test(a_state_as_a_frame_decodes_to_the_same_state),
            cmocka_unit_test(damaged_frames_are_refused),
            cmocka_unit_test(a_header_that_claims_too_much_is_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
