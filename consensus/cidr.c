/*
 * cidr.c — CIDR collections of the replicated state (see cidr.h).
 *
 * A change is applied in three steps.  Its actions become one list of
 * operations (block, location, kind, order), sorted by block; each
 * location the change names is resolved once to its index, new names to
 * the indexes after the existing ones.  One merge pass then walks the
 * collection's sorted entries and the sorted operations together: the
 * operations on a block run in the change's order against the block's
 * current location (PUT of a block that another location holds is an
 * error; DELETE_IF_EXISTS removes it only from the location it names), and
 * the result goes into a new sorted array.  Last, locations left without
 * blocks are dropped (refused while a record set names them) and indexes
 * renumbered.  Nothing of the collection changes until every check passed.
 */
#include "consensus/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/state_priv.h"

#define NONE UINT32_MAX

static unsigned width_of(uint8_t family)
{
        return family == 4 ? 32 : 128;
}

/* ---- blocks and names --------------------------------------------------- */

bool cs_cidr_name_ok(const char *s, size_t max)
{
        size_t n = s ? strnlen(s, max + 1) : 0;
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static bool block_masked(const struct cs_cidr_block *b)
{
        unsigned w = width_of(b->family);
        for (unsigned i = b->len; i < 128; i++)
                if ((b->addr[i / 8] >> (7 - i % 8)) & 1)
                        return false;
        return (b->family == 4 || b->family == 6) && b->len <= w;
}

int cs_cidr_block_parse(const char *text, struct cs_cidr_block *out, char *err,
                        size_t errlen)
{
        char buf[64];
        memset(out, 0, sizeof(*out));
        const char *slash = text ? strchr(text, '/') : NULL;
        if (slash == NULL || (size_t)(slash - text) >= sizeof(buf)) {
                snprintf(err, errlen, "'%s' is not a CIDR block (address/length)",
                         text ? text : "");
                return -EINVAL;
        }
        memcpy(buf, text, (size_t)(slash - text));
        buf[slash - text] = '\0';
        if (inet_pton(AF_INET, buf, out->addr) == 1)
                out->family = 4;
        else if (inet_pton(AF_INET6, buf, out->addr) == 1)
                out->family = 6;
        else {
                snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address", buf);
                return -EINVAL;
        }
        const char *p = slash + 1;
        unsigned len = 0;
        if (*p == '\0' || strlen(p) > 3) {
                snprintf(err, errlen, "'%s': the prefix length is missing or too long",
                         text);
                return -EINVAL;
        }
        for (; *p; p++) {
                if (*p < '0' || *p > '9') {
                        snprintf(err, errlen, "'%s': the prefix length is not a number",
                                 text);
                        return -EINVAL;
                }
                len = len * 10 + (unsigned)(*p - '0');
        }
        if (len > width_of(out->family)) {
                snprintf(err, errlen, "'%s': prefix length %u is longer than /%u", text,
                         len, width_of(out->family));
                return -EINVAL;
        }
        out->len = (uint8_t)len;
        if (!block_masked(out)) {
                snprintf(err, errlen,
                         "'%s': bits are set past the prefix length (write the "
                         "network address)",
                         text);
                return -EINVAL;
        }
        return 0;
}

void cs_cidr_block_text(const struct cs_cidr_block *b, char *out, size_t len)
{
        char addr[INET6_ADDRSTRLEN];
        if (inet_ntop(b->family == 4 ? AF_INET : AF_INET6, b->addr, addr, sizeof(addr)) ==
            NULL)
                snprintf(addr, sizeof(addr), "?");
        snprintf(out, len, "%s/%u", addr, b->len);
}

int cs_cidr_block_cmp(const struct cs_cidr_block *a, const struct cs_cidr_block *b)
{
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        int c = memcmp(a->addr, b->addr, 16);
        if (c != 0)
                return c;
        return a->len < b->len ? -1 : a->len > b->len;
}

/* ---- the table ---------------------------------------------------------- */

static void collection_free(struct cs_cidr_collection *c)
{
        if (c == NULL)
                return;
        free(c->locations);
        free(c->entries);
        free(c);
}

void cs_cidr_table_fini(struct cs_cidr_table *t)
{
        for (size_t i = 0; i < t->count; i++)
                collection_free(t->items[i]);
        free(t->items);
        memset(t, 0, sizeof(*t));
}

void cs_state_set_cidr_observer(struct cs_state *st, const struct cs_cidr_observer *obs)
{
        if (obs)
                st->cidr.observer = *obs;
        else
                memset(&st->cidr.observer, 0, sizeof(st->cidr.observer));
}

/* Index where id is or would go. */
static size_t find_index(const struct cs_cidr_table *t, const char *id, bool *found)
{
        size_t lo = 0, hi = t->count;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(t->items[mid]->id, id);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

size_t cs_state_cidr_count(const struct cs_state *st)
{
        return st->cidr.count;
}

const struct cs_cidr_collection *cs_state_cidr_at(const struct cs_state *st, size_t i)
{
        return i < st->cidr.count ? st->cidr.items[i] : NULL;
}

const struct cs_cidr_collection *cs_state_cidr_get(const struct cs_state *st,
                                                   const char *id)
{
        bool found;
        if (id == NULL)
                return NULL;
        size_t i = find_index(&st->cidr, id, &found);
        return found ? st->cidr.items[i] : NULL;
}

static uint32_t location_index(const struct cs_cidr_collection *c, const char *name)
{
        for (size_t i = 0; i < c->n_locations; i++)
                if (strcmp(c->locations[i].name, name) == 0)
                        return (uint32_t)i;
        return NONE;
}

const struct cs_cidr_location *cs_cidr_location_get(const struct cs_cidr_collection *c,
                                                    const char *name)
{
        uint32_t i = name ? location_index(c, name) : NONE;
        return i == NONE ? NULL : &c->locations[i];
}

static int order_cmp(const void *a, const void *b, void *arg)
{
        const struct cs_cidr_collection *c = arg;
        return strcmp(c->locations[*(const uint32_t *)a].name,
                      c->locations[*(const uint32_t *)b].name);
}

void cs_cidr_location_order(const struct cs_cidr_collection *c, uint32_t *out)
{
        for (size_t i = 0; i < c->n_locations; i++)
                out[i] = (uint32_t)i;
        qsort_r(out, c->n_locations, sizeof(*out), order_cmp, (void *)c);
}

static void notify(struct cs_state *st, const char *id,
                   const struct cs_cidr_collection *c)
{
        const struct cs_cidr_observer *o = &st->cidr.observer;
        if (o->collection_changed)
                o->collection_changed(o->ctx, id, c);
}

/* ---- who uses a collection ---------------------------------------------- */

struct user_scan {
        const char *id;
        const char *location; /* NULL: any */
        const struct cs_rrset *found;
};

static int rrset_uses(const struct cs_rrset *r, void *arg)
{
        struct user_scan *u = arg;
        if (!r->routing->has_cidr || strcmp(r->routing->cidr_collection, u->id) != 0)
                return 0;
        if (u->location != NULL && strcmp(r->routing->cidr_location, u->location) != 0)
                return 0;
        u->found = r;
        return 1;
}

static int zone_uses(const struct cs_zone *z, void *arg)
{
        return cs_zone_foreach_rrset(z, rrset_uses, arg);
}

/* The record set naming (id, location), or NULL; O(record sets). */
static const struct cs_rrset *user_of(const struct cs_state *st, const char *id,
                                      const char *location)
{
        struct user_scan u = {id, location, NULL};
        cs_state_foreach_zone(st, zone_uses, &u);
        return u.found;
}

static int busy(struct cs_result *res, const struct cs_rrset *r, const char *what)
{
        char owner[CS_NAME_MAXLEN * 4 + 1];
        cs_name_text(r->owner, r->owner_len, owner, sizeof(owner));
        return result_fail(res, -EBUSY,
                           "%s is in use by the record set %s (set identifier '%s'): "
                           "change its cidr_routing_config first",
                           what, owner, r->set_id);
}

/* ---- create and delete -------------------------------------------------- */

/* Every command counts as applied, refused or not. */
static void begin(struct cs_state *st, const struct cs_ctx *ctx, struct cs_result *res)
{
        cs_result_reset(res);
        if (ctx) {
                res->index = ctx->index;
                st->last_index = ctx->index;
        }
}

int cs_state_cidr_create(struct cs_state *st, const struct cs_ctx *ctx, const char *id,
                         const char *name, struct cs_result *res)
{
        bool found;
        begin(st, ctx, res);
        if (!cs_cidr_name_ok(id, CS_CIDR_ID_MAXLEN))
                return result_fail(res, -EINVAL,
                                   "collection id: 1 to %d of A-Z a-z 0-9 _ -",
                                   CS_CIDR_ID_MAXLEN);
        if (!cs_cidr_name_ok(name, CS_CIDR_NAME_MAXLEN))
                return result_fail(res, -EINVAL, "name: 1 to %d of A-Z a-z 0-9 _ -",
                                   CS_CIDR_NAME_MAXLEN);
        size_t at = find_index(&st->cidr, id, &found);
        if (found)
                return result_fail(res, -EEXIST, "collection %s exists", id);
        for (size_t i = 0; i < st->cidr.count; i++)
                if (strcmp(st->cidr.items[i]->name, name) == 0)
                        return result_fail(res, -EEXIST,
                                           "a collection named '%s' exists (id %s)", name,
                                           st->cidr.items[i]->id);
        if (st->cidr.count >= CS_CIDR_COLLECTIONS_MAX)
                return result_fail(res, -ENOSPC, "at most %d collections",
                                   CS_CIDR_COLLECTIONS_MAX);
        struct cs_cidr_collection *c = calloc(1, sizeof(*c));
        if (c == NULL)
                return result_fail(res, -ENOMEM, "out of memory");
        if (st->cidr.count == st->cidr.cap) {
                size_t cap = st->cidr.cap ? st->cidr.cap * 2 : 8;
                struct cs_cidr_collection **grown =
                    realloc(st->cidr.items, cap * sizeof(*grown));
                if (grown == NULL) {
                        free(c);
                        return result_fail(res, -ENOMEM, "out of memory");
                }
                st->cidr.items = grown;
                st->cidr.cap = cap;
        }
        snprintf(c->id, sizeof(c->id), "%s", id);
        snprintf(c->name, sizeof(c->name), "%s", name);
        c->version = 1;
        c->created_ms = c->updated_ms = ctx ? ctx->timestamp_ms : 0;
        memmove(&st->cidr.items[at + 1], &st->cidr.items[at],
                (st->cidr.count - at) * sizeof(*st->cidr.items));
        st->cidr.items[at] = c;
        st->cidr.count++;
        notify(st, c->id, c);
        return 0;
}

int cs_state_cidr_delete(struct cs_state *st, const struct cs_ctx *ctx, const char *id,
                         struct cs_result *res)
{
        bool found;
        begin(st, ctx, res);
        size_t at = id ? find_index(&st->cidr, id, &found) : 0;
        if (id == NULL || !found)
                return result_fail(res, -ENOENT, "no collection %s", id ? id : "");
        const struct cs_rrset *user = user_of(st, id, NULL);
        if (user != NULL) {
                char what[CS_CIDR_ID_MAXLEN + 16];
                snprintf(what, sizeof(what), "collection %s", id);
                return busy(res, user, what);
        }
        struct cs_cidr_collection *c = st->cidr.items[at];
        memmove(&st->cidr.items[at], &st->cidr.items[at + 1],
                (st->cidr.count - at - 1) * sizeof(*st->cidr.items));
        st->cidr.count--;
        char copy[CS_CIDR_ID_MAXLEN + 1];
        snprintf(copy, sizeof(copy), "%s", c->id);
        collection_free(c);
        notify(st, copy, NULL);
        return 0;
}

/* ---- changes ------------------------------------------------------------ */

struct op {
        struct cs_cidr_block block;
        uint32_t location; /* index: existing, or n_locations + k for new names */
        uint32_t seq;      /* order in the change */
        uint32_t action;
        uint8_t kind;
};

static int op_cmp(const void *pa, const void *pb)
{
        const struct op *a = pa, *b = pb;
        int c = cs_cidr_block_cmp(&a->block, &b->block);
        if (c != 0)
                return c;
        return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* What a change is being turned into. */
struct plan {
        struct op *ops;
        size_t n_ops;
        char (*names)[CS_CIDR_LOCATION_MAXLEN + 1]; /* every location, old then new */
        size_t n_names;
        size_t *counts; /* blocks per location after the change */
        struct cs_cidr_entry *entries;
        size_t n_entries;
};

static void plan_free(struct plan *p)
{
        free(p->ops);
        free(p->names);
        free(p->counts);
        free(p->entries);
}

/* Validates the actions and lists their operations. */
static int plan_ops(const struct cs_cidr_collection *c,
                    const struct cs_cidr_change *change, struct plan *p,
                    struct cs_result *res)
{
        size_t total = 0, new_names = 0;
        for (size_t i = 0; i < change->n_actions; i++) {
                const struct cs_cidr_action *a = &change->actions[i];
                if (a->kind != CS_CIDR_PUT && a->kind != CS_CIDR_DELETE_IF_EXISTS)
                        result_error(res, (uint32_t)i, "action",
                                     "must be PUT or DELETE_IF_EXISTS");
                if (!cs_cidr_name_ok(a->location, CS_CIDR_LOCATION_MAXLEN))
                        result_error(res, (uint32_t)i, "location_name",
                                     "1 to %d of A-Z a-z 0-9 _ - (\"*\" is not a "
                                     "location: it names the default in record sets)",
                                     CS_CIDR_LOCATION_MAXLEN);
                if (a->count == 0)
                        result_error(res, (uint32_t)i, "cidr_list",
                                     "give at least one CIDR block");
                for (size_t k = 0; k < a->count; k++)
                        if (!block_masked(&a->blocks[k])) {
                                result_error(res, (uint32_t)i, "cidr_list",
                                             "block %zu is not a valid network", k);
                                break;
                        }
                total += a->count;
        }
        if (change->n_actions == 0)
                result_error(res, CS_ERROR_BATCH, "changes", "give at least one change");
        if (total > CS_CIDR_CHANGE_MAX)
                result_error(res, CS_ERROR_BATCH, "changes",
                             "%zu CIDR blocks in one change: at most %d", total,
                             CS_CIDR_CHANGE_MAX);
        if (res->n_errors > 0)
                return result_fail(res, -EINVAL, "the change is invalid");

        p->names = malloc((c->n_locations + change->n_actions + 1) * sizeof(*p->names));
        p->ops = malloc((total ? total : 1) * sizeof(*p->ops));
        if (p->names == NULL || p->ops == NULL)
                return result_fail(res, -ENOMEM, "out of memory");
        for (size_t i = 0; i < c->n_locations; i++)
                memcpy(p->names[i], c->locations[i].name, sizeof(p->names[i]));
        p->n_names = c->n_locations;
        uint32_t seq = 0;
        for (size_t i = 0; i < change->n_actions; i++) {
                const struct cs_cidr_action *a = &change->actions[i];
                uint32_t loc = NONE;
                for (size_t k = 0; k < p->n_names && loc == NONE; k++)
                        if (strcmp(p->names[k], a->location) == 0)
                                loc = (uint32_t)k;
                if (loc == NONE) {
                        loc = (uint32_t)p->n_names++;
                        snprintf(p->names[loc], sizeof(p->names[loc]), "%s", a->location);
                        new_names++;
                }
                for (size_t k = 0; k < a->count; k++) {
                        struct op *o = &p->ops[p->n_ops++];
                        o->block = a->blocks[k];
                        o->location = loc;
                        o->seq = seq++;
                        o->action = (uint32_t)i;
                        o->kind = (uint8_t)a->kind;
                }
        }
        (void)new_names;
        qsort(p->ops, p->n_ops, sizeof(*p->ops), op_cmp);
        return 0;
}

/* Merges the sorted entries with the sorted operations into p->entries. */
static int plan_merge(const struct cs_cidr_collection *c, struct plan *p,
                      struct cs_result *res)
{
        p->counts = calloc(p->n_names + 1, sizeof(*p->counts));
        p->entries = malloc((c->n_entries + p->n_ops + 1) * sizeof(*p->entries));
        if (p->counts == NULL || p->entries == NULL)
                return result_fail(res, -ENOMEM, "out of memory");
        for (size_t i = 0; i < c->n_locations; i++)
                p->counts[i] = c->locations[i].blocks;
        size_t e = 0, o = 0, n = 0;
        while (o < p->n_ops) {
                const struct cs_cidr_block *b = &p->ops[o].block;
                while (e < c->n_entries && cs_cidr_block_cmp(&c->entries[e].block, b) < 0)
                        p->entries[n++] = c->entries[e++];
                uint32_t was = NONE;
                if (e < c->n_entries && cs_cidr_block_cmp(&c->entries[e].block, b) == 0)
                        was = c->entries[e++].location;
                uint32_t cur = was;
                for (; o < p->n_ops && cs_cidr_block_cmp(&p->ops[o].block, b) == 0; o++) {
                        const struct op *op = &p->ops[o];
                        if (op->kind == CS_CIDR_DELETE_IF_EXISTS) {
                                if (cur == op->location)
                                        cur = NONE;
                        } else if (cur == NONE) {
                                cur = op->location;
                        } else if (cur != op->location) {
                                char text[64];
                                cs_cidr_block_text(b, text, sizeof(text));
                                result_error(res, op->action, "cidr_list",
                                             "%s is already in location '%s' (a block "
                                             "belongs to one location: delete it there "
                                             "first)",
                                             text, p->names[cur]);
                        }
                }
                if (was != NONE)
                        p->counts[was]--;
                if (cur != NONE) {
                        p->counts[cur]++;
                        p->entries[n].block = *b;
                        p->entries[n].location = cur;
                        n++;
                }
        }
        while (e < c->n_entries)
                p->entries[n++] = c->entries[e++];
        p->n_entries = n;
        if (res->n_errors > 0)
                return result_fail(res, -EINVAL, "the change is invalid");
        if (n > CS_CIDR_BLOCKS_MAX)
                return result_fail(
                    res, -ENOSPC, "the collection would hold %zu CIDR blocks: at most %d",
                    n, CS_CIDR_BLOCKS_MAX);
        return 0;
}

int cs_state_cidr_change(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_cidr_change *change, struct cs_result *res)
{
        bool found;
        begin(st, ctx, res);
        size_t at = change->id ? find_index(&st->cidr, change->id, &found) : 0;
        if (change->id == NULL || !found)
                return result_fail(res, -ENOENT, "no collection %s",
                                   change->id ? change->id : "");
        struct cs_cidr_collection *c = st->cidr.items[at];
        if (change->has_version && change->version != c->version)
                return result_fail(res, -ESTALE,
                                   "collection %s is at version %llu, the change was "
                                   "made for version %llu",
                                   c->id, (unsigned long long)c->version,
                                   (unsigned long long)change->version);
        struct plan p = {0};
        int rv = plan_ops(c, change, &p, res);
        if (rv == 0)
                rv = plan_merge(c, &p, res);
        if (rv != 0) {
                plan_free(&p);
                return rv;
        }
        /* Locations left empty go; one a record set names stays (refused). */
        uint32_t *remap = malloc((p.n_names + 1) * sizeof(*remap));
        struct cs_cidr_location *locs = malloc((p.n_names + 1) * sizeof(*locs));
        if (remap == NULL || locs == NULL) {
                free(remap);
                free(locs);
                plan_free(&p);
                return result_fail(res, -ENOMEM, "out of memory");
        }
        size_t kept = 0;
        for (size_t i = 0; i < p.n_names; i++) {
                if (p.counts[i] == 0) {
                        remap[i] = NONE;
                        const struct cs_rrset *user =
                            i < c->n_locations ? user_of(st, c->id, p.names[i]) : NULL;
                        if (user != NULL) {
                                char what[80];
                                snprintf(what, sizeof(what),
                                         "location '%s' would be left without blocks: it",
                                         p.names[i]);
                                rv = busy(res, user, what);
                                break;
                        }
                        continue;
                }
                remap[i] = (uint32_t)kept;
                memcpy(locs[kept].name, p.names[i], sizeof(locs[kept].name));
                locs[kept].blocks = p.counts[i];
                kept++;
        }
        if (rv == 0 && kept > CS_CIDR_LOCATIONS_MAX)
                rv = result_fail(res, -ENOSPC, "at most %d locations in a collection",
                                 CS_CIDR_LOCATIONS_MAX);
        if (rv != 0) {
                free(remap);
                free(locs);
                plan_free(&p);
                return rv;
        }
        for (size_t i = 0; i < p.n_entries; i++)
                p.entries[i].location = remap[p.entries[i].location];
        free(remap);
        free(c->locations);
        free(c->entries);
        c->locations = locs;
        c->n_locations = kept;
        c->entries = p.entries;
        c->n_entries = p.n_entries;
        p.entries = NULL;
        plan_free(&p);
        c->version++;
        if (ctx)
                c->updated_ms = ctx->timestamp_ms;
        notify(st, c->id, c);
        return 0;
}

/* ---- restore ------------------------------------------------------------ */

int cs_state_cidr_restore(struct cs_state *st, const struct cs_cidr_collection *src,
                          char *err, size_t errlen)
{
        struct cs_result res;
        cs_result_init(&res);
        int rv = cs_state_cidr_create(st, NULL, src->id, src->name, &res);
        if (rv != 0) {
                snprintf(err, errlen, "collection: %s", res.message);
                cs_result_fini(&res);
                return rv;
        }
        cs_result_fini(&res);
        struct cs_cidr_collection *c =
            (struct cs_cidr_collection *)cs_state_cidr_get(st, src->id);
        if (src->n_locations > CS_CIDR_LOCATIONS_MAX ||
            src->n_entries > CS_CIDR_BLOCKS_MAX) {
                snprintf(err, errlen, "collection %s is too large", src->id);
                return -EINVAL;
        }
        c->locations = malloc((src->n_locations + 1) * sizeof(*c->locations));
        c->entries = malloc((src->n_entries + 1) * sizeof(*c->entries));
        if (c->locations == NULL || c->entries == NULL) {
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        for (size_t i = 0; i < src->n_locations; i++) {
                c->locations[i] = src->locations[i];
                c->locations[i].blocks = 0;
                if (!cs_cidr_name_ok(c->locations[i].name, CS_CIDR_LOCATION_MAXLEN) ||
                    (i > 0 &&
                     strcmp(c->locations[i - 1].name, c->locations[i].name) >= 0)) {
                        snprintf(err, errlen, "collection %s: locations are not in order",
                                 src->id);
                        return -EINVAL;
                }
        }
        c->n_locations = src->n_locations;
        for (size_t i = 0; i < src->n_entries; i++) {
                const struct cs_cidr_entry *e = &src->entries[i];
                if (!block_masked(&e->block) || e->location >= src->n_locations ||
                    (i > 0 &&
                     cs_cidr_block_cmp(&src->entries[i - 1].block, &e->block) >= 0)) {
                        snprintf(err, errlen,
                                 "collection %s: block %zu is invalid or out of order",
                                 src->id, i);
                        return -EINVAL;
                }
                c->entries[i] = *e;
                c->locations[e->location].blocks++;
        }
        c->n_entries = src->n_entries;
        for (size_t i = 0; i < c->n_locations; i++)
                if (c->locations[i].blocks == 0) {
                        snprintf(err, errlen,
                                 "collection %s: location '%s' has no blocks", src->id,
                                 c->locations[i].name);
                        return -EINVAL;
                }
        c->version = src->version;
        c->created_ms = src->created_ms;
        c->updated_ms = src->updated_ms;
        return 0;
}
