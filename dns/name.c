/*
 * name.c — wire-form names and lookup keys (see name.h).
 *
 * A query's name is prepared in three passes over at most 255 bytes: one
 * that checks the labels and notes where each starts, one that copies and
 * lowercases eight bytes at a time (SWAR: a byte is an upper-case letter
 * when adding 0x3f to its low seven bits carries into bit 7 and adding 0x25
 * does not), and one that hashes each label a word at a time.  The suffix
 * hash chains the parent suffix's hash with the label's and is finished
 * with the MurmurHash3 64-bit mixer, so that every group of 5 bits the hash
 * map consumes is well distributed.
 */
#include "dns/name.h"

#include <stdio.h>
#include <string.h>

#include "common/hash.h"

static inline uint64_t load64(const uint8_t *p)
{
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static inline void store64(uint8_t *p, uint64_t v)
{
        memcpy(p, &v, sizeof(v));
}

/* The eight bytes of x with 'A'..'Z' turned into 'a'..'z'. */
static inline uint64_t lower64(uint64_t x)
{
        const uint64_t ones = 0x0101010101010101ULL;
        uint64_t low7 = x & (0x7f * ones);
        uint64_t at_least_a = low7 + (0x80 - 'A') * ones;
        uint64_t beyond_z = low7 + (0x80 - 'Z' - 1) * ones;
        uint64_t upper = at_least_a & ~beyond_z & ~x & (0x80 * ones);
        return x | (upper >> 2);
}

/*
 * Hash of a lowercased label (length byte first).  It reads whole words, so
 * the storage must extend at least 8 bytes past the label; bytes past the
 * label are masked out.
 */
static inline uint64_t label_words_hash(const uint8_t *label)
{
        unsigned left = label[0];
        const uint8_t *p = label + 1;
        uint64_t h = 0xcbf29ce484222325ULL ^ left;
        for (; left >= 8; left -= 8, p += 8) {
                h = (h ^ load64(p)) * 0x100000001b3ULL;
                h ^= h >> 29;
        }
        if (left > 0) {
                h = (h ^ (load64(p) & ((1ULL << (8 * left)) - 1))) * 0x100000001b3ULL;
                h ^= h >> 29;
        }
        return h;
}

static inline uint64_t suffix_hash(uint64_t parent, uint64_t label)
{
        return hash_mix64(parent ^ (label * 0x9e3779b97f4a7c15ULL));
}

uint64_t dns_name_root_hash(void)
{
        return 0x9e3779b97f4a7c15ULL;
}

uint64_t dns_name_label_hash(uint64_t parent, const uint8_t *label)
{
        uint8_t copy[1 + DNS_LABEL_MAXLEN + 8];
        unsigned len = label[0] & DNS_LABEL_MAXLEN;
        copy[0] = (uint8_t)len;
        for (unsigned i = 1; i <= len; i++)
                copy[i] = common_dname_lower_table[label[i]];
        memset(copy + 1 + len, 0, 8);
        return suffix_hash(parent, label_words_hash(copy));
}

int dns_lname_from_wire(struct dns_lname *out, const uint8_t *wire, size_t max)
{
        size_t pos = 0;
        unsigned n = 0;
        for (;;) {
                if (pos >= max)
                        return -1;
                uint8_t len = wire[pos];
                if (len == 0)
                        break;
                if (len > DNS_LABEL_MAXLEN || n >= DNS_NAME_MAXLABELS)
                        return -1; /* pointer, extended label, or too many labels */
                if (pos + 1 + len + 1 > DNS_NAME_MAXLEN || pos + 1 + len >= max)
                        return -1;
                out->off[n++] = (uint8_t)pos;
                pos += 1 + (size_t)len;
        }
        size_t size = pos + 1;
        /* Length bytes are below 0x40, so lowercasing leaves them alone. */
        size_t i = 0;
        for (; i + 8 <= size; i += 8)
                store64(out->wire + i, lower64(load64(wire + i)));
        for (; i < size; i++)
                out->wire[i] = common_dname_lower_table[wire[i]];
        out->len = (uint16_t)size;
        out->nlabels = (uint8_t)n;
        out->off[n] = (uint8_t)pos;
        uint64_t h = dns_name_root_hash();
        out->hash[n] = h;
        for (unsigned k = n; k-- > 0;) {
                h = suffix_hash(h, label_words_hash(&out->wire[out->off[k]]));
                out->hash[k] = h;
        }
        return (int)size;
}
