/*
 * pmap_priv.h — what the two variants of pmap.h share inside common/: the
 * per-thread count of slots and nodes their walks visited, read by
 * pmap_stats_walked() (the tests that a commit walks nothing it did not
 * change).
 */
#ifndef COMMON_PMAP_PRIV_H
#define COMMON_PMAP_PRIV_H

#include <stdint.h>

extern _Thread_local uint64_t pmap_walked;

#endif
