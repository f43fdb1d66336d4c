/*
 * offload.c — a FIFO of jobs run one at a time on libuv's pool (see
 * offload.h).  submit appends and, when nothing runs, starts the head;
 * each job's completion starts the next.
 */
#include "node/offload.h"

#include <stddef.h>

static void run_next(struct node_offload *q);

static void on_work(uv_work_t *work)
{
        struct node_offload_job *job = work->data;
        job->work_cb(job);
}

static void on_done(uv_work_t *work, int status)
{
        struct node_offload_job *job = work->data;
        struct node_offload *q = job->queue;
        job->done(job, status); /* frees the job */
        q->running = false;
        run_next(q);
}

static void run_next(struct node_offload *q)
{
        while (!q->running && q->head != NULL) {
                struct node_offload_job *job = q->head;
                q->head = job->next;
                if (q->head == NULL)
                        q->tail = NULL;
                job->next = NULL;
                if (job->start(job) != 0)
                        continue; /* answered (and freed) by start */
                job->work.data = job;
                int rc = uv_queue_work(q->loop, &job->work, on_work, on_done);
                if (rc != 0) {
                        job->done(job, rc);
                        continue;
                }
                q->running = true;
        }
}

void node_offload_submit(struct node_offload *q, uv_loop_t *loop,
                         struct node_offload_job *job)
{
        q->loop = loop;
        job->queue = q;
        job->next = NULL;
        if (q->tail != NULL)
                q->tail->next = job;
        else
                q->head = job;
        q->tail = job;
        run_next(q);
}
