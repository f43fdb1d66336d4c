/*
 * frozen.h — what the snapshot views (frozen.c) need from the snapshot
 * codec (snapshot.c).  Not for use outside consensus/.
 */
#ifndef CONSENSUS_FROZEN_H
#define CONSENSUS_FROZEN_H

#include <msgpack.h>

#include "consensus/state.h"

/* Packs the snapshot's header, member table, health checks, latency map and
 * CIDR collections: the small parts, packed on the applying thread when a
 * view is taken.  0 or -ENOMEM. */
int cs_snapshot_pack_small(msgpack_packer *pk, const struct cs_state *st);

#endif
