/*
 * members.c — the member table of the replicated state: each node's id,
 * name, raft, DNS and API addresses and role, sorted by id, so that any node
 * can find the leader's API and show the cluster.
 */
#include "consensus/state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/state_priv.h"
#include "consensus/wire.h"

void member_clear(struct cs_member *m)
{
        free(m->name);
        free(m->raft_address);
        free(m->dns_address);
        free(m->api_address);
}

/* ---- members ------------------------------------------------------------ */

const struct cs_member *cs_state_member_get(const struct cs_state *st, uint64_t id)
{
        for (size_t i = 0; i < st->n_members; i++)
                if (st->members[i].id == id)
                        return &st->members[i];
        return NULL;
}

int cs_state_member_put(struct cs_state *st, const struct cs_ctx *ctx,
                        const struct cs_member_spec *spec, struct cs_result *res)
{
        cs_result_reset(res);
        if (ctx) {
                res->index = ctx->index;
                st->last_index = ctx->index;
        }
        if (spec->id == 0)
                return result_fail(res, -EINVAL, "member id 0 is reserved");
        if (spec->role != CS_ROLE_VOTER && spec->role != CS_ROLE_STANDBY &&
            spec->role != CS_ROLE_SPARE)
                return result_fail(res, -EINVAL, "unknown member role %d",
                                   (int)spec->role);
        if (!str_ok(spec->name, 255) || !str_ok(spec->raft_address, 255) ||
            !str_ok(spec->dns_address, 255) || !str_ok(spec->api_address, 255))
                return result_fail(res, -EINVAL, "member name or address too long");
        struct cs_member m = {.id = spec->id, .role = spec->role};
        m.name = str_dup(spec->name);
        m.raft_address = str_dup(spec->raft_address);
        m.dns_address = str_dup(spec->dns_address);
        m.api_address = str_dup(spec->api_address);
        if (!m.name || !m.raft_address || !m.dns_address || !m.api_address)
                goto nomem;
        size_t i = 0;
        while (i < st->n_members && st->members[i].id < spec->id)
                i++;
        if (i < st->n_members && st->members[i].id == spec->id) {
                member_clear(&st->members[i]);
                st->members[i] = m;
        } else {
                struct cs_member *a =
                    realloc(st->members, (st->n_members + 1) * sizeof(*a));
                if (a == NULL)
                        goto nomem;
                st->members = a;
                memmove(a + i + 1, a + i, (st->n_members - i) * sizeof(*a));
                a[i] = m;
                st->n_members++;
        }
        if (st->observer.members_changed)
                st->observer.members_changed(st->observer.ctx, st);
        return 0;
nomem:
        member_clear(&m);
        return result_fail(res, -ENOMEM, "out of memory");
}

int cs_state_member_remove(struct cs_state *st, const struct cs_ctx *ctx, uint64_t id,
                           struct cs_result *res)
{
        cs_result_reset(res);
        if (ctx) {
                res->index = ctx->index;
                st->last_index = ctx->index;
        }
        for (size_t i = 0; i < st->n_members; i++) {
                if (st->members[i].id != id)
                        continue;
                member_clear(&st->members[i]);
                memmove(&st->members[i], &st->members[i + 1],
                        (st->n_members - i - 1) * sizeof(st->members[0]));
                st->n_members--;
                if (st->observer.members_changed)
                        st->observer.members_changed(st->observer.ctx, st);
                return 0;
        }
        return result_fail(res, -ENOENT, "no member %" PRIu64, id);
}
