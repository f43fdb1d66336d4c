/*
 * changes.c — the change records of the replicated state: one per applied
 * zone creation, deletion or batch, found by change id and by request id
 * (the idempotency key, so a retried command returns the change it already
 * made), kept for the last CS_CHANGES_MAX changes and CS_CHANGES_MAX_AGE_MS
 * of command time, PENDING until the leader marks them synced (INSYNC).
 */
#include "consensus/state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigmem.h"
#include "consensus/state_priv.h"
#include "consensus/wire.h"

/* ---- change records ----------------------------------------------------- */

bool change_id_match(const void *item, const void *key)
{
        return strcmp(((const struct cs_change *)item)->id, key) == 0;
}

/*
 * The records lie in apply order in segments of up to CHANGE_SEG_SIZE
 * bytes, mapped apart from the heap.  A record is evicted by the
 * CS_CHANGES_MAX-th change after it (or by age), so records leave in the
 * order they came and a segment is released once all of its records have
 * left.  Its ring slot holds what an eviction needs (the hashes, the time,
 * the pointer the id tables are searched for), so evicting never reads the
 * record, by then out of every cache and, among a million zones' memory,
 * out of the TLB; nor frees it, which would read its heap header.
 *
 * A state's first segments are small and on the heap, each twice the one
 * before: a scratch state holds one record (the bulk API checks each item
 * against its own, node/api_bulk.c), and a map and an unmap of 1 MB each
 * took more than the check itself.
 */
#define CHANGE_SEG_SIZE  ((size_t)1 << 20)
#define CHANGE_SEG_FIRST ((size_t)4 << 10)

struct cs_change_seg {
        struct cs_change_seg *next;
        size_t size;             /* bytes, this header included */
        size_t used;             /* bytes of data handed out */
        size_t records, evicted; /* records placed here, and evicted */
        _Alignas(16) unsigned char data[];
};

static size_t seg_room(const struct cs_change_seg *seg)
{
        return seg->size - offsetof(struct cs_change_seg, data) - seg->used;
}

static struct cs_change_seg *seg_new(size_t size)
{
        struct cs_change_seg *seg =
            size < CHANGE_SEG_SIZE ? malloc(size) : bigmem_map(size, false);
        if (seg == NULL)
                return NULL;
        seg->next = NULL;
        seg->size = size;
        seg->used = seg->records = seg->evicted = 0;
        return seg;
}

static struct cs_change *change_alloc(struct cs_state *st, size_t size)
{
        size = (size + 15) & ~(size_t)15;
        struct cs_change_seg *t = st->change_segs_tail;
        if (t == NULL || seg_room(t) < size) {
                const size_t header = offsetof(struct cs_change_seg, data);
                size_t seg_size = t == NULL ? CHANGE_SEG_FIRST : t->size * 2;
                if (seg_size > CHANGE_SEG_SIZE)
                        seg_size = CHANGE_SEG_SIZE;
                while (seg_size < CHANGE_SEG_SIZE && seg_size - header < size)
                        seg_size *= 2;
                if (seg_size - header < size)
                        return NULL;
                struct cs_change_seg *seg = seg_new(seg_size);
                if (seg == NULL)
                        return NULL;
                if (t != NULL)
                        t->next = seg;
                else
                        st->change_segs = seg;
                st->change_segs_tail = t = seg;
                st->change_segs_mapped++;
        }
        struct cs_change *c = (struct cs_change *)(t->data + t->used);
        t->used += size;
        t->records++;
        return c;
}

static void seg_unmap(struct cs_state *st, struct cs_change_seg *seg)
{
        if (seg->size < CHANGE_SEG_SIZE)
                free(seg);
        else
                bigmem_unmap(seg, seg->size);
        st->change_segs_mapped--;
}

static void segs_unmap(struct cs_state *st, struct cs_change_seg *seg)
{
        while (seg != NULL) {
                struct cs_change_seg *next = seg->next;
                seg_unmap(st, seg);
                seg = next;
        }
}

/* The oldest record left: the oldest segment is done when all its records
 * have (the newest one stays, records still come into it). */
static void change_seg_evicted_one(struct cs_state *st)
{
        struct cs_change_seg *head = st->change_segs;
        if (++head->evicted < head->records || head == st->change_segs_tail)
                return;
        st->change_segs = head->next;
        if (st->pins > 0) { /* a frozen snapshot view may be packing them */
                head->next = st->evicted_segs;
                st->evicted_segs = head;
        } else {
                seg_unmap(st, head);
        }
}

void changes_fini(struct cs_state *st)
{
        segs_unmap(st, st->evicted_segs);
        segs_unmap(st, st->change_segs);
        st->evicted_segs = st->change_segs = st->change_segs_tail = NULL;
        st->evicted = NULL;
        free(st->changes);
        st->changes = NULL;
        st->changes_count = st->changes_cap = st->changes_head = 0;
}

/* The id tables hold each record once: an eviction finds its entries by
 * the record's address, without reading the record. */
static bool same_change(const void *item, const void *key)
{
        return item == key;
}

/*
 * A request id is "KEY" or "KEY\nFINGERPRINT" (the API binds an idempotency
 * key to its route, zone and body that way).  Ids are found by KEY alone, so
 * a key reused for another request is seen, and refused.
 */
size_t cs_request_key_len(const char *id)
{
        const char *nl = strchr(id, '\n');
        return nl ? (size_t)(nl - id) : strlen(id);
}

uint64_t request_key_hash(const char *id)
{
        return hash_bytes(id, cs_request_key_len(id), 0x737472);
}

bool request_id_match(const void *item, const void *key)
{
        const char *a = ((const struct cs_change *)item)->request_id, *b = key;
        size_t n = cs_request_key_len(a);
        return n == cs_request_key_len(b) && memcmp(a, b, n) == 0;
}

bool change_seen(struct cs_state *st, const struct cs_ctx *ctx, struct cs_result *res)
{
        if (ctx == NULL || ctx->request_id == NULL || ctx->request_id[0] == 0)
                return false;
        const struct cs_change *c = cs_state_change_by_request(st, ctx->request_id);
        if (c == NULL)
                return false;
        const char *mine = strchr(ctx->request_id, '\n'),
                   *theirs = strchr(c->request_id, '\n');
        if (mine != NULL && theirs != NULL && strcmp(mine, theirs) != 0) {
                result_fail(res, -EKEYREJECTED,
                            "Idempotency-Key %.*s was used for another request (change "
                            "%s): a reused key must come with the same request",
                            (int)cs_request_key_len(ctx->request_id), ctx->request_id,
                            c->id);
                return true;
        }
        res->status = 0;
        res->duplicate = true;
        snprintf(res->change_id, sizeof(res->change_id), "%s", c->id);
        snprintf(res->message, sizeof(res->message),
                 "request %.*s was applied as change %s",
                 (int)cs_request_key_len(ctx->request_id), ctx->request_id, c->id);
        return true;
}

int change_prepare(struct cs_state *st, const struct cs_ctx *ctx,
                   enum cs_change_kind kind, const struct cs_zone *zone,
                   struct cs_change **out, struct cs_result *res)
{
        char idbuf[CS_ID_MAXLEN + 1];
        const char *id = ctx->change_id;
        if (id == NULL || id[0] == 0) {
                snprintf(idbuf, sizeof(idbuf), "C%016" PRIX64, ctx->index);
                id = idbuf;
        }
        if (strlen(id) > CS_ID_MAXLEN)
                return result_fail(res, -EINVAL, "change id longer than %d",
                                   CS_ID_MAXLEN);
        if (!str_ok(ctx->request_id, CS_REQUEST_ID_MAXLEN))
                return result_fail(res, -EINVAL, "request id longer than %d",
                                   CS_REQUEST_ID_MAXLEN);
        if (cs_state_change_get(st, id) != NULL)
                return result_fail(res, -EEXIST, "change id %s is already used", id);

        if (pmap_flat_reserve(&st->change_ids, 1) ||
            pmap_flat_reserve(&st->request_ids, 1))
                goto nomem;
        if (st->changes_count == st->changes_cap && st->changes_cap < st->changes_max) {
                size_t cap = st->changes_cap ? st->changes_cap * 2 : 64;
                if (cap > st->changes_max)
                        cap = st->changes_max;
                struct cs_change_slot *ring = malloc(cap * sizeof(*ring));
                if (ring == NULL)
                        goto nomem;
                cs_frozen_lock(st); /* a snapshot view may be reading the ring */
                for (size_t i = 0; i < st->changes_count; i++)
                        ring[i] = st->changes[(st->changes_head + i) % st->changes_cap];
                free(st->changes);
                st->changes = ring;
                st->changes_cap = cap;
                st->changes_head = 0;
                cs_frozen_unlock(st);
        }
        const char *rid = ctx->request_id && ctx->request_id[0] ? ctx->request_id : NULL;
        size_t id_len = strlen(id) + 1, rid_len = rid ? strlen(rid) + 1 : 0,
               zid_len = strlen(zone->zone_id) + 1;
        /* Last: nothing fails after it, a record once placed is committed. */
        struct cs_change *c =
            change_alloc(st, sizeof(*c) + id_len + rid_len + zid_len + zone->origin_len);
        if (c == NULL)
                goto nomem;
        *c = (struct cs_change){0};
        char *at = (char *)(c + 1);
        c->id = memcpy(at, id, id_len);
        c->id_hash = str_hash(c->id);
        at += id_len;
        if (rid != NULL) {
                c->request_id = memcpy(at, rid, rid_len);
                c->request_hash = request_key_hash(rid);
                at += rid_len;
        }
        c->zone_id = memcpy(at, zone->zone_id, zid_len);
        c->origin = memcpy(at + zid_len, zone->origin, zone->origin_len);
        c->origin_len = zone->origin_len;
        c->kind = kind;
        c->submitted_ms = ctx->timestamp_ms;
        c->index = ctx->index;
        *out = c;
        return 0;
nomem:
        return result_fail(res, -ENOMEM, "out of memory recording the change");
}

static void change_evict_oldest(struct cs_state *st)
{
        const struct cs_change_slot *old = &st->changes[st->changes_head];
        st->changes_head = (st->changes_head + 1) % st->changes_cap;
        st->changes_count--;
        pmap_flat_del(&st->change_ids, old->id_hash, old->change, same_change);
        if (old->has_request)
                pmap_flat_del(&st->request_ids, old->request_hash, old->change,
                              same_change);
        st->changes_evicted++;
        if (st->pins > 0) { /* a frozen snapshot view may be packing it */
                old->change->evicted_next = st->evicted;
                st->evicted = old->change;
        }
        change_seg_evicted_one(st);
}

void changes_free_evicted(struct cs_state *st)
{
        st->evicted = NULL;
        segs_unmap(st, st->evicted_segs);
        st->evicted_segs = NULL;
}

static bool too_old(const struct cs_state *st, const struct cs_ctx *ctx)
{
        if (ctx == NULL)
                return false;
        uint64_t t = st->changes[st->changes_head].submitted_ms;
        return ctx->timestamp_ms > t && ctx->timestamp_ms - t > st->changes_max_age_ms;
}

void change_commit(struct cs_state *st, const struct cs_ctx *ctx, struct cs_change *c,
                   struct cs_result *res)
{
        cs_frozen_lock(st); /* a snapshot view may be reading the ring */
        while (st->changes_count > 0 &&
               (st->changes_count >= st->changes_max ||
                st->changes_count == st->changes_cap || too_old(st, ctx)))
                change_evict_oldest(st);
        st->changes[(st->changes_head + st->changes_count) % st->changes_cap] =
            (struct cs_change_slot){.change = c,
                                    .id_hash = c->id_hash,
                                    .request_hash = c->request_hash,
                                    .submitted_ms = c->submitted_ms,
                                    .has_request = c->request_id != NULL};
        st->changes_count++;
        cs_frozen_unlock(st);
        pmap_flat_put(&st->change_ids, c->id_hash, c->id, c, change_id_match);
        if (c->request_id)
                pmap_flat_put(&st->request_ids, c->request_hash, c->request_id, c,
                              request_id_match);
        snprintf(res->change_id, sizeof(res->change_id), "%s", c->id);
}

int cs_state_restore_change(struct cs_state *st, const struct cs_change *src, char *err,
                            size_t errlen)
{
        struct cs_ctx ctx = {.index = src->index,
                             .timestamp_ms = src->submitted_ms,
                             .request_id = src->request_id,
                             .change_id = src->id};
        struct cs_zone z = {.origin = src->origin,
                            .origin_len = src->origin_len,
                            .zone_id = src->zone_id};
        struct cs_result res;
        struct cs_change *c;
        cs_result_init(&res);
        if (src->id == NULL || src->id[0] == 0 || src->zone_id == NULL ||
            (src->request_id && cs_state_change_by_request(st, src->request_id))) {
                snprintf(err, errlen, "change record is incomplete or duplicated");
                return -EINVAL;
        }
        int rv = change_prepare(st, &ctx, src->kind, &z, &c, &res);
        if (rv != 0) {
                snprintf(err, errlen, "%s", res.message);
                return rv;
        }
        /* No ctx: no eviction by age, the snapshot kept what the state kept. */
        change_commit(st, NULL, c, &res);
        return 0;
}

const struct cs_change *cs_state_change_get(const struct cs_state *st, const char *id)
{
        return pmap_flat_get(&st->change_ids, str_hash(id), id, change_id_match);
}

const struct cs_change *cs_state_change_by_request(const struct cs_state *st,
                                                   const char *request_id)
{
        return pmap_flat_get(&st->request_ids, request_key_hash(request_id), request_id,
                             request_id_match);
}

enum cs_change_status cs_state_change_status(const struct cs_state *st,
                                             const struct cs_change *c)
{
        return c->index <= st->synced_index ? CS_STATUS_INSYNC : CS_STATUS_PENDING;
}

const struct cs_change *cs_state_change_at(const struct cs_state *st, size_t i)
{
        if (i >= st->changes_count)
                return NULL;
        return st->changes[(st->changes_head + i) % st->changes_cap].change;
}

size_t cs_state_change_count(const struct cs_state *st)
{
        return st->changes_count;
}

int cs_state_changes_synced(struct cs_state *st, const struct cs_ctx *ctx, uint64_t index,
                            struct cs_result *res)
{
        cs_result_reset(res);
        if (ctx) {
                st->last_index = ctx->index;
                res->index = ctx->index;
        }
        if (index > st->synced_index)
                st->synced_index = index;
        return 0;
}
