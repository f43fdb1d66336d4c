/*
 * ready.h — when a cluster node has restored its state (and may open DNS),
 * and whether it is ready (GET /v1/health answers 200 only then).  See
 * ready.c for the rules.
 */
#ifndef NODE_READY_H
#define NODE_READY_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct node_cluster;

/* Right after raft_start: notes the restore target and starts checking;
 * c->restored_cb runs once when the node is restored.  0 or a libuv error. */
int node_ready_start(struct node_cluster *c);
/* From the cluster's tick: keeps the time a leader was last known. */
void node_ready_tick(struct node_cluster *c);
/* true when ready; otherwise false with a one-line reason. */
bool node_ready_check(struct node_cluster *c, char *reason, size_t size);
/* Closes the restore timer; cb as uv_close's (its data is c). */
void node_ready_close(struct node_cluster *c, uv_close_cb cb);

#endif
