/*
 * match.h — the string match of HTTP_STR_MATCH and HTTPS_STR_MATCH checks.
 *
 * The body arrives in chunks of any size; the search string must appear
 * (case-sensitive) within its first HEALTH_SEARCH_WINDOW bytes.  A matcher
 * keeps those bytes and looks only at what each chunk adds (plus the end of
 * what came before, so a string split across chunks is found), and says as
 * soon as the verdict is known, so the probe can stop reading.
 */
#ifndef HEALTH_MATCH_H
#define HEALTH_MATCH_H

#include <stddef.h>

#include "health/check.h"

enum health_match_state { HEALTH_MATCH_MORE, HEALTH_MATCH_FOUND, HEALTH_MATCH_NOT_FOUND };

struct health_match {
        size_t len;        /* body bytes kept (at most HEALTH_SEARCH_WINDOW) */
        size_t needle_len; /* 1..HEALTH_SEARCH_MAX */
        char needle[HEALTH_SEARCH_MAX];
        char body[HEALTH_SEARCH_WINDOW];
};

/* needle_len must be 1..HEALTH_SEARCH_MAX; returns 0 or -EINVAL. */
int health_match_init(struct health_match *m, const char *needle, size_t needle_len);

/* Adds a chunk of the body: MORE (undecided), FOUND or NOT_FOUND (final). */
enum health_match_state health_match_feed(struct health_match *m, const char *chunk,
                                          size_t len);

#endif
