/*
 * fuzz_http_response.c — libFuzzer target: any bytes as the answer a peer
 * sends to the node's relay client (node_http_response_parse).
 *
 * Each input is parsed as a whole (open and at the close), and fed in two
 * pieces the way reads deliver it, to the point where the parser first
 * says complete; a complete answer's body must lie inside the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/http_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(char *buf, size_t len, bool eof)
{
        struct node_http_response res;
        int rc = node_http_response_parse(buf, len, eof, &res);
        if (rc == 1) {
                if (res.body < buf || res.body_len > len ||
                    (size_t)(res.body - buf) > len - res.body_len)
                        abort();
                if (res.status < 100 || res.status > 999)
                        abort();
                /* only an HTTP/1.1 answer framed by its length or chunks may
                 * leave the connection to another request */
                if (res.reusable && (len < 9 || memcmp(buf, "HTTP/1.1", 8) != 0))
                        abort();
        } else if (rc == 0 && eof) {
                abort(); /* at the close there is nothing more to wait for */
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exact-size copy: reads past the bytes are caught by ASan. */
        char *buf = malloc(size ? size : 1);
        for (int eof = 0; eof < 2; eof++) {
                memcpy(buf, data, size);
                check(buf, size, eof);
        }
        size_t cut = size ? data[0] % (size + 1) : 0;
        memcpy(buf, data, size);
        check(buf, cut, false);
        free(buf);
        return 0;
}
