/*
 * api_cidr.h — /v1/cidrcollections: CIDR collections for IP-based routing
 * (Route 53's CreateCidrCollection, ListCidrCollections,
 * ListCidrLocations, ListCidrBlocks, ChangeCidrCollection,
 * DeleteCidrCollection; docs/API.md).
 *
 * The body of a change is parsed here into the command's form, every
 * problem reported with the JSON path of its field; the state machine then
 * checks what needs the collection (the version, a block in another
 * location, a location a record set names).
 */
#ifndef NODE_API_CIDR_H
#define NODE_API_CIDR_H

#include <jansson.h>

#include "consensus/cidr.h"
#include "node/api_json.h"

/* A parsed change: owns its arrays (free with node_cidr_change_free). */
struct node_cidr_change {
        struct cs_cidr_change change; /* id left NULL: the route gives it */
        struct cs_cidr_action *actions;
        struct cs_cidr_block *blocks;
        char (*locations)[CS_CIDR_LOCATION_MAXLEN + 1];
};

/*
 * {"collection_version": N (optional), "changes": [{"action": "PUT" |
 * "DELETE_IF_EXISTS", "location_name": "...", "cidr_list": ["192.0.2.0/24",
 * ...]}, ...]}.  Returns 0 when no error was added to errs.
 */
int node_cidr_change_parse(json_t *body, struct node_cidr_change *out,
                           struct api_errors *errs);
void node_cidr_change_free(struct node_cidr_change *c);

#endif
