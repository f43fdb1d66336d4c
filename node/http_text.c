/*
 * http_text.c — HTTP/1.1 text helpers shared by the request-head and
 * response parsers (see http_text.h).
 */
#include "node/http_text.h"

#include <string.h>
#include <strings.h>

size_t node_http_find_crlf(const char *buf, size_t from, size_t len)
{
        if (from >= len)
                return len;
        const char *p = memmem(buf + from, len - from, "\r\n", 2);
        return p ? (size_t)(p - buf) : len;
}

bool node_http_header_is(const char *line, size_t len, const char *name, size_t *value)
{
        size_t n = strlen(name);
        if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
                return false;
        size_t v = n + 1;
        while (v < len && (line[v] == ' ' || line[v] == '\t'))
                v++;
        *value = v;
        return true;
}

long long node_http_parse_length(const char *s, size_t len)
{
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
                len--;
        if (len == 0 || len > 18)
                return -1;
        long long v = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}
