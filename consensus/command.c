/*
 * command.c — msgpack encoding and decoding of log commands (see command.h).
 *
 * Bodies, by type:
 *   ZONE_CREATE     [origin, zone id, comment, soa rrset, ns rrset
 *                    (, [action...]: its records, format 7 on)]
 *   ZONE_DELETE     [origin, force]
 *   CHANGE_BATCH    [origin, comment, [action...]]
 *   CHANGES_SYNCED  [index]
 *   MEMBER_PUT      [id, name, raft address, dns address, api address, role]
 *   MEMBER_REMOVE   [id]
 *   HEALTH_PUT      [check id, create, config]          (format 3 on)
 *   HEALTH_DELETE   [check id]
 *   HEALTH_VOTES    [node id, [vote...]]
 *   HEALTH_MANUAL   [check id, healthy]
 *   HEALTH_HEARTBEAT [check id]
 *   LATENCY_PUT, LATENCY_DELETE, LATENCY_MEASURED
 *                   batch as in latency_codec.h        (format 4 on)
 *   STAGE_BEGIN     [origin, serial, owner node id, sets at most] (format 5 on)
 *   STAGE_CHUNK     [staging id, seq, batch body]
 *   STAGE_COMMIT    [staging id]
 *   STAGE_ABORT     [staging id]
 *   STAGE_COPY      [staging id]
 *   CIDR_CREATE     [collection id, name]                (format 6 on)
 *   CIDR_DELETE     [collection id]
 *   CIDR_CHANGE     change (cidr_codec.h)
 * with rrset = [owner, type, set id, ttl, [rdata...], routing], action =
 * [kind, rrset fields...] (flat), names and RDATA as bin, strings as str,
 * routing as in codec.h.  Format 1 had no routing element (5 rrset fields,
 * 6 action fields); it still decodes, as plain sets.  Config and vote are
 * as in health_codec.h.
 */
#include "consensus/command.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/cidr_codec.h"
#include "consensus/codec.h"
#include "consensus/health_codec.h"
#include "consensus/latency_codec.h"

/* ---- encoding ----------------------------------------------------------- */

static void pack_rrset_fields(msgpack_packer *pk, const struct cs_rrset_spec *r)
{
        cs_mp_pack_bin(pk, r->owner, r->owner_len);
        msgpack_pack_uint16(pk, r->type);
        cs_mp_pack_str(pk, r->set_id);
        msgpack_pack_uint32(pk, r->ttl);
        msgpack_pack_array(pk, r->count);
        for (size_t i = 0; i < r->count; i++)
                cs_mp_pack_bin(pk, r->values[i].data, r->values[i].len);
        cs_mp_pack_routing(pk, &r->routing);
}

static void pack_actions(msgpack_packer *pk, const struct cs_action *actions, size_t n)
{
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++) {
                msgpack_pack_array(pk, 7);
                msgpack_pack_int(pk, (int)actions[i].kind);
                pack_rrset_fields(pk, &actions[i].rrset);
        }
}

static void pack_batch(msgpack_packer *pk, const struct cs_batch *b)
{
        msgpack_pack_array(pk, 3);
        cs_mp_pack_bin(pk, b->origin, b->origin_len);
        cs_mp_pack_str(pk, b->comment);
        pack_actions(pk, b->actions, b->n_actions);
}

static int pack_stage(msgpack_packer *pk, const struct cs_command *c)
{
        switch (c->type) {
        case CS_CMD_STAGE_BEGIN:
                msgpack_pack_array(pk, 4);
                cs_mp_pack_bin(pk, c->u.stage_begin.origin, c->u.stage_begin.origin_len);
                msgpack_pack_uint32(pk, c->u.stage_begin.serial);
                msgpack_pack_uint64(pk, c->u.stage_begin.owner);
                msgpack_pack_uint32(pk, c->u.stage_begin.sets);
                return 0;
        case CS_CMD_STAGE_CHUNK:
                msgpack_pack_array(pk, 3);
                msgpack_pack_uint64(pk, c->u.stage_chunk.id);
                msgpack_pack_uint32(pk, c->u.stage_chunk.seq);
                pack_batch(pk, &c->u.stage_chunk.batch);
                return 0;
        default: /* COMMIT, ABORT */
                msgpack_pack_array(pk, 1);
                msgpack_pack_uint64(pk, c->u.stage_id);
                return 0;
        }
}

static int pack_body(msgpack_packer *pk, const struct cs_command *c)
{
        if (c->type >= CS_CMD_STAGE_BEGIN && c->type <= CS_CMD_STAGE_COPY)
                return pack_stage(pk, c);
        switch (c->type) {
        case CS_CMD_ZONE_CREATE: {
                const struct cs_zone_spec *z = &c->u.zone_create;
                msgpack_pack_array(pk, z->n_actions > 0 ? 6 : 5);
                cs_mp_pack_bin(pk, z->origin, z->origin_len);
                cs_mp_pack_str(pk, z->zone_id);
                cs_mp_pack_str(pk, z->comment);
                msgpack_pack_array(pk, 6);
                pack_rrset_fields(pk, &z->soa);
                msgpack_pack_array(pk, 6);
                pack_rrset_fields(pk, &z->ns);
                if (z->n_actions > 0)
                        pack_actions(pk, z->actions, z->n_actions);
                return 0;
        }
        case CS_CMD_ZONE_DELETE:
                msgpack_pack_array(pk, 2);
                cs_mp_pack_bin(pk, c->u.zone_delete.origin, c->u.zone_delete.origin_len);
                if (c->u.zone_delete.force)
                        msgpack_pack_true(pk);
                else
                        msgpack_pack_false(pk);
                return 0;
        case CS_CMD_CHANGE_BATCH:
                pack_batch(pk, &c->u.batch);
                return 0;
        case CS_CMD_CHANGES_SYNCED:
                msgpack_pack_array(pk, 1);
                msgpack_pack_uint64(pk, c->u.synced_index);
                return 0;
        case CS_CMD_MEMBER_PUT:
                cs_mp_pack_member(pk, &c->u.member);
                return 0;
        case CS_CMD_MEMBER_REMOVE:
                msgpack_pack_array(pk, 1);
                msgpack_pack_uint64(pk, c->u.member_id);
                return 0;
        case CS_CMD_HEALTH_PUT:
                if (c->u.health_put.cfg == NULL)
                        return -EINVAL;
                msgpack_pack_array(pk, 3);
                msgpack_pack_uint64(pk, c->u.health_put.id);
                if (c->u.health_put.create)
                        msgpack_pack_true(pk);
                else
                        msgpack_pack_false(pk);
                cs_mp_pack_health_config(pk, c->u.health_put.cfg);
                return 0;
        case CS_CMD_HEALTH_DELETE:
        case CS_CMD_HEALTH_HEARTBEAT:
                msgpack_pack_array(pk, 1);
                msgpack_pack_uint64(pk, c->u.health_id);
                return 0;
        case CS_CMD_HEALTH_MANUAL:
                msgpack_pack_array(pk, 2);
                msgpack_pack_uint64(pk, c->u.health_manual.id);
                if (c->u.health_manual.healthy)
                        msgpack_pack_true(pk);
                else
                        msgpack_pack_false(pk);
                return 0;
        case CS_CMD_CIDR_CREATE:
                msgpack_pack_array(pk, 2);
                cs_mp_pack_str(pk, c->u.cidr_create.id);
                cs_mp_pack_str(pk, c->u.cidr_create.name);
                return 0;
        case CS_CMD_CIDR_DELETE:
                msgpack_pack_array(pk, 1);
                cs_mp_pack_str(pk, c->u.cidr_id);
                return 0;
        case CS_CMD_CIDR_CHANGE:
                cs_mp_pack_cidr_change(pk, &c->u.cidr_change);
                return 0;
        case CS_CMD_HEALTH_VOTES: {
                const struct cs_health_votes *v = &c->u.health_votes;
                msgpack_pack_array(pk, 2);
                msgpack_pack_uint64(pk, v->node);
                msgpack_pack_array(pk, v->count);
                for (size_t i = 0; i < v->count; i++)
                        cs_mp_pack_health_vote(pk, &v->votes[i]);
                return 0;
        }
        case CS_CMD_LATENCY_PUT:
        case CS_CMD_LATENCY_DELETE:
        case CS_CMD_LATENCY_MEASURED:
                cs_mp_pack_latency_batch(pk, &c->u.latency);
                return 0;
        default:
                return -EINVAL;
        }
}

/* msgpack write callback into a growing raft_malloc'ed buffer. */
struct rbuf {
        char *data;
        size_t len, cap;
        bool failed;
};

static int rbuf_write(void *data, const char *buf, size_t len)
{
        struct rbuf *b = data;
        if (b->failed)
                return -1;
        if (b->len + len + 8 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (b->len + len + 8 > cap)
                        cap *= 2;
                char *p = raft_realloc(b->data, cap);
                if (p == NULL) {
                        b->failed = true;
                        return -1;
                }
                b->data = p;
                b->cap = cap;
        }
        memcpy(b->data + b->len, buf, len);
        b->len += len;
        return 0;
}

int cs_command_encode(const struct cs_command *cmd, struct raft_buffer *out)
{
        struct rbuf b = {0};
        msgpack_packer pk;
        msgpack_packer_init(&pk, &b, rbuf_write);
        msgpack_pack_array(&pk, 6);
        msgpack_pack_uint32(&pk, CS_COMMAND_VERSION);
        msgpack_pack_uint32(&pk, (uint32_t)cmd->type);
        msgpack_pack_uint64(&pk, cmd->timestamp_ms);
        cs_mp_pack_str(&pk, cmd->request_id);
        cs_mp_pack_str(&pk, cmd->change_id);
        int rv = pack_body(&pk, cmd);
        if (rv == 0 && b.failed)
                rv = -ENOMEM;
        if (rv != 0) {
                raft_free(b.data);
                return rv;
        }
        /* Pad with zeros to a multiple of 8 (room was kept by rbuf_write). */
        size_t padded = (b.len + 7) & ~(size_t)7;
        memset(b.data + b.len, 0, padded - b.len);
        out->base = b.data;
        out->len = padded;
        return 0;
}

/* ---- decoding ----------------------------------------------------------- */

struct dec {
        msgpack_zone *zone;
        uint32_t version;
        char *err;
        size_t errlen;
};

#define fail(d, rv, ...) cs_mp_errorf((d)->err, (d)->errlen, rv, __VA_ARGS__)

#define TRY(d, expr, what)                                                               \
        do {                                                                             \
                if ((expr) != 0)                                                         \
                        return fail(d, -EBADMSG, "malformed command: %s", what);         \
        } while (0)

static int dec_rrset(struct dec *d, const msgpack_object *f, struct cs_rrset_spec *r)
{
        const msgpack_object *vals;
        size_t n;
        TRY(d, cs_mp_bin(&f[0], 255, &r->owner, &r->owner_len), "owner");
        TRY(d, cs_mp_u16(&f[1], &r->type), "type");
        TRY(d, cs_mp_str(&f[2], d->zone, CS_SET_ID_MAXLEN, false, &r->set_id), "set id");
        TRY(d, cs_mp_u32(&f[3], &r->ttl), "ttl");
        TRY(d, cs_mp_array(&f[4], 0, true, &vals, &n), "values");
        struct cs_rdata *v = msgpack_zone_malloc(d->zone, (n ? n : 1) * sizeof(*v));
        if (v == NULL)
                return fail(d, -ENOMEM, "out of memory decoding a command");
        for (size_t i = 0; i < n; i++) {
                size_t len;
                TRY(d, cs_mp_bin(&vals[i], UINT16_MAX, &v[i].data, &len), "value");
                v[i].len = (uint16_t)len;
        }
        r->values = v;
        r->count = n;
        memset(&r->routing, 0, sizeof(r->routing));
        if (d->version >= CS_COMMAND_VERSION_ROUTING) {
                int rv = cs_mp_routing(&f[5], d->zone, &r->routing);
                if (rv == -ENOMEM)
                        return fail(d, -ENOMEM, "out of memory decoding a command");
                TRY(d, rv, "routing");
        }
        return 0;
}

/* Fields of a record set: 5 in format 1, 6 (routing) since format 2. */
static size_t rrset_fields(const struct dec *d)
{
        return d->version >= CS_COMMAND_VERSION_ROUTING ? 6 : 5;
}

static int dec_rrset_array(struct dec *d, const msgpack_object *o,
                           struct cs_rrset_spec *r)
{
        const msgpack_object *f;
        TRY(d, cs_mp_array(o, rrset_fields(d), false, &f, NULL), "record set");
        return dec_rrset(d, f, r);
}

static int dec_health(struct dec *d, const msgpack_object *o, struct cs_command *c)
{
        const msgpack_object *f;
        int rv;
        switch (c->type) {
        case CS_CMD_HEALTH_PUT: {
                struct health_check_config *cfg =
                    msgpack_zone_malloc(d->zone, sizeof(*cfg));
                if (cfg == NULL)
                        return fail(d, -ENOMEM, "out of memory decoding a command");
                TRY(d, cs_mp_array(o, 3, false, &f, NULL), "health check body");
                TRY(d, cs_mp_u64(&f[0], &c->u.health_put.id), "health check id");
                TRY(d, cs_mp_bool(&f[1], &c->u.health_put.create), "create");
                rv = cs_mp_health_config(&f[2], d->zone, cfg);
                if (rv == -ENOMEM)
                        return fail(d, -ENOMEM, "out of memory decoding a command");
                TRY(d, rv, "health check config");
                c->u.health_put.cfg = cfg;
                return 0;
        }
        case CS_CMD_HEALTH_DELETE:
        case CS_CMD_HEALTH_HEARTBEAT:
                TRY(d, cs_mp_array(o, 1, false, &f, NULL), "health check body");
                TRY(d, cs_mp_u64(&f[0], &c->u.health_id), "health check id");
                return 0;
        case CS_CMD_HEALTH_MANUAL:
                TRY(d, cs_mp_array(o, 2, false, &f, NULL), "manual status body");
                TRY(d, cs_mp_u64(&f[0], &c->u.health_manual.id), "health check id");
                TRY(d, cs_mp_bool(&f[1], &c->u.health_manual.healthy), "healthy");
                return 0;
        default: { /* CS_CMD_HEALTH_VOTES */
                struct cs_health_votes *v = &c->u.health_votes;
                const msgpack_object *items;
                size_t n;
                TRY(d, cs_mp_array(o, 2, false, &f, NULL), "votes body");
                TRY(d, cs_mp_u64(&f[0], &v->node), "node id");
                TRY(d, cs_mp_array(&f[1], 0, true, &items, &n), "votes");
                struct cs_health_vote_spec *a =
                    msgpack_zone_malloc(d->zone, (n ? n : 1) * sizeof(*a));
                if (a == NULL)
                        return fail(d, -ENOMEM, "out of memory decoding a command");
                for (size_t i = 0; i < n; i++) {
                        rv = cs_mp_health_vote(&items[i], d->zone, &a[i]);
                        if (rv == -ENOMEM)
                                return fail(d, -ENOMEM,
                                            "out of memory decoding a command");
                        TRY(d, rv, "vote");
                }
                v->votes = a;
                v->count = n;
                return 0;
        }
        }
}

static int dec_actions(struct dec *d, const msgpack_object *o,
                       const struct cs_action **actions, size_t *n_actions)
{
        const msgpack_object *acts;
        size_t n;
        TRY(d, cs_mp_array(o, 0, true, &acts, &n), "actions");
        struct cs_action *a = msgpack_zone_malloc(d->zone, (n ? n : 1) * sizeof(*a));
        if (a == NULL)
                return fail(d, -ENOMEM, "out of memory decoding a command");
        for (size_t i = 0; i < n; i++) {
                const msgpack_object *af;
                uint32_t kind;
                TRY(d, cs_mp_array(&acts[i], 1 + rrset_fields(d), false, &af, NULL),
                    "action");
                TRY(d, cs_mp_u32(&af[0], &kind), "action kind");
                a[i].kind = (enum cs_action_kind)kind; /* checked by the state */
                int rv = dec_rrset(d, af + 1, &a[i].rrset);
                if (rv)
                        return rv;
        }
        *actions = a;
        *n_actions = n;
        return 0;
}

static int dec_batch(struct dec *d, const msgpack_object *o, struct cs_batch *b)
{
        const msgpack_object *f;
        TRY(d, cs_mp_array(o, 3, false, &f, NULL), "batch body");
        TRY(d, cs_mp_bin(&f[0], 255, &b->origin, &b->origin_len), "origin");
        TRY(d, cs_mp_str(&f[1], d->zone, CS_COMMENT_MAXLEN, true, &b->comment),
            "comment");
        return dec_actions(d, &f[2], &b->actions, &b->n_actions);
}

static int dec_stage(struct dec *d, const msgpack_object *o, struct cs_command *c)
{
        const msgpack_object *f;
        if (d->version < CS_COMMAND_VERSION_STAGING)
                return fail(d, -EPROTO,
                            "staged import command type %u in a format %u entry",
                            (unsigned)c->type, d->version);
        switch (c->type) {
        case CS_CMD_STAGE_BEGIN: {
                struct cs_stage_begin *b = &c->u.stage_begin;
                TRY(d, cs_mp_array(o, 4, false, &f, NULL), "staging body");
                TRY(d, cs_mp_bin(&f[0], 255, &b->origin, &b->origin_len), "origin");
                TRY(d, cs_mp_u32(&f[1], &b->serial), "serial");
                TRY(d, cs_mp_u64(&f[2], &b->owner), "owner");
                TRY(d, cs_mp_u32(&f[3], &b->sets), "sets");
                return 0;
        }
        case CS_CMD_STAGE_CHUNK:
                TRY(d, cs_mp_array(o, 3, false, &f, NULL), "chunk body");
                TRY(d, cs_mp_u64(&f[0], &c->u.stage_chunk.id), "staging id");
                TRY(d, cs_mp_u32(&f[1], &c->u.stage_chunk.seq), "chunk sequence");
                return dec_batch(d, &f[2], &c->u.stage_chunk.batch);
        default: /* COMMIT, ABORT */
                TRY(d, cs_mp_array(o, 1, false, &f, NULL), "staging body");
                TRY(d, cs_mp_u64(&f[0], &c->u.stage_id), "staging id");
                return 0;
        }
}

static int dec_cidr(struct dec *d, const msgpack_object *o, struct cs_command *c)
{
        const msgpack_object *f;
        int rv;
        if (d->version < CS_COMMAND_VERSION_CIDR)
                return fail(d, -EPROTO, "CIDR command type %u in a format %u entry",
                            (unsigned)c->type, d->version);
        switch (c->type) {
        case CS_CMD_CIDR_CREATE:
                TRY(d, cs_mp_array(o, 2, false, &f, NULL), "collection body");
                TRY(d,
                    cs_mp_str(&f[0], d->zone, CS_CIDR_ID_MAXLEN, false,
                              &c->u.cidr_create.id),
                    "collection id");
                TRY(d,
                    cs_mp_str(&f[1], d->zone, CS_CIDR_NAME_MAXLEN, false,
                              &c->u.cidr_create.name),
                    "collection name");
                return 0;
        case CS_CMD_CIDR_DELETE:
                TRY(d, cs_mp_array(o, 1, false, &f, NULL), "collection body");
                TRY(d, cs_mp_str(&f[0], d->zone, CS_CIDR_ID_MAXLEN, false, &c->u.cidr_id),
                    "collection id");
                return 0;
        default: /* CS_CMD_CIDR_CHANGE */
                rv = cs_mp_cidr_change(o, d->zone, &c->u.cidr_change);
                if (rv == -ENOMEM)
                        return fail(d, -ENOMEM, "out of memory decoding a command");
                TRY(d, rv, "CIDR collection change");
                return 0;
        }
}

static int dec_body(struct dec *d, const msgpack_object *o, struct cs_command *c)
{
        const msgpack_object *f;
        switch (c->type) {
        case CS_CMD_ZONE_CREATE: {
                struct cs_zone_spec *z = &c->u.zone_create;
                size_t n;
                TRY(d, cs_mp_array(o, 5, true, &f, &n), "zone body");
                TRY(d,
                    n == 5 || (n == 6 && d->version >= CS_COMMAND_VERSION_ZONE_RECORDS)
                        ? 0
                        : -EBADMSG,
                    "zone body");
                TRY(d, cs_mp_bin(&f[0], 255, &z->origin, &z->origin_len), "origin");
                TRY(d, cs_mp_str(&f[1], d->zone, CS_ID_MAXLEN, false, &z->zone_id),
                    "zone id");
                TRY(d, cs_mp_str(&f[2], d->zone, CS_COMMENT_MAXLEN, true, &z->comment),
                    "comment");
                int rv = dec_rrset_array(d, &f[3], &z->soa);
                if (rv == 0)
                        rv = dec_rrset_array(d, &f[4], &z->ns);
                if (rv == 0 && n == 6)
                        rv = dec_actions(d, &f[5], &z->actions, &z->n_actions);
                return rv;
        }
        case CS_CMD_ZONE_DELETE:
                TRY(d, cs_mp_array(o, 2, false, &f, NULL), "zone delete body");
                TRY(d,
                    cs_mp_bin(&f[0], 255, &c->u.zone_delete.origin,
                              &c->u.zone_delete.origin_len),
                    "origin");
                TRY(d, cs_mp_bool(&f[1], &c->u.zone_delete.force), "force");
                return 0;
        case CS_CMD_CHANGE_BATCH:
                return dec_batch(d, o, &c->u.batch);
        case CS_CMD_CHANGES_SYNCED:
                TRY(d, cs_mp_array(o, 1, false, &f, NULL), "synced body");
                TRY(d, cs_mp_u64(&f[0], &c->u.synced_index), "index");
                return 0;
        case CS_CMD_MEMBER_PUT: {
                struct cs_member_spec *m = &c->u.member;
                uint32_t role;
                TRY(d, cs_mp_array(o, 6, false, &f, NULL), "member body");
                TRY(d, cs_mp_u64(&f[0], &m->id), "member id");
                TRY(d, cs_mp_str(&f[1], d->zone, 255, false, &m->name), "name");
                TRY(d, cs_mp_str(&f[2], d->zone, 255, false, &m->raft_address),
                    "raft address");
                TRY(d, cs_mp_str(&f[3], d->zone, 255, false, &m->dns_address),
                    "dns address");
                TRY(d, cs_mp_str(&f[4], d->zone, 255, false, &m->api_address),
                    "api address");
                TRY(d, cs_mp_u32(&f[5], &role), "role");
                TRY(d, role <= CS_ROLE_SPARE ? 0 : -EBADMSG, "role");
                m->role = (enum cs_role)role;
                return 0;
        }
        case CS_CMD_MEMBER_REMOVE:
                TRY(d, cs_mp_array(o, 1, false, &f, NULL), "member remove body");
                TRY(d, cs_mp_u64(&f[0], &c->u.member_id), "member id");
                return 0;
        case CS_CMD_HEALTH_PUT:
        case CS_CMD_HEALTH_DELETE:
        case CS_CMD_HEALTH_VOTES:
        case CS_CMD_HEALTH_MANUAL:
        case CS_CMD_HEALTH_HEARTBEAT:
                if (d->version < CS_COMMAND_VERSION_HEALTH)
                        return fail(d, -EPROTO,
                                    "health command type %u in a format %u entry",
                                    (unsigned)c->type, d->version);
                return dec_health(d, o, c);
        case CS_CMD_LATENCY_PUT:
        case CS_CMD_LATENCY_DELETE:
        case CS_CMD_LATENCY_MEASURED: {
                if (d->version < CS_COMMAND_VERSION_LATENCY)
                        return fail(d, -EPROTO,
                                    "latency command type %u in a format %u entry",
                                    (unsigned)c->type, d->version);
                int rv = cs_mp_latency_batch(o, d->zone, &c->u.latency);
                if (rv == -ENOMEM)
                        return fail(d, -ENOMEM, "out of memory decoding a command");
                TRY(d, rv, "latency batch");
                return 0;
        }
        case CS_CMD_STAGE_BEGIN:
        case CS_CMD_STAGE_CHUNK:
        case CS_CMD_STAGE_COMMIT:
        case CS_CMD_STAGE_ABORT:
        case CS_CMD_STAGE_COPY:
                return dec_stage(d, o, c);
        case CS_CMD_CIDR_CREATE:
        case CS_CMD_CIDR_DELETE:
        case CS_CMD_CIDR_CHANGE:
                return dec_cidr(d, o, c);
        default:
                return fail(d, -EPROTO, "unknown command type %u", (unsigned)c->type);
        }
}

int cs_command_decode(const void *buf, size_t len, struct cs_command *cmd, char *err,
                      size_t errlen)
{
        msgpack_unpacked up;
        const msgpack_object *f;
        size_t off = 0;
        uint32_t version, type;
        struct dec d = {.zone = NULL, .err = err, .errlen = errlen};
        int rv;

        memset(cmd, 0, sizeof(*cmd));
        if (err && errlen)
                err[0] = 0;
        msgpack_unpacked_init(&up);
        if (cs_mp_unpack(&up, buf, len, &off) != 0) {
                msgpack_unpacked_destroy(&up);
                return fail(&d, -EBADMSG, "malformed command: not a msgpack object");
        }
        d.zone = msgpack_unpacked_release_zone(&up);
        if (d.zone == NULL)
                d.zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
        cmd->arena = d.zone;
        if (d.zone == NULL)
                return fail(&d, -ENOMEM, "out of memory decoding a command");
        if (cs_mp_array(&up.data, 6, true, &f, NULL) != 0)
                return fail(&d, -EBADMSG, "malformed command: not a command header");
        if (cs_mp_u32(&f[0], &version) != 0)
                return fail(&d, -EBADMSG, "malformed command: version");
        if (version < CS_COMMAND_VERSION_MIN || version > CS_COMMAND_VERSION)
                return fail(&d, -EPROTO,
                            "command format version %u is not supported (%u to %u are)",
                            version, CS_COMMAND_VERSION_MIN, CS_COMMAND_VERSION);
        d.version = version;
        TRY(&d, cs_mp_u32(&f[1], &type), "type");
        TRY(&d, cs_mp_u64(&f[2], &cmd->timestamp_ms), "timestamp");
        TRY(&d, cs_mp_str(&f[3], d.zone, CS_REQUEST_ID_MAXLEN, true, &cmd->request_id),
            "request id");
        TRY(&d, cs_mp_str(&f[4], d.zone, CS_ID_MAXLEN, true, &cmd->change_id),
            "change id");
        cmd->type = (enum cs_command_type)type;
        rv = dec_body(&d, &f[5], cmd);
        return rv;
}

void cs_command_free(struct cs_command *cmd)
{
        if (cmd->arena)
                msgpack_zone_free(cmd->arena);
        cmd->arena = NULL;
}

struct cs_ctx cs_command_ctx(const struct cs_command *cmd, uint64_t index)
{
        struct cs_ctx ctx = {.index = index,
                             .timestamp_ms = cmd->timestamp_ms,
                             .request_id = cmd->request_id,
                             .change_id = cmd->change_id};
        return ctx;
}
