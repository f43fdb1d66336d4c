/*
 * fuzz_http_head.c — libFuzzer target: any bytes as the first request head
 * on an API connection (node_http_head_parse, the gate in front of h2o).
 *
 * Parsed with a few head limits; a complete head must lie inside the
 * bytes and the limit, and its fields inside the head.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *p, size_t len, const char *buf, size_t head)
{
        if (p != NULL &&
            (p < buf || (size_t)(p - buf) > head || len > head - (size_t)(p - buf)))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *buf = malloc(size ? size : 1);
        memcpy(buf, data, size);
        static const size_t limits[] = {64, 1024, 16384};
        for (size_t i = 0; i < 3; i++) {
                struct node_http_head h;
                int rc = node_http_head_parse(buf, size, limits[i], &h);
                if (rc != 1)
                        continue;
                if (h.len > size || h.len > limits[i])
                        abort();
                inside(h.method, h.method_len, buf, h.len);
                inside(h.target, h.target_len, buf, h.len);
                inside(h.authorization, h.authorization_len, buf, h.len);
                if (h.method_len == 0 || h.target_len == 0)
                        abort();
        }
        free(buf);
        return 0;
}
