/*
 * fuzz_http_response.c — libFuzzer target: any bytes as the answer a peer
 * sends to the node's relay client (node_http_response_parse).
 *
 * Each input is parsed as a whole (open and at the close), and fed in two
 * pieces the way reads deliver it, to the point where the parser first
 * says complete, as the answer to a HEAD request and to any other; a
 * complete answer's body must lie inside the buffer, and an answer to HEAD,
 * a 204 or a 304 has none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/http_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(char *buf, size_t len, bool eof, bool head)
{
        struct node_http_response res;
        int rc = node_http_response_parse(buf, len, eof, head, &res);
        if (rc == 1) {
                if (res.body < buf || res.body_len > len ||
                    (size_t)(res.body - buf) > len - res.body_len)
                        abort();
                if (res.status < 100 || res.status > 999)
                        abort();
                /* only an HTTP/1.1 answer framed by its length or chunks may
                 * leave the connection to another request */
                if (res.reusable && memmem(buf, len, "HTTP/1.1", 8) == NULL)
                        abort();
                /* answers to HEAD, 204 and 304 have no body (RFC 9112 6.3) */
                if ((head || res.status == 204 || res.status == 304) && res.body_len != 0)
                        abort();
        } else if (rc == 0 && eof) {
                abort(); /* at the close there is nothing more to wait for */
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exact-size copy: reads past the bytes are caught by ASan. */
        char *buf = malloc(size ? size : 1);
        for (int head = 0; head < 2; head++) {
                for (int eof = 0; eof < 2; eof++) {
                        memcpy(buf, data, size);
                        check(buf, size, eof, head);
                }
                size_t cut = size ? data[0] % (size + 1) : 0;
                memcpy(buf, data, size);
                check(buf, cut, false, head);
        }
        free(buf);
        return 0;
}
