/*
 * admin_token.h — the admin token of a cluster node started without one.
 *
 * Without --api-token admin:…, the node keeps one in DATA_DIR/admin.token
 * (made at its first start, mode 600).  Enough for a one-node cluster; the
 * nodes of a larger cluster call each other with it, so they must share one:
 * give every node the same --api-token.
 */
#ifndef NODE_ADMIN_TOKEN_H
#define NODE_ADMIN_TOKEN_H

#include "node/config.h"

/* Adds the kept (or a new) admin token to cfg's tokens unless cfg has one:
 * 0, -ENOSPC (no room for another token) or a negative errno (the file). */
int node_admin_token_ensure(struct node_config *cfg);

#endif
