/*
 * zone.c — reading a zone version (see zone.h).
 */
#include "dns/zone.h"

#include <string.h>

#include "dns/wire.h"

static const uint8_t star_label[] = {1, '*'};

bool dns_node_match(const void *item, const void *key)
{
        const struct dns_node *node = item;
        const uint8_t *label = key;
        return node->label[0] == label[0] &&
               wire_equal(node->label, label, 1u + label[0]);
}

uint64_t dns_node_hash(const void *item, const void *parent_hash)
{
        const struct dns_node *node = item;
        return dns_name_label_hash(*(const uint64_t *)parent_hash, node->label);
}

static inline const struct dns_node *child(const struct dns_node *node,
                                           const struct dns_lname *name, unsigned i)
{
        return pmap_get(&node->children, name->hash[i], &name->wire[name->off[i]],
                        dns_node_match);
}

void dns_zone_lookup(const struct dns_zone *zone, const struct dns_lname *name,
                     bool at_cut_is_data, struct dns_lookup *out)
{
        dns_zone_lookup_from(zone, name, at_cut_is_data, zone->apex,
                             dns_zone_apex_label(zone, name), out);
}

void dns_zone_lookup_from(const struct dns_zone *zone, const struct dns_lname *name,
                          bool at_cut_is_data, const struct dns_node *node, unsigned i,
                          struct dns_lookup *out)
{
        /* A cut where the walk stopped (never the apex: a cut is NS at a
         * name other than the apex), as the loop below checks each node it
         * reaches. */
        if (node != zone->apex && (node->flags & DNS_NODE_CUT) &&
            (i > 0 || !at_cut_is_data)) {
                out->result = DNS_LOOKUP_DELEGATION;
                out->node = node;
                out->label = i;
                return;
        }
        while (i > 0) {
                const struct dns_node *next = child(node, name, i - 1);
                if (next == NULL) {
                        uint64_t star = dns_name_star_hash(name->hash[i]);
                        const struct dns_node *wild =
                            pmap_get(&node->children, star, star_label, dns_node_match);
                        out->result = wild ? DNS_LOOKUP_WILDCARD : DNS_LOOKUP_NXDOMAIN;
                        out->node = wild ? wild : node;
                        out->label = i;
                        return;
                }
                node = next;
                i--;
                /* What is read next (the records, or the next level) while
                 * the flags are checked. */
                __builtin_prefetch(i > 0 ? (const void *)node->children.root
                                         : (const void *)node->rrsets);
                if ((node->flags & DNS_NODE_CUT) && (i > 0 || !at_cut_is_data)) {
                        out->result = DNS_LOOKUP_DELEGATION;
                        out->node = node;
                        out->label = i;
                        return;
                }
        }
        out->result = DNS_LOOKUP_FOUND;
        out->node = node;
        out->label = 0;
}

static bool warm_descend(struct dns_zone_warm *warm)
{
        if (warm->label == 0 || (warm->node->flags & DNS_NODE_CUT)) {
                /* The record sets' table and, on the next line, the first
                 * records (a table of two sets already fills 56 bytes). */
                const char *sets = (const char *)warm->node->rrsets;
                if (sets != NULL) { /* an empty non-terminal has none */
                        __builtin_prefetch(sets);
                        __builtin_prefetch(sets + 64);
                }
                return false;
        }
        const struct dns_lname *name = warm->name;
        pmap_seek_begin(&warm->seek, &warm->node->children, name->hash[warm->label - 1]);
        warm->candidate = NULL;
        return true;
}

/* The name's next label is missing below the node: on to its "*" child. */
static bool warm_star(struct dns_zone_warm *warm)
{
        warm->star = true;
        warm->candidate = NULL;
        pmap_seek_begin(&warm->seek, &warm->node->children,
                        dns_name_star_hash(warm->name->hash[warm->label]));
        return true;
}

/* The "*" child found (or shown missing): the walk is over. */
static bool warm_star_end(struct dns_zone_warm *warm, const struct dns_node *wild)
{
        warm->star_known = true;
        warm->wild = wild;
        if (wild != NULL && wild->rrsets != NULL)
                __builtin_prefetch(wild->rrsets);
        return false;
}

bool dns_zone_warm_begin(struct dns_zone_warm *warm, const struct dns_zone *zone,
                         const struct dns_lname *name)
{
        warm->name = name;
        warm->node = zone->apex;
        warm->label = dns_zone_apex_label(zone, name);
        warm->candidate = NULL;
        warm->star = false;
        warm->star_known = false;
        warm->wild = NULL;
        return warm_descend(warm);
}

bool dns_zone_warm_step(struct dns_zone_warm *warm)
{
        const struct dns_lname *name = warm->name;
        if (warm->candidate != NULL) {
                const struct dns_node *next = warm->candidate;
                if (warm->star)
                        return warm_star_end(
                            warm, dns_node_match(next, star_label) ? next : NULL);
                if (!dns_node_match(next, &name->wire[name->off[warm->label - 1]]))
                        return warm_star(warm);
                warm->node = next;
                warm->label--;
                return warm_descend(warm);
        }
        switch (pmap_seek_step(&warm->seek, &warm->candidate)) {
        case PMAP_SEEK_MORE:
        case PMAP_SEEK_ITEM:
                return true;
        case PMAP_SEEK_NONE: /* no child with that hash */
                return warm->star ? warm_star_end(warm, NULL) : warm_star(warm);
        case PMAP_SEEK_GIVE_UP:
                break; /* the lookup will tell */
        }
        return false;
}

const struct dns_node *dns_zone_warm_found(const struct dns_zone_warm *warm)
{
        /* The walk stops at the first cut (warm_descend), so a walk that
         * used up the labels met none above the name. */
        return warm->label == 0 && !(warm->node->flags & DNS_NODE_CUT) ? warm->node
                                                                       : NULL;
}

const struct dns_node *dns_zone_warm_stop(const struct dns_zone_warm *warm,
                                          unsigned *left)
{
        *left = warm->label;
        return warm->node;
}

bool dns_zone_warm_wild(const struct dns_zone_warm *warm, const struct dns_node **wild)
{
        *wild = warm->wild;
        return warm->star_known;
}

const struct dns_node *dns_zone_find(const struct dns_zone *zone,
                                     const struct dns_lname *name)
{
        const struct dns_node *node = zone->apex;
        for (unsigned i = dns_zone_apex_label(zone, name); i > 0 && node != NULL; i--)
                node = child(node, name, i - 1);
        return node;
}

const struct dns_node *dns_zone_find_wire(const struct dns_zone *zone,
                                          const uint8_t *wire)
{
        uint8_t off[DNS_NAME_MAXLABELS];
        unsigned n = 0;
        for (unsigned p = 0; wire[p] != 0; p += 1u + wire[p]) {
                if (n == DNS_NAME_MAXLABELS || wire[p] > DNS_LABEL_MAXLEN)
                        return NULL;
                off[n++] = (uint8_t)p;
        }
        if (n < zone->origin_labels)
                return NULL;
        /* The apex's suffix hash is the zone's; each label below chains
         * onto its parent's as dns_lname_from_wire() chains them. */
        const struct dns_node *node = zone->apex;
        uint64_t hash = zone->hash;
        for (unsigned i = n - zone->origin_labels; i-- > 0 && node != NULL;) {
                const uint8_t *label = wire + off[i];
                uint8_t lower[1 + DNS_LABEL_MAXLEN];
                lower[0] = label[0];
                for (unsigned k = 1; k <= label[0]; k++)
                        lower[k] = common_dname_lower_table[label[k]];
                hash = dns_name_label_hash(hash, label);
                node = pmap_get(&node->children, hash, lower, dns_node_match);
        }
        return node;
}

const uint8_t *dns_zone_soa(const struct dns_zone *zone, uint32_t *ttl)
{
        const struct dns_rrset_info *soa =
            dns_rrsets_find(zone->apex->rrsets, DNS_TYPE_SOA);
        if (soa == NULL)
                return NULL;
        if (ttl != NULL)
                *ttl = soa->ttl;
        return dns_rrset_next(zone->apex->rrsets, soa, NULL);
}

struct walk {
        int (*fn)(const uint8_t *owner, const struct dns_rrsets *sets, void *arg);
        void *arg;
        uint8_t name[DNS_NAME_MAXLEN + 1]; /* the owner, built right to left */
        unsigned start;                    /* where the current owner begins */
};

static int walk_node(void *item, void *arg);

static int visit(struct walk *w, const struct dns_node *node)
{
        int rc = 0;
        if (node->rrsets != NULL)
                rc = w->fn(w->name + w->start, node->rrsets, w->arg);
        if (rc == 0)
                rc = pmap_walk(&node->children, walk_node, w);
        return rc;
}

static int walk_node(void *item, void *arg)
{
        const struct dns_node *node = item;
        struct walk *w = arg;
        unsigned len = 1u + node->label[0];
        if (w->start < len)
                return 0; /* cannot happen for valid zones: names fit 255 bytes */
        unsigned saved = w->start;
        w->start -= len;
        memcpy(w->name + w->start, node->label, len);
        int rc = visit(w, node);
        w->start = saved;
        return rc;
}

int dns_zone_walk(const struct dns_zone *zone,
                  int (*fn)(const uint8_t *owner, const struct dns_rrsets *sets,
                            void *arg),
                  void *arg)
{
        struct walk w = {.fn = fn, .arg = arg};
        w.start = (unsigned)sizeof(w.name) - zone->origin_len;
        memcpy(w.name + w.start, zone->origin, zone->origin_len);
        return visit(&w, zone->apex);
}
