/*
 * log.h — leveled logging to stderr.
 *
 * Every module logs through these macros so that one switch (the node's
 * --log-level) governs the whole process.  Lines carry a level tag and go to
 * stderr unbuffered; the query hot path never logs below LOG_DEBUG.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

extern enum log_level log_threshold;

/* Parses "error", "warn", "info" or "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *text, enum log_level *out);

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG_ERROR(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define LOG_WARN(...)                                                                    \
        do {                                                                             \
                if (log_threshold >= LOG_LEVEL_WARN)                                     \
                        log_write(LOG_LEVEL_WARN, __VA_ARGS__);                          \
        } while (0)
#define LOG_INFO(...)                                                                    \
        do {                                                                             \
                if (log_threshold >= LOG_LEVEL_INFO)                                     \
                        log_write(LOG_LEVEL_INFO, __VA_ARGS__);                          \
        } while (0)
#define LOG_DEBUG(...)                                                                   \
        do {                                                                             \
                if (log_threshold >= LOG_LEVEL_DEBUG)                                    \
                        log_write(LOG_LEVEL_DEBUG, __VA_ARGS__);                         \
        } while (0)

#endif
