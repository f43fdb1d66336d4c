/*
 * table.h — a GeoIP database compiled into a longest-prefix table.
 *
 * geo_table_build() walks an open database's search tree once
 * (geo_db_walk()) and keeps, for every network, only what routing uses:
 * its place (continent, country, subdivision, coordinates), interned so
 * each distinct place is stored once, and the network's length.  The
 * networks go into a multibit trie: a 65,536-entry table for the first 16
 * bits of each family, nodes of 256 entries for the third byte, then nodes
 * of 16 entries (4 bits, one cache line); a network is written into every
 * entry it covers (leaf pushing), so a lookup reads one entry per level and
 * the place, nothing else: two reads for a client in a network of /24 or
 * shorter, the root's often cached.  The
 * IPv6 networks that lead into the IPv4 subtree (::/96 and the aliases) are
 * looked up in the IPv4 table with the address's next 32 bits.
 *
 * The table answers exactly what geo_db_lookup() answers for the same
 * database — found, codes, coordinates and the network's length — without
 * the file: no allocation, lock or system call, any number of threads.
 */
#ifndef GEO_TABLE_H
#define GEO_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "geo/geo.h"

struct geo_table;

/* What building took, for logs and the API. */
struct geo_table_stats {
        size_t networks; /* leaves of the tree (with data or empty) */
        size_t places;   /* distinct places */
        size_t nodes;    /* trie nodes (of 256 and 16 entries) */
        size_t bytes;    /* memory the table holds */
};

/* 0, -ENOMEM, -EINVAL (a tree geo_db_walk() refuses, or more than 2^23 - 2
 * distinct places), with a reason in err. */
int geo_table_build(const struct geo_db *db, struct geo_table **out, char *err,
                    size_t err_size);
void geo_table_free(struct geo_table *t);
void geo_table_stats(const struct geo_table *t, struct geo_table_stats *out);

/* As geo_db_lookup(): 0, or -EINVAL for an IPv6 address and an IPv4
 * database, or an unknown family. */
int geo_table_lookup(const struct geo_table *t, int family, const uint8_t *addr,
                     struct geo_place *out);

/*
 * Stepwise prefetch of what geo_table_lookup() of the same address will
 * read, for a caller with many addresses to look up: it advances each one
 * read per round and so waits for their cache misses together.  _begin
 * prefetches the root's entry; each _step reads the entry the last call
 * prefetched and prefetches the next (a node's entry, then the place).
 * Both return false when nothing is left to prefetch.  Only a hint: the
 * lookup's answer is the same with or without it.
 */
struct geo_table_warm {
        const uint32_t *at; /* the entry prefetched last */
        unsigned depth;     /* bits of the address used to reach it */
};

bool geo_table_warm_begin(const struct geo_table *t, int family, const uint8_t *addr,
                          struct geo_table_warm *w);
bool geo_table_warm_step(const struct geo_table *t, const uint8_t *addr,
                         struct geo_table_warm *w);

#endif
