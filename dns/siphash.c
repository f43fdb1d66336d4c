/*
 * siphash.c — SipHash-2-4 (see siphash.h): two compression rounds per
 * 8-byte word of the message (read little-endian), the last word padded
 * with the length in its top byte, then four finalization rounds.
 */
#include "dns/siphash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline uint64_t load_le64(const uint8_t *p)
{
        return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
               (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
               (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

struct sip {
        uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip *s)
{
        s->v0 += s->v1;
        s->v1 = ROTL(s->v1, 13);
        s->v1 ^= s->v0;
        s->v0 = ROTL(s->v0, 32);
        s->v2 += s->v3;
        s->v3 = ROTL(s->v3, 16);
        s->v3 ^= s->v2;
        s->v0 += s->v3;
        s->v3 = ROTL(s->v3, 21);
        s->v3 ^= s->v0;
        s->v2 += s->v1;
        s->v1 = ROTL(s->v1, 17);
        s->v1 ^= s->v2;
        s->v2 = ROTL(s->v2, 32);
}

static inline void sip_compress(struct sip *s, uint64_t m)
{
        s->v3 ^= m;
        sip_round(s);
        sip_round(s);
        s->v0 ^= m;
}

uint64_t dns_siphash24(const uint8_t key[DNS_SIPHASH_KEY_SIZE], const uint8_t *msg,
                       size_t len)
{
        uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
        struct sip s = {
            .v0 = k0 ^ 0x736f6d6570736575ULL,
            .v1 = k1 ^ 0x646f72616e646f6dULL,
            .v2 = k0 ^ 0x6c7967656e657261ULL,
            .v3 = k1 ^ 0x7465646279746573ULL,
        };
        size_t whole = len & ~(size_t)7;
        for (size_t i = 0; i < whole; i += 8)
                sip_compress(&s, load_le64(msg + i));
        uint64_t last = (uint64_t)len << 56;
        for (size_t i = 0; i < (len & 7); i++)
                last |= (uint64_t)msg[whole + i] << (8 * i);
        sip_compress(&s, last);
        s.v2 ^= 0xff;
        for (int i = 0; i < 4; i++)
                sip_round(&s);
        return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
