/*
 * stage.c — a large import proposed as a staged import (consensus/
 * staging.c): several bounded raft entries instead of one that holds every
 * node's loop for seconds (BENCHMARKS.md, "Long API work and the loop").
 *
 * Data flow, on the leader's loop: the driver proposes STAGE_BEGIN (with
 * the zone's serial the actions were planned against and the import's
 * request id), the STAGE_COPY entries a large zone needs, then the actions
 * in chunks of NODE_STAGE_CHUNK — the deletions first, so that no chunk
 * meets a set a later chunk removes — one entry at a time, each proposed
 * once the previous one is applied here, and STAGE_COMMIT.  The HTTP
 * request is answered once: with the change (200), the errors of a rejected
 * chunk (400, after which the staging is aborted), or 503 when the
 * leadership was lost on the way (outcome unknown: the retry with the same
 * Idempotency-Key finds the change, or stages the import again).
 *
 * The leader also aborts, from the tick, every staging it does not drive:
 * those of a node that lost the leadership mid-import.  With the idle
 * timeout of the state machine, no staging outlives its import for long.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/api.h"
#include "node/cluster_priv.h"

struct stage_driver {
        struct node_api *api;
        struct node_http_request *r;
        uint8_t origin[256];
        size_t origin_len;
        char request_id[CS_REQUEST_ID_MAXLEN + 1];
        const struct cs_action *actions;
        size_t n, records;
        size_t *order;           /* actions in proposal order */
        struct cs_action *chunk; /* the chunk being encoded */
        void (*release)(void *owner);
        void *owner;
        uint64_t id;        /* the staging, once begun */
        size_t next;        /* next place in order */
        size_t chunk_first; /* place in order of the chunk in flight */
        uint32_t seq;
        size_t copies; /* STAGE_COPY entries still to propose */
        uint64_t started_ns;
};

/* ---- what this node drives ------------------------------------------------------- */

static void driven_add(struct node_cluster *c, uint64_t id)
{
        if (c->n_stage_driven < CS_STAGING_MAX)
                c->stage_driven[c->n_stage_driven++] = id;
}

static void driven_remove(struct node_cluster *c, uint64_t id)
{
        for (unsigned i = 0; i < c->n_stage_driven; i++)
                if (c->stage_driven[i] == id) {
                        c->stage_driven[i] = c->stage_driven[--c->n_stage_driven];
                        return;
                }
}

static bool driven(const struct node_cluster *c, uint64_t id)
{
        for (unsigned i = 0; i < c->n_stage_driven; i++)
                if (c->stage_driven[i] == id)
                        return true;
        return false;
}

static void on_orphan_aborted(void *ctx, int status, const struct cs_result *res)
{
        struct node_cluster *c = ctx;
        c->stage_aborting = false;
        if (status == 0 && res != NULL && res->status == 0)
                LOG_INFO(
                    "staged import aborted: its driver was lost with the leadership");
}

void node_stage_abort_orphans(struct node_cluster *c)
{
        if (c->stage_aborting)
                return;
        for (const struct cs_staging *s = c->state.stagings; s != NULL; s = s->next) {
                if (driven(c, s->id))
                        continue;
                struct cs_command cmd = {.type = CS_CMD_STAGE_ABORT};
                cmd.u.stage_id = s->id;
                c->stage_aborting = true;
                node_cluster_propose(c, &cmd, on_orphan_aborted, c);
                return; /* one at a time */
        }
}

/* ---- the driver ------------------------------------------------------------------ */

static void driver_free(struct stage_driver *d)
{
        if (d->id != 0)
                driven_remove(d->api->cluster, d->id);
        if (d->release != NULL)
                d->release(d->owner);
        node_http_release(d->r);
        free(d->order);
        free(d->chunk);
        free(d);
}

static void on_aborted(void *ctx, int status, const struct cs_result *res)
{
        driver_free(ctx);
}

/* After a rejected chunk: the answer is given; the staging goes. */
static void abort_staging(struct stage_driver *d)
{
        struct cs_command cmd = {.type = CS_CMD_STAGE_ABORT};
        cmd.u.stage_id = d->id;
        node_cluster_propose(d->api->cluster, &cmd, on_aborted, d);
}

/* The staging went before its commit (a new leader aborted it, or it was
 * idle): nothing changed, and the retry stages the import again. */
static bool reply_interrupted(struct stage_driver *d, int status,
                              const struct cs_result *res)
{
        if (status != 0 || res == NULL || res->n_errors > 0 ||
            (res->status != -ENOENT && res->status != -ECANCELED &&
             res->status != -EPROTO))
                return false;
        node_http_reply_error(d->r, 503, "ImportInterrupted", NULL,
                              "the staged import was discarded before its commit (%s): "
                              "nothing was changed; retry with the same Idempotency-Key",
                              res->message);
        return true;
}

static void on_committed(void *ctx, int status, const struct cs_result *res)
{
        struct stage_driver *d = ctx;
        struct node_api *api = d->api;
        if (reply_interrupted(d, status, res)) {
                /* answered */
        } else if (status != 0 || res == NULL || res->status != 0) {
                node_api_reply_result(d->r, status, res);
        } else {
                LOG_INFO("staged import: committed (staging %llu, %u chunks, %.0f ms)",
                         (unsigned long long)d->id, d->seq,
                         (double)(uv_hrtime() - d->started_ns) / 1e6);
                node_api_metrics_commit(api, uv_hrtime() - d->started_ns);
                const struct cs_change *change =
                    cs_state_change_get(&api->cluster->state, res->change_id);
                json_t *out = json_object();
                if (change != NULL)
                        json_object_set_new(out, "change",
                                            node_api_change_json(api, change));
                json_object_set_new(out, "records", json_integer((json_int_t)d->records));
                node_http_reply_json(d->r, 200, out);
        }
        driver_free(d);
}

static void propose_next(struct stage_driver *d);

static void on_chunk(void *ctx, int status, const struct cs_result *res)
{
        struct stage_driver *d = ctx;
        if (status != 0 || res == NULL) {
                node_api_reply_result(d->r, status, res);
                driver_free(d);
                return;
        }
        if (reply_interrupted(d, status, res)) {
                driver_free(d);
                return;
        }
        if (res->status != 0) {
                /* Errors name actions of the chunk: name them in the import.
                 * The FSM's result is ours until the next apply. */
                size_t first = d->chunk_first;
                struct cs_result *mine = (struct cs_result *)res;
                for (size_t i = 0; i < mine->n_errors; i++)
                        if (mine->errors[i].action != CS_ERROR_BATCH &&
                            first + mine->errors[i].action < d->n)
                                mine->errors[i].action =
                                    (uint32_t)d->order[first + mine->errors[i].action];
                node_api_reply_result(d->r, status, res);
                abort_staging(d);
                return;
        }
        propose_next(d);
}

static void propose_next(struct stage_driver *d)
{
        struct node_cluster *c = d->api->cluster;
        if (d->copies > 0) { /* the zone into the copy, first */
                d->copies--;
                d->chunk_first = d->next;
                struct cs_command cmd = {.type = CS_CMD_STAGE_COPY};
                cmd.u.stage_id = d->id;
                node_cluster_propose(c, &cmd, on_chunk, d);
                return;
        }
        if (d->next >= d->n) {
                struct cs_command cmd = {.type = CS_CMD_STAGE_COMMIT,
                                         .request_id = d->request_id};
                cmd.u.stage_id = d->id;
                node_cluster_propose_served(c, &cmd, on_committed, d);
                return;
        }
        size_t k = 0;
        d->chunk_first = d->next;
        for (; k < NODE_STAGE_CHUNK && d->next < d->n; k++)
                d->chunk[k] = d->actions[d->order[d->next++]];
        struct cs_command cmd = {.type = CS_CMD_STAGE_CHUNK};
        cmd.u.stage_chunk.id = d->id;
        cmd.u.stage_chunk.seq = ++d->seq;
        cmd.u.stage_chunk.batch =
            (struct cs_batch){d->origin, d->origin_len, "import", d->chunk, k};
        node_cluster_propose(c, &cmd, on_chunk, d);
}

static void on_begun(void *ctx, int status, const struct cs_result *res)
{
        struct stage_driver *d = ctx;
        struct node_api *api = d->api;
        if (status == 0 && res != NULL && res->status == 0 && res->duplicate) {
                const struct cs_change *change =
                    cs_state_change_get(&api->cluster->state, res->change_id);
                node_http_reply_json(
                    d->r, 200,
                    json_pack("{s:o}", "change",
                              change ? node_api_change_json(api, change) : json_null()));
                driver_free(d);
                return;
        }
        if (status != 0 || res == NULL || res->status != 0) {
                node_api_reply_result(d->r, status, res);
                driver_free(d);
                return;
        }
        d->id = res->index;
        driven_add(api->cluster, d->id);
        const struct cs_staging *s = cs_state_staging_get(&api->cluster->state, d->id);
        d->copies = s != NULL ? cs_staging_copy_steps(s) : 0;
        LOG_INFO("staged import: begun (staging %llu: %zu actions in chunks of %d)",
                 (unsigned long long)d->id, d->n, NODE_STAGE_CHUNK);
        propose_next(d);
}

void node_api_stage_import(struct node_api *api, struct node_http_request *r,
                           const struct cs_batch *batch, const char *request_id,
                           size_t records, void (*release)(void *owner), void *owner)
{
        const struct cs_zone *zone =
            cs_state_zone_get(&api->cluster->state, batch->origin, batch->origin_len);
        struct stage_driver *d = calloc(1, sizeof(*d));
        if (d != NULL) {
                d->order = malloc((batch->n_actions + 1) * sizeof(*d->order));
                d->chunk = malloc(NODE_STAGE_CHUNK * sizeof(*d->chunk));
        }
        if (zone == NULL || d == NULL || d->order == NULL || d->chunk == NULL) {
                if (d != NULL) {
                        free(d->order);
                        free(d->chunk);
                }
                free(d);
                if (zone == NULL)
                        node_http_reply_error(r, 404, "NoSuchZone", "zone",
                                              "the zone was deleted during the import");
                else
                        node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                if (release != NULL)
                        release(owner);
                return;
        }
        d->api = api;
        d->r = r;
        memcpy(d->origin, batch->origin, batch->origin_len);
        d->origin_len = batch->origin_len;
        snprintf(d->request_id, sizeof(d->request_id), "%s", request_id);
        d->actions = batch->actions;
        d->n = batch->n_actions;
        d->records = records;
        d->release = release;
        d->owner = owner;
        d->started_ns = uv_hrtime();
        size_t k = 0;
        for (size_t i = 0; i < d->n; i++)
                if (d->actions[i].kind == CS_ACTION_DELETE)
                        d->order[k++] = i;
        for (size_t i = 0; i < d->n; i++)
                if (d->actions[i].kind != CS_ACTION_DELETE)
                        d->order[k++] = i;
        node_http_hold(r);
        struct cs_command cmd = {.type = CS_CMD_STAGE_BEGIN, .request_id = d->request_id};
        cmd.u.stage_begin = (struct cs_stage_begin){
            d->origin, d->origin_len, zone->serial, api->cluster->cfg->node_id,
            d->n < CS_STAGING_SETS_MAX ? (uint32_t)d->n : CS_STAGING_SETS_MAX};
        node_cluster_propose(api->cluster, &cmd, on_begun, d);
}
