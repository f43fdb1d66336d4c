/*
 * publish_cidr.c — CIDR collections into the DNS engine (IP-based routing).
 *
 * The query path knows collections and locations by numbers this node
 * interns on first use: a collection by its id, a location by (collection
 * id, location name); "*" is DNS_CIDR_DEFAULT.  A record set carries the
 * two numbers (put_rrset in publish.c asks node_publish_cidr_ref), a
 * collection's trie maps each block to its location's number.  Numbers are
 * never reused while the process runs, so a set written before its
 * location existed, or a location deleted and made again, still matches.
 *
 * When the state machine applies a collection command, the observer builds
 * that collection's trie (common/lpm.h) from its sorted blocks and publishes
 * a new struct dns_cidr holding it with the other collections' tries
 * unchanged; the replaced trie is freed after the readers' grace period.  A
 * collection of ASYNC_MIN blocks or more is built off the loop instead (a
 * million blocks take the better part of a second, longer than an election
 * timeout): its blocks are copied, one build at a time runs on libuv's pool
 * (raft's disk writes keep the other threads), and the trie is published
 * when it is done, unless a newer change of the collection came meanwhile —
 * then the collection is built again from the state as it is then, so a
 * burst of changes costs one or two builds.  Until then the previous trie
 * answers.  The cluster's state is held while a build runs, so closing
 * waits for it.  A restored snapshot rebuilds every trie.  A publish that
 * fails leaves the engine on the previous tries and is redone, whole, from
 * the tick.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/lpm.h"
#include "consensus/cidr.h"
#include "dns/route.h"
#include "node/cluster_priv.h"

#define ASYNC_MIN 20000 /* blocks from which a trie is built off the loop */

struct node_cidr_name {
        uint64_t hash;
        uint32_t number;
        bool dirty;          /* a collection whose trie must be built off the loop */
        uint64_t generation; /* of its latest change */
        char key[];          /* collection id, then "\n" and a location name */
};

static bool name_match(const void *item, const void *key)
{
        return strcmp(((const struct node_cidr_name *)item)->key, key) == 0;
}

/* The number of a key, interned on first use; 0 when out of memory. */
static uint32_t intern(struct node_cluster *c, const char *key)
{
        size_t len = strlen(key);
        uint64_t h = hash_bytes(key, len, 0x63696472);
        struct node_cidr_name *known = pmap_flat_get(&c->cidr_map, h, key, name_match);
        if (known != NULL)
                return known->number;
        struct node_cidr_name *fresh = malloc(sizeof(*fresh) + len + 1);
        struct node_cidr_name **grown =
            realloc(c->cidr_names, (c->cidr_name_count + 1) * sizeof(*grown));
        if (grown != NULL)
                c->cidr_names = grown;
        if (fresh == NULL || grown == NULL || pmap_flat_reserve(&c->cidr_map, 1) != 0) {
                free(fresh);
                return 0;
        }
        fresh->hash = h;
        fresh->dirty = false;
        fresh->generation = 0;
        fresh->number = c->cidr_name_count + 1;
        memcpy(fresh->key, key, len + 1);
        c->cidr_names[c->cidr_name_count++] = fresh;
        pmap_flat_put(&c->cidr_map, h, fresh->key, fresh, name_match);
        return fresh->number;
}

static uint32_t location_number(struct node_cluster *c, const char *id, const char *name)
{
        char key[CS_CIDR_ID_MAXLEN + CS_CIDR_LOCATION_MAXLEN + 2];
        if (strcmp(name, "*") == 0)
                return DNS_CIDR_DEFAULT;
        snprintf(key, sizeof(key), "%s\n%s", id, name);
        return intern(c, key);
}

void node_publish_cidr_ref(struct node_cluster *c, const struct cs_routing *r,
                           uint32_t *collection, uint32_t *location)
{
        *collection = intern(c, r->cidr_collection);
        *location = location_number(c, r->cidr_collection, r->cidr_location);
        /* Out of memory: a location numbered 0 would be the default. */
        if (*location == DNS_CIDR_DEFAULT && strcmp(r->cidr_location, "*") != 0)
                *location = UINT32_MAX;
}

/* A collection's blocks with their locations' numbers (*out malloc'ed). */
static int prefixes_of(struct node_cluster *c, const struct cs_cidr_collection *coll,
                       struct lpm_prefix **out)
{
        uint32_t *numbers = malloc((coll->n_locations + 1) * sizeof(*numbers));
        struct lpm_prefix *p = malloc((coll->n_entries + 1) * sizeof(*p));
        if (numbers == NULL || p == NULL)
                goto nomem;
        for (size_t i = 0; i < coll->n_locations; i++) {
                numbers[i] = location_number(c, coll->id, coll->locations[i].name);
                if (numbers[i] == 0)
                        goto nomem;
        }
        for (size_t i = 0; i < coll->n_entries; i++) {
                const struct cs_cidr_entry *e = &coll->entries[i];
                p[i].family = e->block.family == 4 ? LPM_IPV4 : LPM_IPV6;
                p[i].len = e->block.len;
                memcpy(p[i].addr, e->block.addr, 16);
                p[i].value = numbers[e->location];
        }
        free(numbers);
        *out = p;
        return 0;
nomem:
        free(numbers);
        free(p);
        return -ENOMEM;
}

/* The trie of a collection, built here. */
static int build_trie(struct node_cluster *c, const struct cs_cidr_collection *coll,
                      struct lpm **out)
{
        struct lpm_prefix *p;
        int rc = prefixes_of(c, coll, &p);
        if (rc == 0) {
                rc = lpm_build(p, coll->n_entries, out);
                free(p);
        }
        return rc;
}

/* Publishes `cidr` (taken), retiring `gone`; on failure frees cidr and the
 * tries it holds that are not in the published version. */
static int publish(struct node_cluster *c, struct dns_cidr *cidr, struct lpm **gone,
                   size_t n_gone, struct lpm *fresh)
{
        int rc = dns_db_cidr_publish(c->db, cidr, gone, n_gone);
        if (rc != 0) {
                lpm_free(fresh);
                free(cidr);
                c->cidr_stale = true;
                LOG_ERROR("publishing CIDR collections to DNS failed: %s; IP-based "
                          "answers use the previous collections until published again",
                          strerror(-rc));
        }
        return rc;
}

/* Publishes the tries with collection `number`'s replaced by trie (taken;
 * NULL: the collection is gone). */
static int swap_trie(struct node_cluster *c, uint32_t number, struct lpm *trie)
{
        const struct dns_cidr *cur = dns_db_current(c->db)->cidr;
        uint32_t n = cur ? cur->count : 0;
        struct dns_cidr *next = malloc(sizeof(*next) + (n + 1) * sizeof(next->table[0]));
        if (next == NULL) {
                lpm_free(trie);
                c->cidr_stale = true;
                return -ENOMEM;
        }
        struct lpm *gone = NULL;
        uint32_t k = 0;
        bool placed = false;
        for (uint32_t i = 0; i < n; i++) {
                const struct dns_cidr_table *t = &cur->table[i];
                if (!placed && t->collection >= number) {
                        if (trie != NULL)
                                next->table[k++] = (struct dns_cidr_table){number, trie};
                        placed = true;
                }
                if (t->collection == number)
                        gone = (struct lpm *)t->trie;
                else
                        next->table[k++] = *t;
        }
        if (!placed && trie != NULL)
                next->table[k++] = (struct dns_cidr_table){number, trie};
        next->count = k;
        return publish(c, next, &gone, 1, trie);
}

/* The interned entry of a collection id, or NULL. */
static struct node_cidr_name *collection_entry(struct node_cluster *c, const char *id)
{
        uint32_t number = intern(c, id);
        return number ? c->cidr_names[number - 1] : NULL;
}

/* ---- builds off the loop --------------------------------------------------------- */

struct cidr_job {
        uv_work_t work;
        struct node_cluster *c;
        uint32_t number;
        uint64_t generation;
        struct lpm_prefix *prefixes;
        size_t n;
        struct lpm *trie;
        int rc;
        uint64_t started;
        char id[CS_CIDR_ID_MAXLEN + 1];
};

static void start_next_build(struct node_cluster *c);

static void build_work(uv_work_t *w)
{
        struct cidr_job *job = w->data;
        job->rc = lpm_build(job->prefixes, job->n, &job->trie);
}

static void build_done(uv_work_t *w, int status)
{
        struct cidr_job *job = w->data;
        struct node_cluster *c = job->c;
        c->cidr_building = false;
        struct node_cidr_name *e =
            job->number <= c->cidr_name_count ? c->cidr_names[job->number - 1] : NULL;
        if (status != 0 || job->rc != 0) {
                lpm_free(job->trie);
                if (e != NULL && e->generation == job->generation)
                        e->dirty = true; /* again, from the tick */
                c->cidr_stale = true;
        } else if (!c->running || e == NULL || e->generation != job->generation) {
                lpm_free(job->trie); /* closing, or a newer change is queued */
        } else if (swap_trie(c, job->number, job->trie) == 0) {
                LOG_INFO("CIDR collection %s: %zu blocks published in %llu ms (built off "
                         "the loop, %zu bytes)",
                         job->id, job->n,
                         (unsigned long long)(node_now_ms() - job->started),
                         lpm_memory(job->trie));
        }
        free(job->prefixes);
        free(job);
        if (c->running)
                start_next_build(c);
        node_cluster_state_release(c);
}

/* Starts building the first dirty collection, unless a build runs. */
static void start_next_build(struct node_cluster *c)
{
        if (c->cidr_building)
                return;
        for (uint32_t i = 0; i < c->cidr_name_count; i++) {
                struct node_cidr_name *e = c->cidr_names[i];
                if (!e->dirty)
                        continue;
                e->dirty = false;
                const struct cs_cidr_collection *coll =
                    cs_state_cidr_get(&c->state, e->key);
                if (coll == NULL)
                        continue; /* deleted since: swapped out already */
                struct cidr_job *job = calloc(1, sizeof(*job));
                if (job == NULL || prefixes_of(c, coll, &job->prefixes) != 0) {
                        free(job);
                        e->dirty = true;
                        c->cidr_stale = true;
                        return;
                }
                job->c = c;
                job->number = e->number;
                job->generation = e->generation;
                job->n = coll->n_entries;
                job->started = node_now_ms();
                snprintf(job->id, sizeof(job->id), "%s", coll->id);
                job->work.data = job;
                if (uv_queue_work(c->loop, &job->work, build_work, build_done) != 0) {
                        free(job->prefixes);
                        free(job);
                        e->dirty = true;
                        c->cidr_stale = true;
                        return;
                }
                c->cidr_building = true;
                node_cluster_state_hold(c);
                return;
        }
}

static void on_collection_changed(void *ctx, const char *id,
                                  const struct cs_cidr_collection *coll)
{
        struct node_cluster *c = ctx;
        struct node_cidr_name *e = collection_entry(c, id);
        if (e == NULL) {
                c->cidr_stale = true;
                LOG_ERROR("CIDR collection %s: out of memory; built again from the tick",
                          id);
                return;
        }
        e->generation = ++c->cidr_generation;
        e->dirty = false;
        if (coll != NULL && coll->n_entries >= ASYNC_MIN) {
                e->dirty = true;
                start_next_build(c);
                return;
        }
        struct lpm *trie = NULL;
        if (coll != NULL && build_trie(c, coll, &trie) != 0) {
                c->cidr_stale = true;
                LOG_ERROR("building the trie of CIDR collection %s failed (out of "
                          "memory); it is built again from the tick",
                          id);
                return;
        }
        swap_trie(c, e->number, trie);
}

int node_publish_cidr_all(struct node_cluster *c)
{
        const struct cs_state *st = &c->state;
        size_t n = cs_state_cidr_count(st);
        /* Whatever runs off the loop now is older than this. */
        for (uint32_t i = 0; i < c->cidr_name_count; i++) {
                c->cidr_names[i]->generation = ++c->cidr_generation;
                c->cidr_names[i]->dirty = false;
        }
        struct dns_cidr *next = malloc(sizeof(*next) + (n + 1) * sizeof(next->table[0]));
        if (next == NULL) {
                c->cidr_stale = true;
                return -ENOMEM;
        }
        next->count = 0;
        for (size_t i = 0; i < n; i++) {
                const struct cs_cidr_collection *coll = cs_state_cidr_at(st, i);
                struct lpm *trie;
                uint32_t number = intern(c, coll->id);
                if (number == 0 || build_trie(c, coll, &trie) != 0) {
                        for (uint32_t k = 0; k < next->count; k++)
                                lpm_free((struct lpm *)next->table[k].trie);
                        free(next);
                        c->cidr_stale = true;
                        return -ENOMEM;
                }
                /* Sorted by number: insert in place (few collections). */
                uint32_t at = next->count;
                while (at > 0 && next->table[at - 1].collection > number) {
                        next->table[at] = next->table[at - 1];
                        at--;
                }
                next->table[at] = (struct dns_cidr_table){number, trie};
                next->count++;
        }
        const struct dns_cidr *cur = dns_db_current(c->db)->cidr;
        size_t n_gone = cur ? cur->count : 0;
        struct lpm **gone = calloc(n_gone + 1, sizeof(*gone));
        int rc = -ENOMEM;
        if (gone != NULL) {
                for (size_t i = 0; i < n_gone; i++)
                        gone[i] = (struct lpm *)cur->table[i].trie;
                rc = dns_db_cidr_publish(c->db, next, gone, n_gone);
        }
        free(gone);
        if (rc != 0) {
                for (uint32_t k = 0; k < next->count; k++)
                        lpm_free((struct lpm *)next->table[k].trie);
                free(next);
                c->cidr_stale = true;
                return rc;
        }
        c->cidr_stale = false;
        return 0;
}

static void on_restored(void *ctx, const struct cs_state *st)
{
        (void)st;
        node_publish_cidr_all(ctx);
}

void node_publish_cidr_observe(struct node_cluster *c)
{
        struct cs_cidr_observer obs = {.ctx = c,
                                       .collection_changed = on_collection_changed,
                                       .restored = on_restored};
        cs_state_set_cidr_observer(&c->state, &obs);
}

void node_publish_cidr_fini(struct node_cluster *c)
{
        for (uint32_t i = 0; i < c->cidr_name_count; i++)
                free(c->cidr_names[i]);
        free(c->cidr_names);
        c->cidr_names = NULL;
        c->cidr_name_count = 0;
        pmap_flat_fini(&c->cidr_map);
}
