/*
 * bench_apex.h — the apex records the in-process state benchmarks give
 * every zone they create (state_apply, zones_publish, zones_restore): one
 * SOA and two NS rdatas in wire form, as struct cs_rdata values.
 */
#ifndef TOOLS_BENCH_BENCH_APEX_H
#define TOOLS_BENCH_BENCH_APEX_H

#include <stdint.h>

#include "consensus/state.h"

static const uint8_t bench_soa[] = {3,  'n', 's', '1', 0,   4, 'h', 'o', 's', 't', 0,
                                    0,  0,   0,   1,   0,   0, 14,  16,  0,   0,   2,
                                    88, 0,   1,   81,  128, 0, 0,   1,   44};
static const uint8_t bench_ns1[] = {3,   'n', 's', '1', 7,   'e', 'x', 'a', 'm',
                                    'p', 'l', 'e', 3,   'n', 'e', 't', 0};
static const uint8_t bench_ns2[] = {3,   'n', 's', '2', 7,   'e', 'x', 'a', 'm',
                                    'p', 'l', 'e', 3,   'n', 'e', 't', 0};
static const struct cs_rdata soa_v = {bench_soa, sizeof(bench_soa)};
static const struct cs_rdata ns_v[2] = {{bench_ns1, sizeof(bench_ns1)},
                                        {bench_ns2, sizeof(bench_ns2)}};

#endif
