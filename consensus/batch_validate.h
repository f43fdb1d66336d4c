/*
 * batch_validate.h — the overlay a change batch is validated against, shared
 * by the validation (batch_validate.c) and the commit (batch.c).
 *
 * batch_validate() walks the actions in order; each sees the effect of the
 * earlier ones on three small tables: the record sets the batch touches
 * ("pends"), their owner names and their (owner, type) groups.  When no
 * action failed, batch.c builds the new contents from the same tables and
 * commits them.  Not for use outside consensus/.
 */
#ifndef CONSENSUS_BATCH_VALIDATE_H
#define CONSENSUS_BATCH_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/state.h"
#include "consensus/state_priv.h"

/* One record set the batch touches, as its actions so far leave it. */
struct pend {
        uint64_t hash;
        struct rrset_key key; /* key.owner points to owner[] */
        uint8_t owner[CS_NAME_MAXLEN];
        const struct cs_rrset *orig; /* the set in the zone, or NULL */
        bool exists;                 /* after the actions seen so far */
        bool from_action;            /* content below set by an action */
        uint32_t ttl;
        const struct cs_rdata *values; /* sorted */
        size_t count;
        struct cs_routing routing;
        bool put_here;          /* created or upserted by this batch (since a delete) */
        struct cs_rrset *built; /* prepared new contents */
};

/* The sets of one (owner, type) as the batch leaves them. */
struct pgroup {
        uint64_t hash;
        uint8_t owner[CS_NAME_MAXLEN];
        uint16_t len;
        uint16_t type;
        struct cs_group *orig;
        uint32_t n_sets, n_policy[CS_POLICY_COUNT], n_primary, n_secondary;
        uint32_t last_action;
        struct cs_group *fresh;
};

/* The counters of one owner name the batch touches (the CNAME rule). */
struct pown {
        uint64_t hash;
        uint8_t owner[CS_NAME_MAXLEN];
        uint16_t len;
        struct cs_owner *orig;
        long n_sets, n_cname;
        uint32_t last_action;
        struct cs_owner *fresh;
};

/* The overlay of one batch on its zone, and every action's sorted values. */
struct batch_work {
        const struct cs_state *st;
        const struct cs_zone *zone;
        struct pmap_flat pends, powns, pgroups;
        struct pend *pa;
        size_t n_pend;
        struct pown *oa;
        size_t n_pown;
        struct pgroup *ga;
        size_t n_group;
        bool *ok;                /* action i is well formed */
        struct cs_rdata *sorted; /* every action's values, sorted per action */
        size_t *slice;           /* offset of action i in sorted */
};

/* Room for b's actions in zone of st; 0 or -ENOMEM (batch_work_fini frees
 * what was allocated either way).  st and zone are borrowed. */
int batch_work_init(struct batch_work *w, const struct cs_state *st,
                    const struct cs_zone *zone, const struct cs_batch *b);
/* Frees the overlay; committed: the built sets now belong to the zone. */
void batch_work_fini(struct batch_work *w, bool committed);
/* The pend of key, made from the zone's set (if any) the first time. */
struct pend *batch_pend_get(struct batch_work *w, const struct rrset_key *key);
/* Every check of every action, errors in res; 0 or -EINVAL. */
int batch_validate(struct batch_work *w, const struct cs_batch *b, struct cs_result *res);

#endif
