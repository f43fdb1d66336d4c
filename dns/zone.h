/*
 * zone.h — one version of a zone: a tree of owner names, read lock-free.
 *
 * A zone version is the apex node of a tree whose nodes are labels; each
 * node keeps its children in a persistent hash map (common/pmap.h) and its
 * record sets in one blob (dns/rrset.h).  Empty non-terminals are nodes
 * without data.  Versions share every node a change did not touch; the
 * write side (dns/db.h) copies the path from the apex to a changed name.
 *
 * dns_zone_lookup() is the tree walk of RFC 1034 §4.3.2 step 3: it descends
 * from the apex label by label, stops at a zone cut (a non-apex node with
 * NS), and when a label is missing reports the closest encloser and its
 * wildcard child (RFC 4592) if there is one.
 */
#ifndef DNS_ZONE_H
#define DNS_ZONE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/pmap.h"
#include "dns/name.h"
#include "dns/rrset.h"

enum {
        DNS_NODE_CUT = 1 << 0,    /* NS at a name other than the apex */
        DNS_NODE_CNAME = 1 << 1,  /* holds a CNAME */
        DNS_NODE_FRESH = 1 << 2,  /* rrsets blob created by the node's transaction */
        DNS_NODE_POLICY = 1 << 3, /* holds routed sets: answered by dns/route.h */
};

struct dns_node {
        uint64_t txn;                    /* transaction that made this version */
        struct pmap children;            /* struct dns_node by label */
        const struct dns_rrsets *rrsets; /* NULL: empty non-terminal */
        uint16_t flags;
        uint8_t label[]; /* length byte and lowercased bytes; apex: empty */
};

struct dns_zone {
        uint64_t txn;          /* transaction that made this version */
        uint64_t hash;         /* of the origin, for the catalog map */
        struct dns_node *apex; /* never NULL */
        uint16_t origin_len;   /* wire bytes */
        uint8_t origin_labels;
        uint8_t origin[]; /* lowercased wire name */
};

enum dns_lookup_result {
        DNS_LOOKUP_FOUND,      /* node is the name (may be an empty non-terminal) */
        DNS_LOOKUP_DELEGATION, /* node is a zone cut at or above the name */
        DNS_LOOKUP_WILDCARD,   /* node is the wildcard that covers the name */
        DNS_LOOKUP_NXDOMAIN,   /* node is the closest encloser; no wildcard */
};

struct dns_lookup {
        enum dns_lookup_result result;
        const struct dns_node *node;
        unsigned label; /* index in the name of the label where node sits */
};

/* Label index of the zone's apex in a name that is at or below it. */
static inline unsigned dns_zone_apex_label(const struct dns_zone *zone,
                                           const struct dns_lname *name)
{
        return name->nlabels - zone->origin_labels;
}

/*
 * Finds `name` (at or below the apex) following RFC 1034/4592.  A cut at the
 * name itself is reported as FOUND when `at_cut_is_data` (DS queries are
 * answered from the parent side of a cut).
 */
void dns_zone_lookup(const struct dns_zone *zone, const struct dns_lname *name,
                     bool at_cut_is_data, struct dns_lookup *out);

/*
 * The same lookup continued from a node on its path: `node`, reached from
 * the apex by `name`'s labels with no cut above it, with `left` labels of
 * the name below it (where a warm-up walk below stopped), so that the
 * levels above are not walked again.
 */
void dns_zone_lookup_from(const struct dns_zone *zone, const struct dns_lname *name,
                          bool at_cut_is_data, const struct dns_node *node, unsigned left,
                          struct dns_lookup *out);

/*
 * Warming the cache for a later dns_zone_lookup() of `name`: each step
 * takes one hop of that lookup's path (hash-map levels, nodes, and finally
 * the records) and prefetches the next, so that a server can advance the
 * lookups of a whole batch of queries side by side and have their cache
 * misses overlap.  Both functions return false when the path is done.
 * It only reads, and skips cut handling.  When the name is missing below
 * a node, the walk goes on to that node's wildcard child (what the lookup
 * looks for next, RFC 4592 §3.3.1), so that it is known too.
 */
struct dns_zone_warm {
        const struct dns_lname *name;
        const struct dns_node *node;
        const void *candidate; /* reached in the map, not yet compared */
        struct pmap_seek seek;
        unsigned label;              /* labels still to descend */
        bool star;                   /* seeking node's "*" child: the name's next
                                        label is not there */
        bool star_known;             /* the walk ended knowing both */
        const struct dns_node *wild; /* if so, node's "*" child, or NULL */
};

bool dns_zone_warm_begin(struct dns_zone_warm *warm, const struct dns_zone *zone,
                         const struct dns_lname *name);
bool dns_zone_warm_step(struct dns_zone_warm *warm);
/* After the walk ended (dns_zone_warm_begin or _step returned false): the
 * node of the name itself when no cut lay on the way (dns_zone_lookup()
 * finds it, DNS_LOOKUP_FOUND, whatever the type), or NULL. */
const struct dns_node *dns_zone_warm_found(const struct dns_zone_warm *warm);
/* After the walk ended: where it stopped, for dns_zone_lookup_from() (the
 * first cut on the way, the name's node, or the node whose child the name
 * does not have); *left receives the labels of the name below it. */
const struct dns_node *dns_zone_warm_stop(const struct dns_zone_warm *warm,
                                          unsigned *left);
/* After the walk ended: true when it showed that the name's next label
 * below the stop is missing, and found that node's wildcard child
 * (*wild, NULL: none) — dns_zone_lookup()'s answer, DNS_LOOKUP_WILDCARD or
 * DNS_LOOKUP_NXDOMAIN there; false otherwise. */
bool dns_zone_warm_wild(const struct dns_zone_warm *warm, const struct dns_node **wild);

/* The node of exactly this name, ignoring cuts (glue lookups); or NULL. */
const struct dns_node *dns_zone_find(const struct dns_zone *zone,
                                     const struct dns_lname *name);
/* The same for a name in wire form (uncompressed, any case, at or below
 * the apex: the caller checks), without preparing it as a lookup key:
 * only the labels below the apex are hashed (additional-section targets). */
const struct dns_node *dns_zone_find_wire(const struct dns_zone *zone,
                                          const uint8_t *wire);

/*
 * Calls fn for every node that holds data, with its owner name (wire,
 * lowercased); stops when fn returns non-zero and returns that value.
 */
int dns_zone_walk(const struct dns_zone *zone,
                  int (*fn)(const uint8_t *owner, const struct dns_rrsets *sets,
                            void *arg),
                  void *arg);

/* pmap callbacks for a node's children (key: a lowercased wire label). */
bool dns_node_match(const void *item, const void *key);
uint64_t dns_node_hash(const void *item, const void *parent_hash);

/* The SOA record of the zone (wire after the owner), or NULL. */
const uint8_t *dns_zone_soa(const struct dns_zone *zone, uint32_t *ttl);

#endif
