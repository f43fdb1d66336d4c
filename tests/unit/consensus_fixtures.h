/*
 * consensus_fixtures.h — builders shared by the consensus unit tests: wire
 * names from text, an SOA RDATA, a zone spec, and change batches whose names
 * and values live in a small arena owned by the test.
 */
#ifndef TESTS_CONSENSUS_FIXTURES_H
#define TESTS_CONSENSUS_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "consensus/state.h"

static inline size_t to_wire(const char *text, uint8_t *out)
{
        size_t o = 0;
        const char *p = text;
        if (strcmp(text, ".") == 0) {
                out[0] = 0;
                return 1;
        }
        while (*p) {
                const char *dot = strchr(p, '.');
                size_t l = dot ? (size_t)(dot - p) : strlen(p);
                out[o++] = (uint8_t)l;
                memcpy(out + o, p, l);
                o += l;
                p += l;
                if (*p == '.')
                        p++;
        }
        out[o++] = 0;
        return o;
}

/* SOA RDATA: ns1.<zone> hostmaster.<zone> serial 3600 600 86400 300 */
static inline size_t soa_rdata(uint8_t *out, uint32_t serial)
{
        size_t o = to_wire("ns1.example.com.", out);
        o += to_wire("hostmaster.example.com.", out + o);
        uint32_t f[5] = {serial, 3600, 600, 86400, 300};
        for (int i = 0; i < 5; i++) {
                out[o++] = (uint8_t)(f[i] >> 24);
                out[o++] = (uint8_t)(f[i] >> 16);
                out[o++] = (uint8_t)(f[i] >> 8);
                out[o++] = (uint8_t)f[i];
        }
        return o;
}

struct zone_fixture {
        uint8_t origin[256];
        size_t origin_len;
        uint8_t soa[300];
        uint8_t ns[2][256];
        struct cs_rdata soa_v, ns_v[2];
        struct cs_zone_spec spec;
};

static inline void zone_spec(struct zone_fixture *zf, const char *origin, const char *id,
                             uint32_t serial)
{
        memset(zf, 0, sizeof(*zf));
        zf->origin_len = to_wire(origin, zf->origin);
        zf->soa_v.data = zf->soa;
        zf->soa_v.len = (uint16_t)soa_rdata(zf->soa, serial);
        zf->ns_v[0].data = zf->ns[0];
        zf->ns_v[0].len = (uint16_t)to_wire("ns1.example.net.", zf->ns[0]);
        zf->ns_v[1].data = zf->ns[1];
        zf->ns_v[1].len = (uint16_t)to_wire("ns2.example.net.", zf->ns[1]);
        zf->spec.origin = zf->origin;
        zf->spec.origin_len = zf->origin_len;
        zf->spec.zone_id = id;
        zf->spec.comment = "test zone";
        zf->spec.soa = (struct cs_rrset_spec){zf->origin, zf->origin_len, 6, "",
                                              3600,       &zf->soa_v,     1, {0}};
        zf->spec.ns = (struct cs_rrset_spec){zf->origin, zf->origin_len, 2, "",
                                             172800,     zf->ns_v,       2, {0}};
}

/* Creates zf's zone in st as log entry ++*index (leader time 1000); the
 * state's return value (0: created). */
static inline int zone_create_at(struct cs_state *st, uint64_t *index,
                                 const struct zone_fixture *zf, struct cs_result *res)
{
        struct cs_ctx ctx = {.index = ++*index, .timestamp_ms = 1000};
        return cs_state_zone_create(st, &ctx, &zf->spec, res);
}

/* Where most tests of the state start: st and res ready, and zf's zone,
 * example.com. (id Z1, serial 100), created as log entry ++*index. */
static inline void state_with_example_zone(struct cs_state *st, struct cs_result *res,
                                           struct zone_fixture *zf, uint64_t *index)
{
        cs_state_init(st);
        cs_result_init(res);
        zone_spec(zf, "example.com.", "Z1", 100);
        assert_int_equal(zone_create_at(st, index, zf, res), 0);
}

/* The end of such a test: what st and res hold is freed. */
static inline void state_end(struct cs_state *st, struct cs_result *res)
{
        cs_state_fini(st);
        cs_result_fini(res);
}

/* An action whose names and values live in a small arena of the test. */
struct abuild {
        struct cs_action *actions;
        size_t n, cap;
        uint8_t *arena;
        size_t used, arena_cap;
        struct cs_rdata *vals;
        size_t nv, vcap;
};

static inline void ab_init(struct abuild *b, size_t max_actions, size_t max_values)
{
        b->cap = max_actions;
        b->actions = calloc(max_actions, sizeof(*b->actions));
        b->arena_cap = max_actions * 256 + max_values * 64 + 4096;
        b->arena = malloc(b->arena_cap);
        b->vcap = max_values;
        b->vals = calloc(max_values ? max_values : 1, sizeof(*b->vals));
        b->n = b->used = b->nv = 0;
}

static inline void ab_free(struct abuild *b)
{
        free(b->actions);
        free(b->arena);
        free(b->vals);
}

static inline uint8_t *ab_bytes(struct abuild *b, const void *data, size_t len)
{
        assert_true(b->used + len <= b->arena_cap);
        uint8_t *p = b->arena + b->used;
        memcpy(p, data, len);
        b->used += len;
        return p;
}

/* Adds an action; values: n entries of (ptr,len). */
static inline struct cs_action *ab_add(struct abuild *b, enum cs_action_kind kind,
                                       const char *owner, uint16_t type,
                                       const char *set_id, uint32_t ttl)
{
        uint8_t w[256];
        size_t wl = to_wire(owner, w);
        assert_true(b->n < b->cap);
        struct cs_action *a = &b->actions[b->n++];
        a->kind = kind;
        a->rrset.owner = ab_bytes(b, w, wl);
        a->rrset.owner_len = wl;
        a->rrset.type = type;
        a->rrset.set_id = set_id;
        a->rrset.ttl = ttl;
        a->rrset.values = &b->vals[b->nv];
        a->rrset.count = 0;
        memset(&a->rrset.routing, 0, sizeof(a->rrset.routing)); /* slots are reused */
        return a;
}

static inline void ab_value(struct abuild *b, struct cs_action *a, const void *data,
                            size_t len)
{
        assert_true(b->nv < b->vcap);
        assert_true(a->rrset.values + a->rrset.count == &b->vals[b->nv]);
        b->vals[b->nv].data = ab_bytes(b, data, len);
        b->vals[b->nv].len = (uint16_t)len;
        b->nv++;
        a->rrset.count++;
}

static inline void ab_a(struct abuild *b, struct cs_action *a, uint8_t x, uint8_t y,
                        uint8_t z, uint8_t w)
{
        uint8_t ip[4] = {x, y, z, w};
        ab_value(b, a, ip, 4);
}

static inline void ab_name(struct abuild *b, struct cs_action *a, const char *name)
{
        uint8_t w[256];
        ab_value(b, a, w, to_wire(name, w));
}

static inline struct cs_batch ab_batch(struct abuild *b, const uint8_t *origin,
                                       size_t origin_len)
{
        struct cs_batch batch = {origin, origin_len, "batch", b->actions, b->n};
        return batch;
}

static inline void ab_reset(struct abuild *b)
{
        b->n = b->used = b->nv = 0;
}

#endif
