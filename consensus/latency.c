/*
 * latency.c — the replicated latency map (see latency.h).
 *
 * Entries live in a hash table keyed by (prefix, region).  PUT and DELETE
 * validate the whole batch first (every error collected, the table
 * reserved) and then commit, so a refused batch changes nothing; MEASURED
 * first drops measured values that aged out at the command's leader time,
 * then folds in the node's prefixes, skipping what is malformed or over
 * the bounds (a node's report is advice, not an operator's order).
 */
#include "consensus/latency.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/state_priv.h"

struct key {
        const struct cs_latency_prefix *prefix;
        const char *region;
};

static uint64_t key_hash(const struct cs_latency_prefix *p, const char *region)
{
        uint8_t buf[2 + 16];
        buf[0] = p->family;
        buf[1] = p->len;
        memcpy(buf + 2, p->addr, 16);
        return hash_bytes(region, strlen(region), hash_bytes(buf, sizeof(buf), 0x6c6174));
}

static bool entry_match(const void *item, const void *key)
{
        const struct cs_latency_entry *e = item;
        const struct key *k = key;
        return e->prefix.family == k->prefix->family && e->prefix.len == k->prefix->len &&
               memcmp(e->prefix.addr, k->prefix->addr, 16) == 0 &&
               strcmp(e->region, k->region) == 0;
}

void cs_latency_table_init(struct cs_latency_table *t)
{
        memset(t, 0, sizeof(*t));
        pmap_flat_init(&t->entries);
}

void cs_latency_table_fini(struct cs_latency_table *t)
{
        void *e;
        for (size_t i = 0; (e = pmap_flat_next(&t->entries, &i)) != NULL;)
                free(e);
        pmap_flat_fini(&t->entries);
        memset(t, 0, sizeof(*t));
}

void cs_state_set_latency_observer(struct cs_state *st,
                                   const struct cs_latency_observer *obs)
{
        if (obs)
                st->latency.observer = *obs;
        else
                memset(&st->latency.observer, 0, sizeof(st->latency.observer));
}

int cs_latency_prefix_check(const struct cs_latency_prefix *p)
{
        unsigned bits = p->family == 4 ? 32 : p->family == 6 ? 128 : 0;
        if (bits == 0 || p->len > bits)
                return -EINVAL;
        for (unsigned b = p->len; b < 128; b++)
                if (p->addr[b / 8] >> (7 - b % 8) & 1)
                        return -EINVAL;
        return 0;
}

bool cs_latency_region_ok(const char *s)
{
        size_t n = s ? strnlen(s, CS_LATENCY_REGION_MAXLEN + 1) : 0;
        if (n == 0 || n > CS_LATENCY_REGION_MAXLEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                      s[i] == '-' || s[i] == '_'))
                        return false;
        return true;
}

static struct cs_latency_entry *find(const struct cs_latency_table *t,
                                     const struct cs_latency_prefix *p,
                                     const char *region)
{
        struct key k = {p, region};
        return pmap_flat_get(&t->entries, key_hash(p, region), &k, entry_match);
}

static struct cs_latency_entry *entry_new(const struct cs_latency_prefix *p,
                                          const char *region)
{
        struct cs_latency_entry *e = calloc(1, sizeof(*e));
        if (e == NULL)
                return NULL;
        e->prefix = *p;
        snprintf(e->region, sizeof(e->region), "%s", region);
        e->hash = key_hash(p, region);
        return e;
}

static void insert(struct cs_latency_table *t, struct cs_latency_entry *e)
{
        struct key k = {&e->prefix, e->region};
        pmap_flat_put(&t->entries, e->hash, &k, e, entry_match); /* room reserved */
}

static void remove_entry(struct cs_latency_table *t, struct cs_latency_entry *e)
{
        struct key k = {&e->prefix, e->region};
        pmap_flat_del(&t->entries, e->hash, &k, entry_match);
        free(e);
}

static void changed(struct cs_state *st)
{
        st->latency.version++;
        const struct cs_latency_observer *o = &st->latency.observer;
        if (o->changed)
                o->changed(o->ctx, st);
}

static void item_errors(const struct cs_latency_item *it, size_t i, bool need_region,
                        bool need_rtt, struct cs_result *res)
{
        char field[64];
        if (cs_latency_prefix_check(&it->prefix) != 0) {
                snprintf(field, sizeof(field), "entries[%zu].prefix", i);
                result_error(res, (uint32_t)i, field,
                             "not a prefix (family 4 or 6, length in range, no bits "
                             "set past it)");
        }
        if ((need_region || (it->region && it->region[0])) &&
            !cs_latency_region_ok(it->region)) {
                snprintf(field, sizeof(field), "entries[%zu].region", i);
                result_error(res, (uint32_t)i, field,
                             "a region name is 1 to %d characters of a-z 0-9 - _",
                             CS_LATENCY_REGION_MAXLEN);
        }
        if (need_rtt && (it->rtt_us == 0 || it->rtt_us > CS_LATENCY_RTT_MAX_US)) {
                snprintf(field, sizeof(field), "entries[%zu].rtt_ms", i);
                result_error(res, (uint32_t)i, field, "out of range (0.001 to %u ms)",
                             CS_LATENCY_RTT_MAX_US / 1000);
        }
}

int cs_state_latency_put(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_latency_batch *b, struct cs_result *res)
{
        struct cs_latency_table *t = &st->latency;
        if (ctx)
                st->last_index = ctx->index;
        if (b->count > CS_LATENCY_BATCH_MAX)
                return result_fail(res, -E2BIG, "a latency batch has at most %d entries",
                                   CS_LATENCY_BATCH_MAX);
        for (size_t i = 0; i < b->count; i++)
                item_errors(&b->items[i], i, true, true, res);
        if (res->n_errors)
                return result_fail(res, -EINVAL, "the latency entries are invalid");
        /* New entries: counted (an entry given twice counts twice, an upper
         * bound) and allocated before anything changes. */
        size_t fresh = 0;
        for (size_t i = 0; i < b->count; i++)
                fresh += find(t, &b->items[i].prefix, b->items[i].region) == NULL;
        if (t->entries.count + fresh > CS_LATENCY_ENTRIES_MAX)
                return result_fail(res, -ENOSPC,
                                   "the latency map holds at most %d entries (%zu now)",
                                   CS_LATENCY_ENTRIES_MAX, t->entries.count);
        struct cs_latency_entry **made = calloc(fresh ? fresh : 1, sizeof(*made));
        if (made == NULL || pmap_flat_reserve(&t->entries, fresh) != 0) {
                free(made);
                return result_fail(res, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < fresh; i++)
                if ((made[i] = malloc(sizeof(**made))) == NULL) {
                        while (i--)
                                free(made[i]);
                        free(made);
                        return result_fail(res, -ENOMEM, "out of memory");
                }
        size_t used = 0;
        uint64_t now = ctx ? ctx->timestamp_ms : 0;
        for (size_t i = 0; i < b->count; i++) {
                const struct cs_latency_item *it = &b->items[i];
                struct cs_latency_entry *e = find(t, &it->prefix, it->region);
                if (e == NULL) {
                        e = made[used++];
                        memset(e, 0, sizeof(*e));
                        e->prefix = it->prefix;
                        snprintf(e->region, sizeof(e->region), "%s", it->region);
                        e->hash = key_hash(&it->prefix, it->region);
                        insert(t, e);
                }
                e->op_rtt_us = it->rtt_us;
                e->op_ms = now;
        }
        while (used < fresh)
                free(made[used++]);
        free(made);
        changed(st);
        return 0;
}

/* The distinct region names of the map into *out (malloc'ed; sorted):
 * their count, or SIZE_MAX when out of memory. */
static size_t distinct_regions(const struct cs_latency_table *t,
                               char (**out)[CS_LATENCY_REGION_MAXLEN + 1])
{
        size_t n = 0, cap = 0;
        char(*v)[CS_LATENCY_REGION_MAXLEN + 1] = NULL;
        const struct cs_latency_entry *e;
        for (size_t s = 0; (e = pmap_flat_next(&t->entries, &s)) != NULL;) {
                size_t lo = 0, hi = n;
                while (lo < hi) {
                        size_t mid = (lo + hi) / 2;
                        int c = strcmp(v[mid], e->region);
                        if (c == 0) {
                                lo = hi = SIZE_MAX;
                                break;
                        }
                        if (c < 0)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                if (lo == SIZE_MAX)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        void *grown = realloc(v, cap * sizeof(*v));
                        if (grown == NULL) {
                                free(v);
                                return SIZE_MAX;
                        }
                        v = grown;
                }
                memmove(v + lo + 1, v + lo, (n - lo) * sizeof(*v));
                memcpy(v[lo], e->region, sizeof(*v));
                n++;
        }
        *out = v;
        return n;
}

int cs_state_latency_delete(struct cs_state *st, const struct cs_ctx *ctx,
                            const struct cs_latency_batch *b, struct cs_result *res)
{
        struct cs_latency_table *t = &st->latency;
        if (ctx)
                st->last_index = ctx->index;
        if (b->count > CS_LATENCY_BATCH_MAX)
                return result_fail(res, -E2BIG, "a latency batch has at most %d entries",
                                   CS_LATENCY_BATCH_MAX);
        for (size_t i = 0; i < b->count; i++)
                item_errors(&b->items[i], i, false, false, res);
        if (res->n_errors)
                return result_fail(res, -EINVAL, "the latency entries are invalid");
        /* A prefix without a region means each region the map names: they
         * are few, so each is looked up rather than the table walked per
         * prefix. */
        char(*regions)[CS_LATENCY_REGION_MAXLEN + 1] = NULL;
        size_t n_regions = 0;
        bool any_all = false;
        for (size_t i = 0; i < b->count; i++)
                any_all |= b->items[i].region == NULL || b->items[i].region[0] == '\0';
        if (any_all && (n_regions = distinct_regions(t, &regions)) == SIZE_MAX)
                return result_fail(res, -ENOMEM, "out of memory");
        size_t gone = 0;
        for (size_t i = 0; i < b->count; i++) {
                const struct cs_latency_item *it = &b->items[i];
                bool one = it->region && it->region[0];
                for (size_t k = 0; k < (one ? 1 : n_regions); k++) {
                        struct cs_latency_entry *e =
                            find(t, &it->prefix, one ? it->region : regions[k]);
                        if (e == NULL || e->op_rtt_us == 0)
                                continue;
                        e->op_rtt_us = 0;
                        e->op_ms = 0;
                        if (e->measured_rtt_us == 0)
                                remove_entry(t, e);
                        gone++;
                }
        }
        free(regions);
        snprintf(res->message, sizeof(res->message), "%zu operator values deleted", gone);
        changed(st);
        return 0;
}

/* Drops measured values older than the maximum age at `now`. */
static size_t expire(struct cs_latency_table *t, uint64_t now)
{
        size_t n = 0;
        if (now < CS_LATENCY_MEASURED_MAX_AGE_MS || t->n_measured == 0)
                return 0;
        uint64_t limit = now - CS_LATENCY_MEASURED_MAX_AGE_MS;
        struct cs_latency_entry *e;
        for (size_t s = 0; (e = pmap_flat_next(&t->entries, &s)) != NULL;) {
                if (e->measured_rtt_us == 0 || e->measured_ms >= limit)
                        continue;
                e->measured_rtt_us = 0;
                e->samples = 0;
                e->measured_ms = 0;
                e->measured_node = 0;
                t->n_measured--;
                n++;
                if (e->op_rtt_us == 0) {
                        remove_entry(t, e);
                        s--; /* the deletion moved a later item into its slot */
                }
        }
        return n;
}

bool cs_state_latency_due(const struct cs_state *st, uint64_t now)
{
        const struct cs_latency_table *t = &st->latency;
        if (now < CS_LATENCY_MEASURED_MAX_AGE_MS || t->n_measured == 0)
                return false;
        uint64_t limit = now - CS_LATENCY_MEASURED_MAX_AGE_MS;
        const struct cs_latency_entry *e;
        for (size_t s = 0; (e = pmap_flat_next(&t->entries, &s)) != NULL;)
                if (e->measured_rtt_us != 0 && e->measured_ms < limit)
                        return true;
        return false;
}

int cs_state_latency_measured(struct cs_state *st, const struct cs_ctx *ctx,
                              const struct cs_latency_batch *b, struct cs_result *res)
{
        struct cs_latency_table *t = &st->latency;
        uint64_t now = ctx ? ctx->timestamp_ms : 0;
        if (ctx)
                st->last_index = ctx->index;
        size_t expired = expire(t, now), kept = 0, skipped = 0;
        bool region_ok = cs_latency_region_ok(b->region);
        for (size_t i = 0; i < b->count && region_ok; i++) {
                const struct cs_latency_item *it = &b->items[i];
                const struct cs_latency_prefix *p = &it->prefix;
                if (i >= CS_LATENCY_MEASURED_BATCH_MAX ||
                    cs_latency_prefix_check(p) != 0 ||
                    p->len != (p->family == 4 ? 24 : 48) || it->rtt_us == 0 ||
                    it->rtt_us > CS_LATENCY_RTT_MAX_US) {
                        skipped++;
                        continue;
                }
                struct cs_latency_entry *e = find(t, p, b->region);
                if (e == NULL) {
                        if (t->n_measured >= CS_LATENCY_MEASURED_MAX ||
                            t->entries.count >= CS_LATENCY_ENTRIES_MAX ||
                            pmap_flat_reserve(&t->entries, 1) != 0 ||
                            (e = entry_new(p, b->region)) == NULL) {
                                skipped++;
                                continue;
                        }
                        insert(t, e);
                }
                if (e->measured_rtt_us == 0) {
                        e->measured_rtt_us = it->rtt_us;
                        t->n_measured++;
                } else {
                        uint64_t v = ((uint64_t)e->measured_rtt_us * 3 + it->rtt_us) / 4;
                        e->measured_rtt_us = v ? (uint32_t)v : 1;
                }
                uint64_t samples = (uint64_t)e->samples + (it->samples ? it->samples : 1);
                e->samples = samples > UINT32_MAX ? UINT32_MAX : (uint32_t)samples;
                e->measured_ms = now;
                e->measured_node = b->node;
                kept++;
        }
        if (!region_ok)
                skipped = b->count;
        snprintf(res->message, sizeof(res->message),
                 "%zu measured prefixes kept, %zu skipped, %zu expired", kept, skipped,
                 expired);
        if (kept || expired)
                changed(st);
        return 0;
}

size_t cs_state_latency_count(const struct cs_state *st)
{
        return st->latency.entries.count;
}

static int entry_cmp(const void *a, const void *b)
{
        const struct cs_latency_entry *x = *(const struct cs_latency_entry *const *)a;
        const struct cs_latency_entry *y = *(const struct cs_latency_entry *const *)b;
        if (x->prefix.family != y->prefix.family)
                return x->prefix.family < y->prefix.family ? -1 : 1;
        int c = memcmp(x->prefix.addr, y->prefix.addr, 16);
        if (c)
                return c;
        if (x->prefix.len != y->prefix.len)
                return x->prefix.len < y->prefix.len ? -1 : 1;
        return strcmp(x->region, y->region);
}

const struct cs_latency_entry **cs_state_latency_sorted(const struct cs_state *st,
                                                        size_t *n, int *rc)
{
        const struct cs_latency_table *t = &st->latency;
        *n = 0;
        if (rc)
                *rc = 0;
        if (t->entries.count == 0)
                return NULL;
        const struct cs_latency_entry **v = malloc(t->entries.count * sizeof(*v));
        if (v == NULL) {
                if (rc)
                        *rc = -ENOMEM;
                return NULL;
        }
        size_t k = 0;
        const struct cs_latency_entry *e;
        for (size_t s = 0; (e = pmap_flat_next(&t->entries, &s)) != NULL;)
                v[k++] = e;
        qsort(v, k, sizeof(*v), entry_cmp);
        *n = k;
        return v;
}

int cs_state_latency_restore(struct cs_state *st, const struct cs_latency_entry *in,
                             char *err, size_t errlen)
{
        struct cs_latency_table *t = &st->latency;
        if (cs_latency_prefix_check(&in->prefix) != 0 ||
            !cs_latency_region_ok(in->region) ||
            (in->op_rtt_us == 0 && in->measured_rtt_us == 0) ||
            in->op_rtt_us > CS_LATENCY_RTT_MAX_US ||
            in->measured_rtt_us > CS_LATENCY_RTT_MAX_US) {
                snprintf(err, errlen, "latency entry for region '%s' is invalid",
                         in->region);
                return -EINVAL;
        }
        if (find(t, &in->prefix, in->region) != NULL) {
                snprintf(err, errlen, "latency entry given twice");
                return -EINVAL;
        }
        if (t->entries.count >= CS_LATENCY_ENTRIES_MAX) {
                snprintf(err, errlen, "too many latency entries");
                return -EINVAL;
        }
        struct cs_latency_entry *e = malloc(sizeof(*e));
        if (e == NULL || pmap_flat_reserve(&t->entries, 1) != 0) {
                free(e);
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        *e = *in;
        e->hash = key_hash(&e->prefix, e->region);
        insert(t, e);
        if (e->measured_rtt_us)
                t->n_measured++;
        return 0;
}
