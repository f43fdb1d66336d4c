/*
 * metrics_text.h — a reader of the Prometheus text exposition format 0.0.4,
 * enough for `quorumctl stats` to read a node's GET /metrics.
 *
 * Lines are "name value [timestamp]" or "name{label="value",...} value
 * [timestamp]"; '#' lines (HELP, TYPE) and blank lines are skipped.  Label
 * values are unescaped (\\, \", \n).  Each sample is handed to a callback
 * with its labels; the strings are valid only during the call.
 */
#ifndef QUORUMCTL_METRICS_TEXT_H
#define QUORUMCTL_METRICS_TEXT_H

#include <stddef.h>

#define QUORUMCTL_METRICS_MAX_LABELS 8

struct quorumctl_metric_label {
        const char *name;
        const char *value;
};

typedef void (*quorumctl_metric_fn)(void *ctx, const char *name,
                                    const struct quorumctl_metric_label *labels,
                                    size_t n_labels, double value);

/*
 * Reads text[0..len) (not NUL-terminated), calling fn for every sample.
 * Returns 0, or -EINVAL at the first malformed line (its number in *line,
 * the reason in err), or -ENOMEM.
 */
int quorumctl_metrics_parse(const char *text, size_t len, quorumctl_metric_fn fn,
                            void *ctx, unsigned *line, char *err, size_t err_size);

/* The value of label `name`, or NULL. */
const char *quorumctl_metric_label(const struct quorumctl_metric_label *labels, size_t n,
                                   const char *name);

#endif
