/*
 * cmd_cluster.h — the "cluster" commands: status, health, join, remove.
 */
#ifndef QUORUMCTL_CMD_CLUSTER_H
#define QUORUMCTL_CMD_CLUSTER_H

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

int quorumctl_cluster_status(struct quorumctl_ctx *ctx,
                             const struct quorumctl_args *args);
int quorumctl_cluster_health(struct quorumctl_ctx *ctx,
                             const struct quorumctl_args *args);
int quorumctl_cluster_join(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_cluster_remove(struct quorumctl_ctx *ctx,
                             const struct quorumctl_args *args);

#endif
