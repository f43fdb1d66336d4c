/*
 * fuzz_raft_snapshot.c — libFuzzer target: any bytes as a raft snapshot
 * (cs_snapshot_decode, what the FSM's restore runs on a snapshot sent by
 * the leader or read from disk).
 *
 * A snapshot that decodes must encode again, and that encoding must decode
 * to a state that encodes to the same bytes (the encoding is canonical).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/snapshot.h"
#include "consensus/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t *copy = malloc(size ? size : 1);
        memcpy(copy, data, size);
        struct cs_state st;
        char err[256];
        cs_state_init(&st);
        if (cs_snapshot_decode(copy, size, &st, err, sizeof(err)) == 0) {
                void *a, *b;
                size_t alen, blen;
                if (cs_snapshot_encode(&st, &a, &alen) != 0)
                        abort();
                struct cs_state st2;
                cs_state_init(&st2);
                if (cs_snapshot_decode(a, alen, &st2, err, sizeof(err)) != 0)
                        abort();
                if (cs_snapshot_encode(&st2, &b, &blen) != 0 || alen != blen ||
                    memcmp(a, b, alen) != 0)
                        abort();
                free(a);
                free(b);
                cs_state_fini(&st2);
        }
        cs_state_fini(&st);
        free(copy);
        return 0;
}
