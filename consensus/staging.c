/*
 * staging.c — staged imports: a large import replicated as several bounded
 * log entries, switched in at once (see struct cs_staging in state.h).
 *
 * Data flow: STAGE_BEGIN copies the zone's record sets into a private zone
 * (the "copy"; a zone of more than CS_STAGING_COPY_STEP sets is copied by
 * STAGE_COPY entries of that many sets, before the chunks, so that no entry
 * costs the size of the zone); each STAGE_CHUNK applies its actions to the
 * copy with the validation of a change batch (batch.c, staged_batch_apply),
 * so that one entry costs its chunk; STAGE_COMMIT swaps the copy's tables into the zone
 * (the zone struct stays: its name-order link and id are unchanged), bumps
 * the serial once and records one change with the import's request id.
 * Readers of the zone — the API on the loop, the frozen snapshot view, the
 * DNS engine fed by the observer — see the old contents until the commit
 * and the new ones after it, never a part.  STAGE_ABORT, an idle timeout
 * in command time, and a restore drop a staging.  Everything depends only
 * on the commands, so every node holds the same stagings.  What a commit or
 * an abort lets go of goes to the observer's discard (freed off the loop).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/state.h"
#include "consensus/state_priv.h"
#include "consensus/wire.h"

bool staging_holds(const struct cs_state *st, const struct cs_zone *z)
{
        for (const struct cs_staging *s = st->stagings; s != NULL; s = s->next)
                if (s->live == z)
                        return true;
        return false;
}

const struct cs_staging *cs_state_staging_get(const struct cs_state *st, uint64_t id)
{
        for (const struct cs_staging *s = st->stagings; s != NULL; s = s->next)
                if (s->id == id)
                        return s;
        return NULL;
}

/* Hands z (nothing reads it) to the observer's discard, or frees it. */
static void discard(struct cs_state *st, struct cs_zone *z)
{
        if (st->observer.discard != NULL)
                st->observer.discard(st->observer.ctx, z);
        else
                zone_free(z);
}

static void staging_free(struct cs_staging *s)
{
        if (s->shadow != NULL)
                zone_free(s->shadow);
        free(s->request_id);
        free(s);
}

/* Unlinks s, tells the observer it was discarded, frees it. */
static void staging_drop(struct cs_state *st, struct cs_staging *s)
{
        for (struct cs_staging **p = &st->stagings; *p != NULL; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        if (st->observer.staging_ended)
                st->observer.staging_ended(st->observer.ctx, s, NULL);
        discard(st, s->shadow); /* never in a frozen view */
        s->shadow = NULL;
        staging_free(s);
}

void stagings_free(struct cs_state *st)
{
        while (st->stagings != NULL) {
                struct cs_staging *s = st->stagings;
                st->stagings = s->next;
                staging_free(s);
        }
}

void cs_state_stage_expire(struct cs_state *st, uint64_t now_ms)
{
        struct cs_staging *s = st->stagings;
        while (s != NULL) {
                struct cs_staging *next = s->next;
                if (now_ms > s->touched_ms + CS_STAGING_IDLE_MS)
                        staging_drop(st, s);
                s = next;
        }
}

struct copy {
        struct cs_zone *to;
        char err[200];
};

static int copy_rrset(const struct cs_rrset *r, void *arg)
{
        struct copy *c = arg;
        struct cs_rrset_spec spec = {r->owner, r->owner_len, r->type,  r->set_id,
                                     r->ttl,   r->values,    r->count, *r->routing};
        return cs_state_restore_rrset(c->to, &spec, c->err, sizeof(c->err));
}

int cs_state_stage_begin(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_stage_begin *b, struct cs_result *res)
{
        cs_result_reset(res);
        res->index = ctx->index;
        st->last_index = ctx->index;
        if (change_seen(st, ctx, res))
                return res->status;
        struct cs_zone *z =
            (struct cs_zone *)cs_state_zone_get(st, b->origin, b->origin_len);
        if (z == NULL)
                return result_fail(res, -ENOENT, "no such zone");
        if (z->serial != b->serial)
                return result_fail(res, -ESTALE,
                                   "the zone changed while the import was prepared "
                                   "(serial %u, now %u); retry with the same "
                                   "Idempotency-Key",
                                   b->serial, z->serial);
        const char *rid = ctx->request_id && ctx->request_id[0] ? ctx->request_id : NULL;
        unsigned n = 0;
        for (struct cs_staging *s = st->stagings, *next; s != NULL; s = next) {
                next = s->next;
                if (s->live == z && rid && s->request_id &&
                    strcmp(s->request_id, rid) == 0)
                        staging_drop(st, s); /* a retry of the same import */
                else if (s->live == z)
                        return result_fail(res, -EBUSY,
                                           "another import into this zone is being "
                                           "committed; retry once it is done");
                else
                        n++;
        }
        if (n >= CS_STAGING_MAX)
                return result_fail(res, -EBUSY,
                                   "%u imports are being committed; retry once one is "
                                   "done",
                                   n);
        size_t room = b->sets < CS_STAGING_SETS_MAX ? b->sets : CS_STAGING_SETS_MAX;
        struct cs_staging *s = calloc(1, sizeof(*s));
        struct copy c = {0};
        int rv = -ENOMEM;
        if (s != NULL && (rid == NULL || (s->request_id = str_dup(rid)) != NULL) &&
            (c.to = s->shadow = zone_new(z->origin, z->origin_len, z->zone_id, "",
                                         z->created_ms, z->serial)) != NULL &&
            pmap_flat_reserve(&c.to->rrsets, z->rrsets.count + room) == 0 &&
            pmap_flat_reserve(&c.to->owners, z->owners.count + room) == 0 &&
            pmap_flat_reserve(&c.to->groups, z->groups.count + room) == 0)
                rv = z->rrsets.count > CS_STAGING_COPY_STEP
                         ? 0 /* STAGE_COPY entries copy it */
                         : cs_zone_foreach_rrset(z, copy_rrset, &c);
        if (rv != 0) {
                if (s != NULL)
                        staging_free(s);
                /* -EINVAL: a set of the zone the copy refused (no rule of
                 * today's): a rejection, not a failure of this replica. */
                return result_fail(res, rv == -ENOMEM ? -ENOMEM : -EINVAL,
                                   "cannot stage the import: %s",
                                   c.err[0] ? c.err : "out of memory");
        }
        s->id = ctx->index;
        s->owner = b->owner;
        s->live = z;
        s->copied = z->rrsets.count > CS_STAGING_COPY_STEP ? 0 : z->rrsets.count;
        s->touched_ms = ctx->timestamp_ms;
        struct cs_staging **tail = &st->stagings;
        while (*tail != NULL)
                tail = &(*tail)->next;
        *tail = s;
        if (st->observer.staging_begun)
                st->observer.staging_begun(st->observer.ctx, s);
        return 0;
}

static struct cs_staging *staging_find(struct cs_state *st, uint64_t id,
                                       struct cs_result *res)
{
        for (struct cs_staging *s = st->stagings; s != NULL; s = s->next)
                if (s->id == id)
                        return s;
        result_fail(res, -ENOENT,
                    "no staged import %llu (aborted, committed, or idle for %u s)",
                    (unsigned long long)id, CS_STAGING_IDLE_MS / 1000);
        return NULL;
}

struct tell {
        struct cs_state *st;
        struct cs_staging *s;
};

static void tell_changed(void *arg, const struct cs_rrset_change *changes, size_t n)
{
        struct tell *t = arg;
        if (t->st->observer.staging_changed)
                t->st->observer.staging_changed(t->st->observer.ctx, t->s, changes, n);
}

/* Whether the copy holds the whole zone; else res says so. */
static bool copy_ready(struct cs_staging *s, struct cs_result *res)
{
        if (s->copied == s->live->rrsets.count)
                return true;
        result_fail(res, -EPROTO,
                    "the copy of the zone is not complete (%zu of %zu sets)", s->copied,
                    s->live->rrsets.count);
        return false;
}

int cs_state_stage_copy(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                        struct cs_result *res)
{
        cs_result_reset(res);
        res->index = ctx->index;
        st->last_index = ctx->index;
        struct cs_staging *s = staging_find(st, id, res);
        if (s == NULL)
                return res->status;
        if (s->failed || s->copied == s->live->rrsets.count)
                return result_fail(res, -EPROTO, "the copy of the zone is complete");
        s->touched_ms = ctx->timestamp_ms;
        /* This node's table order: nodes may copy different sets per step,
         * but every node's copy is whole after the same number of steps,
         * and nothing reads the copy before (copy_ready). */
        const struct pmap_flat *from = &s->live->rrsets;
        struct cs_rrset_change *changes = malloc(CS_STAGING_COPY_STEP * sizeof(*changes));
        if (changes == NULL)
                return result_fail(res, -ENOMEM, "out of memory copying the zone");
        struct copy c = {.to = s->shadow};
        size_t n = 0;
        int rv = 0;
        const struct cs_rrset *r;
        size_t at = s->copy_slot; /* where a failed copy resumes */
        for (; n < CS_STAGING_COPY_STEP &&
               (r = pmap_flat_next(from, &s->copy_slot)) != NULL;
             at = s->copy_slot) {
                if ((rv = copy_rrset(r, &c)) != 0) {
                        s->copy_slot = at;
                        break;
                }
                const struct cs_rrset *mine = cs_zone_rrset_get(
                    s->shadow, r->owner, r->owner_len, r->type, r->set_id);
                changes[n++] = (struct cs_rrset_change){mine->owner, mine->owner_len,
                                                        mine->type, mine->set_id, mine};
        }
        s->copied += n;
        if (n > 0 && st->observer.staging_changed)
                st->observer.staging_changed(st->observer.ctx, s, changes, n);
        free(changes);
        if (rv == -ENOMEM)
                return result_fail(res, -ENOMEM, "out of memory copying the zone");
        if (rv != 0) {
                s->failed = true;
                return result_fail(res, -EINVAL, "cannot stage the import: %s", c.err);
        }
        return 0;
}

int cs_state_stage_chunk(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_stage_chunk *c, struct cs_result *res)
{
        cs_result_reset(res);
        res->index = ctx->index;
        st->last_index = ctx->index;
        struct cs_staging *s = staging_find(st, c->id, res);
        if (s == NULL)
                return res->status;
        if (s->failed)
                return result_fail(res, -ECANCELED,
                                   "an earlier chunk of this import was rejected");
        if (!copy_ready(s, res)) {
                s->failed = true;
                return res->status;
        }
        if (c->seq != s->chunks + 1)
                return result_fail(res, -EPROTO, "chunk %u of the import, %u expected",
                                   c->seq, s->chunks + 1);
        if (cs_state_zone_get(st, c->batch.origin, c->batch.origin_len) != s->live)
                return result_fail(res, -EINVAL, "the chunk names another zone");
        s->touched_ms = ctx->timestamp_ms;
        struct tell t = {st, s};
        int rv = staged_batch_apply(st, s->shadow, &c->batch, res, tell_changed, &t);
        if (rv == -ENOMEM)
                return rv; /* the replica could not take it: fail-stop (fsm.c) */
        if (rv != 0) {
                s->failed = true;
                return rv;
        }
        s->chunks++;
        return 0;
}

int cs_state_stage_commit(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                          struct cs_result *res)
{
        cs_result_reset(res);
        res->index = ctx->index;
        st->last_index = ctx->index;
        struct cs_staging *s = staging_find(st, id, res);
        if (s == NULL)
                return res->status;
        if (s->failed)
                return result_fail(
                    res, -ECANCELED,
                    "a chunk of this import was rejected: nothing changed");
        if (!copy_ready(s, res))
                return res->status;
        struct cs_zone *z = s->live, *copy = s->shadow;
        uint32_t serial = z->serial + 1; /* RFC 1982: modulo 2^32 */
        struct rrset_key ks = {z->origin, z->origin_len, CS_TYPE_SOA, ""};
        uint64_t soa_hash = rrset_key_hash(&ks);
        const struct cs_rrset *soa =
            pmap_flat_get(&copy->rrsets, soa_hash, &ks, rrset_match);
        if (soa == NULL) /* batches never delete the apex SOA */
                return result_fail(res, -EINVAL, "the staged zone has no apex SOA");
        struct cs_rrset *fresh_soa = rrset_with_serial(soa, serial);
        struct cs_zone *husk = zone_new(z->origin, z->origin_len, "", "", 0, 0);
        struct cs_retired *gone = retired_new(RETIRED_ZONE, 1);
        struct cs_change *change = NULL;
        if (fresh_soa == NULL || husk == NULL || gone == NULL) {
                free(fresh_soa);
                if (husk != NULL)
                        zone_free(husk);
                free(gone);
                return result_fail(res, -ENOMEM, "out of memory committing the import");
        }
        struct cs_ctx cctx = *ctx;
        cctx.request_id = s->request_id; /* the change answers the import's retries */
        if (change_seen(st, &cctx, res)) {
                free(fresh_soa);
                zone_free(husk);
                free(gone);
                staging_drop(st, s);
                return res->status;
        }
        int rv = change_prepare(st, &cctx, CS_CHANGE_BATCH, z, &change, res);
        if (rv != 0) {
                free(fresh_soa);
                zone_free(husk);
                free(gone);
                return rv;
        }
        /* Nothing fails from here.  A snapshot view still being filled
         * takes the zone's sets as frozen before they are swapped. */
        cs_frozen_zone_touch(st, z);
        free(pmap_flat_put(&copy->rrsets, soa_hash, &ks, fresh_soa, rrset_match));
        husk->rrsets = z->rrsets;
        husk->owners = z->owners;
        husk->groups = z->groups;
        z->rrsets = copy->rrsets;
        st->rrset_total = st->rrset_total - husk->rrsets.count + z->rrsets.count;
        z->owners = copy->owners;
        z->groups = copy->groups;
        pmap_flat_init(&copy->rrsets);
        pmap_flat_init(&copy->owners);
        pmap_flat_init(&copy->groups);
        z->serial = serial;
        change_commit(st, &cctx, change, res);
        for (struct cs_staging **p = &st->stagings; *p != NULL; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        if (st->observer.staging_ended)
                st->observer.staging_ended(st->observer.ctx, s, z);
        staging_free(s);
        if (st->pins == 0) {
                free(gone);
                discard(st, husk); /* the old contents */
        } else {
                gone->items[gone->n++] = husk; /* a frozen view may read them */
                retire(st, gone);
        }
        return 0;
}

int cs_state_stage_abort(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                         struct cs_result *res)
{
        cs_result_reset(res);
        res->index = ctx->index;
        st->last_index = ctx->index;
        struct cs_staging *s = staging_find(st, id, res);
        if (s == NULL)
                return res->status;
        staging_drop(st, s);
        return 0;
}
