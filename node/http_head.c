/*
 * http_head.c — request heads for the API's gate (see http_head.h).
 *
 * Flow: find the empty line that ends the head within max bytes → request
 * line (method, target, "HTTP/1.x") → header lines, of which Authorization,
 * Content-Length and Transfer-Encoding are kept.  Anything a strict reading
 * of RFC 9112 refuses (folded lines, a header without a colon, control
 * bytes in the request line) is refused here too.
 */
#include "node/http_head.h"
#include "node/http_text.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static bool token_char(unsigned char c)
{
        return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

static int parse_request_line(const char *l, size_t len, struct node_http_head *out)
{
        size_t i = 0;
        while (i < len && token_char((unsigned char)l[i]))
                i++;
        if (i == 0 || i == len || l[i] != ' ')
                return -EPROTO;
        out->method = l;
        out->method_len = i;
        size_t t = ++i;
        while (i < len && (unsigned char)l[i] > 0x20 && l[i] != 0x7f)
                i++;
        if (i == t || i == len || l[i] != ' ')
                return -EPROTO;
        out->target = l + t;
        out->target_len = i - t;
        i++;
        if (len - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0 || l[i + 7] < '0' ||
            l[i + 7] > '9')
                return -EPROTO;
        return 0;
}

int node_http_head_parse(const char *buf, size_t len, size_t max,
                         struct node_http_head *out)
{
        memset(out, 0, sizeof(*out));
        out->content_length = -1;
        size_t scan = len < max ? len : max;
        size_t start = 0;
        /* RFC 9112 §2.2: empty lines before the request line are ignored. */
        while (start + 1 < scan && buf[start] == '\r' && buf[start + 1] == '\n')
                start += 2;
        /* Bytes that cannot begin a request line (a TLS ClientHello sent to a
         * plain-HTTP port, say) are refused at once, not at the head deadline. */
        size_t m = start;
        while (m < scan && token_char((unsigned char)buf[m]))
                m++;
        if (m < scan && buf[m] != ' ' && !(m == start && buf[m] == '\r'))
                return -EPROTO;
        size_t eol = node_http_find_crlf(buf, start, scan);
        if (eol == scan)
                return scan == max ? -E2BIG : 0;
        if (parse_request_line(buf + start, eol - start, out) != 0)
                return -EPROTO;
        bool have_length = false;
        size_t line = eol + 2;
        for (;;) {
                eol = node_http_find_crlf(buf, line, scan);
                if (eol == scan)
                        return scan == max ? -E2BIG : 0;
                if (eol == line)
                        break; /* the empty line */
                const char *l = buf + line;
                size_t llen = eol - line, v;
                if (l[0] == ' ' || l[0] == '\t' || memchr(l, ':', llen) == NULL)
                        return -EPROTO; /* folded line, or no name */
                if (node_http_header_is(l, llen, "Authorization", &v)) {
                        if (out->authorization == NULL) {
                                out->authorization = l + v;
                                out->authorization_len = llen - v;
                        }
                } else if (node_http_header_is(l, llen, "Content-Length", &v)) {
                        long long n = node_http_parse_length(l + v, llen - v);
                        if (n < 0)
                                return -EPROTO;
                        if (have_length)
                                out->ambiguous = true;
                        have_length = true;
                        out->content_length = n;
                } else if (node_http_header_is(l, llen, "Transfer-Encoding", &v)) {
                        out->chunked = true;
                }
                line = eol + 2;
        }
        if (have_length && out->chunked)
                out->ambiguous = true;
        out->len = eol + 2;
        return 1;
}
