/*
 * join.h — a node started with --join asks a member to add it, again every
 * 2 s, until its log says it is a member (join.c).
 */
#ifndef NODE_JOIN_H
#define NODE_JOIN_H

#include <stdbool.h>
#include <uv.h>

#include "node/closing.h"
#include "node/cluster.h"
#include "node/config.h"

struct node_join {
        uv_loop_t *loop;
        const struct node_config *cfg;
        struct node_cluster *cluster;
        uv_timer_t timer;
        bool joining;                   /* a request is in flight */
        struct node_forward_call *call; /* that request, while it runs */
};

/* Starts asking when cfg->join is set (the timer exists either way). */
void node_join_start(struct node_join *j, uv_loop_t *loop, const struct node_config *cfg,
                     struct node_cluster *cluster);
/* Stops asking: the request in flight is cancelled (its answer never
 * comes) and the timer closed through g. */
void node_join_close(struct node_join *j, struct node_closing *g);

#endif
