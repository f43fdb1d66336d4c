/*
 * fuzz_lpm.c — libFuzzer target: the longest-prefix-match trie
 * (common/lpm.h) against a linear search.
 *
 * The input is a list of 19-byte records: family (even: IPv4), length,
 * value byte, 16 address bytes.  The first half of the records are the
 * prefixes (a repeated prefix keeps its first value, as the build would
 * refuse two values), the rest are lookups with the length byte as the
 * known bits.  Every lookup must give the linear search's longest prefix,
 * a scope between the match and the known bits, and the same answer for an
 * address that agrees on the scope's bits.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/lpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REC 19

static unsigned width(uint8_t f)
{
        return f == LPM_IPV4 ? 32 : 128;
}

static bool holds(const struct lpm_prefix *p, const uint8_t *a)
{
        for (unsigned i = 0; i < p->len; i++) {
                unsigned bit = 7 - i % 8;
                if (((p->addr[i / 8] ^ a[i / 8]) >> bit) & 1)
                        return false;
        }
        return true;
}

static void linear(const struct lpm_prefix *ps, size_t n, uint8_t family,
                   const uint8_t *a, unsigned known, struct lpm_match *m)
{
        memset(m, 0, sizeof(*m));
        if (known > width(family))
                known = width(family);
        for (size_t i = 0; i < n; i++)
                if (ps[i].family == family && ps[i].len <= known && holds(&ps[i], a) &&
                    (!m->found || ps[i].len > m->len)) {
                        m->found = true;
                        m->len = ps[i].len;
                        m->value = ps[i].value;
                }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t n = size / REC, np = n / 2;
        struct lpm_prefix *ps = calloc(np ? np : 1, sizeof(*ps));
        size_t used = 0;
        for (size_t i = 0; i < np; i++) {
                const uint8_t *r = data + i * REC;
                struct lpm_prefix p;
                memset(&p, 0, sizeof(p));
                p.family = r[0] % 2 ? LPM_IPV6 : LPM_IPV4;
                p.len = (uint8_t)(r[1] % (width(p.family) + 1));
                p.value = r[2];
                memcpy(p.addr, r + 3, p.family == LPM_IPV4 ? 4 : 16);
                for (unsigned b = p.len; b < 128; b++) /* the trie ignores them */
                        p.addr[b / 8] &= (uint8_t) ~(1u << (7 - b % 8));
                bool dup = false;
                for (size_t k = 0; k < used && !dup; k++)
                        dup = ps[k].family == p.family && ps[k].len == p.len &&
                              memcmp(ps[k].addr, p.addr, 16) == 0;
                if (!dup)
                        ps[used++] = p;
        }
        struct lpm *t = NULL;
        if (lpm_build(ps, used, &t) != 0)
                abort();
        if (lpm_count(t) != used)
                abort();
        for (size_t i = np; i < n; i++) {
                const uint8_t *r = data + i * REC;
                uint8_t family = r[0] % 2 ? LPM_IPV6 : LPM_IPV4, a[16] = {0};
                memcpy(a, r + 3, family == LPM_IPV4 ? 4 : 16);
                unsigned known = r[1];
                struct lpm_match got, want;
                lpm_lookup(t, family, a, known, &got);
                linear(ps, used, family, a, known, &want);
                unsigned k = known > width(family) ? width(family) : known;
                if (got.found != want.found || got.len != want.len ||
                    (want.found && got.value != want.value) || got.scope < got.len ||
                    got.scope > k)
                        abort();
                /* Flip every bit past the scope: the answer stays. */
                uint8_t b[16];
                memcpy(b, a, 16);
                for (unsigned bit = got.scope; bit < width(family); bit++)
                        b[bit / 8] ^= (uint8_t)(1u << (7 - bit % 8));
                struct lpm_match other;
                linear(ps, used, family, b, known, &other);
                if (other.found != want.found || other.len != want.len ||
                    other.value != want.value)
                        abort();
        }
        lpm_free(t);
        free(ps);
        return 0;
}
