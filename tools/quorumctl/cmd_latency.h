/*
 * cmd_latency.h — the "latency-map" commands (load, show, delete) over
 * /v1/latency-map.
 */
#ifndef QUORUMCTL_CMD_LATENCY_H
#define QUORUMCTL_CMD_LATENCY_H

#include <jansson.h>

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

extern const struct quorumctl_opt quorumctl_latency_show_opts[];
extern const struct quorumctl_opt quorumctl_latency_delete_opts[];

int quorumctl_latency_load(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_latency_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_latency_delete(struct quorumctl_ctx *ctx,
                             const struct quorumctl_args *args);

/*
 * The entries of a load file: lines "PREFIX REGION RTT_MS" (blank lines and
 * # comments skipped), or a JSON document {"entries": [...]} as the API
 * takes.  Returns a new JSON array, or NULL with err ("FILE:LINE: why").
 */
json_t *quorumctl_latency_parse(const char *name, const char *text, size_t len, char *err,
                                size_t errlen);

#endif
