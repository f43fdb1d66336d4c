/*
 * zones_heap.c — heap per empty zone (apex SOA + two NS) of the replicated
 * state, measured with mallinfo2: N zones (default 100,000) are added to a
 * fresh cs_state twice, once as a snapshot restore adds them (the zones and
 * their record sets alone) and once as zone-creation commands (each also
 * leaving its change record).  The heap in use before and after, divided
 * by N, is printed for both.  No cluster, no I/O.
 *
 *   build/tools/bench/zones_heap [N]   (the normal build: under ASan
 *   mallinfo2 does not see the sanitizer's heap and reports 0)
 *
 * With --encode, also the snapshot of the restored zones: the time of a
 * whole encoding and of a copy-on-write view's, per zone (what a raft
 * snapshot costs per object at this catalog size), and of its decoding
 * into a fresh state (a restart's restore).
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consensus/snapshot.h"
#include "consensus/state.h"
#include "tools/bench/bench_util.h"

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Encodes st twice (whole, and through a view as raft's worker does), best
 * of three each, and prints the time per zone. */
static int encode_times(struct cs_state *st, unsigned n)
{
        double best[2] = {1e18, 1e18}, best_dec = 1e18;
        size_t len = 0;
        for (int round = 0; round < 3; round++)
                for (int how = 0; how < 2; how++) {
                        void *buf;
                        struct cs_frozen *f = NULL;
                        double t0 = now_ms();
                        int rc = how == 0 ? cs_snapshot_encode(st, &buf, &len)
                                          : cs_snapshot_freeze(st, &f);
                        if (rc == 0 && how == 1)
                                rc = cs_snapshot_encode_frozen(f, &buf, &len);
                        double t = now_ms() - t0;
                        if (f != NULL)
                                cs_snapshot_thaw(st, f);
                        if (rc != 0)
                                return rc;
                        free(buf);
                        if (t < best[how])
                                best[how] = t;
                }
        /* Decoding after the encodings: a decoded state freed in between
         * left the heap fragmented and slowed the next encoding 2x. */
        for (int round = 0; round < 3; round++) {
                void *buf;
                int rc = cs_snapshot_encode(st, &buf, &len);
                if (rc != 0)
                        return rc;
                struct cs_state back;
                char err[256];
                cs_state_init(&back);
                double d0 = now_ms();
                rc = cs_snapshot_decode(buf, len, &back, err, sizeof(err));
                double d = now_ms() - d0;
                cs_state_fini(&back);
                free(buf);
                if (rc != 0)
                        return rc;
                if (d < best_dec)
                        best_dec = d;
        }
        printf("encoded:  %u zones, %zu bytes; whole %.1f ms (%.0f ns per zone), "
               "view %.1f ms (%.0f ns per zone)\n",
               n, len, best[0], best[0] * 1e6 / n, best[1], best[1] * 1e6 / n);
        printf("decoded:  %u zones in %.1f ms (%.0f ns per zone)\n", n, best_dec,
               best_dec * 1e6 / n);
        return 0;
}

static size_t name_wire(const char *const *labels, uint8_t *out)
{
        size_t o = 0;
        for (; *labels; labels++) {
                size_t l = strlen(*labels);
                out[o++] = (uint8_t)l;
                memcpy(out + o, *labels, l);
                o += l;
        }
        out[o++] = 0;
        return o;
}

struct zone_data {
        uint8_t soa[128], ns[2][32];
        struct cs_rdata soa_v, ns_v[2];
};

static void zone_data_init(struct zone_data *d)
{
        static const char *const mname[] = {"ns1", "example", "net", NULL};
        static const char *const rname[] = {"hostmaster", "example", "net", NULL};
        static const char *const ns1[] = {"ns1", "example", "net", NULL};
        static const char *const ns2[] = {"ns2", "example", "net", NULL};
        size_t o = name_wire(mname, d->soa);
        o += name_wire(rname, d->soa + o);
        const uint32_t f[5] = {1, 3600, 600, 86400, 300};
        for (int i = 0; i < 5; i++)
                for (int b = 3; b >= 0; b--)
                        d->soa[o++] = (uint8_t)(f[i] >> (8 * b));
        d->soa_v = (struct cs_rdata){d->soa, (uint16_t)o};
        d->ns_v[0] = (struct cs_rdata){d->ns[0], (uint16_t)name_wire(ns1, d->ns[0])};
        d->ns_v[1] = (struct cs_rdata){d->ns[1], (uint16_t)name_wire(ns2, d->ns[1])};
}

static int restore_zones(struct cs_state *st, const struct zone_data *d, unsigned n)
{
        char err[256];
        for (unsigned i = 0; i < n; i++) {
                uint8_t origin[64];
                size_t len = bench_zone_origin(i, origin);
                char id[32];
                snprintf(id, sizeof(id), "Z%08u", i);
                struct cs_zone *z;
                int rc = cs_state_restore_zone(st, origin, len, id, "bench zone", 1000, 1,
                                               &z, err, sizeof(err));
                struct cs_rrset_spec soa = {origin, len, 6, "", 3600, &d->soa_v, 1, {0}};
                struct cs_rrset_spec ns = {origin, len, 2, "", 172800, d->ns_v, 2, {0}};
                if (rc == 0)
                        rc = cs_state_restore_rrset(z, &soa, err, sizeof(err));
                if (rc == 0)
                        rc = cs_state_restore_rrset(z, &ns, err, sizeof(err));
                if (rc != 0) {
                        fprintf(stderr, "restore zone %u: %s\n", i, err);
                        return rc;
                }
        }
        return 0;
}

static int create_zones(struct cs_state *st, const struct zone_data *d, unsigned n)
{
        struct cs_result res;
        cs_result_init(&res);
        int rc = 0;
        for (unsigned i = 0; i < n && rc == 0; i++) {
                uint8_t origin[64];
                size_t len = bench_zone_origin(i, origin);
                char id[32];
                snprintf(id, sizeof(id), "Z%08u", i);
                struct cs_zone_spec spec = {
                    .origin = origin,
                    .origin_len = len,
                    .zone_id = id,
                    .comment = "bench zone",
                    .soa = {origin, len, 6, "", 3600, &d->soa_v, 1, {0}},
                    .ns = {origin, len, 2, "", 172800, d->ns_v, 2, {0}},
                };
                struct cs_ctx ctx = {.index = i + 1, .timestamp_ms = 1000};
                rc = cs_state_zone_create(st, &ctx, &spec, &res);
                if (rc != 0)
                        fprintf(stderr, "create zone %u: %s\n", i, res.message);
                cs_result_reset(&res);
        }
        cs_result_fini(&res);
        return rc;
}

int main(int argc, char **argv)
{
        unsigned n = 100000;
        bool encode = false;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--encode") == 0)
                        encode = true;
                else
                        n = (unsigned)strtoul(argv[i], NULL, 10);
        }
        if (n == 0)
                return 2;
        struct zone_data d;
        zone_data_init(&d);
        printf("sizeof(struct cs_rrset) = %zu\n", sizeof(struct cs_rrset));

        struct cs_state st;
        size_t before = bench_heap_used();
        cs_state_init(&st);
        if (restore_zones(&st, &d, n) != 0)
                return 1;
        size_t after = bench_heap_used();
        printf("restored: %u zones, %.0f bytes per zone (zones and sets)\n", n,
               (double)(after - before) / n);
        if (encode && encode_times(&st, n) != 0)
                return 1;
        cs_state_fini(&st);

        before = bench_heap_used();
        cs_state_init(&st);
        if (create_zones(&st, &d, n) != 0)
                return 1;
        after = bench_heap_used();
        printf("created:  %u zones, %.0f bytes per zone (with its change record)\n", n,
               (double)(after - before) / n);
        cs_state_fini(&st);
        return 0;
}
