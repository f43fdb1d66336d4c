/*
 * dname.c — uncompressed wire-form domain names (see dname.h).
 *
 * Lowercasing goes through a 256-byte table (ASCII letters only, as RFC
 * 4343 asks); comparisons walk both names label by label.  The
 * presentation form escapes what a zone file would misread (RFC 1035
 * section 5.1): '.', '\\', '"', '(', ')', ';', '@', '$' with a backslash,
 * bytes outside 0x21-0x7e as \\DDD.
 */
#include "common/dname.h"

#include <stdio.h>

#define LOWER_ROW(b)                                                                     \
        b + 0, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10,    \
            b + 11, b + 12, b + 13, b + 14, b + 15

const uint8_t common_dname_lower_table[256] = {
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

int common_dname_len(const uint8_t *wire, size_t max)
{
        size_t pos = 0;
        for (;;) {
                if (pos >= max)
                        return -1;
                uint8_t len = wire[pos];
                if (len == 0)
                        return pos + 1 > COMMON_DNAME_MAXLEN ? -1 : (int)(pos + 1);
                if (len > COMMON_LABEL_MAXLEN)
                        return -1;
                pos += 1 + (size_t)len;
        }
}

unsigned common_dname_labels(const uint8_t *wire)
{
        unsigned n = 0;
        while (*wire != 0) {
                n++;
                wire += 1 + *wire;
        }
        return n;
}

bool common_dname_equal(const uint8_t *a, const uint8_t *b)
{
        for (;;) {
                if (*a != *b)
                        return false;
                unsigned len = *a;
                if (len == 0)
                        return true;
                for (unsigned i = 1; i <= len; i++)
                        if (common_dname_lower_table[a[i]] !=
                            common_dname_lower_table[b[i]])
                                return false;
                a += 1 + len;
                b += 1 + len;
        }
}

bool common_dname_in_zone(const uint8_t *name, const uint8_t *zone)
{
        unsigned nl = common_dname_labels(name), zl = common_dname_labels(zone);
        if (nl < zl)
                return false;
        for (unsigned i = 0; i < nl - zl; i++)
                name += 1 + *name;
        return common_dname_equal(name, zone);
}

void common_dname_lower(uint8_t *wire)
{
        while (*wire != 0) {
                unsigned len = *wire;
                for (unsigned i = 1; i <= len; i++)
                        wire[i] = common_dname_lower_table[wire[i]];
                wire += 1 + len;
        }
}

char *common_dname_text(const uint8_t *wire, char *buf, size_t size)
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
