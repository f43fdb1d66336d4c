/*
 * zone_files.c — a standalone node's zones, read from the zone files of its
 * settings (node/zone_files.h).
 *
 * Each file goes through dns_zonefile_load() and then api_routed_load(),
 * which reads the routed sets an export writes (node/api_routing.h), into a
 * transaction of the DNS database; errors are printed as file:line: message.
 * At start all files share one transaction, on SIGHUP each has its own.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/log.h"
#include "dns/db.h"
#include "dns/zonefile.h"
#include "node/api_routing.h"
#include "node/zone_files.h"

static void print_zone_error(void *ctx, const char *file, unsigned line, const char *msg)
{
        if (line > 0)
                fprintf(stderr, "%s:%u: %s\n", file, line, msg);
        else
                fprintf(stderr, "%s: %s\n", file, msg);
}

/* Loads one configured zone file into txn; returns 0 or a negative error. */
static int load_zone(struct dns_txn *txn, const struct node_zone_config *z,
                     size_t *records)
{
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        uint8_t *given = NULL;
        if (z->origin != NULL) {
                if (dns_name_from_text(z->origin, origin) != 0) {
                        fprintf(stderr, "%s: '%s' is not a valid zone name\n", z->path,
                                z->origin);
                        return -EINVAL;
                }
                given = origin;
        }
        struct dns_zonefile_stats stats;
        int rc =
            dns_zonefile_load(txn, z->path, given, NULL, print_zone_error, NULL, &stats);
        *records += stats.records;
        if (rc == 0) /* routed sets, as export writes them (node/api_routing.h) */
                rc = api_routed_load(txn, z->path, print_zone_error, NULL, records) != 0
                         ? -EINVAL
                         : 0;
        return rc;
}

int node_zone_files_load(struct dns_db *db, const struct node_config *cfg,
                         size_t *records)
{
        struct dns_txn txn;
        if (dns_txn_begin(db, &txn) != 0)
                return -ENOMEM;
        int failed = 0;
        *records = 0;
        for (unsigned i = 0; i < cfg->zone_count; i++)
                if (load_zone(&txn, &cfg->zones[i], records) != 0)
                        failed++;
        if (failed) {
                dns_txn_abort(&txn);
                return -EINVAL;
        }
        return dns_txn_commit(&txn);
}

void node_zone_files_reload(struct dns_db *db, const struct node_config *cfg)
{
        unsigned ok = 0;
        for (unsigned i = 0; i < cfg->zone_count; i++) {
                struct dns_txn txn;
                size_t records = 0;
                if (dns_txn_begin(db, &txn) != 0)
                        continue;
                if (load_zone(&txn, &cfg->zones[i], &records) != 0) {
                        dns_txn_abort(&txn);
                        LOG_ERROR("reload: %s has errors; its previous contents stay",
                                  cfg->zones[i].path);
                        continue;
                }
                if (dns_txn_commit(&txn) == 0)
                        ok++;
        }
        LOG_INFO("reload: %u of %u zone%s reloaded", ok, cfg->zone_count,
                 cfg->zone_count == 1 ? "" : "s");
}
