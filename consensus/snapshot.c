/*
 * snapshot.c — canonical msgpack encoding of the state (see snapshot.h).
 *
 *   header   ["quorumdns-state", version, last index, synced index,
 *             changes max, changes max age ms, members, zones, changes]
 *   members  [[id, name, raft address, dns address, api address, role]...]
 *   health   [health version, check count] then chunks of checks (format 3):
 *            [id, created ms, updated ms, config, raw, healthy, changed ms,
 *             manual healthy, last beat ms, [fresh, healthy, decided],
 *             [[node, time ms, healthy, status, connect us, first byte us,
 *               reason | nil]...], [[time ms, from, to, cause, fresh,
 *               healthy]...]]   (config as in health_codec.h)
 *   latency  [latency version, entry count] then chunks of entries (format 4;
 *            entry as in latency_codec.h, in key order)
 *   cidr     [collection count] then per collection its header and chunks
 *            as in cidr_codec.h (format CS_SNAPSHOT_VERSION_CIDR on)
 *   per zone [origin, zone id, comment, created ms, serial, record sets]
 *            then [[owner, type, set id, ttl, [rdata...], routing]...] chunks
 *            (routing as in codec.h; format 1 had no routing element)
 *   changes  [[id, request id | nil, kind, origin, zone id, submitted ms,
 *             index]...] chunks
 *
 * The small parts (header, members, health) are packed here; the views
 * that take and pack the zones, record sets and changes are in frozen.c.
 */
#include "consensus/snapshot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/cidr_codec.h"
#include "consensus/codec.h"
#include "consensus/frozen.h"
#include "consensus/health_codec.h"
#include "consensus/latency_codec.h"
#include "consensus/lz4frame.h"
#include "consensus/wire.h"

#define SNAP_MAGIC "quorumdns-state"

static void pack_head(msgpack_packer *pk, const struct cs_state *st)
{
        msgpack_pack_array(pk, 9);
        cs_mp_pack_str(pk, SNAP_MAGIC);
        msgpack_pack_uint32(pk, CS_SNAPSHOT_VERSION);
        msgpack_pack_uint64(pk, st->last_index);
        msgpack_pack_uint64(pk, st->synced_index);
        msgpack_pack_uint64(pk, st->changes_max);
        msgpack_pack_uint64(pk, st->changes_max_age_ms);
        msgpack_pack_uint64(pk, st->n_members);
        msgpack_pack_uint64(pk, st->zones.count);
        msgpack_pack_uint64(pk, st->changes_count);

        msgpack_pack_array(pk, st->n_members);
        for (size_t i = 0; i < st->n_members; i++) {
                const struct cs_member *m = &st->members[i];
                struct cs_member_spec spec = {m->id,           m->name,
                                              m->raft_address, m->dns_address,
                                              m->api_address,  m->role};
                cs_mp_pack_member(pk, &spec);
        }
}

static void pack_bool(msgpack_packer *pk, bool b)
{
        if (b)
                msgpack_pack_true(pk);
        else
                msgpack_pack_false(pk);
}

static void pack_health(msgpack_packer *pk, const struct cs_state *st)
{
        size_t n = cs_state_health_count(st);
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint64(pk, st->health.version);
        msgpack_pack_uint64(pk, n);
        for (size_t i = 0; i < n; i++) {
                cs_mp_pack_chunk_head(pk, i, n);
                const struct cs_health_check *c = cs_state_health_at(st, i);
                msgpack_pack_array(pk, 12);
                msgpack_pack_uint64(pk, c->id);
                msgpack_pack_uint64(pk, c->created_ms);
                msgpack_pack_uint64(pk, c->updated_ms);
                cs_mp_pack_health_config(pk, &c->cfg);
                pack_bool(pk, c->raw);
                pack_bool(pk, c->healthy);
                msgpack_pack_uint64(pk, c->changed_ms);
                pack_bool(pk, c->manual_healthy);
                msgpack_pack_int64(pk, c->last_beat_ms);
                msgpack_pack_array(pk, 3);
                msgpack_pack_uint32(pk, c->tally.fresh);
                msgpack_pack_uint32(pk, c->tally.healthy);
                pack_bool(pk, c->tally.decided);
                msgpack_pack_array(pk, c->n_votes);
                for (size_t k = 0; k < c->n_votes; k++) {
                        const struct cs_health_vote *v = &c->votes[k];
                        msgpack_pack_array(pk, 7);
                        msgpack_pack_uint64(pk, v->node);
                        msgpack_pack_uint64(pk, v->time_ms);
                        pack_bool(pk, v->healthy);
                        msgpack_pack_uint16(pk, v->status);
                        msgpack_pack_uint32(pk, v->connect_us);
                        msgpack_pack_uint32(pk, v->first_byte_us);
                        if (v->reason)
                                cs_mp_pack_str(pk, v->reason);
                        else
                                msgpack_pack_nil(pk);
                }
                msgpack_pack_array(pk, c->hist_count);
                for (size_t k = 0; k < c->hist_count; k++) {
                        const struct cs_health_transition *t =
                            cs_health_check_transition(c, k);
                        msgpack_pack_array(pk, 6);
                        msgpack_pack_uint64(pk, t->time_ms);
                        pack_bool(pk, t->from);
                        pack_bool(pk, t->to);
                        msgpack_pack_uint32(pk, t->cause);
                        msgpack_pack_uint32(pk, t->fresh);
                        msgpack_pack_uint32(pk, t->healthy);
                }
        }
}

/* Packed with the header on the applying thread, like the health section:
 * what a frozen view would need to pin is copied into the bytes instead. */
static int pack_latency(msgpack_packer *pk, const struct cs_state *st)
{
        int rv;
        size_t n;
        const struct cs_latency_entry **v = cs_state_latency_sorted(st, &n, &rv);
        if (rv != 0)
                return rv;
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint64(pk, st->latency.version);
        msgpack_pack_uint64(pk, n);
        for (size_t i = 0; i < n; i++) {
                cs_mp_pack_chunk_head(pk, i, n);
                cs_mp_pack_latency_entry(pk, v[i]);
        }
        free(v);
        return 0;
}

/* Collections are packed on the applying thread too: a million blocks
 * take a few megabytes and milliseconds, and collections change in place. */
static int pack_cidr(msgpack_packer *pk, const struct cs_state *st)
{
        msgpack_pack_array(pk, 1);
        msgpack_pack_uint64(pk, cs_state_cidr_count(st));
        for (size_t i = 0; i < cs_state_cidr_count(st); i++)
                if (cs_mp_pack_cidr_collection(pk, cs_state_cidr_at(st, i)) != 0)
                        return -ENOMEM;
        return 0;
}

int cs_snapshot_pack_small(msgpack_packer *pk, const struct cs_state *st)
{
        pack_head(pk, st);
        pack_health(pk, st);
        int rv = pack_latency(pk, st);
        return rv != 0 ? rv : pack_cidr(pk, st);
}

/* ---- decoding ----------------------------------------------------------- */

struct sdec {
        uint32_t version;
        const uint8_t *buf;
        size_t len, off;
        /* One zone for every top-level object, cleared before the next
         * (msgpack_unpack_next made and freed one per object: a large
         * allocation each, which also consolidated malloc's free lists,
         * 12 % of a restore). */
        msgpack_zone *mz;
        msgpack_object obj;
        char *err;
        size_t errlen;
};

#define sfail(d, rv, ...) cs_mp_errorf((d)->err, (d)->errlen, rv, __VA_ARGS__)

/* The next top-level object, an array of n (or any length when n == SIZE_MAX). */
static int next_array(struct sdec *d, size_t n, const msgpack_object **items,
                      size_t *count, const char *what)
{
        long len =
            d->off <= d->len ? cs_mp_object_len(d->buf + d->off, d->len - d->off) : -1;
        size_t used = 0;
        msgpack_unpack_return r = MSGPACK_UNPACK_PARSE_ERROR;
        if (len >= 0) { /* the whole object is there: msgpack reads no further */
                msgpack_zone_clear(d->mz);
                r = msgpack_unpack((const char *)d->buf + d->off, (size_t)len, &used,
                                   d->mz, &d->obj);
        }
        if ((r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES) ||
            cs_mp_array(&d->obj, n == SIZE_MAX ? 0 : n, n == SIZE_MAX, items, count))
                return sfail(d, -EBADMSG, "malformed snapshot: %s", what);
        d->off += used;
        return 0;
}

/*
 * Room in the tables is made as objects arrive, never from a count alone:
 * a count read from the snapshot may be forged, and room costs 2-4 slots of
 * 16 bytes in each of two tables per object, many times the fewest bytes
 * an object takes in the file (a record set: 7).  Record sets: room for
 * each chunk once it is parsed (its objects already cost more than the
 * room).  Zones (one top-level object each): room for as many again as
 * have arrived, at least ZONE_STEP, at most the zones the bytes left can
 * hold (ZONE_MIN_BYTES each: a 6-element header of at least a byte each,
 * and apex SOA and NS sets of at least SET_MIN_BYTES); so a forged count
 * reserves no more than the zones really in the file would, and an honest
 * restore grows the tables a few times in all (doubling).
 */
#define SET_MIN_BYTES  7
#define ZONE_MIN_BYTES (7 + 2 * SET_MIN_BYTES)
#define ZONE_STEP      1024

/* How many more zones to make room for once `done` of `count` arrived. */
static size_t zone_step(const struct sdec *d, uint64_t count, uint64_t done)
{
        uint64_t want = done > ZONE_STEP ? done : ZONE_STEP;
        uint64_t fit = (d->len - d->off) / ZONE_MIN_BYTES + 1;
        if (want > count - done)
                want = count - done;
        return (size_t)(want < fit ? want : fit);
}

#define STRY(d, expr, what)                                                              \
        do {                                                                             \
                if ((expr) != 0)                                                         \
                        return sfail(d, -EBADMSG, "malformed snapshot: %s", what);       \
        } while (0)

static int dec_zone(struct sdec *d, struct cs_state *st)
{
        const msgpack_object *f;
        const uint8_t *origin;
        size_t origin_len;
        const char *zone_id, *comment;
        uint64_t created, n_sets;
        uint32_t serial;
        struct cs_zone *z;
        char msg[256];
        int rv = next_array(d, 6, &f, NULL, "zone header");
        if (rv)
                return rv;
        msgpack_zone *mz = d->mz;
        STRY(d, cs_mp_bin(&f[0], 255, &origin, &origin_len), "zone origin");
        STRY(d, cs_mp_str(&f[1], mz, CS_ID_MAXLEN, false, &zone_id), "zone id");
        STRY(d, cs_mp_str(&f[2], mz, CS_COMMENT_MAXLEN, false, &comment), "zone comment");
        STRY(d, cs_mp_u64(&f[3], &created), "zone created");
        STRY(d, cs_mp_u32(&f[4], &serial), "zone serial");
        STRY(d, cs_mp_u64(&f[5], &n_sets), "zone record set count");
        rv = cs_state_restore_zone(st, origin, origin_len, zone_id, comment, created,
                                   serial, &z, msg, sizeof(msg));
        if (rv)
                return sfail(d, rv, "snapshot: %s", msg);
        for (uint64_t done = 0; done < n_sets;) {
                const msgpack_object *sets;
                size_t n;
                rv = next_array(d, SIZE_MAX, &sets, &n, "record set chunk");
                if (rv)
                        return rv;
                if (n == 0 || n > n_sets - done)
                        return sfail(d, -EBADMSG, "malformed snapshot: record set count");
                if (cs_zone_restore_reserve(z, n) != 0) /* the sets that arrived */
                        return sfail(d, -ENOMEM, "out of memory");
                for (size_t i = 0; i < n; i++) {
                        struct cs_rrset_spec s;
                        const msgpack_object *rf, *vals;
                        size_t nv;
                        size_t nf = d->version >= CS_SNAPSHOT_VERSION_ROUTING ? 6 : 5;
                        STRY(d, cs_mp_array(&sets[i], nf, false, &rf, NULL),
                             "record set");
                        STRY(d, cs_mp_bin(&rf[0], 255, &s.owner, &s.owner_len), "owner");
                        STRY(d, cs_mp_u16(&rf[1], &s.type), "type");
                        STRY(d,
                             cs_mp_str(&rf[2], d->mz, CS_SET_ID_MAXLEN, false, &s.set_id),
                             "set id");
                        STRY(d, cs_mp_u32(&rf[3], &s.ttl), "ttl");
                        memset(&s.routing, 0, sizeof(s.routing));
                        if (nf == 6)
                                STRY(d, cs_mp_routing(&rf[5], d->mz, &s.routing),
                                     "routing");
                        STRY(d,
                             cs_mp_array(&rf[4], cs_routing_is_alias(&s.routing) ? 0 : 1,
                                         true, &vals, &nv),
                             "values");
                        struct cs_rdata *v =
                            msgpack_zone_malloc(d->mz, (nv ? nv : 1) * sizeof(*v));
                        if (v == NULL)
                                return sfail(d, -ENOMEM, "out of memory");
                        for (size_t k = 0; k < nv; k++) {
                                size_t l;
                                STRY(d, cs_mp_bin(&vals[k], UINT16_MAX, &v[k].data, &l),
                                     "value");
                                v[k].len = (uint16_t)l;
                        }
                        s.values = v;
                        s.count = nv;
                        rv = cs_state_restore_rrset(z, &s, msg, sizeof(msg));
                        if (rv)
                                return sfail(d, rv, "snapshot: zone %s: %s", z->zone_id,
                                             msg);
                        st->rrset_total++;
                }
                done += n;
        }
        if (!cs_zone_rrset_get(z, z->origin, z->origin_len, CS_TYPE_SOA, "") ||
            !cs_zone_rrset_get(z, z->origin, z->origin_len, CS_TYPE_NS, ""))
                return sfail(d, -EINVAL, "snapshot: zone %s lacks its apex SOA or NS",
                             z->zone_id);
        return 0;
}

static int dec_changes(struct sdec *d, struct cs_state *st, uint64_t total)
{
        char msg[256];
        for (uint64_t done = 0; done < total;) {
                const msgpack_object *items;
                size_t n;
                int rv = next_array(d, SIZE_MAX, &items, &n, "change chunk");
                if (rv)
                        return rv;
                if (n == 0 || n > total - done)
                        return sfail(d, -EBADMSG, "malformed snapshot: change count");
                for (size_t i = 0; i < n; i++) {
                        const msgpack_object *f;
                        struct cs_change c = {0};
                        const char *id, *req, *zid;
                        const uint8_t *origin;
                        size_t olen;
                        uint32_t kind;
                        msgpack_zone *mz = d->mz;
                        STRY(d, cs_mp_array(&items[i], 7, false, &f, NULL), "change");
                        STRY(d, cs_mp_str(&f[0], mz, CS_ID_MAXLEN, false, &id),
                             "change id");
                        STRY(d, cs_mp_str(&f[1], mz, CS_REQUEST_ID_MAXLEN, true, &req),
                             "request id");
                        STRY(d, cs_mp_u32(&f[2], &kind), "change kind");
                        STRY(d, cs_mp_bin(&f[3], 255, &origin, &olen), "change origin");
                        STRY(d, cs_mp_str(&f[4], mz, CS_ID_MAXLEN, false, &zid),
                             "zone id");
                        STRY(d, cs_mp_u64(&f[5], &c.submitted_ms), "submitted");
                        STRY(d, cs_mp_u64(&f[6], &c.index), "change index");
                        int nl = cs_name_len(origin, olen);
                        if (kind < CS_CHANGE_ZONE_CREATE || kind > CS_CHANGE_BATCH ||
                            nl < 0 || (size_t)nl != olen)
                                return sfail(d, -EINVAL, "snapshot: change %s is invalid",
                                             id);
                        c.id = (char *)id;
                        c.request_id = (char *)req;
                        c.kind = (enum cs_change_kind)kind;
                        c.origin = (uint8_t *)origin;
                        c.origin_len = (uint16_t)olen;
                        c.zone_id = (char *)zid;
                        rv = cs_state_restore_change(st, &c, msg, sizeof(msg));
                        if (rv)
                                return sfail(d, rv, "snapshot: %s", msg);
                }
                done += n;
        }
        return 0;
}

static int dec_check(struct sdec *d, const msgpack_object *o, struct cs_state *st)
{
        const msgpack_object *f, *tf, *items, *vf;
        size_t n;
        msgpack_zone *z = d->mz;
        struct cs_health_check c;
        struct cs_health_vote votes_stack[1];
        char msg[200];
        memset(&c, 0, sizeof(c));
        STRY(d, cs_mp_array(o, 12, false, &f, NULL), "health check");
        STRY(d, cs_mp_u64(&f[0], &c.id), "health check id");
        STRY(d, cs_mp_u64(&f[1], &c.created_ms), "health check created");
        STRY(d, cs_mp_u64(&f[2], &c.updated_ms), "health check updated");
        int rv = cs_mp_health_config(&f[3], z, &c.cfg);
        if (rv == -ENOMEM)
                return sfail(d, rv, "snapshot: out of memory");
        STRY(d, rv, "health check config");
        STRY(d, cs_mp_bool(&f[4], &c.raw), "health raw");
        STRY(d, cs_mp_bool(&f[5], &c.healthy), "health status");
        STRY(d, cs_mp_u64(&f[6], &c.changed_ms), "health changed");
        STRY(d, cs_mp_bool(&f[7], &c.manual_healthy), "manual status");
        STRY(d,
             f[8].type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                     f[8].type == MSGPACK_OBJECT_NEGATIVE_INTEGER
                 ? 0
                 : -EBADMSG,
             "last beat");
        c.last_beat_ms = f[8].via.i64;
        STRY(d, cs_mp_array(&f[9], 3, false, &tf, NULL), "tally");
        STRY(d, cs_mp_u32(&tf[0], &c.tally.fresh), "tally");
        STRY(d, cs_mp_u32(&tf[1], &c.tally.healthy), "tally");
        STRY(d, cs_mp_bool(&tf[2], &c.tally.decided), "tally");
        STRY(d, cs_mp_array(&f[10], 0, true, &items, &n), "votes");
        c.votes = n ? msgpack_zone_malloc(z, n * sizeof(*c.votes)) : votes_stack;
        if (c.votes == NULL)
                return sfail(d, -ENOMEM, "snapshot: out of memory");
        for (size_t i = 0; i < n; i++) {
                struct cs_health_vote *v = &c.votes[i];
                const char *reason;
                STRY(d, cs_mp_array(&items[i], 7, false, &vf, NULL), "vote");
                STRY(d, cs_mp_u64(&vf[0], &v->node), "vote node");
                STRY(d, cs_mp_u64(&vf[1], &v->time_ms), "vote time");
                STRY(d, cs_mp_bool(&vf[2], &v->healthy), "vote");
                STRY(d, cs_mp_u16(&vf[3], &v->status), "vote status");
                STRY(d, cs_mp_u32(&vf[4], &v->connect_us), "vote latency");
                STRY(d, cs_mp_u32(&vf[5], &v->first_byte_us), "vote latency");
                STRY(d, cs_mp_str(&vf[6], z, CS_HEALTH_REASON_MAX, true, &reason),
                     "vote reason");
                v->reason = (char *)reason;
        }
        c.n_votes = n;
        STRY(d, cs_mp_array(&f[11], 0, true, &items, &n), "history");
        STRY(d, n <= CS_HEALTH_HISTORY ? 0 : -EBADMSG, "history");
        c.history = msgpack_zone_malloc(z, CS_HEALTH_HISTORY * sizeof(*c.history));
        if (c.history == NULL)
                return sfail(d, -ENOMEM, "snapshot: out of memory");
        for (size_t i = 0; i < n; i++) {
                struct cs_health_transition *t = &c.history[i];
                uint32_t cause;
                STRY(d, cs_mp_array(&items[i], 6, false, &tf, NULL), "transition");
                STRY(d, cs_mp_u64(&tf[0], &t->time_ms), "transition time");
                STRY(d, cs_mp_bool(&tf[1], &t->from), "transition");
                STRY(d, cs_mp_bool(&tf[2], &t->to), "transition");
                STRY(d, cs_mp_u32(&tf[3], &cause), "transition cause");
                STRY(d, cause <= 255 ? 0 : -EBADMSG, "transition cause");
                t->cause = (uint8_t)cause;
                STRY(d, cs_mp_u32(&tf[4], &t->fresh), "transition");
                STRY(d, cs_mp_u32(&tf[5], &t->healthy), "transition");
        }
        c.hist_count = n;
        rv = cs_state_health_restore(st, &c, msg, sizeof(msg));
        if (rv)
                return sfail(d, rv, "snapshot: %s", msg);
        return 0;
}

static int dec_health(struct sdec *d, struct cs_state *st)
{
        const msgpack_object *f, *items;
        uint64_t total, done = 0;
        size_t n;
        int rv = next_array(d, 2, &f, NULL, "health header");
        if (rv)
                return rv;
        STRY(d, cs_mp_u64(&f[0], &st->health.version), "health version");
        STRY(d, cs_mp_u64(&f[1], &total), "health check count");
        STRY(d, total <= CS_HEALTH_CHECKS_MAX ? 0 : -EBADMSG, "health check count");
        while (done < total) {
                rv = next_array(d, SIZE_MAX, &items, &n, "health check chunk");
                if (rv)
                        return rv;
                if (n == 0 || n > total - done)
                        return sfail(d, -EBADMSG, "malformed snapshot: health chunk");
                for (size_t i = 0; i < n; i++) {
                        rv = dec_check(d, &items[i], st);
                        if (rv)
                                return rv;
                }
                done += n;
        }
        return 0;
}

static int dec_latency(struct sdec *d, struct cs_state *st)
{
        const msgpack_object *f, *items;
        uint64_t total, done = 0;
        size_t n;
        char msg[200];
        int rv = next_array(d, 2, &f, NULL, "latency header");
        if (rv)
                return rv;
        STRY(d, cs_mp_u64(&f[0], &st->latency.version), "latency version");
        STRY(d, cs_mp_u64(&f[1], &total), "latency entry count");
        STRY(d, total <= CS_LATENCY_ENTRIES_MAX ? 0 : -EBADMSG, "latency entry count");
        while (done < total) {
                rv = next_array(d, SIZE_MAX, &items, &n, "latency chunk");
                if (rv)
                        return rv;
                if (n == 0 || n > total - done)
                        return sfail(d, -EBADMSG, "malformed snapshot: latency chunk");
                for (size_t i = 0; i < n; i++) {
                        struct cs_latency_entry e;
                        STRY(d, cs_mp_latency_entry(&items[i], &e), "latency entry");
                        rv = cs_state_latency_restore(st, &e, msg, sizeof(msg));
                        if (rv)
                                return sfail(d, rv, "snapshot: %s", msg);
                }
                done += n;
        }
        return 0;
}

/* One collection: its header, then its chunks of blocks. */
static int dec_collection(struct sdec *d, struct cs_state *st)
{
        const msgpack_object *f, *names;
        struct cs_cidr_collection c;
        uint64_t total;
        size_t n_names;
        char msg[256];
        memset(&c, 0, sizeof(c));
        int rv = next_array(d, 7, &f, NULL, "collection header");
        if (rv)
                return rv;
        msgpack_zone *mz = d->mz;
        const char *id, *name;
        STRY(d, cs_mp_str(&f[0], mz, CS_CIDR_ID_MAXLEN, false, &id), "collection id");
        STRY(d, cs_mp_str(&f[1], mz, CS_CIDR_NAME_MAXLEN, false, &name),
             "collection name");
        snprintf(c.id, sizeof(c.id), "%s", id);
        snprintf(c.name, sizeof(c.name), "%s", name);
        STRY(d, cs_mp_u64(&f[2], &c.version), "collection version");
        STRY(d, cs_mp_u64(&f[3], &c.created_ms), "collection created");
        STRY(d, cs_mp_u64(&f[4], &c.updated_ms), "collection updated");
        STRY(d, cs_mp_array(&f[5], 0, true, &names, &n_names), "locations");
        STRY(d, cs_mp_u64(&f[6], &total), "block count");
        STRY(d, n_names <= CS_CIDR_LOCATIONS_MAX && total <= CS_CIDR_BLOCKS_MAX ? 0 : -1,
             "collection size");
        c.locations = calloc(n_names + 1, sizeof(*c.locations));
        c.entries = malloc((total + 1) * sizeof(*c.entries));
        if (c.locations == NULL || c.entries == NULL) {
                rv = sfail(d, -ENOMEM, "out of memory restoring a collection");
                goto out;
        }
        for (size_t i = 0; i < n_names; i++) {
                const char *ln;
                rv = cs_mp_str(&names[i], mz, CS_CIDR_LOCATION_MAXLEN, false, &ln);
                if (rv) {
                        rv = sfail(d, -EBADMSG, "malformed snapshot: location name");
                        goto out;
                }
                snprintf(c.locations[i].name, sizeof(c.locations[i].name), "%s", ln);
        }
        c.n_locations = n_names;
        while (c.n_entries < total) {
                const msgpack_object *cf;
                struct cs_cidr_block *blocks;
                size_t nb;
                rv = next_array(d, 2, &cf, NULL, "block chunk");
                if (rv)
                        goto out;
                rv = cs_mp_cidr_blocks(&cf[0], d->mz, CS_CIDR_CHUNK, &blocks, &nb);
                if (rv != 0 || nb == 0 || nb > total - c.n_entries ||
                    cf[1].type != MSGPACK_OBJECT_BIN || cf[1].via.bin.size != 2 * nb) {
                        rv = sfail(d, rv == -ENOMEM ? -ENOMEM : -EBADMSG,
                                   "malformed snapshot: block chunk");
                        goto out;
                }
                const uint8_t *ranks = (const uint8_t *)cf[1].via.bin.ptr;
                for (size_t i = 0; i < nb; i++) {
                        c.entries[c.n_entries].block = blocks[i];
                        c.entries[c.n_entries].location =
                            (uint32_t)ranks[2 * i] << 8 | ranks[2 * i + 1];
                        c.n_entries++;
                }
        }
        rv = cs_state_cidr_restore(st, &c, msg, sizeof(msg));
        if (rv)
                rv = sfail(d, rv, "snapshot: %s", msg);
out:
        free(c.locations);
        free(c.entries);
        return rv;
}

static int dec_cidr(struct sdec *d, struct cs_state *st)
{
        const msgpack_object *f;
        uint64_t total;
        int rv = next_array(d, 1, &f, NULL, "collections header");
        if (rv)
                return rv;
        STRY(d, cs_mp_u64(&f[0], &total), "collection count");
        STRY(d, total <= CS_CIDR_COLLECTIONS_MAX ? 0 : -1, "collection count");
        for (uint64_t i = 0; i < total; i++)
                if ((rv = dec_collection(d, st)) != 0)
                        return rv;
        return 0;
}

static int dec_all(struct sdec *d, struct cs_state *st)
{
        const msgpack_object *f, *items;
        const char *magic;
        uint32_t version;
        uint64_t n_members, n_zones, n_changes, max;
        size_t n;
        int rv = next_array(d, 9, &f, NULL, "header");
        if (rv)
                return rv;
        if (cs_mp_str(&f[0], d->mz, 64, false, &magic) || strcmp(magic, SNAP_MAGIC))
                return sfail(d, -EBADMSG, "not a quorumdns snapshot");
        STRY(d, cs_mp_u32(&f[1], &version), "version");
        if (version < CS_SNAPSHOT_VERSION_MIN || version > CS_SNAPSHOT_VERSION)
                return sfail(d, -EPROTO,
                             "snapshot format version %u is not supported (%u to %u are)",
                             version, CS_SNAPSHOT_VERSION_MIN, CS_SNAPSHOT_VERSION);
        d->version = version;
        STRY(d, cs_mp_u64(&f[2], &st->last_index), "last index");
        STRY(d, cs_mp_u64(&f[3], &st->synced_index), "synced index");
        STRY(d, cs_mp_u64(&f[4], &max), "changes max");
        STRY(d, cs_mp_u64(&f[5], &st->changes_max_age_ms), "changes max age");
        STRY(d, cs_mp_u64(&f[6], &n_members), "member count");
        STRY(d, cs_mp_u64(&f[7], &n_zones), "zone count");
        STRY(d, cs_mp_u64(&f[8], &n_changes), "change count");
        if (max == 0 || max > SIZE_MAX / 2 || n_changes > max)
                return sfail(d, -EINVAL, "snapshot: change bounds are inconsistent");
        st->changes_max = (size_t)max;

        rv = next_array(d, SIZE_MAX, &items, &n, "members");
        if (rv)
                return rv;
        if (n != n_members)
                return sfail(d, -EBADMSG, "malformed snapshot: member count");
        for (size_t i = 0; i < n; i++) {
                struct cs_member_spec m;
                struct cs_result res;
                uint32_t role;
                msgpack_zone *mz = d->mz;
                STRY(d, cs_mp_array(&items[i], 6, false, &f, NULL), "member");
                STRY(d, cs_mp_u64(&f[0], &m.id), "member id");
                STRY(d, cs_mp_str(&f[1], mz, 255, false, &m.name), "member name");
                STRY(d, cs_mp_str(&f[2], mz, 255, false, &m.raft_address),
                     "raft address");
                STRY(d, cs_mp_str(&f[3], mz, 255, false, &m.dns_address), "dns address");
                STRY(d, cs_mp_str(&f[4], mz, 255, false, &m.api_address), "api address");
                STRY(d, cs_mp_u32(&f[5], &role), "role");
                STRY(d, role <= CS_ROLE_SPARE ? 0 : -EBADMSG, "role");
                m.role = (enum cs_role)role;
                cs_result_init(&res);
                if (cs_state_member_get(st, m.id) != NULL)
                        return sfail(d, -EINVAL, "snapshot: duplicate member");
                rv = cs_state_member_put(st, NULL, &m, &res);
                if (rv)
                        return sfail(d, rv, "snapshot: %s", res.message);
        }
        if (d->version >= CS_SNAPSHOT_VERSION_HEALTH && (rv = dec_health(d, st)) != 0)
                return rv;
        if (d->version >= CS_SNAPSHOT_VERSION_LATENCY && (rv = dec_latency(d, st)) != 0)
                return rv;
        if (d->version >= CS_SNAPSHOT_VERSION_CIDR && (rv = dec_cidr(d, st)) != 0)
                return rv;
        for (uint64_t i = 0, room = 0; i < n_zones; i++) {
                if (i == room) {
                        size_t more = zone_step(d, n_zones, i);
                        if (cs_state_restore_reserve(st, more) != 0)
                                return sfail(d, -ENOMEM, "out of memory");
                        room += more;
                }
                rv = dec_zone(d, st);
                if (rv)
                        return rv;
        }
        return dec_changes(d, st, n_changes);
}

static int decode_msgpack(const void *buf, size_t len, struct cs_state *out, char *err,
                          size_t errlen)
{
        struct sdec d = {.buf = buf, .len = len, .err = err, .errlen = errlen};
        struct cs_observer obs = out->observer;
        struct cs_health_observer hobs = out->health.observer;
        struct cs_cidr_observer cobs = out->cidr.observer;
        memset(&out->observer, 0, sizeof(out->observer)); /* silent while filling */
        memset(&out->health.observer, 0, sizeof(out->health.observer));
        struct cs_latency_observer lobs = out->latency.observer;
        memset(&out->latency.observer, 0, sizeof(out->latency.observer));
        memset(&out->cidr.observer, 0, sizeof(out->cidr.observer));
        d.mz = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
        int rv = d.mz != NULL ? dec_all(&d, out) : sfail(&d, -ENOMEM, "out of memory");
        if (d.mz != NULL)
                msgpack_zone_free(d.mz);
        if (rv != 0)
                cs_state_fini(out);
        out->observer = obs;
        out->health.observer = hobs;
        out->latency.observer = lobs;
        out->cidr.observer = cobs;
        return rv;
}

int cs_snapshot_decode(const void *buf, size_t len, struct cs_state *out, char *err,
                       size_t errlen)
{
        if (!cs_lz4_is_frame(buf, len))
                return decode_msgpack(buf, len, out, err, errlen);
        void *raw;
        size_t raw_len;
        char why[160];
        int rv = cs_lz4_decode(buf, len, &raw, &raw_len, why, sizeof(why));
        if (rv != 0) {
                snprintf(err, errlen, "malformed snapshot: %s", why);
                return rv;
        }
        rv = decode_msgpack(raw, raw_len, out, err, errlen);
        free(raw);
        return rv;
}
