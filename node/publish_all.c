/*
 * publish_all.c — the whole replicated state published to DNS in slices
 * (see cluster_priv.h).
 *
 * After a snapshot is restored (at start inside raft_start, or installed
 * from the leader) every zone must reach the DNS engine: 2.4 us per zone,
 * 2.4 s at a million zones in one process and 18.9 s with three nodes
 * restoring on two cores.  Done in one go on the loop, the node answered
 * neither raft heartbeats nor the API meanwhile.  So the catalog is built
 * in a private dns_db (sharing the served db's transaction ids) by an
 * uncommitted transaction, a slice of zones per loop turn (at most
 * SLICE_MS, from an idle handle: the loop's I/O runs between slices), in
 * the zone index's
 * name order from a cursor (the text of the last zone published, so that
 * zones created or deleted meanwhile cannot lose the walk's place).  When
 * the walk ends, one transaction of the served db takes the whole built
 * catalog (dns_txn_zones_adopt): queries see the old catalog or the new
 * one, never a part of it.
 *
 * Meanwhile the served db is left as it was (on a restart it is empty and
 * DNS is not open yet: node/ready.c counts the node restored only once this
 * publish is done; after a snapshot installed at run time it is the state
 * before the install, and /v1/health says not ready).  Commands applied
 * meanwhile go to the build, not to the served db: a change to a zone the
 * walk has passed is published into the build as it happens; a zone the
 * walk has not reached is published later as the state has it then.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "consensus/wire.h"
#include "node/cluster_priv.h"

#define SLICE_MS    5  /* loop time per slice */
#define SLICE_CHECK 16 /* zones published between looks at the clock */

/* Test builds: QDNS_FAULT_PUBLISH_PACE=N:MS publishes at most N zones a
 * slice and waits MS ms between slices, so that a test sees a restart's
 * publish at a catalog size it can make quickly
 * (tests/system/test_restart_publish.py). */
static unsigned pace_zones, pace_ms;

static void pace_init(void)
{
#ifdef QDNS_FAULT_HOOKS
        static bool done;
        const char *env = getenv("QDNS_FAULT_PUBLISH_PACE");
        if (done || env == NULL)
                return;
        done = true;
        char *end = NULL;
        pace_zones = (unsigned)strtoul(env, &end, 10);
        pace_ms = end != NULL && *end == ':' ? (unsigned)strtoul(end + 1, NULL, 10) : 0;
#endif
}

struct node_rebuild {
        const char *what; /* for the log: "a restored snapshot" */
        struct dns_db db; /* private; its transaction ids are the served db's */
        struct dns_txn txn;
        char cursor[1024]; /* text of the last zone published; "" before the first */
        size_t zones;      /* published so far (the walk's; changes not counted) */
        unsigned slices;
        uint64_t started_ns, longest_ns;
};

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The zone index's text (consensus/zorder.h: lowercased, escapes as
 * cs_name_text writes them). */
static void text_of(const uint8_t *origin, size_t len, char *out, size_t size)
{
        cs_name_text(origin, len, out, size);
        for (char *p = out; *p; p++)
                *p = (char)tolower((unsigned char)*p);
}

/* Whether the walk has published this zone already (it sorts at or
 * before the cursor). */
static bool passed(const struct node_rebuild *rb, const uint8_t *origin, size_t len)
{
        if (rb->cursor[0] == '\0')
                return false;
        char text[1024];
        text_of(origin, len, text, sizeof(text));
        return strcmp(text, rb->cursor) <= 0;
}

static void on_slice(struct node_cluster *c);

static void on_idle(uv_idle_t *idle)
{
        on_slice(idle->data);
}

static void on_paced(uv_timer_t *timer)
{
        on_slice(timer->data);
}

/* The next slice: from an idle handle, which runs once per loop turn after
 * the I/O (a zero timer would not do: libuv 1.44 runs a timer restarted
 * with timeout 0 again in the same pass, and the loop never reached its
 * I/O until the whole publish was done); after delay_ms with a test
 * build's pace. */
static void slices_next(struct node_cluster *c, unsigned delay_ms)
{
        if (!c->rebuild_timer_ready)
                return; /* inside raft_start: node_cluster_start resumes */
        if (delay_ms > 0) {
                uv_idle_stop(&c->rebuild_idle);
                uv_timer_start(&c->rebuild_timer, on_paced, delay_ms, 0);
        } else {
                uv_idle_start(&c->rebuild_idle, on_idle);
        }
}

static void slices_stop(struct node_cluster *c)
{
        if (!c->rebuild_timer_ready)
                return;
        uv_idle_stop(&c->rebuild_idle);
        uv_timer_stop(&c->rebuild_timer);
}

void node_rebuild_free(struct node_cluster *c)
{
        struct node_rebuild *rb = c->rebuild;
        if (rb == NULL)
                return;
        c->rebuild = NULL;
        slices_stop(c);
        dns_txn_abort(&rb->txn);
        dns_db_fini(&rb->db);
        free(rb);
}

static void rebuild_free_later(void *arg)
{
        struct node_rebuild *rb = arg;
        dns_txn_abort(&rb->txn);
        dns_db_fini(&rb->db);
        free(rb);
}

/* The build failed (out of memory, a publish refused): dropped; the tick
 * starts it again (stale_all). */
static void rebuild_failed(struct node_cluster *c, const char *why)
{
        struct node_rebuild *rb = c->rebuild;
        if (c->publish_failures++ % 50 == 0)
                LOG_ERROR("publishing %s to DNS failed: %s; published again from the "
                          "start",
                          rb->what, why);
        c->rebuild = NULL;
        slices_stop(c);
        node_publish_discard(c, rebuild_free_later, rb);
        c->stale_all = true;
}

static void zones_free(void *arg)
{
        dns_zones_free(arg);
}

/* The walk is over: one commit of the served db takes the whole build. */
static void rebuild_finish(struct node_cluster *c)
{
        struct node_rebuild *rb = c->rebuild;
        struct dns_txn txn;
        struct dns_zones *old = NULL;
        int rc = dns_txn_begin(c->db, &txn);
        if (rc != 0) {
                rebuild_failed(c, "cannot begin a transaction");
                return;
        }
        rc = dns_txn_zones_adopt(&txn, &rb->txn, &old);
        rc = rc == 0 ? dns_txn_commit(&txn) : (dns_txn_abort(&txn), rc);
        if (rc != 0) {
                rebuild_failed(c, "out of memory");
                return;
        }
        uint64_t took = now_ns() - rb->started_ns;
        LOG_INFO("published %s: %zu zones in %llu ms (%u slices, the longest %.1f ms)",
                 rb->what, dns_db_current(c->db)->zone_count,
                 (unsigned long long)(took / 1000000), rb->slices,
                 (double)rb->longest_ns / 1e6);
        c->rebuild = NULL;
        slices_stop(c);
        if (old != NULL) /* a million zones take seconds to free */
                node_publish_discard(c, zones_free, old);
        node_publish_discard(c, rebuild_free_later, rb);
        if (c->n_stale == 0 && !c->stale_all)
                c->publish_failures = 0;
}

static void on_slice(struct node_cluster *c)
{
        struct node_rebuild *rb = c->rebuild;
        if (rb == NULL) {
                slices_stop(c);
                return;
        }
        uint64_t t0 = now_ns(), budget = (uint64_t)SLICE_MS * 1000000u;
        const struct cs_zone *zone =
            cs_state_zone_after(&c->state, rb->cursor[0] ? rb->cursor : NULL);
        const struct cs_zone *last = NULL;
        unsigned n = 0;
        while (zone != NULL) {
                if (node_publish_zone(c, &rb->txn, zone) != 0) {
                        rebuild_failed(c, rb->txn.error[0] ? rb->txn.error
                                                           : "out of memory");
                        return;
                }
                last = zone;
                rb->zones++;
                zone = cs_state_zone_next(zone);
                if (++n == pace_zones ||
                    (n % SLICE_CHECK == 0 && now_ns() - t0 >= budget))
                        break;
        }
        if (last != NULL)
                text_of(last->origin, last->origin_len, rb->cursor, sizeof(rb->cursor));
        rb->slices++;
        uint64_t took = now_ns() - t0;
        if (took > rb->longest_ns)
                rb->longest_ns = took;
        if (zone == NULL)
                rebuild_finish(c);
        else
                slices_next(c, pace_ms);
}

int node_rebuild_start(struct node_cluster *c, const char *what)
{
        if (c->rebuild != NULL) { /* a newer state: start again */
                slices_stop(c);
                node_publish_discard(c, rebuild_free_later, c->rebuild);
                c->rebuild = NULL;
        }
        struct node_rebuild *rb = calloc(1, sizeof(*rb));
        if (rb == NULL || dns_db_init(&rb->db) != 0) {
                free(rb);
                c->stale_all = true;
                return -ENOMEM;
        }
        dns_db_share_txn_ids(&rb->db, c->db);
        if (dns_txn_begin(&rb->db, &rb->txn) != 0) {
                dns_db_fini(&rb->db);
                free(rb);
                c->stale_all = true;
                return -ENOMEM;
        }
        pace_init();
        rb->what = what;
        rb->started_ns = now_ns();
        c->rebuild = rb;
        c->stale_all = false;
        c->n_stale = 0; /* the build takes every zone as the state has it */
        LOG_INFO("publishing %s to DNS: %zu zones, in slices of %d ms", what,
                 cs_state_zone_count(&c->state), SLICE_MS);
        /* Inside raft_start the timer does not exist yet: node_cluster_start
         * starts the slices once it does. */
        slices_next(c, 0);
        return 0;
}

void node_rebuild_resume(struct node_cluster *c)
{
        if (c->rebuild != NULL)
                slices_next(c, 0);
}

bool node_rebuild_progress(const struct node_cluster *c, size_t *done, size_t *total,
                           const char **what)
{
        if (c->rebuild == NULL)
                return false;
        *what = c->rebuild->what;
        *done = c->rebuild->zones;
        *total = cs_state_zone_count(&c->state);
        return true;
}

bool node_rebuild_zone(struct node_cluster *c, const uint8_t *origin, size_t len)
{
        struct node_rebuild *rb = c->rebuild;
        if (rb == NULL)
                return false;
        if (!passed(rb, origin, len))
                return true; /* the walk publishes it as the state has it then */
        const struct cs_zone *zone = cs_state_zone_get(&c->state, origin, len);
        int rc;
        if (zone != NULL) {
                rc = node_publish_zone(c, &rb->txn, zone); /* replaces it whole */
        } else {
                rc = dns_txn_zone_delete(&rb->txn, origin);
                rc = rc == -ENOENT ? 0 : rc;
        }
        if (rc != 0)
                rebuild_failed(c, rb->txn.error[0] ? rb->txn.error : "out of memory");
        return true;
}

bool node_rebuild_changes(struct node_cluster *c, const struct cs_zone *zone,
                          const struct cs_rrset_change *changes, size_t n)
{
        struct node_rebuild *rb = c->rebuild;
        if (rb == NULL)
                return false;
        if (!passed(rb, zone->origin, zone->origin_len))
                return true;
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++)
                rc = node_publish_rrset(c, &rb->txn, zone->origin, changes[i].owner,
                                        changes[i].type, changes[i].set_id,
                                        changes[i].rrset);
        if (rc != 0)
                rebuild_failed(c, rb->txn.error[0] ? rb->txn.error : "out of memory");
        return true;
}
