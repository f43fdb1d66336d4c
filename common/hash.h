/*
 * hash.h — the 64-bit finalizer every hash in the tree ends with.
 *
 * MurmurHash3's fmix64: each input bit flips about half of the output bits,
 * so a table may index with the low bits of a hash built from a weak
 * combination (a label chained onto its parent's hash, a byte-wise FNV
 * sum, a record number).  Inline: it runs on the query path.
 */
#ifndef COMMON_HASH_H
#define COMMON_HASH_H

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

#endif
