/*
 * dname.h — domain names in uncompressed wire form: the one implementation
 * that dns/ (as dns_name_*) and consensus/ (as cs_name_*) share.
 *
 * A wire name is a sequence of labels, each a length byte (0-63) and that
 * many bytes, ending with the empty root label; at most 255 bytes in all.
 * Comparisons ignore ASCII case (RFC 4343).
 */
#ifndef COMMON_DNAME_H
#define COMMON_DNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMMON_DNAME_MAXLEN 255
#define COMMON_LABEL_MAXLEN 63

/* b lowercased when an ASCII letter, else b. */
extern const uint8_t common_dname_lower_table[256];

/* Length of the valid wire name at the start of wire (at most max bytes
 * read), or -1: a compression pointer or reserved label type, a name over
 * 255 bytes, or one that runs past max. */
int common_dname_len(const uint8_t *wire, size_t max);

/* Labels of a valid wire name, the root excluded. */
unsigned common_dname_labels(const uint8_t *wire);

/* Equality of two valid wire names, ignoring case. */
bool common_dname_equal(const uint8_t *a, const uint8_t *b);

/* Is name equal to or below zone (both valid, case ignored)? */
bool common_dname_in_zone(const uint8_t *name, const uint8_t *zone);

/* Lowercases a valid wire name in place. */
void common_dname_lower(uint8_t *wire);

/* Presentation form ("www.example.com.", escaped as a zone file reads it),
 * cut to fit size; returns buf. */
char *common_dname_text(const uint8_t *wire, char *buf, size_t size);

#endif
