/*
 * geoip.h — the node's GeoIP database (--geoip-db): opened through geo/,
 * published to the query path as a struct dns_geo, reloaded on SIGHUP.
 *
 * A reload opens the file anew and publishes the new handle with a catalog
 * swap; the old one is closed after the readers' grace period, as a zone
 * change's old data is freed, so no query is dropped or answered from an
 * unmapped file.  A file that does not open leaves the current database in
 * place.  What is loaded (build time, type, size, when) is shown per node
 * in /v1/health.  The ISO 3166-2 subdivision names (for the flat schema)
 * and codes (for validating record sets) come from the iso-codes package.
 */
#ifndef NODE_GEOIP_H
#define NODE_GEOIP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "dns/db.h"
#include "geo/geo.h"

struct node_geoip {
        struct dns_db *db; /* borrowed */
        char path[512];
        bool loaded;
        struct geo_info info;
        uint64_t loaded_at; /* seconds since 1970 */
        uint64_t reloads;
        char error[320]; /* the last failure, "" when none */
};

/* Opens path (when non-empty) and publishes it.  0, or -1 with the reason
 * in g->error. */
int node_geoip_start(struct node_geoip *g, struct dns_db *db, const char *path);
/* Opens the file again; on failure the current database stays. */
int node_geoip_reload(struct node_geoip *g);
json_t *node_geoip_json(const struct node_geoip *g);

/* The ISO 3166-2 table (loaded once; empty when iso-codes is missing). */
const struct geo_names *node_geo_names(void);
/* Whether "GB" + "ENG" is a subdivision that exists (true when the table
 * could not be loaded and the code is 1..3 capitals or digits). */
bool node_geo_subdivision_exists(const char *country, const char *code);

#endif
