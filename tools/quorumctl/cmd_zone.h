/*
 * cmd_zone.h — the "zone" commands: create, list, show, delete, export
 * (import: cmd_import.h).
 */
#ifndef QUORUMCTL_CMD_ZONE_H
#define QUORUMCTL_CMD_ZONE_H

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

int quorumctl_zone_create(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_zone_list(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_zone_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_zone_delete(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_zone_export(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);

#endif
