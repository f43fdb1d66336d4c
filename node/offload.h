/*
 * offload.h — long API work (zone exports, import parsing) on libuv's
 * thread pool, one job at a time.
 *
 * A job waits in a FIFO until the previous one is done; when its turn
 * comes, `start` runs on the loop (it takes what the job needs from the
 * state, or answers and returns non-zero to skip the pool), then `work` on
 * a pool thread, then `done` on the loop with uv's status (it answers and
 * frees the job).  One job at a time keeps libuv's other pool threads for
 * raft's disk writes, which share the pool (RAFT_NOTES.md).
 */
#ifndef NODE_OFFLOAD_H
#define NODE_OFFLOAD_H

#include <stdbool.h>
#include <uv.h>

struct node_offload_job;

struct node_offload {
        uv_loop_t *loop;
        struct node_offload_job *head, *tail;
        bool running;
};

struct node_offload_job {
        uv_work_t work; /* private */
        int (*start)(struct node_offload_job *job);
        void (*work_cb)(struct node_offload_job *job);
        void (*done)(struct node_offload_job *job, int status);
        struct node_offload *queue; /* private */
        struct node_offload_job *next;
};

/* job is borrowed until its done callback (or its start returning non-zero,
 * after which the job is the start callback's to free). */
void node_offload_submit(struct node_offload *queue, uv_loop_t *loop,
                         struct node_offload_job *job);

#endif
