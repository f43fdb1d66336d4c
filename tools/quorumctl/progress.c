/*
 * progress.c — the import progress bar (see progress.h).
 */
#include "tools/quorumctl/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24

double quorumctl_progress_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void format_rate(char *buf, size_t size, double rate)
{
        if (rate >= 1e6)
                snprintf(buf, size, "%.1fM", rate / 1e6);
        else if (rate >= 1e4)
                snprintf(buf, size, "%.1fk", rate / 1e3);
        else
                snprintf(buf, size, "%.0f", rate);
}

static void format_duration(char *buf, size_t size, double secs)
{
        unsigned long s = (unsigned long)(secs + 0.5);
        if (s >= 3600)
                snprintf(buf, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
        else
                snprintf(buf, size, "%lu:%02lu", s / 60, s % 60);
}

size_t quorumctl_progress_format(char *buf, size_t size, size_t done, size_t total,
                                 double elapsed)
{
        return quorumctl_progress_format_unit(buf, size, done, total, elapsed, "records",
                                              "rec");
}

size_t quorumctl_progress_format_unit(char *buf, size_t size, size_t done, size_t total,
                                      double elapsed, const char *unit,
                                      const char *abbrev)
{
        char bar[BAR_WIDTH + 1], rate_text[32] = "-", eta[32] = "-";
        double fraction = total > 0 ? (double)done / (double)total : 1.0;
        if (fraction > 1.0)
                fraction = 1.0;
        size_t filled = (size_t)(fraction * BAR_WIDTH);
        memset(bar, '#', filled);
        memset(bar + filled, '.', BAR_WIDTH - filled);
        bar[BAR_WIDTH] = '\0';
        if (elapsed > 0 && done > 0) {
                double rate = (double)done / elapsed;
                format_rate(rate_text, sizeof(rate_text), rate);
                format_duration(eta, sizeof(eta),
                                done < total ? (double)(total - done) / rate : 0.0);
        }
        int n = snprintf(buf, size, "[%s] %zu/%zu %s %3d%%  %s %s/s  ETA %s", bar, done,
                         total, unit, (int)(fraction * 100), rate_text, abbrev, eta);
        return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

void quorumctl_progress_start(struct quorumctl_progress *p, FILE *out, size_t total,
                              const char *unit)
{
        memset(p, 0, sizeof(*p));
        if (out != NULL && isatty(fileno(out)))
                p->out = out;
        p->total = total;
        p->unit = unit;
        p->started = quorumctl_progress_now();
        quorumctl_progress_update(p, 0);
}

void quorumctl_progress_update(struct quorumctl_progress *p, size_t done)
{
        if (p->out == NULL)
                return;
        char line[160];
        size_t n = quorumctl_progress_format_unit(
            line, sizeof(line), done, p->total, quorumctl_progress_now() - p->started,
            p->unit ? p->unit : "records", p->unit ? p->unit : "rec");
        fprintf(p->out, "\r%s", line);
        for (size_t i = n; i < p->width; i++)
                fputc(' ', p->out);
        p->width = n;
        fflush(p->out);
}

void quorumctl_progress_finish(struct quorumctl_progress *p)
{
        if (p->out == NULL)
                return;
        fputc('\r', p->out);
        for (size_t i = 0; i < p->width; i++)
                fputc(' ', p->out);
        fputc('\r', p->out);
        fflush(p->out);
        p->out = NULL;
}
