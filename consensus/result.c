/*
 * result.c — the outcome of an operation on the replicated state (struct
 * cs_result: a status, a message and every problem of a batch, each with
 * its action and field), and the string helpers every part of the state
 * uses.  It depends on nothing else in the state, so that changes.c,
 * members.c, health.c, batch.c and state.c all build on it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/state.h"
#include "consensus/state_priv.h"

void cs_result_init(struct cs_result *res)
{
        memset(res, 0, sizeof(*res));
}

void cs_result_reset(struct cs_result *res)
{
        res->status = 0;
        res->message[0] = 0;
        res->change_id[0] = 0;
        res->duplicate = false;
        res->index = 0;
        res->n_errors = 0;
}

void cs_result_fini(struct cs_result *res)
{
        free(res->errors);
        cs_result_init(res);
}

void result_error(struct cs_result *res, uint32_t action, const char *field,
                  const char *fmt, ...)
{
        if (res->n_errors == res->cap_errors) {
                size_t cap = res->cap_errors ? res->cap_errors * 2 : 16;
                struct cs_error *e = realloc(res->errors, cap * sizeof(*e));
                if (e == NULL)
                        return; /* the status still says the batch failed */
                res->errors = e;
                res->cap_errors = cap;
        }
        struct cs_error *e = &res->errors[res->n_errors++];
        e->action = action;
        snprintf(e->field, sizeof(e->field), "%s", field);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
}

int result_fail(struct cs_result *res, int status, const char *fmt, ...)
{
        res->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(res->message, sizeof(res->message), fmt, ap);
        va_end(ap);
        return status;
}

uint64_t str_hash(const char *s)
{
        return hash_bytes(s, strlen(s), 0x737472);
}

char *str_dup(const char *s)
{
        return strdup(s ? s : "");
}

bool str_ok(const char *s, size_t max)
{
        return s == NULL || strlen(s) <= max;
}
