/*
 * command.h — the commands of the replicated log and their msgpack encoding.
 *
 * A node builds a `struct cs_command` (pointers borrowed from the caller),
 * encodes it with cs_command_encode() into a raft_malloc'ed buffer, zero
 * padded to a multiple of 8 bytes (raft 0.15 silently corrupts unaligned
 * entries, RAFT_NOTES #1), and hands it to raft_apply.  On every node the FSM
 * decodes the entry with cs_command_decode() and applies it to the state.
 *
 * Encoding: one msgpack array
 *   [format version, type, timestamp ms, request id, change id, body]
 * where body is an array per type (see command.c).  Decoding accepts
 * CS_COMMAND_VERSION and every older version still in logs (1: record sets
 * without routing fields; 2: no health commands; 3: no latency map; 4: no staged
 * imports; 5: no CIDR collection commands; 6: no records in a zone's
 * creation) and known types:
 * anything else — a newer format, a truncated or forged entry — is a clean -EBADMSG /
 * -EPROTO with a message.
 */
#ifndef CONSENSUS_COMMAND_H
#define CONSENSUS_COMMAND_H

#include <raft.h>

#include "consensus/cidr.h"
#include "consensus/health.h"
#include "consensus/latency.h"
#include "consensus/state.h"

/* Format versions: every check of "which format brought what" reads one of
 * these names, so a merge that renumbers changes only this block. */
#define CS_COMMAND_VERSION_ROUTING      2 /* record sets with routing fields */
#define CS_COMMAND_VERSION_HEALTH       3 /* health-check commands */
#define CS_COMMAND_VERSION_LATENCY      4 /* latency-map commands, latency sets */
#define CS_COMMAND_VERSION_STAGING      5 /* staged imports (16..31) */
#define CS_COMMAND_VERSION_CIDR         6 /* CIDR collection commands (64..79) */
#define CS_COMMAND_VERSION_ZONE_RECORDS 7 /* a zone created with its records */
#define CS_COMMAND_VERSION              CS_COMMAND_VERSION_ZONE_RECORDS /* written */
#define CS_COMMAND_VERSION_MIN          1

enum cs_command_type {
        CS_CMD_ZONE_CREATE = 1,
        CS_CMD_ZONE_DELETE = 2,
        CS_CMD_CHANGE_BATCH = 3,
        CS_CMD_CHANGES_SYNCED = 4,
        CS_CMD_MEMBER_PUT = 5,
        CS_CMD_MEMBER_REMOVE = 6,
        /* 16..31: staged imports (consensus/staging.c): a large import is
         * replicated as bounded entries applied to a staging copy of the
         * zone, switched in by its commit. */
        CS_CMD_STAGE_FIRST = 16,
        CS_CMD_STAGE_BEGIN = 16,  /* a staging copy of a zone */
        CS_CMD_STAGE_CHUNK = 17,  /* actions applied to the copy */
        CS_CMD_STAGE_COMMIT = 18, /* the copy becomes the zone */
        CS_CMD_STAGE_ABORT = 19,  /* the copy is discarded */
        CS_CMD_STAGE_COPY = 20,   /* the next sets of the zone into the copy */
        CS_CMD_STAGE_LAST = 31,
        /* 32..63 are reserved for health checks: check definitions, the
         * votes of each checker node (one command per node per round) and
         * aggregate-state bookkeeping. */
        CS_CMD_HEALTH_FIRST = 32,
        CS_CMD_HEALTH_PUT = 32,       /* create or change a check definition */
        CS_CMD_HEALTH_DELETE = 33,    /* delete a check (refused while in use) */
        CS_CMD_HEALTH_VOTES = 34,     /* one node's verdicts, one per check */
        CS_CMD_HEALTH_MANUAL = 35,    /* an operator sets a MANUAL check */
        CS_CMD_HEALTH_HEARTBEAT = 36, /* a HEARTBEAT check's endpoint called in */
        CS_CMD_HEALTH_LAST = 63,
        /* 80..95: the latency map (consensus/latency.h). */
        CS_CMD_LATENCY_FIRST = 80,
        CS_CMD_LATENCY_PUT = 80,      /* operator RTTs, bulk (all or nothing) */
        CS_CMD_LATENCY_DELETE = 81,   /* operator RTTs removed, bulk */
        CS_CMD_LATENCY_MEASURED = 82, /* one node's measured RTTs of a period */
        CS_CMD_LATENCY_LAST = 95,
        /* 64..79: CIDR collections (IP-based routing, consensus/cidr.h). */
        CS_CMD_CIDR_FIRST = 64,
        CS_CMD_CIDR_CREATE = 64, /* a new, empty collection */
        CS_CMD_CIDR_DELETE = 65, /* refused while a record set names it */
        CS_CMD_CIDR_CHANGE = 66, /* PUT / DELETE_IF_EXISTS blocks of locations */
        CS_CMD_CIDR_LAST = 79,
};

struct cs_command {
        enum cs_command_type type;
        uint64_t timestamp_ms;  /* stamped by the leader */
        const char *request_id; /* NULL or "": none */
        const char *change_id;  /* NULL or "": derived from the raft index */
        union {
                struct cs_zone_spec zone_create;
                struct {
                        const uint8_t *origin;
                        size_t origin_len;
                        bool force;
                } zone_delete;
                struct cs_batch batch;
                uint64_t synced_index;
                struct cs_member_spec member;
                uint64_t member_id;
                struct cs_health_put health_put;
                uint64_t health_id; /* DELETE, HEARTBEAT */
                struct {
                        uint64_t id;
                        bool healthy;
                } health_manual;
                struct cs_health_votes health_votes;
                struct cs_latency_batch latency; /* LATENCY_* */
                struct cs_stage_begin stage_begin;
                struct cs_stage_chunk stage_chunk;
                uint64_t stage_id; /* STAGE_COMMIT, STAGE_ABORT, STAGE_COPY */
                struct {
                        const char *id;
                        const char *name;
                } cidr_create;
                const char *cidr_id; /* CIDR_DELETE */
                struct cs_cidr_change cidr_change;
        } u;
        void *arena; /* decoder-owned memory; NULL for a caller-built command */
};

/*
 * Encodes cmd into out->base (raft_malloc'ed, out->len a multiple of 8,
 * taken by raft_apply on success; otherwise free it with raft_free).
 * 0, -EINVAL (unknown type) or -ENOMEM.
 */
int cs_command_encode(const struct cs_command *cmd, struct raft_buffer *out);

/*
 * Decodes an entry.  The command points into buf, which must outlive it, and
 * into memory freed by cs_command_free (also after a failed decode).  0,
 * -EBADMSG (malformed), -EPROTO (unknown version or type) or -ENOMEM; err
 * (may be NULL) receives a message.
 */
int cs_command_decode(const void *buf, size_t len, struct cs_command *cmd, char *err,
                      size_t errlen);
void cs_command_free(struct cs_command *cmd);

/* The context a command applies with at raft index `index`. */
struct cs_ctx cs_command_ctx(const struct cs_command *cmd, uint64_t index);

#endif
