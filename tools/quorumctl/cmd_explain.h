/*
 * cmd_explain.h — "record explain": what every node answers a client, and why.
 */
#ifndef QUORUMCTL_CMD_EXPLAIN_H
#define QUORUMCTL_CMD_EXPLAIN_H

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

int quorumctl_record_explain(struct quorumctl_ctx *ctx,
                             const struct quorumctl_args *args);

#endif
