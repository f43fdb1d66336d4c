/*
 * cmd_stats.h — "stats": the main figures of every node, as a table.
 */
#ifndef QUORUMCTL_CMD_STATS_H
#define QUORUMCTL_CMD_STATS_H

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

int quorumctl_stats_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);

#endif
