/*
 * progress.h — a one-line progress bar for long imports.
 *
 * Drawn on stderr only when stderr is a terminal (never into a log or a
 * pipe), redrawn in place with '\r': bar, done/total records, percentage,
 * rate and estimated time left.  The text of the line is built by a pure
 * function so that it can be tested without a terminal.
 */
#ifndef QUORUMCTL_PROGRESS_H
#define QUORUMCTL_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

struct quorumctl_progress {
        FILE *out;      /* borrowed; NULL: disabled */
        double started; /* monotonic seconds */
        size_t total;
        size_t width;     /* of the last line drawn, to blank it out */
        const char *unit; /* what is counted; NULL: "records" */
};

/* Enables the bar when out is a terminal; unit: what is counted ("zones";
 * NULL: "records"). */
void quorumctl_progress_start(struct quorumctl_progress *p, FILE *out, size_t total,
                              const char *unit);

void quorumctl_progress_update(struct quorumctl_progress *p, size_t done);

/* Erases the line, so that following messages start clean. */
void quorumctl_progress_finish(struct quorumctl_progress *p);

/*
 * Formats "[#####.....] 40000/100000 records  40%  12.3k rec/s  ETA 0:05"
 * into buf; elapsed is in seconds.  Returns the length written.
 */
size_t quorumctl_progress_format(char *buf, size_t size, size_t done, size_t total,
                                 double elapsed);

/* The same counting `unit` ("zones"), its rate as `abbrev`/s. */
size_t quorumctl_progress_format_unit(char *buf, size_t size, size_t done, size_t total,
                                      double elapsed, const char *unit,
                                      const char *abbrev);

/* Monotonic clock in seconds. */
double quorumctl_progress_now(void);

#endif
