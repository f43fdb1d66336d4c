/*
 * http_text.h — the pieces of HTTP/1.1 text that both of the node's own
 * parsers read: the API gate's request heads (http_head.c) and the relay's
 * responses (http_response.c).  Pure functions on borrowed bytes.
 */
#ifndef NODE_HTTP_TEXT_H
#define NODE_HTTP_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Offset of the next "\r\n" in buf[from..len), or len when there is none. */
size_t node_http_find_crlf(const char *buf, size_t from, size_t len);

/* Whether the header line line[0..len) is `name` (any case); *value is then
 * the offset of its value, past the colon and leading blanks. */
bool node_http_header_is(const char *line, size_t len, const char *name, size_t *value);

/* A decimal Content-Length of at most 18 digits (trailing blanks allowed);
 * -1 when malformed. */
long long node_http_parse_length(const char *s, size_t len);

#endif
