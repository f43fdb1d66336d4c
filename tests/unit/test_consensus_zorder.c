/*
 * test_consensus_zorder.c — the zones of the state in name order
 * (consensus/zorder.h), as the API pages through them.
 *
 * Drives consensus/state.h directly: zones created and deleted in an order
 * unlike their names' (20,000 of them), zones appended in name order as a
 * snapshot's restore does, names with bytes their text escapes, and names
 * shorter, as long as or longer than the prefix each link keeps.  After
 * each change the index must list every zone once in strictly increasing
 * text, every level of the skip list must be sorted and a subset of the one
 * below, and a page must start right after its marker.
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

#include "consensus/state.h"
#include "consensus/wire.h"
#include "consensus/zorder.h"

#include "consensus_fixtures.h"

/* A state with one zone, example.com., which sorts before every other. */
struct env {
        struct cs_state st;
        struct cs_result res;
        struct zone_fixture zf;
        uint64_t index;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        state_with_example_zone(&e->st, &e->res, &e->zf, &e->index);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        state_end(&e->st, &e->res);
        free(e);
        return 0;
}

static const struct cs_zone *zone(struct env *e)
{
        return cs_state_zone_get(&e->st, e->zf.origin, e->zf.origin_len);
}

/* Checks the name-ordered index against the zones: strictly increasing text,
 * every zone once. */
static size_t check_order(const struct cs_state *st)
{
        char prev[1024] = "", text[1024];
        size_t n = 0;
        for (const struct cs_zone *z = cs_state_zone_after(st, NULL); z != NULL;
             z = cs_state_zone_next(z)) {
                cs_name_text(z->origin, z->origin_len, text, sizeof(text));
                if (n > 0 && strcmp(prev, text) >= 0)
                        fail_msg("%s listed after %s", text, prev);
                assert_ptr_equal(cs_state_zone_get(st, z->origin, z->origin_len), z);
                strcpy(prev, text);
                n++;
        }
        assert_int_equal(n, cs_state_zone_count(st));
        return n;
}

static void zones_are_listed_in_name_order_as_they_change(void **state)
{
        struct env *e = *state;
        enum { ZONES = 20000 };
        char name[64], id[32];
        struct zone_fixture zf;
        for (int i = 0; i < ZONES; i++) {
                /* Names whose text order differs from creation order and
                 * from the DNSSEC canonical order. */
                snprintf(name, sizeof(name), "z%d.%c.test.", (i * 7919) % ZONES,
                         'a' + i % 26);
                snprintf(id, sizeof(id), "ZO%d", i);
                zone_spec(&zf, name, id, 1);
                struct cs_ctx ctx = {.index = ++e->index};
                assert_int_equal(cs_state_zone_create(&e->st, &ctx, &zf.spec, &e->res),
                                 0);
        }
        assert_int_equal(check_order(&e->st), ZONES + 1);
        /* Every third zone deleted: the others stay in order. */
        for (int i = 0; i < ZONES; i += 3) {
                snprintf(name, sizeof(name), "z%d.%c.test.", (i * 7919) % ZONES,
                         'a' + i % 26);
                zone_spec(&zf, name, "x", 1);
                struct cs_ctx ctx = {.index = ++e->index};
                assert_int_equal(cs_state_zone_delete(&e->st, &ctx, zf.origin,
                                                      zf.origin_len, false, &e->res),
                                 0);
        }
        size_t left = check_order(&e->st);
        assert_int_equal(left, ZONES + 1 - (ZONES + 2) / 3);
        /* A page starts after its marker, which need not be a zone, in any case. */
        const struct cs_zone *z = cs_state_zone_after(&e->st, "Z1.B.TEST.");
        char text[1024];
        assert_non_null(z);
        cs_name_text(z->origin, z->origin_len, text, sizeof(text));
        assert_true(strcmp(text, "z1.b.test.") > 0);
        /* example.com. sorts first; the page after it starts at the next. */
        assert_ptr_equal(cs_state_zone_after(&e->st, NULL), zone(e));
        assert_ptr_equal(cs_state_zone_after(&e->st, "example.com."),
                         cs_state_zone_next(zone(e)));
        assert_null(cs_state_zone_after(&e->st, "zzz."));
}

/* Every level of the skip list sorted, a subset of the level below, and its
 * tail (consensus/zorder.h) its last link; returns the links on level 0. */
static size_t check_levels(const struct cs_zorder *o)
{
        size_t n0 = 0;
        for (int i = 0; i < CS_ZORDER_LEVELS; i++) {
                const struct cs_zlink *last = NULL, *below = i ? o->head[i - 1] : NULL;
                size_t n = 0;
                for (const struct cs_zlink *l = o->head[i]; l != NULL; l = l->next[i]) {
                        assert_true(l->levels > i);
                        if (last != NULL)
                                assert_true(cs_zorder_cmp(last, l) < 0);
                        if (i > 0) { /* l is on the level below, after `last` */
                                while (below != NULL && below != l)
                                        below = below->next[i - 1];
                                assert_ptr_equal(below, l);
                        }
                        last = l;
                        n++;
                }
                assert_ptr_equal(o->tail[i], last);
                if (i == 0)
                        n0 = n;
        }
        assert_int_equal(n0, o->count);
        return n0;
}

/* Zones arriving in name order (a snapshot's restore) are appended after the
 * last link of each level; deletions of the last zones move those tails back,
 * and later appends and insertions in between keep every level in order. */
static void zones_appended_in_name_order_keep_every_level(void **state)
{
        struct env *e = *state;
        enum { ZONES = 3000 };
        char name[64], id[32];
        struct zone_fixture zf;
        for (int round = 0; round < 3; round++) {
                /* Round 0 appends in order, round 1 deletes the last third
                 * and every fifth zone, round 2 appends again past the end
                 * and inserts between existing names. */
                for (int i = 0; i < ZONES; i++) {
                        snprintf(name, sizeof(name), "zz%05d.%s.test.",
                                 round == 2 ? i + (i % 2 ? 0 : ZONES) : i,
                                 round == 2 && i % 2 ? "b" : "a");
                        snprintf(id, sizeof(id), "AP%d-%d", round, i);
                        zone_spec(&zf, name, id, 1);
                        struct cs_ctx ctx = {.index = ++e->index};
                        if (round == 1) {
                                if (i < ZONES * 2 / 3 && i % 5 != 0)
                                        continue;
                                assert_int_equal(
                                    cs_state_zone_delete(&e->st, &ctx, zf.origin,
                                                         zf.origin_len, false, &e->res),
                                    0);
                        } else {
                                assert_int_equal(
                                    cs_state_zone_create(&e->st, &ctx, &zf.spec, &e->res),
                                    0);
                        }
                }
                check_levels(&e->st.order);
                check_order(&e->st);
        }
        assert_int_equal(check_levels(&e->st.order), cs_state_zone_count(&e->st));
}

/* A page after each zone's name starts at the next zone; with `shorter`,
 * a marker one character short of a name starts at the first zone whose
 * text sorts after it, as a scan finds it. */
static void check_markers(const struct cs_state *st, bool shorter)
{
        char text[1024], other[1024];
        for (const struct cs_zone *z = cs_state_zone_after(st, NULL); z != NULL;
             z = cs_state_zone_next(z)) {
                cs_name_text(z->origin, z->origin_len, text, sizeof(text));
                assert_ptr_equal(cs_state_zone_after(st, text), cs_state_zone_next(z));
                if (!shorter)
                        continue;
                text[strlen(text) - 1] = 0;
                const struct cs_zone *want = cs_state_zone_after(st, NULL);
                for (; want != NULL; want = cs_state_zone_next(want)) {
                        cs_name_text(want->origin, want->origin_len, other,
                                     sizeof(other));
                        if (strcmp(other, text) > 0)
                                break;
                }
                assert_ptr_equal(cs_state_zone_after(st, text), want);
        }
}

/* The index compares a zone's wire name with a key in text a character at a
 * time (consensus/zorder.c): labels with bytes the text escapes (\c, \DDD)
 * sort as their text does, and a page after such a zone's text starts at
 * the next zone. */
static void escaped_names_sort_as_their_text(void **state)
{
        struct env *e = *state;
        static const uint8_t alphabet[] = {'a', 'b', '-', '.', '\\', '"',  '(',  ')',
                                           ';', '@', '$', ' ', 0x7f, 0xc3, 0x01, '0',
                                           '9', 'z', '~', '!', '/',  '[',  0xff};
        uint32_t rng = 7;
        char id[32];
        for (int i = 0; i < 600; i++) {
                struct zone_fixture zf;
                zone_spec(&zf, "x.esc.test.", "x", 1);
                uint8_t wire[256];
                size_t n = 0, labels = 1 + i % 2;
                for (size_t l = 0; l < labels; l++) {
                        rng = rng * 1103515245u + 12345u;
                        uint8_t len = (uint8_t)(1 + (rng >> 16) % 4);
                        wire[n++] = len;
                        for (uint8_t k = 0; k < len; k++) {
                                rng = rng * 1103515245u + 12345u;
                                wire[n++] = alphabet[(rng >> 16) % sizeof(alphabet)];
                        }
                }
                size_t tail = to_wire("esc.test.", wire + n);
                n += tail;
                memcpy(zf.origin, wire, n);
                zf.origin_len = n;
                zf.spec.origin_len = n;
                snprintf(id, sizeof(id), "ESC%d", i);
                zf.spec.zone_id = id;
                struct cs_ctx ctx = {.index = ++e->index};
                int rv = cs_state_zone_create(&e->st, &ctx, &zf.spec, &e->res);
                assert_true(rv == 0 || rv == -EEXIST);
        }
        assert_true(check_order(&e->st) > 500);
        check_markers(&e->st, false);
}

/* A search decides on the names' first characters kept in each link
 * (CS_ZLINK_PREFIX) and reads the names only where those are equal: names
 * shorter than the prefix, equal to it, or longer with the same start all
 * sort as their text, created in an order unlike theirs. */
static void names_around_the_kept_prefix_sort_as_their_text(void **state)
{
        struct env *e = *state;
        static const char *names[] = {
            "abcdefgh.", "a.",         "abcdefg.",  "abcdef.",     "abcdefg-.",
            "ab.",       "abcdefg.x.", "abcdefgg.", "abcdefga.b.", "abc\\\\d.",
            "abcdefga.", "abcdefg0.",  "b.",        "abcdeff.",    "abcdefgaa.",
        };
        char id[32];
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                struct zone_fixture zf;
                snprintf(id, sizeof(id), "PRE%zu", i);
                zone_spec(&zf, names[i], id, 1);
                struct cs_ctx ctx = {.index = ++e->index};
                assert_int_equal(cs_state_zone_create(&e->st, &ctx, &zf.spec, &e->res),
                                 0);
        }
        /* example.com. and these */
        assert_int_equal(check_order(&e->st), 1 + sizeof(names) / sizeof(names[0]));
        check_markers(&e->st, true);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(zones_are_listed_in_name_order_as_they_change),
            T(zones_appended_in_name_order_keep_every_level),
            T(escaped_names_sort_as_their_text),
            T(names_around_the_kept_prefix_sort_as_their_text),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
