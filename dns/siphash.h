/*
 * siphash.h — SipHash-2-4 (Aumasson and Bernstein), a keyed 64-bit hash.
 *
 * Used where an attacker must not be able to predict or forge a hash: the
 * server cookies of RFC 9018 (the key is the cluster's cookie secret) and
 * the tables that group clients by address (the key is random per process,
 * so that chains cannot be made long on purpose).
 */
#ifndef DNS_SIPHASH_H
#define DNS_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define DNS_SIPHASH_KEY_SIZE 16

/* The hash of msg[0..len) under the 16-byte key, as the reference computes
 * it (its 8 output bytes are this value in little-endian order). */
uint64_t dns_siphash24(const uint8_t key[DNS_SIPHASH_KEY_SIZE], const uint8_t *msg,
                       size_t len);

#endif
