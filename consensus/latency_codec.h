/*
 * latency_codec.h — msgpack forms of the latency map, shared by the
 * command codec (command.c) and the snapshot (snapshot.c).
 *
 *   batch = [node id, region | nil, [item...]]   (LATENCY_PUT, _DELETE and
 *            _MEASURED bodies; node and region are MEASURED's)
 *   item  = [family (4|6), address (bin of 4 or 16 bytes), length,
 *            region | nil, rtt us, samples]
 *   entry = [family, address, length, region, operator rtt us, measured
 *            rtt us, samples, operator ms, measured ms, measured node]
 *            (a snapshot's entries, in key order)
 *
 * Decoding checks types and sizes; the state checks the values.  Strings
 * and arrays live in the unpacked object's zone.
 */
#ifndef CONSENSUS_LATENCY_CODEC_H
#define CONSENSUS_LATENCY_CODEC_H

#include <msgpack.h>

#include "consensus/latency.h"

#define CS_LATENCY_ITEM_FIELDS  6
#define CS_LATENCY_ENTRY_FIELDS 10

void cs_mp_pack_latency_batch(msgpack_packer *pk, const struct cs_latency_batch *b);
/* 0, -EBADMSG or -ENOMEM. */
int cs_mp_latency_batch(const msgpack_object *o, msgpack_zone *zone,
                        struct cs_latency_batch *b);

void cs_mp_pack_latency_entry(msgpack_packer *pk, const struct cs_latency_entry *e);
int cs_mp_latency_entry(const msgpack_object *o, struct cs_latency_entry *e);

#endif
