/*
 * cmd_import.h — "zone import": a master file staged on the cluster and
 * committed as one change (see cmd_import.c).
 */
#ifndef QUORUMCTL_CMD_IMPORT_H
#define QUORUMCTL_CMD_IMPORT_H

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

int quorumctl_zone_import(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);

#endif
