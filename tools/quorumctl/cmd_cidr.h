/*
 * cmd_cidr.h — the "cidr" commands: CIDR collections for IP-based routing
 * (/v1/cidrcollections): create, list, show, blocks, put, delete-blocks,
 * apply and delete.
 */
#ifndef QUORUMCTL_CMD_CIDR_H
#define QUORUMCTL_CMD_CIDR_H

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

extern const struct quorumctl_opt quorumctl_cidr_change_opts[];

int quorumctl_cidr_create(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_cidr_list(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_cidr_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_cidr_blocks(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_cidr_put(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_cidr_delete_blocks(struct quorumctl_ctx *ctx,
                                 const struct quorumctl_args *args);
int quorumctl_cidr_apply(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_cidr_delete(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);

#endif
