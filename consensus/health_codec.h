/*
 * health_codec.h — msgpack forms of health-check definitions and votes,
 * shared by the command codec (command.c) and the snapshot (snapshot.c).
 *
 *   config = [type, ip | nil, port, resource path | nil, fqdn | nil,
 *             search string | nil, request interval, failure threshold,
 *             flags (1 inverted, 2 disabled, 4 enable sni, 8 verify
 *             certificate), status min, status max, health threshold,
 *             [child id...], [checker...], aggregation percent,
 *             vote freshness, heartbeat ttl]
 *   vote   = [check id, healthy, http status, connect us, first byte us,
 *             reason | nil]
 *
 * Decoding checks types and sizes only; the state validates the values
 * (health_check_validate).  Decoded strings and arrays live in the
 * unpacked object's zone: the config is borrowed, never freed with
 * health_check_config_free.
 */
#ifndef CONSENSUS_HEALTH_CODEC_H
#define CONSENSUS_HEALTH_CODEC_H

#include <msgpack.h>

#include "consensus/health.h"

#define CS_HEALTH_CONFIG_FIELDS 17
#define CS_HEALTH_VOTE_FIELDS   6

void cs_mp_pack_health_config(msgpack_packer *pk, const struct health_check_config *cfg);
/* 0, -EBADMSG or -ENOMEM. */
int cs_mp_health_config(const msgpack_object *o, msgpack_zone *zone,
                        struct health_check_config *cfg);

void cs_mp_pack_health_vote(msgpack_packer *pk, const struct cs_health_vote_spec *v);
int cs_mp_health_vote(const msgpack_object *o, msgpack_zone *zone,
                      struct cs_health_vote_spec *v);

#endif
