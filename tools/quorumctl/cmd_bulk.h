/*
 * cmd_bulk.h — `zone import-many`: many zones from master files in bulk
 * requests (POST /v1/zones/bulk).
 */
#ifndef QUORUMCTL_CMD_BULK_H
#define QUORUMCTL_CMD_BULK_H

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

int quorumctl_zone_import_many(struct quorumctl_ctx *ctx,
                               const struct quorumctl_args *args);

#endif
