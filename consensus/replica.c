/*
 * replica.c — raft + raft_uv + raft_uv_tcp on the node's loop (see replica.h).
 *
 * Start: transport → io (auto-recovery off, fast reconnect) → raft (timeouts,
 * pre-vote, snapshot policy) → bootstrap (refused harmlessly when the data
 * directory already has state) → start → watch timer.  Close runs the other
 * way, and the io and transport are closed only from raft_close's callback
 * (closing them earlier crashes libraft 0.15).
 */
#include "consensus/replica.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

#define WATCH_INTERVAL_MS 20

enum { OPEN_TRANSPORT = 1, OPEN_IO = 2, OPEN_RAFT = 4, OPEN_WATCH = 8 };

struct proposal {
        struct raft_apply req;
        consensus_proposal_cb cb;
        void *ctx;
};

static int fail(struct consensus_replica *r, int rc, const char *what, const char *detail)
{
        snprintf(r->error, sizeof(r->error), "%s: %s", what,
                 detail && *detail ? detail : raft_strerror(rc));
        return rc > 0 ? -rc : rc;
}

/* A raft port already in use makes raft_start fail without a message. */
static bool port_free(const char *address)
{
        char host[64];
        const char *colon = strrchr(address, ':');
        if (colon == NULL || (size_t)(colon - address) >= sizeof(host))
                return false;
        memcpy(host, address, (size_t)(colon - address));
        host[colon - address] = '\0';
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return true; /* not IPv4: let raft report */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
                return true;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        return ok;
}

static void free_transport(struct consensus_replica *r)
{
        if (r->authenticated)
                consensus_transport_fini(&r->transport);
        else
                raft_uv_tcp_close(&r->transport);
}

/* Raft talks only with the servers of its configuration (RAFT_NOTES: 0.15
 * itself takes AppendEntries from anyone).  A node that has none yet (it
 * waits to be added) must hear from the leader that adds it: it admits any
 * authenticated node. */
static bool is_member(void *ctx, raft_id id)
{
        struct consensus_replica *r = ctx;
        const struct raft_configuration *conf = &r->raft.configuration;
        if (conf->n == 0)
                return true;
        for (unsigned i = 0; i < conf->n; i++)
                if (conf->servers[i].id == id)
                        return true;
        return false;
}

static void on_watch(uv_timer_t *timer)
{
        struct consensus_replica *r = timer->data;
        if (r->fence.failed && !r->failed_told && !r->closing) {
                r->failed_told = true;
                if (r->failed_cb != NULL)
                        r->failed_cb(r);
                if (r->closing)
                        return;
        }
        int state = raft_state(&r->raft);
        raft_id leader = 0;
        const char *address = NULL;
        raft_leader(&r->raft, &leader, &address);
        if (state != r->last_state || leader != r->last_leader) {
                r->last_state = state;
                r->last_leader = leader;
                if (r->role_cb != NULL)
                        r->role_cb(r, state, leader, address);
        }
}

int consensus_replica_start(struct consensus_replica *r, uv_loop_t *loop,
                            struct raft_fsm *fsm,
                            const struct consensus_replica_config *cfg,
                            consensus_role_cb role_cb)
{
        memset(r, 0, sizeof(*r));
        r->loop = loop;
        r->role_cb = role_cb;
        r->last_state = -1;
        struct stat st;
        if (stat(cfg->data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
                snprintf(r->error, sizeof(r->error), "data directory %s does not exist",
                         cfg->data_dir);
                return -ENOENT;
        }
        if (!port_free(cfg->address)) {
                snprintf(r->error, sizeof(r->error),
                         "raft address %s is in use or not local", cfg->address);
                return -EADDRINUSE;
        }
        int rc;
        if (cfg->channel != NULL) {
                rc = consensus_transport_init(&r->transport, loop, cfg->channel);
                r->authenticated = rc == 0;
                if (rc == 0)
                        consensus_transport_admit(&r->transport, is_member, r);
        } else {
                rc = raft_uv_tcp_init(&r->transport, loop);
        }
        if (rc != 0)
                return fail(r, rc, "raft transport", NULL);
        r->open |= OPEN_TRANSPORT;
        rc = raft_uv_init(&r->io, loop, cfg->data_dir, &r->transport);
        if (rc != 0) {
                fail(r, rc, "raft storage", r->io.errmsg);
                goto undo;
        }
        r->open |= OPEN_IO;
        consensus_logfence_install(r);
        /* raft_uv implements async_work but says version 1; an FSM with
         * asynchronous snapshots (version 3) needs version 2 (RAFT_NOTES). */
        r->io.version = 2;
        raft_uv_set_auto_recovery(&r->io, false);
        raft_uv_set_connect_retry_delay(&r->io, 150);
        rc = raft_init(&r->raft, &r->io, fsm, cfg->id, cfg->address);
        if (rc != 0) {
                fail(r, rc, "raft", raft_errmsg(&r->raft));
                goto undo;
        }
        r->open |= OPEN_RAFT;
        r->raft.data = r;
        unsigned election = cfg->election_timeout_ms ? cfg->election_timeout_ms : 400;
        unsigned threshold = cfg->snapshot_threshold ? cfg->snapshot_threshold : 2048;
        raft_set_election_timeout(&r->raft, election);
        /* Followers learn that an entry committed from the next heartbeat, so
         * its interval bounds how soon every node serves a change. */
        unsigned heartbeat = cfg->heartbeat_ms ? cfg->heartbeat_ms : 15;
        raft_set_heartbeat_timeout(&r->raft,
                                   heartbeat < election / 4 ? heartbeat : election / 4);
        raft_set_pre_vote(&r->raft, true);
        raft_set_install_snapshot_timeout(&r->raft, 2000);
        raft_set_snapshot_threshold(&r->raft, threshold);
        raft_set_snapshot_trailing(&r->raft, threshold);
        if (cfg->bootstrap_count > 0) {
                struct raft_configuration conf;
                raft_configuration_init(&conf);
                for (size_t i = 0; i < cfg->bootstrap_count && rc == 0; i++)
                        rc = raft_configuration_add(&conf, cfg->bootstrap[i].id,
                                                    cfg->bootstrap[i].address,
                                                    cfg->bootstrap[i].role);
                if (rc == 0)
                        rc = raft_bootstrap(&r->raft, &conf);
                raft_configuration_close(&conf);
                if (rc != 0 && rc != RAFT_CANTBOOTSTRAP) {
                        fail(r, rc, "raft bootstrap", raft_errmsg(&r->raft));
                        goto undo;
                }
        }
        rc = raft_start(&r->raft);
        if (rc != 0) {
                fail(r, rc, "raft start", raft_errmsg(&r->raft));
                goto undo;
        }
        uv_timer_init(loop, &r->watch);
        r->watch.data = r;
        r->open |= OPEN_WATCH;
        uv_timer_start(&r->watch, on_watch, 0, WATCH_INTERVAL_MS);
        return 0;
undo:
        /* Nothing has run on the loop yet: tear down synchronously. */
        if (r->open & OPEN_RAFT) {
                consensus_replica_close(r, NULL);
                uv_run(loop, UV_RUN_NOWAIT);
        } else {
                if (r->open & OPEN_IO)
                        raft_uv_close(&r->io);
                free_transport(r);
        }
        return rc > 0 ? -rc : (rc ? rc : -EIO);
}

static void on_applied(struct raft_apply *req, int status, void *result)
{
        struct proposal *p = (struct proposal *)req;
        p->cb(p->ctx, status == 0 ? 0 : -status, status == 0 ? result : NULL);
        free(p);
}

int consensus_replica_propose(struct consensus_replica *r, void *buf, size_t len,
                              consensus_proposal_cb cb, void *ctx)
{
        if (len % 8 != 0) {
                raft_free(buf);
                return -RAFT_INVALID; /* would corrupt followers (RAFT_NOTES #1) */
        }
        if (r->closing) {
                raft_free(buf);
                return -RAFT_SHUTDOWN;
        }
        if (r->fence.failed) {
                raft_free(buf);
                return -RAFT_IOERR;
        }
        if (raft_state(&r->raft) != RAFT_LEADER) {
                raft_free(buf);
                return -RAFT_NOTLEADER;
        }
        struct proposal *p = malloc(sizeof(*p));
        if (p == NULL) {
                raft_free(buf);
                return -RAFT_NOMEM;
        }
        p->cb = cb;
        p->ctx = ctx;
        struct raft_buffer b = {.base = buf, .len = len};
        int rc = raft_apply(&r->raft, &p->req, &b, 1, on_applied);
        if (rc != 0) {
                free(p);
                raft_free(buf);
                return -rc;
        }
        return 0;
}

bool consensus_replica_is_leader(struct consensus_replica *r)
{
        return raft_state(&r->raft) == RAFT_LEADER;
}

static void transport_done(struct consensus_replica *r)
{
        if (r->close_cb != NULL)
                r->close_cb(r);
}

static void on_raft_closed(struct raft *raft)
{
        struct consensus_replica *r = raft->data;
        raft_uv_close(&r->io);
        free_transport(r);
        transport_done(r);
}

static void on_watch_closed(uv_handle_t *handle)
{
        (void)handle;
}

/* libraft 0.15 crashes inside raft_close when a write of log entries to the
 * local disk is still in flight (seen under a write load, one stop in four
 * or five under ASan: the aborted write releases its entries at a wrapped
 * index).  Closing therefore waits, at most CLOSE_DRAIN_MS, for a moment
 * with none in flight (usually a few ms); no new entry is proposed
 * meanwhile.  node/main.c closes every handle left 1 s after a stop, so the
 * wait must stay well below that. */
#define CLOSE_DRAIN_MS 500

static bool appends_in_flight(struct consensus_replica *r)
{
        if (r->fence.failed) /* held writes never end */
                return false;
        return r->raft.last_stored < raft_last_index(&r->raft);
}

static void close_raft(struct consensus_replica *r)
{
        if (r->open & OPEN_WATCH)
                uv_close((uv_handle_t *)&r->watch, on_watch_closed);
        r->raft.data = r;
        raft_close(&r->raft, on_raft_closed);
}

static void on_drain(uv_timer_t *timer)
{
        struct consensus_replica *r = timer->data;
        if (appends_in_flight(r)) {
                if (uv_now(r->loop) < r->drain_deadline)
                        return;
                LOG_WARN("raft: a log write still in flight after %d ms; closing anyway",
                         CLOSE_DRAIN_MS);
        }
        uv_timer_stop(timer);
        close_raft(r);
}

void consensus_replica_close(struct consensus_replica *r,
                             void (*close_cb)(struct consensus_replica *replica))
{
        r->close_cb = close_cb;
        r->closing = true;
        if ((r->open & OPEN_WATCH) && appends_in_flight(r)) {
                r->drain_deadline = uv_now(r->loop) + CLOSE_DRAIN_MS;
                uv_timer_stop(&r->watch);
                uv_timer_start(&r->watch, on_drain, 1, 1);
                return;
        }
        close_raft(r);
}
