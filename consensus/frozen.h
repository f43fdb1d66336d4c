/*
 * frozen.h — what the snapshot views (frozen.c) need from the snapshot
 * codec (snapshot.c).  Not for use outside consensus/.
 */
#ifndef CONSENSUS_FROZEN_H
#define CONSENSUS_FROZEN_H

#include <msgpack.h>

#include "consensus/state.h"

/* Packs the snapshot's header, member table and health checks: the small
 * parts, packed on the applying thread when a view is taken. */
void cs_snapshot_pack_small(msgpack_packer *pk, const struct cs_state *st);

#endif
