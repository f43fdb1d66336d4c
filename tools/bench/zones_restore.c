/*
 * zones_restore.c — what a restart costs the replicated state at many
 * zones, in process (no cluster, no I/O):
 *
 *   1. N zones are written as a node writes them: per zone a zone-creation
 *      command (apex SOA + two NS) and a change batch upserting "ns1.<zone>"
 *      A, each encoded as a raft entry and applied by cs_fsm_apply_entry
 *      (decode and apply, what raft's apply does, and what a restart does
 *      for every entry of the log after its snapshot).  The last K entries
 *      of each kind are timed: the apply cost per entry at this size.
 *   2. The state is frozen and encoded as raft's worker does
 *      (cs_snapshot_freeze, cs_snapshot_encode_frozen).
 *   3. The encoding is restored into a fresh state (cs_snapshot_decode, what
 *      fsm_restore runs inside raft_start) R times; each restored state is
 *      encoded again and compared byte for byte with the original (the
 *      restore must rebuild the same state).
 *
 * Times are the thread's CPU clock (bench_util.h); restore is reported as
 * the median, min and max of R rounds, in ms and ns per zone.
 *
 * With --write FILE the encoding is also written to FILE (what raft's
 * snapshot holds before its compression: to time `lz4` on it).  With
 * --encode E the state is frozen and encoded E times more each of three
 * ways, in turn (msgpack alone; msgpack then LZ4 over the whole of it, as
 * raft's own compression did; the LZ4 frame the FSM writes, compressed as
 * it is packed), and the median, min and max of each are printed in ns
 * per object: what a snapshot costs per object at this size (the zones
 * were created in creation order and are walked in name order, as in a
 * cluster).  Each LZ4 frame after the first reuses the segments of the
 * last one where nothing changed (consensus/segments.h); --change C
 * upserts an A set in C zones picked at random before each: what a
 * snapshot costs after C writes spread over the whole catalog; --segment
 * B sets the segments' size (default CS_SEGMENT_BYTES).
 *
 *   build/tools/bench/zones_restore [--rounds R] [--apply K] [--encode E]
 *                                   [--change C] [--segment B] [--write FILE] N ...
 *   (default N 100000, R 5, K 20000, E 0, C 0)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/command.h"
#include "consensus/fsm.h"
#include "consensus/lz4frame.h"
#include "consensus/snapshot.h"
#include "consensus/state.h"
#include "tools/bench/bench_apex.h"
#include "tools/bench/bench_util.h"

/* Encodes cmd as a raft entry and applies it at `index`; CPU ns spent in
 * the apply (decode included) added to *ns. */
static int apply(struct cs_fsm *fsm, const struct cs_command *cmd, uint64_t index,
                 double *ns)
{
        struct raft_buffer buf;
        if (cs_command_encode(cmd, &buf) != 0)
                return -1;
        double t0 = bench_cpu_ns();
        const struct cs_result *res = cs_fsm_apply_entry(fsm, buf.base, buf.len, index);
        *ns += bench_cpu_ns() - t0;
        raft_free(buf.base);
        if (res->status != 0) {
                fprintf(stderr, "entry %llu: %s\n", (unsigned long long)index,
                        res->message);
                return -1;
        }
        return 0;
}

/* Upserts "ns1.<zone i>" A `a` as the raft entry at `index`. */
static int upsert_ns1(struct cs_fsm *fsm, unsigned i, const uint8_t a[4], uint64_t ms,
                      uint64_t index, double *ns)
{
        uint8_t origin[64], owner[80];
        size_t len = bench_zone_origin(i, origin);
        memcpy(owner, "\3ns1", 4);
        memcpy(owner + 4, origin, len);
        const struct cs_rdata a_v = {a, 4};
        struct cs_action act = {CS_ACTION_UPSERT,
                                {owner, len + 4, 1, "", 3600, &a_v, 1, {0}}};
        struct cs_command b = {.type = CS_CMD_CHANGE_BATCH, .timestamp_ms = ms};
        b.u.batch = (struct cs_batch){origin, len, NULL, &act, 1};
        return apply(fsm, &b, index, ns);
}

static int fill(struct cs_fsm *fsm, unsigned n, unsigned k)
{
        double t_create = 0, t_batch = 0;
        uint64_t index = 1;
        for (unsigned i = 0; i < n; i++) {
                uint8_t origin[64];
                size_t len = bench_zone_origin(i, origin);
                char id[32];
                snprintf(id, sizeof(id), "Z%08u", i);
                double ignore = 0;
                bool timed = i + k >= n;
                struct cs_command c = {.type = CS_CMD_ZONE_CREATE,
                                       .timestamp_ms = 1000 + i};
                c.u.zone_create = (struct cs_zone_spec){
                    .origin = origin,
                    .origin_len = len,
                    .zone_id = id,
                    .comment = "",
                    .soa = {origin, len, 6, "", 3600, &soa_v, 1, {0}},
                    .ns = {origin, len, 2, "", 172800, ns_v, 2, {0}},
                };
                if (apply(fsm, &c, index++, timed ? &t_create : &ignore) != 0)
                        return -1;
                uint8_t a[4] = {192, 0, 2, (uint8_t)(i % 250 + 1)};
                if (upsert_ns1(fsm, i, a, 1000 + i, index++,
                               timed ? &t_batch : &ignore) != 0)
                        return -1;
        }
        unsigned timed = k < n ? k : n;
        printf("applied:  %u zones (%llu entries); the last %u of each kind: zone "
               "creation %.0f ns, A upsert batch %.0f ns per entry\n",
               n, (unsigned long long)(index - 1), timed, t_create / timed,
               t_batch / timed);
        return 0;
}

static int restore_rounds(const void *buf, size_t len, unsigned n, unsigned rounds)
{
        double *t = calloc(rounds, sizeof(*t));
        if (t == NULL)
                return -1;
        int rc = 0;
        for (unsigned r = 0; r < rounds && rc == 0; r++) {
                struct cs_state back;
                char err[256];
                cs_state_init(&back);
                double t0 = bench_cpu_ns();
                rc = cs_snapshot_decode(buf, len, &back, err, sizeof(err));
                t[r] = bench_cpu_ns() - t0;
                if (rc != 0) {
                        fprintf(stderr, "restore: %s\n", err);
                        break;
                }
                if (r == 0) { /* the restored state encodes to the same bytes */
                        void *again;
                        size_t again_len;
                        rc = cs_snapshot_encode(&back, &again, &again_len);
                        if (rc == 0 && (again_len != len || memcmp(again, buf, len))) {
                                fprintf(stderr, "restore: the restored state encodes "
                                                "differently\n");
                                rc = -1;
                        }
                        if (rc == 0)
                                free(again);
                }
                cs_state_fini(&back);
        }
        if (rc == 0) {
                qsort(t, rounds, sizeof(*t), bench_cmp_double);
                printf("restored: %u zones, median %.1f ms (min %.1f, max %.1f, %u "
                       "rounds), %.0f ns per zone; re-encoding identical\n",
                       n, t[rounds / 2] / 1e6, t[0] / 1e6, t[rounds - 1] / 1e6, rounds,
                       t[rounds / 2] / n);
        }
        free(t);
        return rc;
}

static const char *write_to;   /* --write */
static unsigned encode_rounds; /* --encode */
static unsigned change_zones;  /* --change */
static size_t segment_bytes;   /* --segment (0: the default) */

/* The ways a snapshot is encoded, timed in turn each round. */
enum encoding { RAW, RAW_THEN_LZ4, FRAME, N_ENCODINGS };
static const char *const encoding_names[N_ENCODINGS] = {
    "msgpack", "msgpack, then LZ4 over it (raft's own compression)",
    "LZ4 frame packed and compressed at once (the FSM's)"};

/* Upserts "ns1.<zone>" A in `change_zones` zones picked at random (the
 * worst case for the snapshot's segments: changes spread over the whole
 * name order), as raft entries from `*index` on. */
static int change_some(struct cs_fsm *fsm, unsigned n, uint64_t *index)
{
        double ignore = 0;
        for (unsigned c = 0; c < change_zones; c++) {
                unsigned i = (unsigned)((uint64_t)rand() * n / ((uint64_t)RAND_MAX + 1));
                uint8_t a[4] = {198, 51, 100, (uint8_t)(c % 250 + 1)};
                if (upsert_ns1(fsm, i, a, 2000000 + *index, *index, &ignore) != 0)
                        return -1;
                (*index)++;
        }
        return 0;
}

/* One freeze and encoding of st the given way: CPU ns, and the bytes. */
static int encode_once(struct cs_state *st, enum encoding how, double *ns, size_t *bytes,
                       size_t *items)
{
        struct cs_frozen *f = NULL;
        void *buf = NULL, *frame = NULL;
        size_t len = 0;
        double t0 = bench_cpu_ns();
        int rc = cs_snapshot_freeze(st, &f);
        if (rc == 0 && how == FRAME)
                rc = cs_snapshot_encode_frozen_lz4(f, *bytes, &buf, &len);
        else if (rc == 0)
                rc = cs_snapshot_encode_frozen(f, &buf, &len);
        if (rc == 0 && how == RAW_THEN_LZ4) {
                struct cs_lz4_writer *w = cs_lz4_writer_new(0);
                rc = w == NULL ? -1 : cs_lz4_write(w, buf, len);
                if (w != NULL && rc == 0)
                        rc = cs_lz4_writer_finish(w, &frame, &len);
                else
                        cs_lz4_writer_free(w);
        }
        *ns = bench_cpu_ns() - t0;
        *bytes = len;
        if (f != NULL) {
                *items = cs_snapshot_frozen_items(f);
                cs_snapshot_thaw(st, f);
        }
        free(buf);
        free(frame);
        return rc;
}

/* Freezes and encodes st `encode_rounds` times each way, the ways in turn;
 * prints the medians in ns per object. */
static int encode_rounds_time(struct cs_fsm *fsm, struct cs_state *st, unsigned n)
{
        uint64_t index = 2 * (uint64_t)n + 1; /* after fill's entries */
        if (encode_rounds == 0)
                return 0;
        double *t = calloc((size_t)encode_rounds * N_ENCODINGS, sizeof(*t));
        size_t items = 0, bytes[N_ENCODINGS] = {0};
        int rc = t == NULL ? -1 : 0;
        for (unsigned r = 0; r < encode_rounds && rc == 0; r++)
                for (int e = 0; e < N_ENCODINGS && rc == 0; e++)
                        rc = (e == FRAME ? change_some(fsm, n, &index) : 0) ||
                             encode_once(st, (enum encoding)e,
                                         &t[(size_t)e * encode_rounds + r], &bytes[e],
                                         &items);
        for (int e = 0; e < N_ENCODINGS && rc == 0; e++) {
                double *te = t + (size_t)e * encode_rounds;
                qsort(te, encode_rounds, sizeof(*te), bench_cmp_double);
                printf("encoding: %s: %zu objects, %zu bytes, median %.1f ms (min %.1f, "
                       "max %.1f, %u rounds), %.0f ns per object\n",
                       encoding_names[e], items, bytes[e], te[encode_rounds / 2] / 1e6,
                       te[0] / 1e6, te[encode_rounds - 1] / 1e6, encode_rounds,
                       te[encode_rounds / 2] / (double)items);
        }
        free(t);
        return rc;
}

static int measure(unsigned n, unsigned rounds, unsigned k)
{
        struct cs_state st;
        struct cs_fsm fsm;
        cs_state_init(&st);
        st.segment_bytes = segment_bytes;
        cs_fsm_init(&fsm, &st);
        int rc = fill(&fsm, n, k);
        struct cs_frozen *f = NULL;
        void *buf = NULL;
        size_t len = 0;
        if (rc == 0) {
                double t0 = bench_cpu_ns();
                rc = cs_snapshot_freeze(&st, &f);
                if (rc == 0)
                        rc = cs_snapshot_encode_frozen(f, &buf, &len);
                double t = bench_cpu_ns() - t0;
                if (rc == 0)
                        printf("encoded:  %zu objects, %zu bytes in %.1f ms\n",
                               cs_snapshot_frozen_items(f), len, t / 1e6);
                if (f != NULL)
                        cs_snapshot_thaw(&st, f);
        }
        if (rc == 0)
                rc = encode_rounds_time(&fsm, &st, n);
        if (rc == 0 && write_to != NULL) {
                FILE *out = fopen(write_to, "wb");
                if (out == NULL || fwrite(buf, 1, len, out) != len || fclose(out) != 0) {
                        perror(write_to);
                        rc = -1;
                }
        }
        cs_fsm_close(&fsm);
        cs_state_fini(&st); /* restored without it alongside, as on a restart */
        if (rc == 0)
                rc = restore_rounds(buf, len, n, rounds);
        free(buf);
        return rc;
}

int main(int argc, char **argv)
{
        unsigned rounds = 5, k = 20000;
        int rc = 0, sizes = 0;
        for (int i = 1; i < argc && rc == 0; i++) {
                if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
                        rounds = (unsigned)strtoul(argv[++i], NULL, 10);
                        if (rounds == 0)
                                rounds = 1;
                } else if (strcmp(argv[i], "--write") == 0 && i + 1 < argc) {
                        write_to = argv[++i];
                } else if (strcmp(argv[i], "--encode") == 0 && i + 1 < argc) {
                        encode_rounds = (unsigned)strtoul(argv[++i], NULL, 10);
                } else if (strcmp(argv[i], "--segment") == 0 && i + 1 < argc) {
                        segment_bytes = (size_t)strtoul(argv[++i], NULL, 10);
                } else if (strcmp(argv[i], "--change") == 0 && i + 1 < argc) {
                        change_zones = (unsigned)strtoul(argv[++i], NULL, 10);
                } else if (strcmp(argv[i], "--apply") == 0 && i + 1 < argc) {
                        k = (unsigned)strtoul(argv[++i], NULL, 10);
                } else {
                        sizes++;
                        rc = measure((unsigned)strtoul(argv[i], NULL, 10), rounds, k);
                }
        }
        if (sizes == 0 && rc == 0)
                rc = measure(100000, rounds, k);
        return rc == 0 ? 0 : 1;
}
