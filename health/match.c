/*
 * match.c — the body string match (see match.h).
 *
 * Each chunk is appended up to the window; the search starts needle_len - 1
 * bytes before the chunk's first byte, which is the earliest place a match
 * that ends in the new bytes can begin.
 */
#include "health/match.h"

#include <errno.h>
#include <string.h>

int health_match_init(struct health_match *m, const char *needle, size_t needle_len)
{
        if (needle_len == 0 || needle_len > HEALTH_SEARCH_MAX)
                return -EINVAL;
        m->len = 0;
        m->needle_len = needle_len;
        memcpy(m->needle, needle, needle_len);
        return 0;
}

enum health_match_state health_match_feed(struct health_match *m, const char *chunk,
                                          size_t len)
{
        if (m->len >= HEALTH_SEARCH_WINDOW)
                return HEALTH_MATCH_NOT_FOUND;
        size_t room = HEALTH_SEARCH_WINDOW - m->len;
        size_t take = len < room ? len : room;
        size_t from = m->len >= m->needle_len ? m->len - m->needle_len + 1 : 0;
        memcpy(m->body + m->len, chunk, take);
        m->len += take;
        if (memmem(m->body + from, m->len - from, m->needle, m->needle_len))
                return HEALTH_MATCH_FOUND;
        return m->len >= HEALTH_SEARCH_WINDOW ? HEALTH_MATCH_NOT_FOUND
                                              : HEALTH_MATCH_MORE;
}
