/*
 * cmd_change.h — the "change" commands: apply a batch from a file, show a
 * change, wait until it is INSYNC.
 */
#ifndef QUORUMCTL_CMD_CHANGE_H
#define QUORUMCTL_CMD_CHANGE_H

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

int quorumctl_change_apply(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_change_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_change_wait(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);

#endif
