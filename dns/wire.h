/*
 * wire.h — DNS protocol constants and big-endian field access.
 */
#ifndef DNS_WIRE_H
#define DNS_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define DNS_HEADER_SIZE 12

enum {
        DNS_TYPE_A = 1,
        DNS_TYPE_NS = 2,
        DNS_TYPE_CNAME = 5,
        DNS_TYPE_SOA = 6,
        DNS_TYPE_PTR = 12,
        DNS_TYPE_HINFO = 13,
        DNS_TYPE_MX = 15,
        DNS_TYPE_TXT = 16,
        DNS_TYPE_AAAA = 28,
        DNS_TYPE_SRV = 33,
        DNS_TYPE_NAPTR = 35,
        DNS_TYPE_DNAME = 39,
        DNS_TYPE_OPT = 41,
        DNS_TYPE_DS = 43,
        DNS_TYPE_RRSIG = 46,
        DNS_TYPE_NSEC = 47,
        DNS_TYPE_SVCB = 64,
        DNS_TYPE_HTTPS = 65,
        DNS_TYPE_TKEY = 249,
        DNS_TYPE_TSIG = 250,
        DNS_TYPE_IXFR = 251,
        DNS_TYPE_AXFR = 252,
        DNS_TYPE_MAILB = 253,
        DNS_TYPE_MAILA = 254,
        DNS_TYPE_ANY = 255,
};

enum { DNS_CLASS_IN = 1, DNS_CLASS_CH = 3, DNS_CLASS_NONE = 254, DNS_CLASS_ANY = 255 };

enum {
        DNS_RCODE_NOERROR = 0,
        DNS_RCODE_FORMERR = 1,
        DNS_RCODE_SERVFAIL = 2,
        DNS_RCODE_NXDOMAIN = 3,
        DNS_RCODE_NOTIMP = 4,
        DNS_RCODE_REFUSED = 5,
        DNS_RCODE_NOTAUTH = 9,
        DNS_RCODE_BADVERS = 16,   /* extended: needs OPT */
        DNS_RCODE_BADCOOKIE = 23, /* extended: needs OPT */
};

enum { DNS_OPCODE_QUERY = 0, DNS_OPCODE_NOTIFY = 4, DNS_OPCODE_UPDATE = 5 };

/* Header flag bits in the 16-bit flags word. */
#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_AA 0x0400
#define DNS_FLAG_TC 0x0200
#define DNS_FLAG_RD 0x0100
#define DNS_FLAG_RA 0x0080
#define DNS_FLAG_AD 0x0020
#define DNS_FLAG_CD 0x0010

#define DNS_EDNS_DO 0x8000

static inline uint16_t wire_get16(const uint8_t *p)
{
        return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t wire_get32(const uint8_t *p)
{
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
               p[3];
}

static inline void wire_put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

static inline void wire_put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

/*
 * Copies n bytes between buffers that do not overlap, for the short pieces
 * of a response (names, a question, a record): up to 64 bytes with 8-byte
 * moves, the last one overlapping the one before, so that nothing is read
 * or written outside either range.  A call to memcpy, or the `rep movs`
 * the compiler puts inline for a length it does not know, costs more than
 * the copy itself at these sizes.
 */
static inline void wire_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
        uint64_t w8;
        uint32_t w4;
        uint16_t w2;
        if (n > 64) {
                memcpy(dst, src, n);
        } else if (n >= 8) {
                for (size_t i = 0; i + 8 < n; i += 8) {
                        memcpy(&w8, src + i, 8);
                        memcpy(dst + i, &w8, 8);
                }
                memcpy(&w8, src + n - 8, 8);
                memcpy(dst + n - 8, &w8, 8);
        } else if (n >= 4) {
                uint32_t last;
                memcpy(&w4, src, 4);
                memcpy(&last, src + n - 4, 4);
                memcpy(dst, &w4, 4);
                memcpy(dst + n - 4, &last, 4);
        } else if (n >= 2) {
                uint16_t last;
                memcpy(&w2, src, 2);
                memcpy(&last, src + n - 2, 2);
                memcpy(dst, &w2, 2);
                memcpy(dst + n - 2, &last, 2);
        } else if (n == 1) {
                dst[0] = src[0];
        }
}

/*
 * Do the n bytes at a and b match?  Like wire_copy(), for the short keys
 * of a lookup (a label, a zone's origin): up to 64 bytes with 8-byte
 * loads, the last one overlapping the one before, so that nothing outside
 * either range is read.  memcmp() is a call into libc, whose set-up costs
 * more than the comparison at these sizes.
 */
static inline bool wire_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
        uint64_t a8, b8;
        uint32_t a4, b4, a4e, b4e;
        uint16_t a2, b2, a2e, b2e;
        if (n > 64)
                return memcmp(a, b, n) == 0;
        if (n >= 8) {
                uint64_t diff = 0;
                for (size_t i = 0; i + 8 < n; i += 8) {
                        memcpy(&a8, a + i, 8);
                        memcpy(&b8, b + i, 8);
                        diff |= a8 ^ b8;
                }
                memcpy(&a8, a + n - 8, 8);
                memcpy(&b8, b + n - 8, 8);
                return (diff | (a8 ^ b8)) == 0;
        }
        if (n >= 4) {
                memcpy(&a4, a, 4);
                memcpy(&b4, b, 4);
                memcpy(&a4e, a + n - 4, 4);
                memcpy(&b4e, b + n - 4, 4);
                return ((a4 ^ b4) | (a4e ^ b4e)) == 0;
        }
        if (n >= 2) {
                memcpy(&a2, a, 2);
                memcpy(&b2, b, 2);
                memcpy(&a2e, a + n - 2, 2);
                memcpy(&b2e, b + n - 2, 2);
                return ((a2 ^ b2) | (a2e ^ b2e)) == 0;
        }
        return n == 0 || a[0] == b[0];
}

#endif
