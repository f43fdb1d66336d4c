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
 * restored snapshot rebuilds every trie.  A publish that fails leaves the
 * engine on the previous tries and is redone, whole, from the tick.
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

struct node_cidr_name {
        uint64_t hash;
        uint32_t number;
        char key[]; /* collection id, then "\n" and a location name */
};

static bool name_match(const void *item, const void *key)
{
        return strcmp(((const struct node_cidr_name *)item)->key, key) == 0;
}

/* The number of a key, interned on first use; 0 when out of memory. */
static uint32_t intern(struct node_cluster *c, const char *key)
{
        size_t len = strlen(key);
        uint64_t h = cs_hash_bytes(key, len, 0x63696472);
        struct node_cidr_name *known = cs_hmap_get(&c->cidr_map, h, key, name_match);
        if (known != NULL)
                return known->number;
        struct node_cidr_name *fresh = malloc(sizeof(*fresh) + len + 1);
        struct node_cidr_name **grown =
            realloc(c->cidr_names, (c->cidr_name_count + 1) * sizeof(*grown));
        if (grown != NULL)
                c->cidr_names = grown;
        if (fresh == NULL || grown == NULL || cs_hmap_reserve(&c->cidr_map, 1) != 0) {
                free(fresh);
                return 0;
        }
        fresh->hash = h;
        fresh->number = c->cidr_name_count + 1;
        memcpy(fresh->key, key, len + 1);
        c->cidr_names[c->cidr_name_count++] = fresh;
        cs_hmap_put(&c->cidr_map, h, fresh->key, fresh, name_match);
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

/* The trie of a collection: its blocks with their locations' numbers. */
static int build_trie(struct node_cluster *c, const struct cs_cidr_collection *coll,
                      struct lpm **out)
{
        uint32_t *numbers = malloc((coll->n_locations + 1) * sizeof(*numbers));
        struct lpm_prefix *p = malloc((coll->n_entries + 1) * sizeof(*p));
        int rc = -ENOMEM;
        if (numbers == NULL || p == NULL)
                goto out;
        for (size_t i = 0; i < coll->n_locations; i++) {
                numbers[i] = location_number(c, coll->id, coll->locations[i].name);
                if (numbers[i] == 0)
                        goto out;
        }
        for (size_t i = 0; i < coll->n_entries; i++) {
                const struct cs_cidr_entry *e = &coll->entries[i];
                p[i].family = e->block.family == 4 ? LPM_IPV4 : LPM_IPV6;
                p[i].len = e->block.len;
                memcpy(p[i].addr, e->block.addr, 16);
                p[i].value = numbers[e->location];
        }
        rc = lpm_build(p, coll->n_entries, out);
out:
        free(numbers);
        free(p);
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

static void on_collection_changed(void *ctx, const char *id,
                                  const struct cs_cidr_collection *coll)
{
        struct node_cluster *c = ctx;
        uint32_t number = intern(c, id);
        struct lpm *trie = NULL;
        uint64_t started = node_now_ms();
        if (number == 0 || (coll != NULL && build_trie(c, coll, &trie) != 0)) {
                c->cidr_stale = true;
                LOG_ERROR("building the trie of CIDR collection %s failed (out of "
                          "memory); it is built again from the tick",
                          id);
                return;
        }
        const struct dns_cidr *cur = dns_db_current(c->db)->cidr;
        uint32_t n = cur ? cur->count : 0;
        struct dns_cidr *next = malloc(sizeof(*next) + (n + 1) * sizeof(next->table[0]));
        if (next == NULL) {
                lpm_free(trie);
                c->cidr_stale = true;
                return;
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
        if (publish(c, next, &gone, 1, trie) == 0 && coll != NULL &&
            coll->n_entries >= 100000)
                LOG_INFO("CIDR collection %s: %zu blocks published in %llu ms (%zu "
                         "bytes)",
                         id, coll->n_entries,
                         (unsigned long long)(node_now_ms() - started), lpm_memory(trie));
}

int node_publish_cidr_all(struct node_cluster *c)
{
        const struct cs_state *st = &c->state;
        size_t n = cs_state_cidr_count(st);
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
        cs_hmap_fini(&c->cidr_map);
}
