/*
 * http_head.h — the head of an HTTP/1.x request, read by the API's gate
 * before h2o sees the connection.
 *
 * h2o 2.2 reads a request's whole body before it calls a handler, so the
 * node looks at the head itself first: which route, which token, how large
 * a body.  The parser only reads what the gate decides on; h2o parses the
 * request again once the gate lets it through.  No I/O, so a fuzz target
 * drives it directly (tests/fuzz/fuzz_http_head.c).
 */
#ifndef NODE_HTTP_HEAD_H
#define NODE_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>

struct node_http_head {
        const char *method; /* point into the parsed buffer */
        size_t method_len;
        const char *target; /* path and query */
        size_t target_len;
        const char *authorization; /* the first Authorization value, or NULL */
        size_t authorization_len;
        long long content_length; /* -1: none */
        bool chunked;             /* a Transfer-Encoding header is present */
        bool ambiguous; /* several Content-Length, or one and Transfer-Encoding */
        size_t len;     /* bytes of the head, the empty line included */
};

/*
 * Parses the request head at the start of buf[0..len).  Returns 1 when the
 * head is complete (out filled), 0 when more bytes are needed, -E2BIG when
 * no complete head fits in max bytes, -EPROTO when the bytes are not an
 * HTTP/1.x request head.
 */
int node_http_head_parse(const char *buf, size_t len, size_t max,
                         struct node_http_head *out);

#endif
