/*
 * cmd_health.h — the "healthcheck" commands: create, list, show, update,
 * delete, set (MANUAL), heartbeat and status [--watch].
 */
#ifndef QUORUMCTL_CMD_HEALTH_H
#define QUORUMCTL_CMD_HEALTH_H

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

extern const struct quorumctl_opt quorumctl_health_create_opts[];
extern const struct quorumctl_opt quorumctl_health_status_opts[];

int quorumctl_health_create(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_health_list(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_health_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_health_delete(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_health_set(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_health_heartbeat(struct quorumctl_ctx *ctx,
                               const struct quorumctl_args *args);
int quorumctl_health_status(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);

#endif
