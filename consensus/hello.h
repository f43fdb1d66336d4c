/*
 * hello.h — the handshake that opens a raft connection, as libraft's
 * raft_uv_tcp writes it (src/uv_tcp_connect.c) and the authenticated
 * transport (transport.h) reads and writes it inside TLS.
 *
 * Three little-endian 64-bit words — protocol, server id, size of the
 * address field — then the address, NUL-terminated and zero-padded to a
 * multiple of 8 bytes.  Protocol 1 is raft; the transport's side channels
 * (the nodes' own traffic) use CONSENSUS_HELLO_PROTOCOL_SIDE + kind.
 */
#ifndef CONSENSUS_HELLO_H
#define CONSENSUS_HELLO_H

#include <raft.h>
#include <stddef.h>
#include <stdint.h>

#define CONSENSUS_HELLO_PROTOCOL    1
#define CONSENSUS_HELLO_ADDRESS_MAX 256
/* Not raft: node-to-node side channels (the nodes' own traffic) on the
 * same authenticated connections, raft never sees them; PROTOCOL_SIDE +
 * kind, kind < CONSENSUS_SIDE_KINDS, says which. */
#define CONSENSUS_HELLO_PROTOCOL_SIDE 0x716e6f6465ULL /* "qnode" */
#define CONSENSUS_SIDE_KINDS          4

struct consensus_hello {
        uint64_t protocol; /* CONSENSUS_HELLO_PROTOCOL, or _SIDE + kind */
        raft_id id;
        char address[CONSENSUS_HELLO_ADDRESS_MAX];
};

/* Encodes the handshake of `id` at `address` for `protocol` into out (cap
 * bytes); returns its length, or -ENAMETOOLONG. */
int consensus_hello_encode(uint64_t protocol, raft_id id, const char *address, void *out,
                           size_t cap);

/* Decodes a handshake from the first len bytes received.  Returns the
 * number of bytes it took (the rest belongs to raft), -EAGAIN when more are
 * needed, or -EPROTO (unknown protocol, address field too long or not
 * padded to 8 bytes, address not terminated, id 0) with the reason in
 * why. */
int consensus_hello_decode(const void *buf, size_t len, struct consensus_hello *out,
                           char *why, size_t why_size);

#endif
