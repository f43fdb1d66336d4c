/*
 * fuzz_raft_hello.c — libFuzzer target: any bytes as the start of an
 * incoming raft connection, read by the authenticated transport's decoder
 * of raft_uv's handshake (consensus_hello_decode).
 *
 * The decoder must take at most the bytes given, return a terminated
 * address of at most CONSENSUS_HELLO_ADDRESS_MAX bytes and a non-zero id,
 * and re-encoding what it returned must give back the same protocol, id
 * and terminated address, in no more bytes than it took (a peer may pad the
 * address field more than needed).  The input is also fed
 * one byte at a time, as a slow peer would send it: the answer must be
 * -EAGAIN until the same length as at once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct consensus_hello h;
        char why[160];
        int used = consensus_hello_decode(data, size, &h, why, sizeof(why));
        if (used > 0) {
                if ((size_t)used > size || h.id == 0 ||
                    strlen(h.address) >= CONSENSUS_HELLO_ADDRESS_MAX)
                        abort();
                uint8_t again[24 + CONSENSUS_HELLO_ADDRESS_MAX];
                int n = consensus_hello_encode(h.protocol, h.id, h.address, again,
                                               sizeof(again));
                /* The same protocol, id and address (a peer may pad the
                 * address field more than needed: its size may differ). */
                if (n <= 0 || n > used || memcmp(again, data, 16) != 0 ||
                    memcmp(again + 24, data + 24, strlen(h.address) + 1) != 0)
                        abort();
        } else if (used != -EAGAIN && used != -EPROTO) {
                abort();
        }
        for (size_t n = 0; n <= size && n < 512; n++) {
                int r = consensus_hello_decode(data, n, &h, why, sizeof(why));
                if (r != -EAGAIN) {
                        if (n != size && r > 0 && r != used)
                                abort();
                        break;
                }
        }
        return 0;
}
