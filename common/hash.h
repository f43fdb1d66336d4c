/*
 * hash.h — the 64-bit finalizer every hash in the tree ends with.
 *
 * MurmurHash3's fmix64: each input bit flips about half of the output bits,
 * so a table may index with the low bits of a hash built from a weak
 * combination (a label chained onto its parent's hash, a byte-wise FNV
 * sum, a record number).  Inline: it runs on the query path.
 *
 * hash_bytes: the hash of a byte string (FNV-1a, then the finalizer),
 * chainable by seed; the keys of the replicated state's tables
 * (common/pmap.h, struct pmap_flat) are hashed with it.
 */
#ifndef COMMON_HASH_H
#define COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t hash_mix64(uint64_t k)
{
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdULL;
        k ^= k >> 33;
        k *= 0xc4ceb9fe1a85ec53ULL;
        k ^= k >> 33;
        return k;
}

static inline uint64_t hash_bytes(const void *data, size_t len, uint64_t seed)
{
        const uint8_t *p = data;
        uint64_t h = 0xcbf29ce484222325ULL ^ seed;
        for (size_t i = 0; i < len; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return hash_mix64(h);
}

#endif
