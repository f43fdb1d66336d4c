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

#define DNS_NAME_MAXLEN    255
#define DNS_LABEL_MAXLEN   63
#define DNS_NAME_MAXLABELS 127

extern const uint8_t dns_lower_table[256];

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

/*
 * Prepares an uncompressed wire name (no pointers) of at most `max` bytes.
 * Returns the wire length consumed, or -1 when the name is malformed
 * (pointer, label over 63, name over 255 bytes, runs past max).
 */
int dns_lname_from_wire(struct dns_lname *out, const uint8_t *wire, size_t max);

/* Length of a valid uncompressed wire name, or -1. */
int dns_name_wire_len(const uint8_t *wire, size_t max);

/* Number of labels (root excluded) of a valid uncompressed wire name. */
unsigned dns_name_labels(const uint8_t *wire);

/* Case-insensitive equality of two uncompressed wire names. */
bool dns_name_equal(const uint8_t *a, const uint8_t *b);

/* Is `name` equal to or below `zone`?  (both uncompressed wire) */
bool dns_name_in_zone(const uint8_t *name, const uint8_t *zone);

/* Lowercases an uncompressed wire name in place. */
void dns_name_lower(uint8_t *wire);

/* Presentation form ("www.example.com.") for messages; returns buf. */
char *dns_name_to_text(const uint8_t *wire, char *buf, size_t size);

#endif
