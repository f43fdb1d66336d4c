/*
 * hello.c — encoding and decoding the handshake of a raft connection (see
 * hello.h).  The decoder reads bytes from a peer not yet trusted: it bounds
 * the address field before waiting for it, and refuses anything a sender
 * of ours would not write.
 */
#include "consensus/hello.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void put64(unsigned char *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

int consensus_hello_encode(uint64_t protocol, raft_id id, const char *address, void *out,
                           size_t cap)
{
        size_t len = strlen(address) + 1;
        size_t padded = (len + 7) / 8 * 8;
        if (padded > CONSENSUS_HELLO_ADDRESS_MAX || 24 + padded > cap)
                return -ENAMETOOLONG;
        unsigned char *p = out;
        memset(p, 0, 24 + padded);
        put64(p, protocol);
        put64(p + 8, id);
        put64(p + 16, padded);
        memcpy(p + 24, address, len);
        return (int)(24 + padded);
}

int consensus_hello_decode(const void *buf, size_t len, struct consensus_hello *out,
                           char *why, size_t why_size)
{
        const unsigned char *p = buf;
        if (len < 24)
                return -EAGAIN;
        uint64_t protocol = get64(p), id = get64(p + 8), size = get64(p + 16);
        if (protocol != CONSENSUS_HELLO_PROTOCOL &&
            (protocol < CONSENSUS_HELLO_PROTOCOL_SIDE ||
             protocol >= CONSENSUS_HELLO_PROTOCOL_SIDE + CONSENSUS_SIDE_KINDS)) {
                snprintf(why, why_size, "raft handshake with unknown protocol %llu",
                         (unsigned long long)protocol);
                return -EPROTO;
        }
        if (id == 0) {
                snprintf(why, why_size, "raft handshake claims server id 0");
                return -EPROTO;
        }
        if (size == 0 || size > CONSENSUS_HELLO_ADDRESS_MAX || size % 8 != 0) {
                snprintf(why, why_size,
                         "raft handshake address of %llu bytes (8..%d, a multiple of 8)",
                         (unsigned long long)size, CONSENSUS_HELLO_ADDRESS_MAX);
                return -EPROTO;
        }
        if (len < 24 + size)
                return -EAGAIN;
        const char *address = (const char *)p + 24;
        size_t text = strnlen(address, (size_t)size);
        if (text == size || text == 0) {
                snprintf(why, why_size, "raft handshake address is %s",
                         text == 0 ? "empty" : "not terminated");
                return -EPROTO;
        }
        out->protocol = protocol;
        out->id = id;
        memcpy(out->address, address, text + 1);
        return (int)(24 + size);
}
