/*
 * name.h — domain names in wire form, and names prepared for lookup.
 *
 * Zone data keeps owner names as labels, lowercased; lookups descend the
 * zone's label tree from the apex.  A `struct dns_lname` is a name prepared
 * for that walk once per query: the lowercased wire form, the offset of each
 * label, and the hash of every suffix, computed right to left in one pass
 * (the hash of a suffix chains the hash of its parent with its first label),
 * so finding the zone and then each label below the apex costs one hash-map
 * probe per label and no rehashing.
 */
#ifndef DNS_NAME_H
#define DNS_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/dname.h"

#define DNS_NAME_MAXLEN    COMMON_DNAME_MAXLEN
#define DNS_LABEL_MAXLEN   COMMON_LABEL_MAXLEN
#define DNS_NAME_MAXLABELS 127

struct dns_lname {
        uint8_t wire[DNS_NAME_MAXLEN + 1 + 8]; /* lowercased, uncompressed; 8 spare
                                                  bytes for word-at-a-time hashing */
        uint16_t len;                          /* bytes of wire, root label included */
        uint8_t nlabels;                       /* labels before the root */
        uint8_t off[DNS_NAME_MAXLABELS + 1];   /* off[i]: label i, 0 = leftmost */
        uint64_t hash[DNS_NAME_MAXLABELS + 1]; /* hash[i]: suffix from label i */
};

/* Hash of the root name, and of a label below a suffix of hash `parent`. */
uint64_t dns_name_root_hash(void);
uint64_t dns_name_label_hash(uint64_t parent, const uint8_t *label);
/* dns_name_label_hash() of the wildcard label "*", the label's part
 * worked out at compile time (wildcard lookups, RFC 4592). */
uint64_t dns_name_star_hash(uint64_t parent);

/*
 * Prepares an uncompressed wire name (no pointers) of at most `max` bytes.
 * Returns the wire length consumed, or -1 when the name is malformed
 * (pointer, label over 63, name over 255 bytes, runs past max).
 */
int dns_lname_from_wire(struct dns_lname *out, const uint8_t *wire, size_t max);

/* The eight bytes of x with 'A'..'Z' turned into 'a'..'z' (SWAR: a byte
 * is an upper-case letter when adding 0x3f to its low seven bits carries
 * into bit 7 and adding 0x25 does not); the table's lowercasing, a word at
 * a time. */
static inline uint64_t dns_lower64(uint64_t x)
{
        const uint64_t ones = 0x0101010101010101ULL;
        uint64_t low7 = x & (0x7f * ones);
        uint64_t at_least_a = low7 + (0x80 - 'A') * ones;
        uint64_t beyond_z = low7 + (0x80 - 'Z' - 1) * ones;
        uint64_t upper = at_least_a & ~beyond_z & ~x & (0x80 * ones);
        return x | (upper >> 2);
}

/*
 * Are the n bytes at `any` (any case), lowercased, the n bytes at `lower`?
 * Up to 64 bytes a word at a time, the last word overlapping the one
 * before, reading nothing outside either range (as wire_equal() does).
 */
static inline bool dns_equal_lowered(const uint8_t *any, const uint8_t *lower, size_t n)
{
        uint64_t a = 0, b = 0, a_end = 0, b_end = 0, diff = 0;
        if (n > 64) {
                for (size_t i = 0; i < n; i++)
                        if (common_dname_lower_table[any[i]] != lower[i])
                                return false;
                return true;
        }
        if (n >= 8) {
                for (size_t i = 0; i + 8 < n; i += 8) {
                        memcpy(&a, any + i, 8);
                        memcpy(&b, lower + i, 8);
                        diff |= dns_lower64(a) ^ b;
                }
                memcpy(&a, any + n - 8, 8);
                memcpy(&b, lower + n - 8, 8);
                return (diff | (dns_lower64(a) ^ b)) == 0;
        }
        if (n >= 4) {
                memcpy(&a, any, 4);
                memcpy(&b, lower, 4);
                memcpy(&a_end, any + n - 4, 4);
                memcpy(&b_end, lower + n - 4, 4);
        } else if (n >= 2) {
                memcpy(&a, any, 2);
                memcpy(&b, lower, 2);
                memcpy(&a_end, any + n - 2, 2);
                memcpy(&b_end, lower + n - 2, 2);
        } else if (n == 1) {
                a = any[0];
                b = lower[0];
        }
        return ((dns_lower64(a) ^ b) | (dns_lower64(a_end) ^ b_end)) == 0;
}

/* The wire-name functions of common/dname.h, under this module's names. */
static inline int dns_name_wire_len(const uint8_t *wire, size_t max)
{
        return common_dname_len(wire, max);
}
static inline unsigned dns_name_labels(const uint8_t *wire)
{
        return common_dname_labels(wire);
}
static inline bool dns_name_equal(const uint8_t *a, const uint8_t *b)
{
        return common_dname_equal(a, b);
}
static inline bool dns_name_in_zone(const uint8_t *name, const uint8_t *zone)
{
        return common_dname_in_zone(name, zone);
}
static inline void dns_name_lower(uint8_t *wire)
{
        common_dname_lower(wire);
}
static inline char *dns_name_to_text(const uint8_t *wire, char *buf, size_t size)
{
        return common_dname_text(wire, buf, size);
}

#endif
