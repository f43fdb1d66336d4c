/*
 * cidr.h — named CIDR collections in the replicated state (IP-based
 * routing, Route 53's CidrCollection).
 *
 * A collection has an id (given by the API node that proposed its
 * creation), a unique name and a version that every change bumps.  It
 * holds locations: a name and the CIDR blocks (IPv4 and IPv6, any prefix
 * length) clients in those networks are routed by.  A block belongs to one
 * location of a collection; blocks of different locations may overlap (the
 * longest prefix wins on the query path).  A location exists while it has
 * blocks.
 *
 * Commands (consensus/command.h) create and delete collections and apply a
 * change: a list of PUT (add blocks to a location, creating it) and
 * DELETE_IF_EXISTS (remove the blocks that are there) actions, in order,
 * with an optional expected collection version (optimistic concurrency:
 * -ESTALE when it differs).  A change is validated whole, every error
 * collected, then applied or not at all; its cost is the change plus one
 * merge pass over the collection's sorted blocks.  A collection a record set
 * names cannot be deleted, nor can a location a record set names lose its
 * last block (-EBUSY).
 *
 * Blocks are kept in one array per collection sorted by (family, address,
 * length), each with the number of its location, so that listings and
 * snapshots are canonical and the query path's trie (common/lpm.h) is built
 * from the array as it is.  node/ hears of every change through `struct
 * cs_cidr_observer` and builds that trie.
 */
#ifndef CONSENSUS_CIDR_H
#define CONSENSUS_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/state.h"

/* CS_CIDR_ID_MAXLEN and CS_CIDR_LOCATION_MAXLEN are in state.h. */
#define CS_CIDR_NAME_MAXLEN     64 /* collection names: A-Z a-z 0-9 _ - */
#define CS_CIDR_COLLECTIONS_MAX 1000
#define CS_CIDR_BLOCKS_MAX      4000000 /* per collection */
#define CS_CIDR_LOCATIONS_MAX   65535   /* per collection */
#define CS_CIDR_CHANGE_MAX      1000000 /* blocks in one change */

/* One block as stored and as commands carry it.  family 4 or 6. */
struct cs_cidr_block {
        uint8_t family;
        uint8_t len;
        uint8_t addr[16]; /* masked to len; bytes past the family's width 0 */
};

struct cs_cidr_entry {
        struct cs_cidr_block block;
        uint32_t location; /* index in the collection's locations */
};

struct cs_cidr_location {
        char name[CS_CIDR_LOCATION_MAXLEN + 1];
        size_t blocks; /* how many entries name it (> 0) */
};

struct cs_cidr_collection {
        char id[CS_CIDR_ID_MAXLEN + 1];
        char name[CS_CIDR_NAME_MAXLEN + 1];
        uint64_t version; /* 1 at creation, +1 per change */
        uint64_t created_ms, updated_ms;
        struct cs_cidr_location *locations; /* in creation order */
        size_t n_locations;
        struct cs_cidr_entry *entries; /* sorted by block */
        size_t n_entries;
};

enum cs_cidr_action_kind { CS_CIDR_PUT = 1, CS_CIDR_DELETE_IF_EXISTS = 2 };

/* Inputs as commands carry them (borrowed). */
struct cs_cidr_action {
        uint32_t kind; /* enum cs_cidr_action_kind (checked) */
        const char *location;
        const struct cs_cidr_block *blocks;
        size_t count;
};

struct cs_cidr_change {
        const char *id;
        bool has_version; /* false: apply whatever the version */
        uint64_t version;
        const struct cs_cidr_action *actions;
        size_t n_actions;
};

/* struct cs_cidr_observer (state.h) hears of each applied collection
 * command on the applying thread; pointers are valid during the call. */
void cs_state_set_cidr_observer(struct cs_state *st, const struct cs_cidr_observer *obs);
void cs_cidr_table_fini(struct cs_cidr_table *t);

/* Text forms.  Blocks: "192.0.2.0/24", "2001:db8::/32".  Parse refuses host
 * bits past the length (-EINVAL with why in err). */
int cs_cidr_block_parse(const char *text, struct cs_cidr_block *out, char *err,
                        size_t errlen);
void cs_cidr_block_text(const struct cs_cidr_block *b, char *out, size_t len);
int cs_cidr_block_cmp(const struct cs_cidr_block *a, const struct cs_cidr_block *b);
/* Name rules: 1..max of A-Z a-z 0-9 _ - . */
bool cs_cidr_name_ok(const char *s, size_t max);

/* Operations (results as for the other commands). */
int cs_state_cidr_create(struct cs_state *st, const struct cs_ctx *ctx, const char *id,
                         const char *name, struct cs_result *res);
/* -ENOENT, or -EBUSY when a record set names the collection. */
int cs_state_cidr_delete(struct cs_state *st, const struct cs_ctx *ctx, const char *id,
                         struct cs_result *res);
/* -ENOENT, -ESTALE (version), -EINVAL (errors listed in res), -EBUSY. */
int cs_state_cidr_change(struct cs_state *st, const struct cs_ctx *ctx,
                         const struct cs_cidr_change *change, struct cs_result *res);

/* Queries. */
size_t cs_state_cidr_count(const struct cs_state *st);
/* The i-th collection by id, i < cs_state_cidr_count(). */
const struct cs_cidr_collection *cs_state_cidr_at(const struct cs_state *st, size_t i);
const struct cs_cidr_collection *cs_state_cidr_get(const struct cs_state *st,
                                                   const char *id);
/* The location named name, or NULL. */
const struct cs_cidr_location *cs_cidr_location_get(const struct cs_cidr_collection *c,
                                                    const char *name);
/* Location indexes in name order: out[i] is the i-th by name (n_locations). */
void cs_cidr_location_order(const struct cs_cidr_collection *c, uint32_t *out);

/* Snapshot restore: a collection as it was; locations in name order and
 * entries sorted by block (checked).  Everything is copied. */
int cs_state_cidr_restore(struct cs_state *st, const struct cs_cidr_collection *c,
                          char *err, size_t errlen);

#endif
