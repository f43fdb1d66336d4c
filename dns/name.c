/*
 * name.c — wire-form names and lookup keys (see name.h).
 *
 * The suffix hash is FNV-1a over the label's length and lowercased bytes,
 * seeded with the parent suffix's hash and finished with the MurmurHash3
 * 64-bit mixer so that every group of 5 bits the hash map consumes is well
 * distributed.
 */
#include "dns/name.h"

#include <stdio.h>
#include <string.h>

#define LOWER_ROW(b)                                                                     \
        b + 0, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10,    \
            b + 11, b + 12, b + 13, b + 14, b + 15

const uint8_t dns_lower_table[256] = {
    LOWER_ROW(0x00),
    LOWER_ROW(0x10),
    LOWER_ROW(0x20),
    LOWER_ROW(0x30),
    0x40,
    'a',
    'b',
    'c',
    'd',
    'e',
    'f',
    'g',
    'h',
    'i',
    'j',
    'k',
    'l',
    'm',
    'n',
    'o',
    'p',
    'q',
    'r',
    's',
    't',
    'u',
    'v',
    'w',
    'x',
    'y',
    'z',
    0x5b,
    0x5c,
    0x5d,
    0x5e,
    0x5f,
    LOWER_ROW(0x60),
    LOWER_ROW(0x70),
    LOWER_ROW(0x80),
    LOWER_ROW(0x90),
    LOWER_ROW(0xa0),
    LOWER_ROW(0xb0),
    LOWER_ROW(0xc0),
    LOWER_ROW(0xd0),
    LOWER_ROW(0xe0),
    LOWER_ROW(0xf0),
};

static inline uint64_t fmix64(uint64_t k)
{
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdULL;
        k ^= k >> 33;
        k *= 0xc4ceb9fe1a85ec53ULL;
        k ^= k >> 33;
        return k;
}

uint64_t dns_name_root_hash(void)
{
        return 0x9e3779b97f4a7c15ULL;
}

uint64_t dns_name_label_hash(uint64_t parent, const uint8_t *label)
{
        uint64_t h = parent ^ 0xcbf29ce484222325ULL;
        unsigned len = label[0];
        h = (h ^ len) * 0x100000001b3ULL;
        for (unsigned i = 1; i <= len; i++)
                h = (h ^ dns_lower_table[label[i]]) * 0x100000001b3ULL;
        return fmix64(h);
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
                out->wire[pos] = len;
                for (unsigned i = 1; i <= len; i++)
                        out->wire[pos + i] = dns_lower_table[wire[pos + i]];
                pos += 1 + (size_t)len;
        }
        out->wire[pos] = 0;
        out->len = (uint16_t)(pos + 1);
        out->nlabels = (uint8_t)n;
        out->off[n] = (uint8_t)pos;
        uint64_t h = dns_name_root_hash();
        out->hash[n] = h;
        for (unsigned i = n; i-- > 0;) {
                h = dns_name_label_hash(h, &out->wire[out->off[i]]);
                out->hash[i] = h;
        }
        return (int)(pos + 1);
}

int dns_name_wire_len(const uint8_t *wire, size_t max)
{
        size_t pos = 0;
        for (;;) {
                if (pos >= max)
                        return -1;
                uint8_t len = wire[pos];
                if (len == 0)
                        return pos + 1 > DNS_NAME_MAXLEN ? -1 : (int)(pos + 1);
                if (len > DNS_LABEL_MAXLEN)
                        return -1;
                pos += 1 + (size_t)len;
        }
}

unsigned dns_name_labels(const uint8_t *wire)
{
        unsigned n = 0;
        while (*wire != 0) {
                n++;
                wire += 1 + *wire;
        }
        return n;
}

bool dns_name_equal(const uint8_t *a, const uint8_t *b)
{
        for (;;) {
                if (*a != *b)
                        return false;
                unsigned len = *a;
                if (len == 0)
                        return true;
                for (unsigned i = 1; i <= len; i++)
                        if (dns_lower_table[a[i]] != dns_lower_table[b[i]])
                                return false;
                a += 1 + len;
                b += 1 + len;
        }
}

bool dns_name_in_zone(const uint8_t *name, const uint8_t *zone)
{
        unsigned nl = dns_name_labels(name), zl = dns_name_labels(zone);
        if (nl < zl)
                return false;
        for (unsigned i = 0; i < nl - zl; i++)
                name += 1 + *name;
        return dns_name_equal(name, zone);
}

void dns_name_lower(uint8_t *wire)
{
        while (*wire != 0) {
                unsigned len = *wire;
                for (unsigned i = 1; i <= len; i++)
                        wire[i] = dns_lower_table[wire[i]];
                wire += 1 + len;
        }
}

char *dns_name_to_text(const uint8_t *wire, char *buf, size_t size)
{
        size_t out = 0;
        if (size == 0)
                return buf;
        if (*wire == 0) {
                snprintf(buf, size, ".");
                return buf;
        }
        while (*wire != 0 && out + 5 < size) {
                unsigned len = *wire++;
                for (unsigned i = 0; i < len && out + 5 < size; i++) {
                        uint8_t c = wire[i];
                        if (c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' ||
                            c == ';' || c == '@' || c == '$') {
                                buf[out++] = '\\';
                                buf[out++] = (char)c;
                        } else if (c <= 0x20 || c >= 0x7f) {
                                out +=
                                    (size_t)snprintf(buf + out, size - out, "\\%03u", c);
                        } else {
                                buf[out++] = (char)c;
                        }
                }
                wire += len;
                buf[out++] = '.';
        }
        buf[out < size ? out : size - 1] = '\0';
        return buf;
}
