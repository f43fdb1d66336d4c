/*
 * metrics_text.c — the Prometheus text format reader (see metrics_text.h).
 *
 * Each line is copied into one scratch buffer as long as the longest line;
 * names and unescaped label values are written back into that copy (an
 * unescaped value is never longer than its text), so the callback gets
 * NUL-terminated strings without an allocation per sample.
 */
#include "tools/quorumctl/metrics_text.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_start(char c)
{
        return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static bool name_char(char c)
{
        return name_start(c) || isdigit((unsigned char)c);
}

/* Parses one sample line (NUL-terminated, modified in place). */
static int parse_line(char *p, quorumctl_metric_fn fn, void *ctx, char *err,
                      size_t err_size)
{
        struct quorumctl_metric_label labels[QUORUMCTL_METRICS_MAX_LABELS];
        size_t n = 0;
        char *name = p;
        if (!name_start(*p)) {
                snprintf(err, err_size, "a metric name must start the line");
                return -EINVAL;
        }
        while (name_char(*p))
                p++;
        char *name_end = p;
        if (*p == '{') {
                *name_end = '\0';
                p++;
                while (*p != '}') {
                        if (!name_start(*p)) {
                                snprintf(err, err_size, "expected a label name");
                                return -EINVAL;
                        }
                        char *lname = p;
                        while (name_char(*p))
                                p++;
                        if (p[0] != '=' || p[1] != '"') {
                                snprintf(err, err_size,
                                         "expected =\" after a label name");
                                return -EINVAL;
                        }
                        *p = '\0';
                        p += 2;
                        char *value = p, *out = p;
                        while (*p != '"') {
                                if (*p == '\0') {
                                        snprintf(err, err_size,
                                                 "unterminated label value");
                                        return -EINVAL;
                                }
                                if (*p == '\\') {
                                        p++;
                                        if (*p == 'n')
                                                *out++ = '\n';
                                        else if (*p == '\\' || *p == '"')
                                                *out++ = *p;
                                        else {
                                                snprintf(err, err_size,
                                                         "bad escape in a label value");
                                                return -EINVAL;
                                        }
                                        p++;
                                        continue;
                                }
                                *out++ = *p++;
                        }
                        p++; /* the closing quote */
                        *out = '\0';
                        if (n == QUORUMCTL_METRICS_MAX_LABELS) {
                                snprintf(err, err_size, "more than %d labels",
                                         QUORUMCTL_METRICS_MAX_LABELS);
                                return -EINVAL;
                        }
                        labels[n].name = lname;
                        labels[n].value = value;
                        n++;
                        if (*p == ',')
                                p++;
                        else if (*p != '}') {
                                snprintf(err, err_size, "expected , or } after a label");
                                return -EINVAL;
                        }
                }
                p++;
        }
        if (*p != ' ' && *p != '\t') {
                snprintf(err, err_size, "expected a space before the value");
                return -EINVAL;
        }
        p++; /* past the space before ending the name, which may be it */
        *name_end = '\0';
        while (*p == ' ' || *p == '\t')
                p++;
        char *end;
        double value = strtod(p, &end);
        if (end == p) {
                snprintf(err, err_size, "the value is not a number");
                return -EINVAL;
        }
        while (*end == ' ' || *end == '\t')
                end++;
        if (*end != '\0') {
                char *ts_end;
                strtoll(end, &ts_end, 10);
                while (*ts_end == ' ' || *ts_end == '\t')
                        ts_end++;
                if (ts_end == end || *ts_end != '\0') {
                        snprintf(err, err_size, "unexpected text after the value");
                        return -EINVAL;
                }
        }
        fn(ctx, name, labels, n, value);
        return 0;
}

int quorumctl_metrics_parse(const char *text, size_t len, quorumctl_metric_fn fn,
                            void *ctx, unsigned *line, char *err, size_t err_size)
{
        char *buf = malloc(len + 1);
        if (buf == NULL)
                return -ENOMEM;
        size_t pos = 0;
        int rc = 0;
        *line = 0;
        while (pos < len && rc == 0) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
                (*line)++;
                memcpy(buf, text + pos, n);
                buf[n] = '\0';
                pos += n + 1;
                if (n > 0 && buf[n - 1] == '\r')
                        buf[--n] = '\0';
                if (n == 0 || buf[0] == '#')
                        continue;
                if (memchr(buf, '\0', n) != NULL) {
                        snprintf(err, err_size, "a NUL byte in the line");
                        rc = -EINVAL;
                        break;
                }
                rc = parse_line(buf, fn, ctx, err, err_size);
        }
        free(buf);
        return rc;
}

const char *quorumctl_metric_label(const struct quorumctl_metric_label *labels, size_t n,
                                   const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(labels[i].name, name) == 0)
                        return labels[i].value;
        return NULL;
}
