/*
 * api_relay.c — a follower relays a client's write to the leader's API and
 * follows it through leader changes (see api.h).
 *
 * A relay copies what it needs from the request (headers, body) and sends
 * it, with an idempotency key (the client's, or one made here), to the
 * leader this node knows.  While the answer is awaited, a timer watches the
 * node's view of the leader: when it changes, the exchange is cancelled and
 * the same request (same key, so it cannot be applied twice) is sent to the
 * new leader; when no leader is known for RELAY_NO_LEADER_MS, the client
 * gets 503 "outcome unknown, retry with the same Idempotency-Key".  A 503 or
 * a lost connection from the leader is handled the same way.  A successful
 * answer is held until this node's DNS serves the change itself
 * (read-your-writes: applied, and published), for at most 1 s.  Relays in
 * flight are listed on the API, so that a stopping node answers them and
 * closes their handles.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/api.h"
#include "node/forward.h"

#define RELAY_TIMEOUT_MS     30000 /* the whole relay, every attempt included */
#define RELAY_NO_LEADER_MS   1000  /* no leader known this long: answer 503 */
#define RELAY_WATCH_MS       20    /* how often the leader is looked at */
#define RELAY_SAME_LEADER_MS 200   /* pause before asking a leader that failed again */
#define RELAY_MAX_ATTEMPTS   8

enum relay_phase {
        RELAY_SENT,     /* an exchange with `leader` is in flight */
        RELAY_WAITING,  /* for a leader to send to (again) */
        RELAY_APPLYING, /* answered; waiting until this node serves `index` */
};

struct node_api_relay {
        struct node_api *api;
        struct node_http_request *r;
        struct node_api_relay *prev, *next; /* api->relays */
        uv_timer_t timer;
        struct node_forward_call *call; /* the exchange in flight, or NULL */
        enum relay_phase phase;
        uint64_t leader_id; /* the last leader asked (0: none yet) */
        char leader[96];    /* the same, for messages: "ID (RAFT-ADDRESS)" */
        uint64_t lost_at;   /* when no leader was known first (0: one is) */
        uint64_t failed_at; /* when `leader` last failed (0: it did not) */
        uint64_t deadline;  /* of the whole relay */
        unsigned attempts;
        char key[CS_REQUEST_ID_MAXLEN + 1];
        char *authorization, *content_type, *body;
        size_t body_len;
        /* the leader's successful answer, held for read-your-writes */
        uint64_t index;
        struct node_index_wait *served_wait; /* RELAY_APPLYING */
        int status;
        char *type, *answer;
        size_t len;
        bool unknown; /* the client was told the outcome is unknown */
};

static void relay_free(uv_handle_t *handle)
{
        struct node_api_relay *w = handle->data;
        free(w->authorization);
        free(w->content_type);
        free(w->body);
        free(w->type);
        free(w->answer);
        free(w);
}

/* Unlinks the relay, stops what runs and frees it; the client was answered. */
static void relay_end(struct node_api_relay *w)
{
        uint64_t now = uv_now(w->api->loop), started = w->deadline - RELAY_TIMEOUT_MS;
        node_api_metrics_relay(w->api, !w->unknown, now > started ? now - started : 0);
        if (w->call != NULL)
                node_forward_cancel(w->call);
        if (w->served_wait != NULL)
                node_cluster_wait_cancel(w->served_wait);
        if (w->prev != NULL)
                w->prev->next = w->next;
        else
                w->api->relays = w->next;
        if (w->next != NULL)
                w->next->prev = w->prev;
        node_http_release(w->r);
        uv_timer_stop(&w->timer);
        uv_close((uv_handle_t *)&w->timer, relay_free);
}

static void relay_unknown(struct node_api_relay *w, int status, const char *why)
{
        node_http_reply_error(w->r, status, status == 504 ? "LeaderTimeout" : "NoQuorum",
                              NULL,
                              "%s; the outcome is unknown: retry with the same "
                              "Idempotency-Key (%s)",
                              why, w->key);
        w->unknown = true;
        relay_end(w);
}

/* The change in a leader's answer ({"change":{"id":ID,"index":N}}): its
 * index, and its id into `id`; 0 when the answer names none. */
static uint64_t answered_change(const char *body, size_t len, char id[CS_ID_MAXLEN + 1])
{
        json_t *root = json_loadb(body, len, 0, NULL);
        json_t *change = json_object_get(root, "change");
        json_t *index = json_object_get(change, "index");
        const char *text = json_string_value(json_object_get(change, "id"));
        uint64_t out = 0;
        if (json_is_integer(index) && text != NULL && strlen(text) <= CS_ID_MAXLEN) {
                out = (uint64_t)json_integer_value(index);
                strcpy(id, text);
        }
        json_decref(root);
        return out;
}

static void on_tick(uv_timer_t *timer);

/* The leader failed or went away: wait for one to send to again.  False
 * when the relay gave up (and answered). */
static bool relay_wait(struct node_api_relay *w, bool leader_failed)
{
        w->phase = RELAY_WAITING;
        w->failed_at = leader_failed ? uv_now(w->api->loop) : 0;
        if (w->attempts < RELAY_MAX_ATTEMPTS)
                return true;
        relay_unknown(w, 503, "the leader changed or failed too often");
        return false;
}

/* The change the leader answered is served here (usually within a
 * heartbeat or two), or NODE_CLUSTER_SERVE_WAIT_MS passed: the answer goes out. */
static void on_served(void *ctx, int status)
{
        struct node_api_relay *w = ctx;
        w->served_wait = NULL;
        if (status != -ECANCELED)
                node_http_reply_text(w->r, w->status, w->type, w->answer, w->len);
        relay_end(w);
}

static void on_answer(void *ctx, int status, const char *type, const char *body,
                      size_t len)
{
        struct node_api_relay *w = ctx;
        type = type ? type : "application/json";
        body = body ? body : "";
        if (status == -ETIMEDOUT) {
                relay_unknown(w, 504, "the leader did not answer in time");
                return;
        }
        if (status == -ECANCELED) { /* this node stops: no leader is waited for */
                relay_unknown(w, 503, "this node is stopping");
                return;
        }
        if (status < 0 || status == 503) {
                LOG_DEBUG("relay %s: leader %s answered %d; waiting for a leader", w->key,
                          w->leader, status);
                relay_wait(w, true);
                return;
        }
        char change_id[CS_ID_MAXLEN + 1];
        uint64_t index =
            status >= 200 && status < 300 ? answered_change(body, len, change_id) : 0;
        if (index > 0 && !node_cluster_change_served(w->api->cluster, index, change_id)) {
                w->type = strdup(type);
                w->answer = malloc(len ? len : 1);
                if (w->type != NULL && w->answer != NULL) {
                        memcpy(w->answer, body, len);
                        w->len = len;
                        w->index = index;
                        w->status = status;
                        w->phase = RELAY_APPLYING;
                        w->served_wait = node_cluster_wait_served(
                            w->api->cluster, index, change_id, NODE_CLUSTER_SERVE_WAIT_MS,
                            on_served, w);
                        if (w->served_wait != NULL) {
                                uv_timer_stop(&w->timer); /* the leader's part is done */
                                return;
                        }
                }
        }
        node_http_reply_text(w->r, status, type, body, len);
        relay_end(w);
}

/* The leader this node knows (id 0: none), with its raft address and, where
 * known, its API address (used only by the plaintext transport). */
struct leader {
        uint64_t id;
        const char *raft;
        const char *api;
};

static struct leader leader_now(struct node_api *api)
{
        struct leader ld = {0};
        ld.id = node_cluster_leader(api->cluster, &ld.raft);
        ld.api = node_cluster_leader_api(api->cluster);
        return ld;
}

static void relay_send(struct node_api_relay *w, const struct leader *ld)
{
        uint64_t now = uv_now(w->api->loop);
        w->leader_id = ld->id;
        snprintf(w->leader, sizeof(w->leader), "%llu (%.64s)", (unsigned long long)ld->id,
                 ld->raft ? ld->raft : "?");
        w->lost_at = 0;
        w->failed_at = 0;
        w->attempts++;
        struct node_forward_request req = {
            .method = w->r->method,
            .target = w->r->target,
            .authorization = w->authorization,
            .idempotency_key = w->key,
            .content_type = w->content_type,
            .body = w->body ? w->body : "",
            .body_len = w->body_len,
            .timeout_ms = (unsigned)(w->deadline > now ? w->deadline - now : 1),
            .relayed = true,
            .call = &w->call,
        };
        w->phase = RELAY_SENT;
        if (w->attempts > 1)
                LOG_INFO("relay %s: sent again, to %s (attempt %u)", w->key, w->leader,
                         w->attempts);
        if (node_cluster_call(w->api->cluster, ld->id, ld->raft, ld->api, &req, on_answer,
                              w) != 0)
                relay_wait(w, true); /* no address or memory: try again after a pause */
}

static void on_tick(uv_timer_t *timer)
{
        struct node_api_relay *w = timer->data;
        uint64_t now = uv_now(w->api->loop);
        struct leader ld = leader_now(w->api);
        bool same = ld.id != 0 && ld.id == w->leader_id;
        if (w->phase == RELAY_SENT) {
                if (same)
                        return;
                /* The leader asked is no longer the leader: whatever it does
                 * with the request, the same key makes a retry safe. */
                LOG_INFO("relay %s: leader %s lost (now %llu)", w->key, w->leader,
                         (unsigned long long)ld.id);
                node_forward_cancel(w->call);
                if (!relay_wait(w, false))
                        return;
        }
        if (now >= w->deadline) {
                relay_unknown(w, 504, "no leader answered in time");
                return;
        }
        if (ld.id == 0) {
                if (w->lost_at == 0)
                        w->lost_at = now;
                else if (now - w->lost_at >= RELAY_NO_LEADER_MS)
                        relay_unknown(w, 503,
                                      "no leader is known to this node (election "
                                      "in progress, or this node is on the "
                                      "minority side of a partition)");
                return;
        }
        w->lost_at = 0;
        if (same && w->failed_at != 0 && now - w->failed_at < RELAY_SAME_LEADER_MS)
                return;
        relay_send(w, &ld);
}

static char *copy_header(struct node_http_request *r, const char *name, bool *oom)
{
        const char *v = node_http_header(r, name);
        char *out = v != NULL ? strdup(v) : NULL;
        if (v != NULL && out == NULL)
                *oom = true;
        return out;
}

bool node_api_forward_if_follower(struct node_api *api, struct node_http_request *r)
{
        if (node_cluster_is_leader(api->cluster))
                return false;
        struct leader ld = leader_now(api);
        if (node_http_header(r, "x-quorumdns-forwarded") != NULL || ld.id == 0) {
                node_http_reply_error(r, 503, "NoQuorum", NULL,
                                      "no leader is known to this node (election in "
                                      "progress, or this node is on the minority side of "
                                      "a partition); retry later");
                return true;
        }
        struct node_api_relay *w = calloc(1, sizeof(*w));
        bool oom = w == NULL;
        if (w != NULL) {
                w->authorization = copy_header(r, "authorization", &oom);
                w->content_type = copy_header(r, "content-type", &oom);
                w->body_len = r->body_len;
                w->body = malloc(r->body_len ? r->body_len : 1);
                oom = oom || w->body == NULL;
        }
        if (oom) {
                if (w != NULL) {
                        free(w->authorization);
                        free(w->content_type);
                        free(w->body);
                        free(w);
                }
                node_http_reply_error(r, 500, "Internal", NULL, "out of memory");
                return true;
        }
        if (r->body_len > 0)
                memcpy(w->body, r->body, r->body_len);
        /* The client's key, or one made here: every attempt carries the same.
         * The request id is "KEY\nFINGERPRINT"; the leader computes the
         * fingerprint from the relayed request, so only the key is sent and
         * the body is not hashed here (64 MB would hold the loop). */
        const char *key = node_http_header(r, "idempotency-key");
        if (node_api_request_key_check(r) != 0) {
                free(w->authorization);
                free(w->content_type);
                free(w->body);
                free(w);
                return true; /* answered 400 */
        }
        if (key != NULL) /* checked: it fits */
                snprintf(w->key, sizeof(w->key), "%s", key);
        else /* a random id: no fingerprint to hash */
                node_api_request_id_of(NULL, r->method, r->target, NULL, 0, w->key,
                                       sizeof(w->key));
        w->r = r;
        w->api = api;
        w->deadline = uv_now(api->loop) + RELAY_TIMEOUT_MS;
        w->next = api->relays;
        if (w->next != NULL)
                w->next->prev = w;
        api->relays = w;
        node_http_hold(r);
        uv_timer_init(api->loop, &w->timer);
        w->timer.data = w;
        uv_timer_start(&w->timer, on_tick, RELAY_WATCH_MS, RELAY_WATCH_MS);
        relay_send(w, &ld);
        return true;
}

void node_api_relays_cancel(struct node_api *api)
{
        while (api->relays != NULL) {
                struct node_api_relay *w = api->relays;
                if (w->phase == RELAY_APPLYING) { /* the leader's answer is known */
                        node_http_reply_text(w->r, w->status, w->type, w->answer, w->len);
                        relay_end(w);
                        continue;
                }
                node_http_reply_error(w->r, 503, "NoQuorum", NULL,
                                      "this node is stopping; the outcome is unknown: "
                                      "retry with the same Idempotency-Key (%s)",
                                      w->key);
                w->unknown = true;
                relay_end(w);
        }
}
