/*
 * cidr_codec.h — msgpack forms of CIDR collections, shared by the command
 * codec (command.c) and the snapshot (snapshot.c).
 *
 *   blocks  bin: per block its family (4 or 6), prefix length and 4 or 16
 *           address bytes, back to back (a million blocks stay one object
 *           of a few megabytes, not a million arrays)
 *   create  [collection id, name]
 *   delete  [collection id]
 *   change  [collection id, expected version | nil,
 *            [[action, location name, blocks]...]]
 *   snapshot, per collection: [id, name, version, created ms, updated ms,
 *            [location name...] (in name order), entry count] then chunks of
 *            at most CS_CIDR_CHUNK entries: [blocks, ranks] where ranks is a
 *            bin of one big-endian 16-bit location rank per block
 *
 * Decoding checks types and sizes; the state checks the values (names,
 * lengths, host bits).  Decoded blocks live in the unpacked object's zone.
 */
#ifndef CONSENSUS_CIDR_CODEC_H
#define CONSENSUS_CIDR_CODEC_H

#include <msgpack.h>

#include "consensus/cidr.h"

#define CS_CIDR_CHUNK 65536

void cs_mp_pack_cidr_blocks(msgpack_packer *pk, const struct cs_cidr_block *blocks,
                            size_t n);
/* 0, -EBADMSG or -ENOMEM; at most max blocks. */
int cs_mp_cidr_blocks(const msgpack_object *o, msgpack_zone *zone, size_t max,
                      struct cs_cidr_block **blocks, size_t *n);

void cs_mp_pack_cidr_change(msgpack_packer *pk, const struct cs_cidr_change *change);
int cs_mp_cidr_change(const msgpack_object *o, msgpack_zone *zone,
                      struct cs_cidr_change *change);

/* The snapshot form of one collection: its header and chunk objects.
 * 0 or -ENOMEM (then the packed bytes are incomplete). */
int cs_mp_pack_cidr_collection(msgpack_packer *pk, const struct cs_cidr_collection *c);

#endif
