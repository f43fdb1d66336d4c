/*
 * replica_fixtures.h — three raft replicas on one loop, for the tests of
 * the raft wiring (test_consensus_replica.c) and of the authenticated
 * transport (test_consensus_transport.c).
 *
 * Each replica has its own raft_uv data directory under a temporary
 * directory and a port on 127.0.0.1, a summing state machine (each entry's
 * first 8 bytes are added), and optionally a channel for the authenticated
 * transport.  The test drives the loop with run_until().
 */
#ifndef TESTS_REPLICA_FIXTURES_H
#define TESTS_REPLICA_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "consensus/replica.h"

#define N 3

struct sum_fsm {
        struct raft_fsm fsm;
        uint64_t sum;
        uint64_t applied;
};

static int sum_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
        struct sum_fsm *s = fsm->data;
        uint64_t v = 0;
        if (buf->len >= 8)
                memcpy(&v, buf->base, 8);
        s->sum += v;
        s->applied++;
        *result = NULL;
        return 0;
}

static int sum_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
        struct sum_fsm *s = fsm->data;
        *bufs = raft_malloc(sizeof(**bufs));
        (*bufs)[0].base = raft_malloc(16);
        (*bufs)[0].len = 16;
        memcpy((*bufs)[0].base, &s->sum, 8);
        memcpy((char *)(*bufs)[0].base + 8, &s->applied, 8);
        *n = 1;
        return 0;
}

static int sum_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
        struct sum_fsm *s = fsm->data;
        memcpy(&s->sum, buf->base, 8);
        memcpy(&s->applied, (char *)buf->base + 8, 8);
        raft_free(buf->base);
        return 0;
}

struct cluster {
        uv_loop_t loop;
        char base[64];
        char dir[N][96];
        char address[N][32];
        struct consensus_member members[N];
        struct consensus_replica replica[N];
        struct sum_fsm fsm[N];
        bool running[N];
        unsigned acked;
        /* Authenticated transport per replica (NULL: raft_uv_tcp). */
        const struct consensus_channel_ops *channel[N];
};

/* Picks N distinct free TCP ports on 127.0.0.1: every socket stays bound
 * until all are chosen, so the kernel cannot hand out one port twice. */
static void free_ports(unsigned ports[N])
{
        int fds[N];
        for (int i = 0; i < N; i++) {
                fds[i] = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in sa = {.sin_family = AF_INET};
                sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                assert_int_equal(bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
                socklen_t len = sizeof(sa);
                getsockname(fds[i], (struct sockaddr *)&sa, &len);
                ports[i] = ntohs(sa.sin_port);
        }
        for (int i = 0; i < N; i++)
                close(fds[i]);
}

static void start_one(struct cluster *c, int i)
{
        struct sum_fsm *f = &c->fsm[i];
        memset(f, 0, sizeof(*f));
        f->fsm.version = 1;
        f->fsm.data = f;
        f->fsm.apply = sum_apply;
        f->fsm.snapshot = sum_snapshot;
        f->fsm.restore = sum_restore;
        struct consensus_replica_config cfg = {
            .id = (raft_id)(i + 1),
            .address = c->address[i],
            .data_dir = c->dir[i],
            .bootstrap = c->members,
            .bootstrap_count = N,
            .election_timeout_ms = 300,
            .snapshot_threshold = 64,
            .channel = c->channel[i],
        };
        int rc = consensus_replica_start(&c->replica[i], &c->loop, &f->fsm, &cfg, NULL);
        if (rc != 0)
                fail_msg("start %d: %s", i, c->replica[i].error);
        c->running[i] = true;
}

static void on_closed(struct consensus_replica *r)
{
        *(bool *)r->data = true;
}

static void stop_one(struct cluster *c, int i)
{
        bool closed = false;
        c->replica[i].data = &closed;
        consensus_replica_close(&c->replica[i], on_closed);
        c->running[i] = false;
        while (!closed)
                uv_run(&c->loop, UV_RUN_ONCE);
        /* The other replicas keep the loop busy: a few rounds for the late
         * close callbacks of this one's io, then its memory goes. */
        for (int k = 0; k < 50; k++)
                uv_run(&c->loop, UV_RUN_NOWAIT);
        consensus_replica_release(&c->replica[i]);
}

static void on_tick(uv_timer_t *t)
{
        (void)t;
}

/* Runs the loop until pred(c) or timeout_ms; returns pred's last value. */
static bool run_until(struct cluster *c, bool (*pred)(struct cluster *),
                      unsigned timeout_ms)
{
        uv_timer_t tick;
        uv_timer_init(&c->loop, &tick);
        uv_timer_start(&tick, on_tick, 5, 5);
        uint64_t deadline = uv_now(&c->loop) + timeout_ms;
        bool ok = false;
        while (!(ok = pred(c)) && uv_now(&c->loop) < deadline)
                uv_run(&c->loop, UV_RUN_ONCE);
        uv_close((uv_handle_t *)&tick, NULL);
        uv_run(&c->loop, UV_RUN_NOWAIT);
        return ok;
}

static int leader_of(struct cluster *c)
{
        for (int i = 0; i < N; i++)
                if (c->running[i] && consensus_replica_is_leader(&c->replica[i]))
                        return i;
        return -1;
}

static bool has_leader(struct cluster *c)
{
        return leader_of(c) >= 0;
}

static uint64_t expected_sum;

static bool all_running_applied(struct cluster *c)
{
        for (int i = 0; i < N; i++)
                if (c->running[i] && c->fsm[i].sum != expected_sum)
                        return false;
        return true;
}

static void on_ack(void *ctx, int status, void *result)
{
        struct cluster *c = ctx;
        if (status == 0)
                c->acked++;
}

static void propose_values(struct cluster *c, int leader, uint64_t from, uint64_t to)
{
        for (uint64_t v = from; v < to; v++) {
                void *buf = raft_malloc(8);
                memcpy(buf, &v, 8);
                assert_int_equal(
                    consensus_replica_propose(&c->replica[leader], buf, 8, on_ack, c), 0);
                expected_sum += v;
        }
}

/* A cluster of N replica slots (none started) in a new directory
 * /tmp/<prefix>-XXXXXX. */
static inline struct cluster *cluster_new(const char *prefix)
{
        struct cluster *c = calloc(1, sizeof(*c));
        uv_loop_init(&c->loop);
        snprintf(c->base, sizeof(c->base), "/tmp/%s-XXXXXX", prefix);
        assert_non_null(mkdtemp(c->base));
        unsigned ports[N];
        free_ports(ports);
        for (int i = 0; i < N; i++) {
                snprintf(c->dir[i], sizeof(c->dir[i]), "%s/n%d", c->base, i + 1);
                mkdir(c->dir[i], 0700);
                snprintf(c->address[i], sizeof(c->address[i]), "127.0.0.1:%u", ports[i]);
                c->members[i] = (struct consensus_member){(raft_id)(i + 1), c->address[i],
                                                          RAFT_VOTER};
        }
        expected_sum = 0;
        return c;
}

/* Stops what runs, closes the loop, removes the directory. */
static inline void cluster_free(struct cluster *c)
{
        for (int i = 0; i < N; i++)
                if (c->running[i])
                        stop_one(c, i);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        uv_loop_close(&c->loop);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", c->base);
        assert_int_equal(system(cmd), 0);
        free(c);
}

#endif
