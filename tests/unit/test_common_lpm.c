/*
 * test_common_lpm.c — the longest-prefix-match trie against a linear search.
 *
 * Random prefix sets of both families (clustered around a few base
 * addresses so that prefixes nest and overlap, lengths 0 to the full width)
 * are built into a trie and every lookup — random addresses near and far
 * from the prefixes, every known-bits count — is compared with a
 * brute-force scan for the longest matching prefix no longer than the known
 * bits.  The scope a lookup reports is checked too: never shorter than the
 * match nor than the bits needed to rule out every longer prefix the scan
 * saw, never longer than the known bits, and an address that agrees on the
 * scope's bits gets the same answer; large IPv4 sets (where lookups start
 * in a stride table) the same way.  Plus the edge cases by name: an ECS
 * /24 never matches a /32, families never mix, duplicates, bad input, an
 * empty table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/lpm.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
        uint64_t x = rng_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return rng_state = x;
}

static unsigned width(uint8_t family)
{
        return family == LPM_IPV4 ? 32 : 128;
}

static unsigned bit(const uint8_t *a, unsigned i)
{
        return (a[i / 8] >> (7 - i % 8)) & 1;
}

/* Leading bits a and b share, up to limit. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned limit)
{
        unsigned i = 0;
        while (i + 8 <= limit && a[i / 8] == b[i / 8])
                i += 8;
        while (i < limit && bit(a, i) == bit(b, i))
                i++;
        return i;
}

/* A prefix from n address bytes (the rest zero). */
static void set_prefix_n(struct lpm_prefix *p, uint8_t family, const void *bytes,
                         size_t n, uint8_t len, uint32_t value)
{
        memset(p, 0, sizeof(*p));
        p->family = family;
        p->len = len;
        p->value = value;
        memcpy(p->addr, bytes, n < 16 ? n : 16);
}

/* From a string literal of address bytes. */
#define set_prefix(p, family, lit, len, value)                                           \
        set_prefix_n(p, family, lit, sizeof(lit) - 1, len, value)

struct ref {
        bool found;
        unsigned len;
        uint32_t value;
        unsigned scope_min; /* bits needed to rule out longer prefixes */
};

static struct ref linear(const struct lpm_prefix *ps, size_t n, uint8_t family,
                         const uint8_t *addr, unsigned known)
{
        struct ref r = {0};
        if (known > width(family))
                known = width(family);
        for (size_t i = 0; i < n; i++) {
                if (ps[i].family != family || ps[i].len > known)
                        continue;
                if (common_bits(ps[i].addr, addr, ps[i].len) == ps[i].len &&
                    (!r.found || ps[i].len > r.len)) {
                        r.found = true;
                        r.len = ps[i].len;
                        r.value = ps[i].value;
                }
        }
        r.scope_min = r.len;
        for (size_t i = 0; i < n; i++) {
                if (ps[i].family != family || ps[i].len > known || ps[i].len <= r.len)
                        continue;
                unsigned d = common_bits(ps[i].addr, addr, ps[i].len);
                if (d < ps[i].len && d + 1 > r.scope_min)
                        r.scope_min = d + 1;
        }
        return r;
}

/* An address near a random base: the base with its low bits from `keep`
 * on randomised. */
static void near(uint8_t *out, const uint8_t *base, uint8_t family, unsigned keep)
{
        unsigned w = width(family);
        memcpy(out, base, 16);
        for (unsigned i = keep; i < w; i++) {
                unsigned b = rnd() & 1;
                out[i / 8] =
                    (uint8_t)((out[i / 8] & ~(1u << (7 - i % 8))) | b << (7 - i % 8));
        }
        if (family == LPM_IPV4)
                memset(out + 4, 0, 12);
}

static void check_one(const struct lpm *t, const struct lpm_prefix *ps, size_t n,
                      uint8_t family, const uint8_t *addr, unsigned known)
{
        struct lpm_match m;
        lpm_lookup(t, family, addr, known, &m);
        struct ref r = linear(ps, n, family, addr, known);
        unsigned k = known > width(family) ? width(family) : known;
        assert_int_equal(m.found, r.found);
        if (r.found) {
                assert_int_equal(m.len, r.len);
                assert_int_equal(m.value, r.value);
        }
        assert_true(m.scope >= r.scope_min);
        assert_true(m.scope >= m.len);
        assert_true(m.scope <= k);

        /* Any address agreeing on the scope's bits gets the same answer. */
        uint8_t other[16];
        near(other, addr, family, m.scope);
        struct ref o = linear(ps, n, family, other, known);
        assert_int_equal(o.found, r.found);
        assert_int_equal(o.len, r.len);
        assert_int_equal(o.value, r.value);
}

static void random_round(size_t n, unsigned bases, unsigned lookups, bool v4only)
{
        struct lpm_prefix *ps = calloc(n, sizeof(*ps));
        assert_non_null(ps);
        uint8_t base[8][16];
        for (unsigned b = 0; b < bases; b++)
                for (unsigned i = 0; i < 16; i++)
                        base[b][i] = (uint8_t)rnd();
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
                uint8_t family = v4only || rnd() & 1 ? LPM_IPV4 : LPM_IPV6;
                unsigned w = width(family);
                unsigned len = (unsigned)(rnd() % (w + 1));
                uint8_t addr[16];
                near(addr, base[rnd() % bases], family, (unsigned)(rnd() % (w + 1)));
                /* Mask to len, as the trie would, so the scan sees the same. */
                for (unsigned j = len; j < w; j++)
                        addr[j / 8] &= (uint8_t) ~(1u << (7 - j % 8));
                bool dup = false;
                for (size_t j = 0; j < used && !dup; j++)
                        dup = ps[j].family == family && ps[j].len == len &&
                              memcmp(ps[j].addr, addr, 16) == 0;
                if (dup)
                        continue;
                set_prefix_n(&ps[used], family, addr, 16, (uint8_t)len, (uint32_t)rnd());
                used++;
        }
        struct lpm *t = NULL;
        assert_int_equal(lpm_build(ps, used, &t), 0);
        assert_int_equal(lpm_count(t), used);
        for (unsigned q = 0; q < lookups; q++) {
                uint8_t family = v4only || rnd() & 1 ? LPM_IPV4 : LPM_IPV6;
                unsigned w = width(family);
                uint8_t addr[16];
                if (rnd() % 4 == 0 || used == 0)
                        near(addr, base[rnd() % bases], family, 0);
                else
                        near(addr, ps[rnd() % used].addr, family,
                             (unsigned)(rnd() % (w + 1)));
                unsigned known = (unsigned)(rnd() % (w + 9));
                check_one(t, ps, used, family, addr, known);
        }
        lpm_free(t);
        free(ps);
}

static void test_random_sets_match_linear_search(void **state)
{
        (void)state;
        for (unsigned round = 0; round < 200; round++)
                random_round(1 + rnd() % 200, 1 + (unsigned)(rnd() % 8), 300, false);
        /* A few larger ones. */
        for (unsigned round = 0; round < 2; round++)
                random_round(2000, 8, 2000, false);
}

/* Tables of 256 IPv4 prefixes or more start lookups in a stride table of
 * the first 16 bits: the same answers, scopes included. */
static void test_large_ipv4_tables_match_linear_search(void **state)
{
        (void)state;
        random_round(300, 1, 3000, true);
        random_round(3000, 4, 3000, true);
        random_round(3000, 8, 3000, true);
}

static void test_ecs_source_never_matches_longer_entry(void **state)
{
        (void)state;
        struct lpm_prefix ps[3];
        set_prefix(&ps[0], LPM_IPV4, "\x0a\x00\x00\x00", 8, 1);
        set_prefix(&ps[1], LPM_IPV4, "\x0a\x01\x02\x03", 32, 2);
        set_prefix(&ps[2], LPM_IPV4, "\x0a\x01\x02\x00", 25, 3);
        struct lpm *t = NULL;
        assert_int_equal(lpm_build(ps, 3, &t), 0);
        struct lpm_match m;
        /* 10.1.2.0/24 from ECS: the /25 and the /32 lie inside it. */
        lpm_lookup(t, LPM_IPV4, (const uint8_t *)"\x0a\x01\x02\x00", 24, &m);
        assert_true(m.found);
        assert_int_equal(m.value, 1);
        assert_int_equal(m.len, 8);
        assert_int_equal(m.scope, 24);
        lpm_lookup(t, LPM_IPV4, (const uint8_t *)"\x0a\x01\x02\x03", 32, &m);
        assert_int_equal(m.value, 2);
        assert_int_equal(m.len, 32);
        assert_int_equal(m.scope, 32);
        lpm_lookup(t, LPM_IPV4, (const uint8_t *)"\x0a\x01\x02\x04", 32, &m);
        assert_int_equal(m.value, 3);
        assert_int_equal(m.len, 25);
        /* 10.9.0.0/16 is ruled out of 10.1.2.0/25 at bit 12. */
        lpm_lookup(t, LPM_IPV4, (const uint8_t *)"\x0a\x09\x00\x00", 16, &m);
        assert_int_equal(m.value, 1);
        assert_int_equal(m.len, 8);
        assert_int_equal(m.scope, 13);
        /* Alone, a /8 decides with its own 8 bits. */
        lpm_free(t);
        assert_int_equal(lpm_build(ps, 1, &t), 0);
        lpm_lookup(t, LPM_IPV4, (const uint8_t *)"\x0a\x09\x00\x00", 24, &m);
        assert_int_equal(m.scope, 8);
        lpm_lookup(t, LPM_IPV4, (const uint8_t *)"\x0b\x09\x00\x00", 24, &m);
        assert_false(m.found);
        assert_int_equal(m.scope, 8);
        lpm_free(t);
}

static void test_families_never_mix(void **state)
{
        (void)state;
        struct lpm_prefix ps[2];
        set_prefix(&ps[0], LPM_IPV6, "", 0, 6);
        set_prefix(&ps[1], LPM_IPV4, "\xc0\x00\x02\x00", 24, 4);
        struct lpm *t = NULL;
        assert_int_equal(lpm_build(ps, 2, &t), 0);
        struct lpm_match m;
        lpm_lookup(t, LPM_IPV4, (const uint8_t *)"\xc0\x00\x03\x01", 32, &m);
        assert_false(m.found);
        static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
        lpm_lookup(t, LPM_IPV6, v6, 56, &m);
        assert_true(m.found);
        assert_int_equal(m.value, 6);
        assert_int_equal(m.len, 0);
        assert_int_equal(m.scope, 0);
        lpm_lookup(t, 5, (const uint8_t *)"\xc0\x00\x02\x01", 32, &m);
        assert_false(m.found);
        lpm_free(t);
}

static void test_duplicates_and_bad_input(void **state)
{
        (void)state;
        struct lpm_prefix ps[2];
        struct lpm *t = NULL;
        /* Host bits past the length are ignored: these are one prefix. */
        set_prefix(&ps[0], LPM_IPV4, "\x0a\x00\x00\x01", 8, 1);
        set_prefix(&ps[1], LPM_IPV4, "\x0a\x00\x00\x02", 8, 1);
        assert_int_equal(lpm_build(ps, 2, &t), 0);
        assert_int_equal(lpm_count(t), 1);
        lpm_free(t);
        ps[1].value = 2;
        assert_int_equal(lpm_build(ps, 2, &t), -EEXIST);
        set_prefix(&ps[0], LPM_IPV4, "\x0a\x00\x00\x00", 33, 1);
        assert_int_equal(lpm_build(ps, 1, &t), -EINVAL);
        set_prefix(&ps[0], LPM_IPV6, "", 129, 1);
        assert_int_equal(lpm_build(ps, 1, &t), -EINVAL);
        ps[0].family = 0;
        ps[0].len = 0;
        assert_int_equal(lpm_build(ps, 1, &t), -EINVAL);
}

static void test_empty_and_null_tables(void **state)
{
        (void)state;
        struct lpm *t = NULL;
        assert_int_equal(lpm_build(NULL, 0, &t), 0);
        struct lpm_match m;
        lpm_lookup(t, LPM_IPV4, (const uint8_t *)"\x01\x02\x03\x04", 32, &m);
        assert_false(m.found);
        assert_int_equal(m.scope, 0);
        assert_int_equal(lpm_count(t), 0);
        lpm_free(t);
        lpm_lookup(NULL, LPM_IPV6, (const uint8_t *)"0123456789abcdef", 128, &m);
        assert_false(m.found);
        assert_int_equal(lpm_memory(NULL), 0);
        lpm_free(NULL);
}

static void test_full_length_ipv6(void **state)
{
        (void)state;
        struct lpm_prefix ps[3];
        set_prefix(&ps[0], LPM_IPV6, "\x20\x01\x0d\xb8", 32, 1);
        set_prefix(&ps[1], LPM_IPV6,
                   "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",
                   128, 2);
        set_prefix(&ps[2], LPM_IPV6, "\x20\x01\x0d\xb8\x00\x00\x00\x00\x80", 65, 3);
        struct lpm *t = NULL;
        assert_int_equal(lpm_build(ps, 3, &t), 0);
        struct lpm_match m;
        lpm_lookup(t, LPM_IPV6,
                   (const uint8_t *)"\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                                    "\x00\x00\x01",
                   128, &m);
        assert_int_equal(m.value, 2);
        assert_int_equal(m.len, 128);
        lpm_lookup(t, LPM_IPV6,
                   (const uint8_t *)"\x20\x01\x0d\xb8\x00\x00\x00\x00\x80\x00\x00\x00\x00"
                                    "\x00\x00\x01",
                   128, &m);
        assert_int_equal(m.value, 3);
        assert_int_equal(m.len, 65);
        lpm_lookup(t, LPM_IPV6,
                   (const uint8_t *)"\x20\x01\x0d\xb8\x00\x00\x00\x00\x80\x00\x00\x00\x00"
                                    "\x00\x00\x01",
                   56, &m);
        assert_int_equal(m.value, 1);
        assert_int_equal(m.len, 32);
        assert_true(lpm_memory(t) > 0);
        lpm_free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_random_sets_match_linear_search),
            cmocka_unit_test(test_large_ipv4_tables_match_linear_search),
            cmocka_unit_test(test_ecs_source_never_matches_longer_entry),
            cmocka_unit_test(test_families_never_mix),
            cmocka_unit_test(test_duplicates_and_bad_input),
            cmocka_unit_test(test_empty_and_null_tables),
            cmocka_unit_test(test_full_length_ipv6),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
