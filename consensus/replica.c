/*
 * replica.c — raft + raft_uv + raft_uv_tcp on the node's loop (see replica.h).
 *
 * Start: transport → io (auto-recovery off, fast reconnect) → raft (timeouts,
 * pre-vote, snapshot policy) → bootstrap (refused harmlessly when the data
 * directory already has state) → start → watch timer.  Close runs the other
 * way; the io and transport close inside raft_close (closing them earlier
 * crashes libraft 0.15), and their memory is freed only once the loop has
 * run dry (consensus_replica_release: libraft's late close callbacks).
 */
#include "consensus/replica.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/zalloc.h"
#include "consensus/lz4frame.h"

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
        return rc > 0 ? consensus_error_of_raft(rc) : rc;
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
        if (!(r->open & OPEN_TRANSPORT))
                return;
        r->open &= ~OPEN_TRANSPORT;
        if (r->authenticated)
                consensus_transport_fini(&r->transport);
        else
                raft_uv_tcp_close(&r->transport);
}

void consensus_replica_release(struct consensus_replica *r)
{
        if (r->open & OPEN_IO)
                raft_uv_close(&r->io);
        r->open &= ~OPEN_IO;
        free_transport(r);
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
        int state = raft_state(&r->raft);
        if (!r->failed_told && !r->closing &&
            (r->fence.failed || (state == RAFT_UNAVAILABLE && r->last_state > 0))) {
                r->failed_told = true;
                if (r->fence.failed)
                        snprintf(r->failure, sizeof(r->failure), "%s", r->fence.message);
                else
                        snprintf(
                            r->failure, sizeof(r->failure),
                            "raft stopped on its own (it was %s; libraft: %s), and "
                            "would leave this node answering from a state that no "
                            "longer follows the cluster",
                            consensus_state_name((enum consensus_state)r->last_state),
                            raft_errmsg(&r->raft));
                if (r->failed_cb != NULL)
                        r->failed_cb(r);
                if (r->closing)
                        return;
        }
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

/* ---- libraft's heap: glibc's own, its zeroed blocks through zalloc -------------- */

static void *heap_malloc(void *data, size_t size)
{
        (void)data;
        return malloc(size);
}

static void heap_free(void *data, void *ptr)
{
        (void)data;
        free(ptr);
}

/* raft_calloc runs for every message raft encodes (its buffer list) and
 * every batch of entries it receives: small blocks that common/zalloc.h
 * takes from malloc's per-thread cache instead of the arena. */
static void *heap_calloc(void *data, size_t nmemb, size_t size)
{
        (void)data;
        return zalloc(nmemb, size);
}

static void *heap_realloc(void *data, void *ptr, size_t size)
{
        (void)data;
        return realloc(ptr, size);
}

static void *heap_aligned_alloc(void *data, size_t alignment, size_t size)
{
        (void)data;
        return aligned_alloc(alignment, size);
}

static void heap_aligned_free(void *data, size_t alignment, void *ptr)
{
        (void)data;
        (void)alignment;
        free(ptr);
}

static struct raft_heap zalloc_heap = {
    .malloc = heap_malloc,
    .free = heap_free,
    .calloc = heap_calloc,
    .realloc = heap_realloc,
    .aligned_alloc = heap_aligned_alloc,
    .aligned_free = heap_aligned_free,
};

/*
 * raft writes a snapshot the FSM made as it is: an LZ4 frame already,
 * compressed while it was packed (consensus/lz4frame.h).  One a follower
 * installs arrives as msgpack (the leader's raft decompressed its file to
 * send it), and raft compresses that one itself.  raft has one snapshot
 * put under way at a time (it refuses another while one is), so the
 * setting made here is the one its write reads.
 */
static int snapshot_put_framed(struct raft_io *io, unsigned trailing,
                               struct raft_io_snapshot_put *req,
                               const struct raft_snapshot *snapshot,
                               raft_io_snapshot_put_cb cb)
{
        struct consensus_replica *r =
            (struct consensus_replica *)((char *)io -
                                         offsetof(struct consensus_replica, io));
        bool framed = snapshot->n_bufs > 0 &&
                      cs_lz4_is_frame(snapshot->bufs[0].base, snapshot->bufs[0].len);
        raft_uv_set_snapshot_compression(io, !framed);
        return r->snapshot_put(io, trailing, req, snapshot, cb);
}

int consensus_replica_start(struct consensus_replica *r, uv_loop_t *loop,
                            struct raft_fsm *fsm,
                            const struct consensus_replica_config *cfg,
                            consensus_role_cb role_cb)
{
        memset(r, 0, sizeof(*r));
        raft_heap_set(&zalloc_heap); /* the same for every replica of the process */
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
        consensus_compacted_install(r);
        /* raft_uv implements async_work but says version 1; an FSM with
         * asynchronous snapshots (version 3) needs version 2 (RAFT_NOTES). */
        r->io.version = 2;
        raft_uv_set_auto_recovery(&r->io, false);
        /* Snapshots are LZ4 frames on disk (snapshot_put_framed): raft
         * must read them, which a libraft built without LZ4 cannot. */
        if (raft_uv_set_snapshot_compression(&r->io, true) != 0) {
                rc = RAFT_INVALID;
                fail(r, rc, "raft storage",
                     "this libraft was built without LZ4, which its snapshot files need");
                goto undo;
        }
        r->snapshot_put = r->io.snapshot_put;
        r->io.snapshot_put = snapshot_put_framed;
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
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = raft_start(&r->raft);
        if (rc != 0) {
                /* raft's own words for a damaged file vary with where the
                 * damage lies (a checksum, a count out of range, ...). */
                fail(r, rc,
                     rc == RAFT_CORRUPT
                         ? "raft start: the log or snapshot on disk is corrupt"
                         : "raft start",
                     raft_errmsg(&r->raft));
                goto undo;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        /* The loop answered nothing meanwhile (raft loads the snapshot and
         * the log synchronously); the entries after the snapshot are
         * applied once a leader confirms them, in one go. */
        LOG_INFO("raft started in %.0f ms: snapshot at index %llu, log to index %llu",
                 (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
                 (unsigned long long)r->raft.log.snapshot.last_index,
                 (unsigned long long)raft_last_index(&r->raft));
        uv_timer_init(loop, &r->watch);
        r->watch.data = r;
        r->open |= OPEN_WATCH;
        uv_timer_start(&r->watch, on_watch, 0, WATCH_INTERVAL_MS);
        return 0;
undo:
        /* Nothing has run on the loop yet: tear down synchronously. */
        if (r->open & OPEN_RAFT) {
                consensus_replica_close(r, NULL);
                while (!r->raft_closed) /* raft_start may have queued work */
                        uv_run(loop, UV_RUN_ONCE);
        }
        consensus_replica_release(r);
        return rc > 0 ? consensus_error_of_raft(rc) : (rc ? rc : -EIO);
}

static void on_applied(struct raft_apply *req, int status, void *result)
{
        struct proposal *p = (struct proposal *)req;
        p->cb(p->ctx, consensus_error_of_raft(status), status == 0 ? result : NULL);
        free(p);
}

int consensus_replica_propose(struct consensus_replica *r, void *buf, size_t len,
                              consensus_proposal_cb cb, void *ctx)
{
        if (len % 8 != 0) {
                raft_free(buf);
                return CONSENSUS_E_TOO_BIG; /* would corrupt followers (RAFT_NOTES #1) */
        }
        if (r->closing) {
                raft_free(buf);
                return CONSENSUS_E_SHUTDOWN;
        }
        if (r->fence.failed) {
                raft_free(buf);
                return CONSENSUS_E_STORAGE;
        }
        if (raft_state(&r->raft) != RAFT_LEADER) {
                raft_free(buf);
                return CONSENSUS_E_NOT_LEADER;
        }
        struct proposal *p = malloc(sizeof(*p));
        if (p == NULL) {
                raft_free(buf);
                return -ENOMEM;
        }
        p->cb = cb;
        p->ctx = ctx;
        struct raft_buffer b = {.base = buf, .len = len};
        int rc = raft_apply(&r->raft, &p->req, &b, 1, on_applied);
        if (rc != 0) {
                free(p);
                raft_free(buf);
                return consensus_error_of_raft(rc);
        }
        return 0;
}

bool consensus_replica_is_leader(struct consensus_replica *r)
{
        return raft_state(&r->raft) == RAFT_LEADER;
}

enum consensus_state consensus_replica_state(struct consensus_replica *r)
{
        switch (raft_state(&r->raft)) {
        case RAFT_FOLLOWER:
                return CONSENSUS_FOLLOWER;
        case RAFT_CANDIDATE:
                return CONSENSUS_CANDIDATE;
        case RAFT_LEADER:
                return CONSENSUS_LEADER;
        default:
                return CONSENSUS_UNAVAILABLE;
        }
}

const char *consensus_state_name(enum consensus_state state)
{
        switch (state) {
        case CONSENSUS_LEADER:
                return "leader";
        case CONSENSUS_CANDIDATE:
                return "candidate";
        case CONSENSUS_FOLLOWER:
                return "follower";
        default:
                return "unavailable";
        }
}

raft_id consensus_replica_leader(struct consensus_replica *r, const char **address)
{
        raft_id id = 0;
        const char *a = NULL;
        raft_leader(&r->raft, &id, &a);
        if (address != NULL)
                *address = a;
        return id;
}

uint64_t consensus_replica_term(struct consensus_replica *r)
{
        return r->raft.current_term;
}

uint64_t consensus_replica_applied(struct consensus_replica *r)
{
        return raft_last_applied(&r->raft);
}

uint64_t consensus_replica_commit_index(struct consensus_replica *r)
{
        return r->raft.commit_index;
}

uint64_t consensus_replica_last_index(struct consensus_replica *r)
{
        return raft_last_index(&r->raft);
}

uint64_t consensus_replica_snapshot_index(struct consensus_replica *r)
{
        return r->raft.log.snapshot.last_index;
}

uint64_t consensus_replica_peer_stalls(struct consensus_replica *r)
{
        return r->authenticated ? consensus_transport_stalled(&r->transport) : 0;
}

size_t consensus_replica_member_count(struct consensus_replica *r)
{
        return r->raft.configuration.n;
}

void consensus_replica_member_at(struct consensus_replica *r, size_t i,
                                 struct consensus_member *out)
{
        const struct raft_server *s = &r->raft.configuration.servers[i];
        *out = (struct consensus_member){s->id, s->address, s->role};
}

bool consensus_replica_member_find(struct consensus_replica *r, raft_id id,
                                   struct consensus_member *out)
{
        for (size_t i = 0; i < r->raft.configuration.n; i++) {
                if (r->raft.configuration.servers[i].id != id)
                        continue;
                if (out != NULL)
                        consensus_replica_member_at(r, i, out);
                return true;
        }
        return false;
}

/* ---- membership changes ----------------------------------------------------
 *
 * One change request (raft_add, then raft_assign for an add) and a zero
 * timer that reports the outcome from the loop when nothing had to change
 * or the second step could not start. */

struct member_change {
        struct raft_change req;
        struct consensus_replica *replica;
        raft_id id;
        int role;
        int status;
        uv_timer_t later;
        consensus_change_cb cb;
        void *ctx;
};

static void on_change_freed(uv_handle_t *handle)
{
        free(handle->data);
}

static void change_done(struct member_change *m, int status)
{
        m->cb(m->ctx, status);
        uv_close((uv_handle_t *)&m->later, on_change_freed);
}

static void on_change_later(uv_timer_t *timer)
{
        struct member_change *m = timer->data;
        change_done(m, m->status);
}

static void change_later(struct member_change *m, int status)
{
        m->status = status;
        uv_timer_start(&m->later, on_change_later, 0, 0);
}

static struct member_change *change_new(struct consensus_replica *r, raft_id id, int role,
                                        consensus_change_cb cb, void *ctx)
{
        struct member_change *m = calloc(1, sizeof(*m));
        if (m == NULL)
                return NULL;
        *m = (struct member_change){
            .replica = r, .id = id, .role = role, .cb = cb, .ctx = ctx};
        m->req.data = m;
        uv_timer_init(r->loop, &m->later);
        m->later.data = m;
        return m;
}

static void on_change_end(struct raft_change *req, int status)
{
        change_done(req->data, consensus_error_of_raft(status));
}

static void on_spare_added(struct raft_change *req, int status)
{
        struct member_change *m = req->data;
        if (status != 0) {
                change_done(m, consensus_error_of_raft(status));
                return;
        }
        int rc = raft_assign(&m->replica->raft, &m->req, m->id, m->role, on_change_end);
        if (rc != 0)
                change_done(m, consensus_error_of_raft(rc));
}

int consensus_replica_member_add(struct consensus_replica *r, raft_id id,
                                 const char *address, enum consensus_role role,
                                 consensus_change_cb cb, void *ctx)
{
        struct member_change *m = change_new(r, id, (int)role, cb, ctx);
        if (m == NULL)
                return -ENOMEM;
        if (consensus_replica_member_find(r, id, NULL)) {
                change_later(m, 0);
                return 0;
        }
        int rc = raft_add(&r->raft, &m->req, id, address, on_spare_added);
        if (rc != 0) {
                uv_close((uv_handle_t *)&m->later, on_change_freed);
                return consensus_error_of_raft(rc);
        }
        return 0;
}

int consensus_replica_member_remove(struct consensus_replica *r, raft_id id,
                                    consensus_change_cb cb, void *ctx)
{
        struct member_change *m = change_new(r, id, 0, cb, ctx);
        if (m == NULL)
                return -ENOMEM;
        if (!consensus_replica_member_find(r, id, NULL)) {
                change_later(m, 0);
                return 0;
        }
        int rc = raft_remove(&r->raft, &m->req, id, on_change_end);
        if (rc != 0) {
                uv_close((uv_handle_t *)&m->later, on_change_freed);
                return consensus_error_of_raft(rc);
        }
        return 0;
}

/* ---- errors ---------------------------------------------------------------- */

int consensus_error_of_raft(int rc)
{
        switch (rc) {
        case 0:
                return 0;
        case RAFT_NOMEM:
                return -ENOMEM;
        case RAFT_NOTLEADER:
                return CONSENSUS_E_NOT_LEADER;
        case RAFT_LEADERSHIPLOST:
        case RAFT_CANCELED:
                return CONSENSUS_E_LEADERSHIP_LOST;
        case RAFT_SHUTDOWN:
                return CONSENSUS_E_SHUTDOWN;
        case RAFT_IOERR:
        case RAFT_NOSPACE:
        case RAFT_CORRUPT:
                return CONSENSUS_E_STORAGE;
        case RAFT_CANTCHANGE:
                return CONSENSUS_E_CHANGE_BUSY;
        case RAFT_BADID:
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
        case RAFT_BADROLE:
        case RAFT_NOTFOUND:
                return CONSENSUS_E_BAD_MEMBER;
        case RAFT_TOOBIG:
        case RAFT_INVALID:
                return CONSENSUS_E_TOO_BIG;
        default:
                return CONSENSUS_E_RAFT;
        }
}

const char *consensus_strerror(int status)
{
        switch (status) {
        case 0:
                return "success";
        case CONSENSUS_E_NOT_LEADER:
                return "this node is not the leader";
        case CONSENSUS_E_LEADERSHIP_LOST:
                return "the leadership was lost before the entry was applied";
        case CONSENSUS_E_SHUTDOWN:
                return "the replica is shutting down";
        case CONSENSUS_E_STORAGE:
                return "a write to the raft log failed";
        case CONSENSUS_E_CHANGE_BUSY:
                return "a membership change is in progress";
        case CONSENSUS_E_BAD_MEMBER:
                return "no such member, or a duplicate id or address";
        case CONSENSUS_E_TOO_BIG:
                return "the entry is too big or badly aligned";
        case CONSENSUS_E_RAFT:
                return "raft error";
        default:
                return status < 0 && status > -CONSENSUS_ERROR_BASE ? strerror(-status)
                                                                    : "unknown error";
        }
}

bool consensus_outcome_unknown(int status)
{
        return status == CONSENSUS_E_LEADERSHIP_LOST || status == CONSENSUS_E_STORAGE;
}

static void transport_done(struct consensus_replica *r)
{
        if (r->close_cb != NULL)
                r->close_cb(r);
}

/* raft, its log and its io are closed.  libraft 0.15's io may still run its
 * close callback again: each late completion of its own closing (a log
 * segment's writer, for one; it does not wait for those) checks whether
 * everything is closed and, finding so, calls the callback once more (seen
 * under ASan in a stop under writes: the io's memory already freed here,
 * read as the callback's argument).  So what raft freed is forgotten (a
 * second pass frees nothing and calls nobody), and the io and transport are
 * freed only by consensus_replica_release, once the loop has run dry. */
static void on_raft_closed(struct raft *raft)
{
        struct consensus_replica *r = raft->data;
        r->raft_closed = true;
        raft->close_cb = NULL;
        raft->address = NULL;
        memset(&raft->log, 0, sizeof(raft->log));
        memset(&raft->configuration, 0, sizeof(raft->configuration));
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
