/*
 * codec.h — msgpack helpers shared by the command and snapshot codecs.
 *
 * Decoding runs on bytes from the network and from disk, so every replicated
 * object is first walked by cs_mp_object_len(), which checks that it is
 * complete and that no container declares more elements than there are bytes
 * left (msgpack-c allocates a container's elements up front: a forged count
 * must not become a multi-gigabyte allocation).  msgpack-c then unpacks the
 * object; str and bin values point into the input buffer.  The getters below
 * check types and ranges and copy strings, NUL-terminated, into the
 * unpacked object's zone.
 */
#ifndef CONSENSUS_CODEC_H
#define CONSENSUS_CODEC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/state.h"

/* Length of the complete, sanely sized msgpack object at buf, or -1. */
long cs_mp_object_len(const uint8_t *buf, size_t len);

/* Unpacks the object at buf + *off (checked first); 0 or -EBADMSG. */
int cs_mp_unpack(msgpack_unpacked *out, const uint8_t *buf, size_t len, size_t *off);

int cs_mp_u64(const msgpack_object *o, uint64_t *v);
int cs_mp_u32(const msgpack_object *o, uint32_t *v);
int cs_mp_u16(const msgpack_object *o, uint16_t *v);
int cs_mp_bool(const msgpack_object *o, bool *v);
/* A str (no NUL inside, at most max bytes) copied into zone; nil gives NULL
 * when nil_ok. */
int cs_mp_str(const msgpack_object *o, msgpack_zone *zone, size_t max, bool nil_ok,
              const char **v);
/* A bin (pointing into the input) of at most max bytes. */
int cs_mp_bin(const msgpack_object *o, size_t max, const uint8_t **ptr, size_t *len);
/* An array of exactly n (or at least n when at_least) elements. */
int cs_mp_array(const msgpack_object *o, size_t n, bool at_least,
                const msgpack_object **items, size_t *count);

/* Writes a decoding error message to err (may be NULL) and returns rv. */
int cs_mp_errorf(char *err, size_t errlen, int rv, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void cs_mp_pack_str(msgpack_packer *pk, const char *s);
void cs_mp_pack_bin(msgpack_packer *pk, const void *data, size_t len);

/* A snapshot's long lists (zones, record sets, change records, health
 * checks, latency entries) are packed as arrays of at most CS_MP_CHUNK
 * items each, so that a decoder holds one chunk at a time.  Before item i
 * of n: the header of the next chunk when one starts there. */
#define CS_MP_CHUNK 1024
static inline void cs_mp_pack_chunk_head(msgpack_packer *pk, size_t i, size_t n)
{
        if (i % CS_MP_CHUNK == 0)
                msgpack_pack_array(pk, n - i < CS_MP_CHUNK ? n - i : CS_MP_CHUNK);
}
/* [id, name, raft address, dns address, api address, role]: a member as a
 * command carries it and as a snapshot keeps it. */
void cs_mp_pack_member(msgpack_packer *pk, const struct cs_member_spec *m);

/*
 * A record set's routing fields (state.h), as commands (format 2) and
 * snapshots (format 2) carry them after the values:
 *   nil (a plain set) or [weight | nil, failover, multi value answer,
 *                         health check id | nil, alias | nil,
 *                         geolocation | nil, geoproximity | nil,
 *                         [cidr collection id, cidr location]]
 *   (trailing elements left out when absent)
 *   alias = [dns name (bin), evaluate target health, hosted zone id | nil]
 * Ranges are checked by the state (weight, failover), not here.
 */
void cs_mp_pack_routing(msgpack_packer *pk, const struct cs_routing *r);
/* 0 or -EBADMSG / -ENOMEM; names point into the input, strings into zone. */
int cs_mp_routing(const msgpack_object *o, msgpack_zone *zone, struct cs_routing *r);

#endif
