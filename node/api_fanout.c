/*
 * api_fanout.c — a request answered with every member's view (see
 * api_fanout.h).  A count of answers still awaited, with this call's own
 * share taken first and dropped last, so the finish runs exactly once
 * whether the answers come later or every call failed at once.
 */
#include "node/api_fanout.h"

#include <stdlib.h>
#include <string.h>

#include "node/cluster.h"

struct fanout {
        struct node_http_request *r; /* held */
        struct node_api_fanout spec; /* target and key point into the strings below */
        json_t *nodes;
        unsigned pending;
        char *target, *key;
};

struct ask {
        struct fanout *f;
        json_t *item; /* borrowed from f->nodes */
};

static void done(struct fanout *f)
{
        if (--f->pending != 0)
                return;
        f->spec.finish(f->r, f->nodes, f->spec.ctx);
        node_http_release(f->r);
        json_decref(f->nodes);
        free(f->target);
        free(f->key);
        free(f);
}

static void set_item(struct fanout *f, json_t *item, json_t *got)
{
        json_object_set_new(item, "reachable", json_boolean(got != NULL));
        json_object_set_new(item, f->key, got ? got : json_null());
}

static void on_answer(void *ctx, int status, const char *type, const char *body,
                      size_t len)
{
        (void)type;
        struct ask *a = ctx;
        struct fanout *f = a->f;
        json_t *root = status > 0 && body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
        set_item(f, a->item, f->spec.member(status, root, f->spec.ctx));
        json_decref(root);
        free(a);
        done(f);
}

void node_api_fanout(struct node_api *api, struct node_http_request *r,
                     const struct node_api_fanout *spec)
{
        struct node_cluster *c = api->cluster;
        struct fanout *f = calloc(1, sizeof(*f));
        if (f != NULL) {
                f->target = strdup(spec->target);
                f->key = strdup(spec->key);
                f->nodes = json_array();
        }
        if (f == NULL || f->target == NULL || f->key == NULL || f->nodes == NULL) {
                if (f != NULL) {
                        free(f->target);
                        free(f->key);
                        json_decref(f->nodes);
                        free(f);
                }
                json_t *none = json_array(); /* out of memory: an empty list */
                spec->finish(r, none, spec->ctx);
                json_decref(none);
                return;
        }
        f->r = r;
        f->spec = *spec;
        f->spec.target = f->target;
        f->spec.key = f->key;
        f->pending = 1; /* this call's own share, dropped at the end */
        node_http_hold(r);
        for (size_t i = 0; i < c->state.n_members; i++) {
                const struct cs_member *m = &c->state.members[i];
                json_t *item =
                    json_pack("{s:I, s:s}", "id", (json_int_t)m->id, "name", m->name);
                if (item == NULL)
                        continue;
                json_array_append_new(f->nodes, item);
                if (m->id == api->cfg->node_id) {
                        set_item(f, item, spec->self(api, spec->ctx));
                        continue;
                }
                struct ask *a = malloc(sizeof(*a));
                struct node_forward_request req = {.method = "GET",
                                                   .target = f->target,
                                                   .timeout_ms = spec->timeout_ms,
                                                   .relayed = spec->relay};
                if (a != NULL) {
                        *a = (struct ask){f, item};
                        f->pending++;
                        if (node_cluster_call(c, m->id, m->raft_address, m->api_address,
                                              &req, on_answer, a) == 0)
                                continue;
                        f->pending--;
                        free(a);
                }
                set_item(f, item, NULL);
        }
        done(f);
}
