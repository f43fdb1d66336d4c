/*
 * test_consensus_transport.c — the authenticated raft transport
 * (consensus/transport.c with node/identity.c's TLS channel) under real
 * raft on loopback.
 *
 * A CA, a second ("foreign") CA and node certificates are made in a
 * temporary directory with `quorumdns ca`'s code.  Three replicas on one
 * loop elect, replicate (small entries and one of 4 MiB, which crosses the
 * transport's queue limits), survive the loss of the leader, and catch a
 * restarted replica up by snapshot (threshold 64), all over TLS.  A replica
 * whose certificate names another node, or comes from another CA, is kept
 * out: the other two elect and commit while it applies nothing.  The side
 * channel (the nodes' own calls) carries bytes both ways between proven
 * nodes and refuses a wrong node or a node that takes none.  raft_uv's
 * handshake decoder is checked on good, short and hostile input.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "consensus/replica.h"
#include "consensus/transport.h"
#include "node/ca.h"
#include "node/identity.h"

#include "replica_fixtures.h"

static struct node_identity idents[N];

static int big_status; /* 1 in flight, 0 applied, < 0 failed */

static void on_big(void *ctx, int status, void *result)
{
        big_status = status;
}

static bool big_settled(struct cluster *c)
{
        return big_status < 0 || (big_status == 0 && all_running_applied(c));
}

static char pki[128];

/* Each replica's view, printed when a wait fails. */
static void describe(struct cluster *c)
{
        for (int i = 0; i < N; i++)
                if (c->running[i])
                        print_message(
                            "node %d: state %d, term %llu, commit %llu, applied %llu, "
                            "last %llu, fsm sum %llu (want %llu)\n",
                            i + 1, raft_state(&c->replica[i].raft),
                            (unsigned long long)c->replica[i].raft.current_term,
                            (unsigned long long)c->replica[i].raft.commit_index,
                            (unsigned long long)raft_last_applied(&c->replica[i].raft),
                            (unsigned long long)raft_last_index(&c->replica[i].raft),
                            (unsigned long long)c->fsm[i].sum,
                            (unsigned long long)expected_sum);
}

/* run_until, and on failure say where every replica is. */
static void wait_for(struct cluster *c, bool (*pred)(struct cluster *), unsigned ms,
                     const char *what)
{
        if (!run_until(c, pred, ms)) {
                describe(c);
                fail_msg("%s: not within %u ms", what, ms);
        }
}

static void ca_run(const char *a0, const char *a1, const char *a2, const char *a3,
                   const char *a4, const char *a5, const char *a6)
{
        char *argv[] = {(char *)a0, (char *)a1, (char *)a2, (char *)a3,
                        (char *)a4, (char *)a5, (char *)a6, NULL};
        int argc = 0;
        while (argv[argc] != NULL)
                argc++;
        assert_int_equal(node_ca_main(argc, argv), 0);
}

/* Loads node `id`'s identity from CA directory `ca` ("good" or "foreign"),
 * presenting the certificate of node `cert_of`. */
static void load_identity(struct cluster *c, int i, const char *ca, int id, int cert_of)
{
        char ca_file[256], cert[256], key[256], err[512];
        snprintf(ca_file, sizeof(ca_file), "%s/%s/ca.crt", pki, ca);
        snprintf(cert, sizeof(cert), "%s/%s/node-%d.crt", pki, ca, cert_of);
        snprintf(key, sizeof(key), "%s/%s/node-%d.key", pki, ca, cert_of);
        int rc = node_identity_load(&idents[i], (unsigned long long)cert_of, ca_file,
                                    cert, key, err, sizeof(err));
        if (rc != 0)
                fail_msg("identity %d: %s", id, err);
        c->channel[i] = &idents[i].channel;
}

static int group_setup(void **state)
{
        (void)state;
        strcpy(pki, "/tmp/qdns-transport-pki-XXXXXX");
        assert_non_null(mkdtemp(pki));
        char good[192], foreign[192], out[256];
        snprintf(good, sizeof(good), "%s/good", pki);
        snprintf(foreign, sizeof(foreign), "%s/foreign", pki);
        ca_run("init", good, NULL, NULL, NULL, NULL, NULL);
        ca_run("init", foreign, NULL, NULL, NULL, NULL, NULL);
        for (int i = 1; i <= N; i++) {
                char id[8];
                snprintf(id, sizeof(id), "%d", i);
                ca_run("issue", good, "--node-id", id, NULL, NULL, NULL);
                snprintf(out, sizeof(out), "%s/node-%d", foreign, i);
                ca_run("issue", foreign, "--node-id", id, "--out", out, NULL);
        }
        return 0;
}

static int group_teardown(void **state)
{
        (void)state;
        char cmd[192];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", pki);
        return system(cmd);
}

static int setup(void **state)
{
        struct cluster *c = cluster_new("qdns-transport");
        for (int i = 0; i < N; i++)
                load_identity(c, i, "good", i + 1, i + 1);
        *state = c;
        return 0;
}

static int teardown(void **state)
{
        cluster_free(*state);
        for (int i = 0; i < N; i++)
                node_identity_free(&idents[i]);
        return 0;
}

static void test_tls_cluster_replicates_and_survives_leader_loss(void **state)
{
        struct cluster *c = *state;
        for (int i = 0; i < N; i++)
                start_one(c, i);
        wait_for(c, has_leader, 15000, "has_leader");
        int leader = leader_of(c);
        propose_values(c, leader, 1, 301);
        wait_for(c, all_running_applied, 10000, "all_running_applied");
        assert_int_equal(c->acked, 300);

        /* One large entry, across many TLS records and socket buffers.  All
         * replicas share this one loop, so on a loaded machine handling it
         * may delay heartbeats into an election: then it is proposed again
         * on the new leader (applied once in all: the sum tells). */
        expected_sum += 7;
        for (int attempt = 0; attempt < 5 && !all_running_applied(c); attempt++) {
                /* A lost proposal may still commit under the new leader. */
                if (attempt > 0 && run_until(c, all_running_applied, 2000))
                        break;
                wait_for(c, has_leader, 15000, "has_leader");
                size_t big = 2u << 20;
                uint8_t *buf = raft_malloc(big);
                memset(buf, 0x5a, big);
                uint64_t v = 7;
                memcpy(buf, &v, 8);
                big_status = 1;
                assert_int_equal(consensus_replica_propose(&c->replica[leader_of(c)], buf,
                                                           big, on_big, c),
                                 0);
                run_until(c, big_settled, 20000);
        }
        wait_for(c, all_running_applied, 20000, "all_running_applied");

        /* Lose the leader: another is elected and takes writes. */
        stop_one(c, leader);
        wait_for(c, has_leader, 15000, "has_leader");
        int next = leader_of(c);
        assert_int_not_equal(next, leader);
        propose_values(c, next, 1000, 1100);
        wait_for(c, all_running_applied, 10000, "all_running_applied");

        /* The old leader restarts and catches up (by snapshot: threshold 64). */
        start_one(c, leader);
        wait_for(c, all_running_applied, 10000, "all_running_applied");
        assert_int_equal(c->fsm[leader].sum, expected_sum);
}

static bool others_applied(struct cluster *c)
{
        return c->fsm[0].sum == expected_sum && c->fsm[2].sum == expected_sum;
}

/* Replica index 1 (node 2) is the impostor; nodes 1 and 3 must still elect
 * and commit, and node 2 must apply nothing. */
static void impostor_is_kept_out(struct cluster *c)
{
        for (int i = 0; i < N; i++)
                start_one(c, i);
        wait_for(c, has_leader, 15000, "has_leader");
        int leader = leader_of(c);
        assert_int_not_equal(leader, 1);
        propose_values(c, leader, 1, 101);
        wait_for(c, others_applied, 10000, "others_applied");
        /* Give node 2 every chance to receive something. */
        run_until(c, all_running_applied, 1500);
        assert_int_equal(c->fsm[1].applied, 0);
        assert_false(consensus_replica_is_leader(&c->replica[1]));
}

static void test_certificate_of_another_node_is_refused(void **state)
{
        struct cluster *c = *state;
        node_identity_free(&idents[1]);
        load_identity(c, 1, "good", 2, 3); /* node 2 shows node 3's certificate */
        impostor_is_kept_out(c);
}

static void test_certificate_of_another_ca_is_refused(void **state)
{
        struct cluster *c = *state;
        node_identity_free(&idents[1]);
        load_identity(c, 1, "foreign", 2, 2);
        impostor_is_kept_out(c);
}

static void test_identity_must_match_node_and_ca(void **state)
{
        (void)state;
        struct node_identity id;
        char ca[256], cert[256], key[256], err[512];
        snprintf(ca, sizeof(ca), "%s/good/ca.crt", pki);
        snprintf(cert, sizeof(cert), "%s/good/node-3.crt", pki);
        snprintf(key, sizeof(key), "%s/good/node-3.key", pki);
        assert_int_equal(node_identity_load(&id, 2, ca, cert, key, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "node 3's certificate"));
        snprintf(cert, sizeof(cert), "%s/foreign/node-3.crt", pki);
        snprintf(key, sizeof(key), "%s/foreign/node-3.key", pki);
        assert_int_equal(node_identity_load(&id, 3, ca, cert, key, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "does not verify"));
        snprintf(key, sizeof(key), "%s/good/node-3.key", pki);
        assert_int_equal(node_identity_load(&id, 3, ca, cert, key, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "not the key of"));
        unsigned long long nid = 0;
        assert_int_equal(node_identity_file_id(cert, &nid), 0);
        assert_int_equal(nid, 3);
}

/* ---- the side channel ---------------------------------------------------- */

struct side_result {
        int status;
        raft_id peer;
        char got[64];
        bool done;
        uv_pipe_t pipe;
        bool pipe_open;
};

static struct side_result accepted_side;

static void echo_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
        static char space[256];
        buf->base = space;
        buf->len = sizeof(space);
}

static void echo_written(uv_write_t *req, int status)
{
        free(req);
}

/* The accepting side answers "pong:" and what it read, then closes. */
static void echo_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        if (n <= 0)
                return;
        static char reply[300];
        int len = snprintf(reply, sizeof(reply), "pong:%.*s", (int)n, buf->base);
        uv_write_t *w = malloc(sizeof(*w));
        uv_buf_t b = uv_buf_init(reply, (unsigned)len);
        uv_write(w, s, &b, 1, echo_written);
        uv_read_stop(s);
        uv_close((uv_handle_t *)s, NULL); /* the answer is still delivered */
}

static void on_side_accept(void *ctx, unsigned kind, raft_id peer, int fd)
{
        struct cluster *c = ctx;
        accepted_side.peer = peer;
        uv_pipe_init(&c->loop, &accepted_side.pipe, 0);
        uv_pipe_open(&accepted_side.pipe, fd);
        uv_read_start((uv_stream_t *)&accepted_side.pipe, echo_alloc, echo_read);
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct side_result *r = s->data;
        if (n > 0)
                strncat(r->got, buf->base,
                        (size_t)n < sizeof(r->got) - strlen(r->got) - 1
                            ? (size_t)n
                            : sizeof(r->got) - strlen(r->got) - 1);
        if (n < 0) {
                r->done = true;
                uv_close((uv_handle_t *)s, NULL);
        }
}

static struct cluster *side_cluster;
static struct side_result *side_pending;

static void side_connected(void *ctx, int status, raft_id peer, int fd)
{
        struct side_result *r = ctx;
        r->status = status;
        r->peer = peer;
        if (status != 0) {
                r->done = true;
                return;
        }
        uv_pipe_init(&side_cluster->loop, &r->pipe, 0);
        uv_pipe_open(&r->pipe, fd);
        r->pipe.data = r;
        uv_write_t *w = malloc(sizeof(*w));
        uv_buf_t b = uv_buf_init("ping", 4);
        uv_write(w, (uv_stream_t *)&r->pipe, &b, 1, echo_written);
        uv_read_start((uv_stream_t *)&r->pipe, echo_alloc, client_read);
}

static bool side_done(struct cluster *c)
{
        return side_pending->done;
}

/* Opens a side channel from replica `from` to node `id` at replica `at`'s
 * address, sends "ping" once it is open, and runs until it ends. */
static void side_run(struct cluster *c, struct side_result *r, int from, raft_id id,
                     int at)
{
        memset(r, 0, sizeof(*r));
        side_pending = r;
        assert_int_equal(consensus_transport_side_connect(&c->replica[from].transport, 0,
                                                          id, c->address[at],
                                                          side_connected, r),
                         0);
        wait_for(c, side_done, 5000, "side_done");
}

static void test_side_channel_authenticates_both_ends(void **state)
{
        struct cluster *c = *state;
        side_cluster = c;
        for (int i = 0; i < N; i++)
                start_one(c, i);
        consensus_transport_side_listen(&c->replica[0].transport, on_side_accept, c);
        wait_for(c, has_leader, 15000, "has_leader");

        /* Node 2 calls node 1: both proven by their certificates. */
        struct side_result r[4];
        side_run(c, &r[0], 1, 1, 0);
        assert_int_equal(r[0].status, 0);
        assert_int_equal(r[0].peer, 1);
        assert_int_equal(accepted_side.peer, 2);
        assert_string_equal(r[0].got, "pong:ping");

        /* Id 0: any node of the CA, and the callback says which. */
        side_run(c, &r[1], 2, 0, 0);
        assert_int_equal(r[1].status, 0);
        assert_int_equal(r[1].peer, 1);
        assert_int_equal(accepted_side.peer, 3);
        assert_string_equal(r[1].got, "pong:ping");

        /* Asking node 3's address for node 1: its certificate says no. */
        side_run(c, &r[2], 1, 1, 2);
        assert_int_not_equal(r[2].status, 0);

        /* Node 2 takes no side channels (no accept callback): nothing comes
         * back (TLS 1.3 lets the client finish first, so the refusal may
         * come as the end of the stream). */
        side_run(c, &r[3], 0, 2, 1);
        assert_string_equal(r[3].got, "");
        uv_run(&c->loop, UV_RUN_NOWAIT); /* the pipes' closes */
}

static void test_hello_decoder(void **state)
{
        (void)state;
        uint8_t buf[24 + CONSENSUS_HELLO_ADDRESS_MAX + 16];
        int len = consensus_hello_encode(CONSENSUS_HELLO_PROTOCOL, 42, "10.0.0.1:7000",
                                         buf, sizeof(buf));
        assert_int_equal(len, 24 + 16);
        memcpy(buf + len, "raft", 4);
        struct consensus_hello h;
        char why[160];
        for (int n = 0; n < len; n++)
                assert_int_equal(
                    consensus_hello_decode(buf, (size_t)n, &h, why, sizeof(why)),
                    -EAGAIN);
        assert_int_equal(
            consensus_hello_decode(buf, (size_t)len + 4, &h, why, sizeof(why)), len);
        assert_int_equal(h.id, 42);
        assert_string_equal(h.address, "10.0.0.1:7000");

        uint8_t bad[24 + 16];
        memcpy(bad, buf, sizeof(bad));
        bad[0] = 2; /* protocol */
        assert_int_equal(consensus_hello_decode(bad, sizeof(bad), &h, why, sizeof(why)),
                         -EPROTO);
        memcpy(bad, buf, sizeof(bad));
        memset(bad + 8, 0, 8); /* id 0 */
        assert_int_equal(consensus_hello_decode(bad, sizeof(bad), &h, why, sizeof(why)),
                         -EPROTO);
        memcpy(bad, buf, sizeof(bad));
        bad[22] = 1; /* an address of 2^48 bytes */
        assert_int_equal(consensus_hello_decode(bad, sizeof(bad), &h, why, sizeof(why)),
                         -EPROTO);
        assert_non_null(strstr(why, "address of"));
        memcpy(bad, buf, sizeof(bad));
        bad[16] = 15; /* an address field not padded to 8 bytes */
        assert_int_equal(consensus_hello_decode(bad, sizeof(bad), &h, why, sizeof(why)),
                         -EPROTO);
        memcpy(bad, buf, sizeof(bad));
        /* A side channel of a kind that does not exist, and one that does
         * (CONSENSUS_HELLO_PROTOCOL_SIDE is 0x716e6f6465). */
        memcpy(bad,
               (uint8_t[]){0x65 + CONSENSUS_SIDE_KINDS, 0x64, 0x6f, 0x6e, 0x71, 0, 0, 0},
               8);
        assert_int_equal(consensus_hello_decode(bad, sizeof(bad), &h, why, sizeof(why)),
                         -EPROTO);
        memcpy(bad, (uint8_t[]){0x65 + 1, 0x64, 0x6f, 0x6e, 0x71, 0, 0, 0}, 8);
        assert_int_equal(consensus_hello_decode(bad, sizeof(bad), &h, why, sizeof(why)),
                         40);
        assert_int_equal(h.protocol, CONSENSUS_HELLO_PROTOCOL_SIDE + 1);
        memcpy(bad, buf, sizeof(bad));
        memset(bad + 24, 'x', 16); /* not terminated */
        assert_int_equal(consensus_hello_decode(bad, sizeof(bad), &h, why, sizeof(why)),
                         -EPROTO);
        char longer[300];
        memset(longer, 'a', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        assert_int_equal(
            consensus_hello_encode(CONSENSUS_HELLO_PROTOCOL, 1, longer, buf, sizeof(buf)),
            -ENAMETOOLONG);
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN); /* a peer closing a raft connection (RAFT_NOTES #2) */
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_hello_decoder),
            cmocka_unit_test(test_identity_must_match_node_and_ca),
            cmocka_unit_test_setup_teardown(
                test_tls_cluster_replicates_and_survives_leader_loss, setup, teardown),
            cmocka_unit_test_setup_teardown(test_side_channel_authenticates_both_ends,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(test_certificate_of_another_node_is_refused,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(test_certificate_of_another_ca_is_refused,
                                            setup, teardown),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
