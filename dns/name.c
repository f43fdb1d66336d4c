/*
 * name.c — wire-form names and lookup keys (see name.h).
 *
 * A query's name is prepared in passes over at most 255 bytes: one that
 * checks the labels and notes where each starts, one that copies and
 * lowercases eight bytes at a time (SWAR: a byte is an upper-case letter
 * when adding 0x3f to its low seven bits carries into bit 7 and adding 0x25
 * does not), and one that hashes each label a word at a time from the
 * input, lowercasing in registers, and chains it onto its parent's.  The
 * suffix hash chains the parent suffix's hash with the label's and is
 * finished with the MurmurHash3 64-bit mixer, so that every group of 5 bits
 * the hash map consumes is well distributed.
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

uint64_t dns_name_star_hash(uint64_t parent)
{
        static const uint8_t star[1 + 1 + 8] = {1, '*'}; /* padded as read */
        return suffix_hash(parent, label_words_hash(star));
}

/*
 * Hash of the label of `len` bytes at `p` (after its length byte), read from
 * the query itself and lowercased in registers: the same value as
 * label_words_hash() of the lowercased copy, without loading words that the
 * copy has just stored (a load that spans stores still in flight waits for
 * them to reach the cache).  Reads stay within the name's `end`.
 */
static inline uint64_t label_input_hash(const uint8_t *p, unsigned len,
                                        const uint8_t *start, const uint8_t *end)
{
        unsigned left = len;
        uint64_t h = 0xcbf29ce484222325ULL ^ left;
        for (; left >= 8; left -= 8, p += 8) {
                h = (h ^ dns_lower64(load64(p))) * 0x100000001b3ULL;
                h ^= h >> 29;
        }
        if (left > 0) {
                uint64_t tail;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                if (p + 8 <= end)
                        tail = load64(p) & ((1ULL << (8 * left)) - 1);
                else if (p + left >= start + 8) /* the 8 bytes ending with it */
                        tail = load64(p + left - 8) >> (64 - 8 * left);
                else
#endif
                {
                        uint8_t word[8] = {0};
                        memcpy(word, p, left);
                        tail = load64(word);
                }
                h = (h ^ dns_lower64(tail)) * 0x100000001b3ULL;
                h ^= h >> 29;
        }
        return h;
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
        /* Length bytes are below 0x40, so lowercasing leaves them alone.  The
         * last word overlaps the one before (rewriting the same bytes)
         * rather than ending with a loop over single bytes, whose length
         * varies from name to name and so mispredicts its exit. */
        if (size >= 8) {
                size_t i = 0;
                for (; i + 8 < size; i += 8)
                        store64(out->wire + i, dns_lower64(load64(wire + i)));
                store64(out->wire + size - 8, dns_lower64(load64(wire + size - 8)));
        } else {
                for (size_t i = 0; i < size; i++)
                        out->wire[i] = common_dname_lower_table[wire[i]];
        }
        out->len = (uint16_t)size;
        out->nlabels = (uint8_t)n;
        out->off[n] = (uint8_t)pos;
        /* Each label hashed from the input (no label's hash depends on
         * another's, so the next one's overlaps the chain's step) and
         * chained onto its parent's, in one loop. */
        uint64_t h = dns_name_root_hash();
        out->hash[n] = h;
        for (unsigned k = n; k-- > 0;) {
                const uint8_t *l = wire + out->off[k];
                h = suffix_hash(h, label_input_hash(l + 1, l[0], wire, wire + size));
                out->hash[k] = h;
        }
        return (int)size;
}
