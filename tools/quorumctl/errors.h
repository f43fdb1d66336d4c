/*
 * errors.h — exit codes of quorumctl and the text of API errors.
 *
 * Scripts rely on the exit code alone: 0 ok, 1 the API refused the request
 * (4xx), 2 the command line was wrong, 3 no server reachable or a server
 * error (5xx, including 503 NoQuorum on every server), 4 "change wait" ran
 * out of time.  The message printed for an API error comes from the JSON
 * error body: code, message, the field it names, and every problem of a
 * change batch, one per line.  Both mappings are pure functions.
 */
#ifndef QUORUMCTL_ERRORS_H
#define QUORUMCTL_ERRORS_H

#include <stddef.h>

enum {
        QUORUMCTL_EXIT_OK = 0,
        QUORUMCTL_EXIT_API = 1,
        QUORUMCTL_EXIT_USAGE = 2,
        QUORUMCTL_EXIT_UNAVAILABLE = 3,
        QUORUMCTL_EXIT_TIMEOUT = 4,
};

/* Batch problems listed in a message at most; the rest are counted. */
#define QUORUMCTL_ERROR_MAX_PROBLEMS 20

/* Exit code for an HTTP status; status 0 means that no server answered. */
int quorumctl_exit_from_status(long status);

/*
 * Formats the error in a response body (borrowed, need not be terminated)
 * as one or more lines without a final newline: "CODE: message (field F)"
 * then "  F: message" for each batch problem (the first
 * QUORUMCTL_ERROR_MAX_PROBLEMS, then how many more).  A body that is not a JSON
 * error gives "HTTP <status>: <first line of body>".  Returns a malloc'd
 * string, or NULL when out of memory.
 */
char *quorumctl_error_format(long status, const char *body, size_t len);

#endif
