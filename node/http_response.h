/*
 * http_response.h — parsing the HTTP/1.1 answer a leader (or any peer) sends
 * to the node's small HTTP client (forward.c).
 *
 * The client collects the bytes of one response in a buffer and asks after
 * every read whether the answer is complete.  The parser trusts nothing in
 * those bytes: sizes in the head (Content-Length, chunk sizes) are checked
 * against what arrived by comparing lengths, never by forming a pointer past
 * the buffer.  It has no I/O and no loop, so a fuzz target drives it
 * directly (tests/fuzz/fuzz_http_response.c).
 */
#ifndef NODE_HTTP_RESPONSE_H
#define NODE_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

struct node_http_response {
        int status;
        char content_type[128]; /* "application/json" when the head names none */
        const char *body;       /* points into the parsed buffer */
        size_t body_len;
        /* The connection can carry another request: HTTP/1.1, no
         * "Connection: close", the body delimited by its length or chunks,
         * and nothing after it in buf. */
        bool reusable;
};

/*
 * Parses the response in buf[0..len).  eof: the peer closed, nothing more
 * will come.  head_request: the request was HEAD.  Framed as RFC 9112
 * section 6.3 says: an answer to HEAD, a 204 and a 304 end at their head
 * whatever their header fields (no body, body_len 0); interim 1xx answers
 * end at their head and are skipped (101, a switch the client never asks
 * for, is refused); then chunks, Content-Length, or the close.  A chunked
 * body is decoded in place (buf is changed then, and only once the
 * response is complete).  Returns 1 when the response is complete (out
 * filled), 0 when more bytes are needed (never when eof), -ECONNRESET when
 * the peer closed without a byte, -EPROTO when the bytes are not a
 * complete, well-formed HTTP/1.x response.
 */
int node_http_response_parse(char *buf, size_t len, bool eof, bool head_request,
                             struct node_http_response *out);

#endif
