/*
 * lpm.h — longest-prefix match over IPv4 and IPv6 prefixes of any length.
 *
 * A caller collects prefixes (family, address bytes, length, a 32-bit value
 * of its own) and builds a table with lpm_build(); the table is then
 * immutable: any number of threads read it with lpm_lookup() without a lock,
 * and a lookup allocates nothing and calls no kernel.  A new set of prefixes
 * means a new table, published by the caller (one pointer swap) and freed by
 * it after its readers' grace period.
 *
 * A lookup takes the client's address AND how many of its leading bits are
 * known (an EDNS Client Subnet /24 says nothing about bits 24..31, so a /32
 * entry must not match it).  It returns the value of the longest prefix no
 * longer than that which holds the address, the matched length, and a
 * scope: how many leading bits of the address the answer depended on — at
 * least the matched length, longer when the address had to be told apart
 * from a more specific prefix nearby — which is what RFC 7871 calls the
 * SCOPE PREFIX-LENGTH of an answer chosen by this lookup.
 */
#ifndef COMMON_LPM_H
#define COMMON_LPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LPM_IPV4 4
#define LPM_IPV6 6

/* One prefix to build from.  Bits of addr past len are ignored. */
struct lpm_prefix {
        uint8_t family; /* LPM_IPV4 (addr[0..3]) or LPM_IPV6 (addr[0..15]) */
        uint8_t len;    /* 0..32 or 0..128 */
        uint8_t addr[16];
        uint32_t value;
};

struct lpm;

/*
 * Builds a table from `count` prefixes (borrowed; any order).  The same
 * prefix given twice with the same value counts once; with different values
 * it is -EEXIST.  -EINVAL for an unknown family or a length past the
 * family's width, -ENOMEM.  An empty table (count 0) is valid.
 */
int lpm_build(const struct lpm_prefix *prefixes, size_t count, struct lpm **out);

void lpm_free(struct lpm *table);

struct lpm_match {
        bool found;    /* a prefix holds the address */
        uint8_t len;   /* its length (0 when !found) */
        uint8_t scope; /* leading bits the outcome depended on */
        uint32_t value;
};

/*
 * The longest prefix of `family` holding the first `known` bits of addr
 * (4 or 16 bytes), among prefixes no longer than `known` (clamped to the
 * family's width).  Never fails: table NULL or an unknown family is "no
 * match" with scope 0.
 */
void lpm_lookup(const struct lpm *table, uint8_t family, const uint8_t *addr,
                unsigned known, struct lpm_match *out);

/*
 * Stepwise prefetch of what lpm_lookup() of the same address will read,
 * for a caller with many addresses: each call reads what the last one
 * prefetched and prefetches the next node, so that the misses of many
 * lookups overlap.  false: nothing left.  Only a hint.
 */
struct lpm_warm {
        uint64_t key_hi, key_lo; /* the address, masked to known */
        const void *stride;      /* the stride entry prefetched, or NULL */
        uint32_t node;           /* else the node prefetched */
        unsigned known;
};

bool lpm_warm_begin(const struct lpm *table, uint8_t family, const uint8_t *addr,
                    unsigned known, struct lpm_warm *w);
bool lpm_warm_step(const struct lpm *table, struct lpm_warm *w);

/* Distinct prefixes in the table, and the bytes it occupies. */
size_t lpm_count(const struct lpm *table);
size_t lpm_memory(const struct lpm *table);

#endif
