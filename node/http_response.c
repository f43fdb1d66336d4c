/*
 * http_response.c — the HTTP/1.1 response parser of the node's client (see
 * http_response.h).
 *
 * Flow: find the end of the head ("\r\n\r\n") within the bytes received →
 * status line (interim 1xx answers skipped) → the headers that matter
 * (Content-Length, Transfer-Encoding, Content-Type, Connection) → the
 * body, framed as RFC 9112 section 6.3 says: none for an answer to HEAD,
 * a 204 or a 304; else Content-Length bytes, every
 * chunk of a chunked body (walked once to see it is complete, then decoded
 * in place), or everything up to the close.  Every size read from the peer
 * is compared with the number of bytes that remain; no pointer is formed
 * from an unchecked size.
 */

#include "node/http_response.h"
#include "node/http_text.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CHUNK_LINE_MAX 4096 /* a chunk-size line with extensions, at most */

static int hexval(int c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static bool has_token(const char *s, size_t len, const char *token)
{
        size_t n = strlen(token);
        for (size_t i = 0; i + n <= len; i++)
                if (strncasecmp(s + i, token, n) == 0)
                        return true;
        return false;
}

/*
 * Walks the chunks of body[0..have).  With decode, the data is moved to the
 * front of body as it is walked (the destination always lies before the
 * bytes still to be read).  Returns 0 with *out_len (and *used, the bytes
 * the chunks and trailer took) when the last chunk and
 * the trailer arrived, -EAGAIN when more is needed, -EPROTO when malformed.
 */
static int chunked_walk(char *body, size_t have, bool decode, size_t *out_len,
                        size_t *used)
{
        size_t pos = 0, n = 0;
        for (;;) {
                size_t size = 0;
                unsigned digits = 0;
                while (pos < have && hexval((unsigned char)body[pos]) >= 0) {
                        if (++digits > 15) /* 2^60: larger than any buffer */
                                return -EPROTO;
                        size = size * 16 + (size_t)hexval((unsigned char)body[pos]);
                        pos++;
                }
                if (pos == have)
                        return -EAGAIN;
                if (digits == 0 || (body[pos] != ';' && body[pos] != '\r' &&
                                    body[pos] != ' ' && body[pos] != '\t'))
                        return -EPROTO;
                size_t eol = node_http_find_crlf(body, pos, have);
                if (eol == have)
                        return have - pos > CHUNK_LINE_MAX ? -EPROTO : -EAGAIN;
                if (eol - pos > CHUNK_LINE_MAX)
                        return -EPROTO;
                pos = eol + 2;
                if (size == 0) {
                        /* Trailer fields, then an empty line. */
                        for (;;) {
                                eol = node_http_find_crlf(body, pos, have);
                                if (eol == have)
                                        return -EAGAIN;
                                bool empty = eol == pos;
                                pos = eol + 2;
                                if (empty) {
                                        *out_len = n;
                                        *used = pos;
                                        return 0;
                                }
                        }
                }
                if (size > have - pos || have - pos - size < 2)
                        return -EAGAIN;
                if (body[pos + size] != '\r' || body[pos + size + 1] != '\n')
                        return -EPROTO;
                if (decode)
                        memmove(body + n, body + pos, size);
                n += size;
                pos += size + 2;
        }
}

#define INTERIM 2 /* parse_message: a 1xx answer, *interim_len bytes */

static int parse_message(char *buf, size_t len, bool eof, bool head_request,
                         struct node_http_response *out, size_t *interim_len)
{
        const char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end == NULL)
                return eof ? -EPROTO : 0;
        size_t head_len = (size_t)(end - buf) + 2; /* through the last header's CRLF */
        size_t body_at = head_len + 2;
        /* "HTTP/1.x NNN" */
        if (head_len < 14 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[7] < '0' ||
            buf[7] > '9' || buf[8] != ' ')
                return -EPROTO;
        int status = 0;
        for (int i = 9; i < 12; i++) {
                if (buf[i] < '0' || buf[i] > '9')
                        return -EPROTO;
                status = status * 10 + (buf[i] - '0');
        }
        if (status < 100 || (buf[12] != ' ' && buf[12] != '\r') || status == 101)
                return -EPROTO;
        if (status < 200) {
                *interim_len = body_at;
                return INTERIM;
        }
        long long length = -1;
        bool chunked = false, close = buf[7] != '1'; /* only HTTP/1.1 keeps it */
        snprintf(out->content_type, sizeof(out->content_type), "application/json");
        size_t line = node_http_find_crlf(buf, 0, head_len) + 2;
        while (line < head_len) {
                size_t eol = node_http_find_crlf(buf, line, head_len);
                const char *l = buf + line;
                size_t llen = eol - line, v;
                if (node_http_header_is(l, llen, "Content-Length", &v)) {
                        long long n = node_http_parse_length(l + v, llen - v);
                        if (n < 0 || (length >= 0 && n != length))
                                return -EPROTO;
                        length = n;
                } else if (node_http_header_is(l, llen, "Connection", &v)) {
                        close = close || has_token(l + v, llen - v, "close");
                } else if (node_http_header_is(l, llen, "Transfer-Encoding", &v)) {
                        chunked = has_token(l + v, llen - v, "chunked");
                } else if (node_http_header_is(l, llen, "Content-Type", &v)) {
                        size_t n = llen - v;
                        if (n >= sizeof(out->content_type))
                                n = sizeof(out->content_type) - 1;
                        memcpy(out->content_type, l + v, n);
                        out->content_type[n] = '\0';
                }
                line = eol + 2;
        }
        out->status = status;
        char *body = buf + body_at;
        size_t have = len - body_at;
        out->reusable = false;
        if (head_request || status == 204 || status == 304) {
                out->body = body;
                out->body_len = 0;
                out->reusable = !close && have == 0;
                return 1;
        }
        if (chunked) {
                size_t n, used;
                int rc = chunked_walk(body, have, false, &n, &used);
                if (rc == -EAGAIN)
                        return eof ? -EPROTO : 0;
                if (rc < 0)
                        return rc;
                chunked_walk(body, have, true, &n, &used);
                out->body = body;
                out->body_len = n;
                out->reusable = !close && used == have;
                return 1;
        }
        if (length >= 0) {
                if ((unsigned long long)length > have)
                        return eof ? -EPROTO : 0;
                out->body = body;
                out->body_len = (size_t)length;
                out->reusable = !close && (unsigned long long)length == have;
                return 1;
        }
        if (!eof)
                return 0;
        out->body = body;
        out->body_len = have;
        return 1;
}

int node_http_response_parse(char *buf, size_t len, bool eof, bool head_request,
                             struct node_http_response *out)
{
        if (len == 0)
                return eof ? -ECONNRESET : 0;
        for (;;) {
                size_t interim_len = 0;
                int rc = parse_message(buf, len, eof, head_request, out, &interim_len);
                if (rc != INTERIM)
                        return rc;
                buf += interim_len; /* the final answer follows */
                len -= interim_len;
                if (len == 0)
                        return eof ? -EPROTO : 0;
        }
}
