/*
 * batch.c — change batches: validate every action, then commit all or none.
 *
 * A batch is first validated completely against an overlay of the zone
 * (batch_validate.c), every error of every action recorded.  Only a batch
 * without errors is prepared — its new sets built from the overlay, table
 * room reserved, the apex SOA rebuilt with serial + 1 (RFC 1982) — and
 * committed, which cannot fail.  The same steps serve the replicated state
 * (cs_state_batch_apply, with a change record), and a staged import's copy
 * of a zone or a zone being created with its records (staged_batch_apply,
 * without one: on a zone the state does not serve yet).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/batch_validate.h"
#include "consensus/state.h"
#include "consensus/state_priv.h"
#include "consensus/wire.h"

static int check_batch_head(const struct cs_state *st, const struct cs_batch *b,
                            const struct cs_zone **zone, struct cs_result *res)
{
        *zone = cs_state_zone_get(st, b->origin, b->origin_len);
        if (*zone == NULL)
                return result_fail(res, -ENOENT, "no such zone");
        if (staging_holds(st, *zone))
                return result_fail(res, -EBUSY,
                                   "an import into this zone is being committed: the "
                                   "zone takes no other change until it is done; retry");
        if (b->n_actions == 0)
                return result_fail(res, -EINVAL,
                                   "a change batch needs at least one action");
        if (b->comment && strlen(b->comment) > CS_COMMENT_MAXLEN)
                return result_fail(res, -EINVAL, "comment longer than %d characters",
                                   CS_COMMENT_MAXLEN);
        return 0;
}

int cs_state_batch_check(const struct cs_state *st, const struct cs_batch *b,
                         struct cs_result *res)
{
        const struct cs_zone *zone;
        struct batch_work w;
        cs_result_reset(res);
        int rv = check_batch_head(st, b, &zone, res);
        if (rv != 0)
                return rv;
        if (batch_work_init(&w, st, zone, b) != 0)
                rv = result_fail(res, -ENOMEM, "out of memory validating the batch");
        else
                rv = batch_validate(&w, b, res);
        batch_work_fini(&w, false);
        return rv;
}

/* Builds the new sets, the new SOA and reserves all room; 0 or -ENOMEM. */
static int prepare(struct batch_work *w, struct cs_zone *z, uint32_t serial)
{
        uint8_t apex[CS_NAME_MAXLEN];
        memcpy(apex, z->origin, z->origin_len);
        struct rrset_key ks = {apex, z->origin_len, CS_TYPE_SOA, ""};
        struct pend *soa = batch_pend_get(w, &ks);
        size_t new_sets = 0, new_owners = 0;

        for (size_t i = 0; i < w->n_pend; i++) {
                struct pend *p = &w->pa[i];
                if (!p->exists)
                        continue;
                if (p->orig == NULL)
                        new_sets++;
                if (p == soa && !p->from_action)
                        p->built = rrset_with_serial(p->orig, serial);
                else if (p->from_action)
                        p->built =
                            rrset_new(&p->key, p->ttl, p->values, p->count, &p->routing);
                else
                        continue;
                if (p->built == NULL)
                        return -ENOMEM;
                if (p == soa)
                        cs_soa_set_serial((uint8_t *)p->built->values[0].data,
                                          p->built->values[0].len, serial);
        }
        for (size_t i = 0; i < w->n_pown; i++) {
                struct pown *o = &w->oa[i];
                if (o->orig == NULL && o->n_sets > 0) {
                        o->fresh = owner_new(o->owner, o->len);
                        if (o->fresh == NULL)
                                return -ENOMEM;
                        new_owners++;
                }
        }
        size_t new_groups = 0;
        for (size_t i = 0; i < w->n_group; i++) {
                struct pgroup *g = &w->ga[i];
                if (g->orig == NULL && g->n_sets > 0) {
                        g->fresh = group_new(g->owner, g->len, g->type);
                        if (g->fresh == NULL)
                                return -ENOMEM;
                        new_groups++;
                }
        }
        if (pmap_flat_reserve(&z->rrsets, new_sets) ||
            pmap_flat_reserve(&z->owners, new_owners) ||
            pmap_flat_reserve(&z->groups, new_groups))
                return -ENOMEM;
        return 0;
}

static void commit(struct batch_work *w, struct cs_zone *z,
                   struct cs_rrset_change *changes, size_t *n_changes, void **old,
                   size_t *n_old)
{
        *n_changes = *n_old = 0;
        for (size_t i = 0; i < w->n_pend; i++) {
                struct pend *p = &w->pa[i];
                struct cs_rrset_change *c = &changes[*n_changes];
                if (p->exists && p->built) {
                        struct cs_rrset *prev = pmap_flat_put(
                            &z->rrsets, p->hash, &p->key, p->built, rrset_match);
                        if (prev)
                                old[(*n_old)++] = prev;
                        c->rrset = p->built;
                } else if (!p->exists && p->orig) {
                        old[(*n_old)++] =
                            pmap_flat_del(&z->rrsets, p->hash, &p->key, rrset_match);
                        c->rrset = NULL;
                } else {
                        continue;
                }
                c->owner = p->owner;
                c->owner_len = p->key.owner_len;
                c->type = p->key.type;
                c->set_id = p->key.set_id;
                (*n_changes)++;
        }
        for (size_t i = 0; i < w->n_pown; i++) {
                struct pown *o = &w->oa[i];
                struct owner_key k = {o->owner, o->len};
                if (o->orig && o->n_sets == 0) {
                        free(pmap_flat_del(&z->owners, o->hash, &k, owner_match));
                } else if (o->orig) {
                        o->orig->n_sets = (uint32_t)o->n_sets;
                        o->orig->n_cname = (uint32_t)o->n_cname;
                } else if (o->fresh) {
                        o->fresh->n_sets = (uint32_t)o->n_sets;
                        o->fresh->n_cname = (uint32_t)o->n_cname;
                        pmap_flat_put(&z->owners, o->hash, &k, o->fresh, owner_match);
                }
        }
        for (size_t i = 0; i < w->n_group; i++) {
                struct pgroup *g = &w->ga[i];
                struct group_key k = {g->owner, g->len, g->type};
                struct cs_group *to = g->orig ? g->orig : g->fresh;
                if (g->orig && g->n_sets == 0) {
                        free(pmap_flat_del(&z->groups, g->hash, &k, group_match));
                        continue;
                }
                if (to == NULL)
                        continue;
                to->n_sets = g->n_sets;
                memcpy(to->n_policy, g->n_policy, sizeof(to->n_policy));
                to->n_primary = g->n_primary;
                to->n_secondary = g->n_secondary;
                if (to == g->fresh)
                        pmap_flat_put(&z->groups, g->hash, &k, g->fresh, group_match);
        }
}

int cs_state_batch_apply(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_batch *b, struct cs_result *res)
{
        const struct cs_zone *czone;
        struct cs_change *change = NULL;
        struct cs_rrset_change *changes = NULL;
        struct cs_retired *old = NULL;
        size_t n_changes, n_old;
        struct batch_work w;
        int rv;

        cs_result_reset(res);
        res->index = ctx->index;
        st->last_index = ctx->index;
        if (change_seen(st, ctx, res))
                return 0;
        rv = check_batch_head(st, b, &czone, res);
        if (rv != 0)
                return rv;
        struct cs_zone *z = (struct cs_zone *)czone;
        if (batch_work_init(&w, st, z, b) != 0) {
                rv = result_fail(res, -ENOMEM, "out of memory validating the batch");
                goto out;
        }
        rv = batch_validate(&w, b, res);
        if (rv != 0)
                goto out;
        uint32_t serial = z->serial + 1; /* RFC 1982: modulo 2^32 */
        /* A snapshot view being filled takes the zone's sets before they
         * change (its tables may grow in prepare). */
        cs_frozen_zone_touch(st, z);
        if (prepare(&w, z, serial) != 0 ||
            (changes = malloc(w.n_pend * sizeof(*changes))) == NULL ||
            (old = retired_new(RETIRED_RRSETS, w.n_pend)) == NULL) {
                rv = result_fail(res, -ENOMEM, "out of memory applying the batch");
                goto out;
        }
        rv = change_prepare(st, ctx, CS_CHANGE_BATCH, z, &change, res);
        if (rv != 0)
                goto out;

        size_t sets_before = z->rrsets.count;
        commit(&w, z, changes, &n_changes, old->items, &n_old);
        st->rrset_total = st->rrset_total - sets_before + z->rrsets.count;
        z->serial = serial;
        change_commit(st, ctx, change, res);
        if (st->observer.rrsets_changed)
                st->observer.rrsets_changed(st->observer.ctx, z, changes, n_changes);
        old->n = n_old;
        retire(st, old); /* freed now, or once no frozen snapshot reads them */
        batch_work_fini(&w, true);
        free(changes);
        return 0;
out:
        batch_work_fini(&w, false);
        free(changes);
        free(old);
        return rv;
}

int staged_batch_apply(struct cs_state *st, struct cs_zone *z, const struct cs_batch *b,
                       struct cs_result *res, staged_changed_fn changed, void *ctx)
{
        struct cs_rrset_change *changes = NULL;
        struct cs_retired *old = NULL;
        size_t n_changes, n_old;
        struct batch_work w;
        int rv;

        if (b->n_actions == 0)
                return result_fail(res, -EINVAL,
                                   "a change batch needs at least one action");
        if (batch_work_init(&w, st, z, b) != 0) {
                rv = result_fail(res, -ENOMEM, "out of memory validating the batch");
                goto out;
        }
        rv = batch_validate(&w, b, res);
        if (rv != 0)
                goto out;
        /* The copy's serial moves per chunk; the commit sets the zone's. */
        uint32_t serial = z->serial + 1;
        if (prepare(&w, z, serial) != 0 ||
            (changes = malloc(w.n_pend * sizeof(*changes))) == NULL ||
            (old = retired_new(RETIRED_RRSETS, w.n_pend)) == NULL) {
                rv = result_fail(res, -ENOMEM, "out of memory applying the batch");
                goto out;
        }
        commit(&w, z, changes, &n_changes, old->items, &n_old);
        z->serial = serial;
        if (changed != NULL)
                changed(ctx, changes, n_changes);
        old->n = n_old;
        retire(st, old); /* freed now, or once no frozen snapshot reads them */
        batch_work_fini(&w, true);
        free(changes);
        return 0;
out:
        batch_work_fini(&w, false);
        free(changes);
        free(old);
        return rv;
}
