/*
 * geoip.h — the node's GeoIP database (--geoip-db): opened through geo/,
 * published to the query path as a struct dns_geo, reloaded on SIGHUP.
 *
 * Loading opens the file, reads its metadata and compiles its search tree
 * into a geo_table (geo/table.h: every network with its place, about 112 MB
 * and 2 s for GeoLite2-City); the file is then closed and queries read the
 * table only.  At start that happens before anything is served; a reload
 * (SIGHUP, the API) runs it on libuv's thread pool and publishes the new
 * table from the loop with a catalog swap, the old one freed after the
 * readers' grace period, as a zone change's old data is, so no query is
 * dropped or delayed.  A database whose tree cannot be compiled (not a
 * plain tree) is served from the file, as before.  A file that does not
 * open leaves the current database in place.  What is loaded (build time,
 * type, size, when, the table's size) is shown per node in /v1/health.
 * The ISO 3166-2 subdivision names (for the flat schema) and codes (for
 * validating record sets) come from the iso-codes package.
 */
#ifndef NODE_GEOIP_H
#define NODE_GEOIP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "dns/db.h"
#include "geo/geo.h"
#include "geo/table.h"

struct node_geoip_load;
struct node_geoip_waiter;

struct node_geoip {
        struct dns_db *db; /* borrowed */
        uv_loop_t *loop;   /* reloads on its pool; NULL: in the caller */
        char path[512];
        bool loaded;
        struct geo_info info;
        bool compiled;                /* queries read a table, not the file */
        struct geo_table_stats table; /* when compiled */
        double load_seconds;          /* the last load: open and compile */
        uint64_t loaded_at;           /* seconds since 1970 */
        uint64_t reloads;
        char error[320];                   /* the last failure, "" when none */
        struct node_geoip_load *loading;   /* on the pool, or NULL */
        bool again;                        /* load once more after it */
        struct node_geoip_waiter *waiting; /* for the next load to start */
};

/* Opens path (when non-empty), compiles and publishes it, here.  0, or -1
 * with the reason in g->error. */
int node_geoip_start(struct node_geoip *g, uv_loop_t *loop, struct dns_db *db,
                     const char *path);
/* Loads the file again off the loop (in the caller without one); on
 * failure the current database stays.  A reload asked for while one runs
 * runs after it.  0: started (or done), -1: no memory. */
int node_geoip_reload(struct node_geoip *g);
/* The same, then done(ctx, rc) on the loop once the new database is
 * published (rc 0) or failed (-1, reason in g->error); never called when
 * this returns -1. */
int node_geoip_reload_then(struct node_geoip *g, void (*done)(void *ctx, int rc),
                           void *ctx);
json_t *node_geoip_json(const struct node_geoip *g);

/* The ISO 3166-2 table (loaded once; empty when iso-codes is missing). */
const struct geo_names *node_geo_names(void);
/* Whether "GB" + "ENG" is a subdivision that exists (true when the table
 * could not be loaded and the code is 1..3 capitals or digits). */
bool node_geo_subdivision_exists(const char *country, const char *code);

#endif
