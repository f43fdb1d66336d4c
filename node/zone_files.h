/*
 * zone_files.h — a standalone node's zones, from the zone files of its
 * settings (--zone, `zone` lines).
 *
 * At start every file is loaded into one transaction of the DNS database:
 * all are published together or none, and the node then serves nothing.
 * On SIGHUP each file is loaded again in its own transaction, so that a file
 * with errors keeps its previous contents and holds back no other zone.
 * A cluster node's zones come from the replicated state instead.
 */
#ifndef NODE_ZONE_FILES_H
#define NODE_ZONE_FILES_H

#include <stddef.h>

#include "dns/db.h"
#include "node/config.h"

/* Loads every zone of cfg into db in one transaction; records counts what
 * the files hold.  0, or a negative error (each error printed on stderr). */
int node_zone_files_load(struct dns_db *db, const struct node_config *cfg,
                         size_t *records);
/* SIGHUP: each zone of cfg in its own transaction; logs how many were
 * reloaded and which kept their previous contents. */
void node_zone_files_reload(struct dns_db *db, const struct node_config *cfg);

#endif
