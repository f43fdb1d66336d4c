/*
 * logfence.c — stops a replica at its first failed log write (see
 * logfence.h).
 *
 * raft calls io->append with one of its own callbacks; the fence records
 * (request, raft's callback) in a list of writes in flight, hands the write
 * to raft_uv with its own callback, and on completion either gives the
 * result to raft (success, fence intact) or moves the record to the held
 * list and marks the replica failed.  The list is doubly linked: a
 * follower under load has many writes in flight, and they complete oldest
 * first, at the far end from where they were added.  Once failed, appends
 * are recorded as held without being written.  The replica's watch timer
 * notices `failed` and tells its owner.
 */
#include "consensus/logfence.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/zalloc.h"
#include "consensus/replica.h"

struct consensus_logfence_req {
        struct raft_io_append *req;
        raft_io_append_cb cb; /* raft's */
        void *data;           /* raft's req->data while the write is ours */
        struct consensus_replica *replica;
        struct consensus_logfence_req *next, *prev; /* prev: in flight only */
};

static struct consensus_replica *replica_of(struct raft_io *io)
{
        return (struct consensus_replica *)((char *)io -
                                            offsetof(struct consensus_replica, io));
}

static void link_req(struct consensus_logfence_req **list,
                     struct consensus_logfence_req *w)
{
        w->prev = NULL;
        w->next = *list;
        if (*list != NULL)
                (*list)->prev = w;
        *list = w;
}

static void unlink_req(struct consensus_logfence_req **list,
                       struct consensus_logfence_req *w)
{
        if (w->prev != NULL)
                w->prev->next = w->next;
        else
                *list = w->next;
        if (w->next != NULL)
                w->next->prev = w->prev;
        w->next = w->prev = NULL;
}

static void hold(struct consensus_logfence *f, struct consensus_logfence_req *w)
{
        w->next = f->held;
        f->held = w;
}

/* raft_strerror has no text for the newer codes (RAFT_NOTES.md). */
static const char *status_text(int status)
{
        switch (status) {
        case RAFT_NOSPACE:
                return "no space left on the device";
        case RAFT_IOERR:
                return "I/O error";
        case RAFT_NOMEM:
                return "out of memory";
        default:
                return raft_strerror(status);
        }
}

static void fence_fail(struct consensus_replica *r, int status)
{
        struct consensus_logfence *f = &r->fence;
        if (f->failed)
                return;
        f->failed = true;
        f->status = status;
        snprintf(f->message, sizeof(f->message),
                 "writing the raft log failed: %s%s%.200s", status_text(status),
                 r->io.errmsg[0] ? ": " : "", r->io.errmsg);
        LOG_ERROR("%s; this node stops (fail-stop) and recovers from its log and "
                  "snapshot when restarted with the fault fixed",
                  f->message);
}

/* raft_uv's callback: hands a successful write back to raft. */
static void on_appended(struct raft_io_append *req, int status)
{
        struct consensus_logfence_req *w = req->data;
        struct consensus_replica *r = w->replica;
        struct consensus_logfence *f = &r->fence;
        unlink_req(&f->inflight, w);
        req->data = w->data;
        if (status != 0 || f->failed) {
                fence_fail(r, status != 0 ? status : f->status);
                hold(f, w);
                return;
        }
        raft_io_append_cb cb = w->cb;
        free(w);
        cb(req, status);
}

static int fence_append(struct raft_io *io, struct raft_io_append *req,
                        const struct raft_entry entries[], unsigned n,
                        raft_io_append_cb cb)
{
        struct consensus_replica *r = replica_of(io);
        struct consensus_logfence *f = &r->fence;
        struct consensus_logfence_req *w = zalloc(1, sizeof(*w));
        if (w == NULL)
                return RAFT_NOMEM;
        w->req = req;
        w->cb = cb;
        w->data = req->data;
        w->replica = r;
        if (f->failed) {
                hold(f, w); /* nothing more is written */
                return 0;
        }
        link_req(&f->inflight, w);
        req->data = w;
        int rv = f->append(io, req, entries, n, on_appended);
        if (rv != 0) {
                unlink_req(&f->inflight, w);
                req->data = w->data;
                free(w);
        }
        return rv;
}

void consensus_logfence_install(struct consensus_replica *r)
{
        r->fence.append = r->io.append;
        r->io.append = fence_append;
}
