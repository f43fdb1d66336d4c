/*
 * fuzz_metrics_text.c — libFuzzer target: any bytes as a node's GET /metrics
 * answer read by `quorumctl stats` (tools/quorumctl/metrics_text.h).
 *
 * The parse must end without a crash, a leak or a read past the input;
 * every sample handed over has a name and at most the label limit.
 */
#include <stdint.h>
#include <stdlib.h>

#include "tools/quorumctl/metrics_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_sample(void *ctx, const char *name,
                      const struct quorumctl_metric_label *labels, size_t n, double value)
{
        (void)value;
        if (name == NULL || name[0] == '\0' || n > QUORUMCTL_METRICS_MAX_LABELS)
                abort();
        for (size_t i = 0; i < n; i++)
                if (labels[i].name == NULL || labels[i].value == NULL)
                        abort();
        (*(size_t *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t samples = 0;
        unsigned line;
        char err[160];
        quorumctl_metrics_parse((const char *)data, size, on_sample, &samples, &line, err,
                                sizeof(err));
        return 0;
}
