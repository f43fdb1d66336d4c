/*
 * errors.c — exit codes and API error messages (see errors.h).
 *
 * The error body is parsed with jansson; anything unexpected in it (a proxy's
 * HTML page, a truncated body) still yields a one-line message, so the caller
 * always has something to print.
 */
#include "tools/quorumctl/errors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int quorumctl_exit_from_status(long status)
{
        if (status >= 200 && status < 300)
                return QUORUMCTL_EXIT_OK;
        if (status >= 400 && status < 500)
                return QUORUMCTL_EXIT_API;
        /* No answer, 5xx, and statuses the API never uses (1xx, 3xx). */
        return QUORUMCTL_EXIT_UNAVAILABLE;
}

static const char *json_str(json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Appends to a memstream the text of one "errors" entry. */
static void format_problem(FILE *f, json_t *problem)
{
        const char *field = json_str(problem, "field");
        const char *message = json_str(problem, "message");
        json_t *index = json_object_get(problem, "index");
        fputs("\n  ", f);
        if (field != NULL)
                fprintf(f, "%s: ", field);
        else if (json_is_integer(index))
                fprintf(f, "changes[%lld]: ", (long long)json_integer_value(index));
        fputs(message != NULL ? message : "(no message)", f);
}

static void format_plain(FILE *f, long status, const char *body, size_t len)
{
        size_t line = 0;
        while (line < len && line < 200 && body[line] != '\n' && body[line] != '\r')
                line++;
        fprintf(f, "HTTP %ld", status);
        if (line > 0) {
                fputs(": ", f);
                for (size_t i = 0; i < line; i++)
                        fputc((unsigned char)body[i] < 0x20 ? ' ' : body[i], f);
        }
}

char *quorumctl_error_format(long status, const char *body, size_t len)
{
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        if (f == NULL)
                return NULL;

        json_t *root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
        json_t *error = json_object_get(root, "error");
        const char *message = json_str(error, "message");
        if (!json_is_object(error) || message == NULL) {
                format_plain(f, status, body != NULL ? body : "", body != NULL ? len : 0);
        } else {
                const char *code = json_str(error, "code");
                const char *field = json_str(error, "field");
                if (code != NULL)
                        fprintf(f, "%s: ", code);
                fputs(message, f);
                if (field != NULL)
                        fprintf(f, " (field %s)", field);
                json_t *problems = json_object_get(error, "errors");
                size_t i, n = json_array_size(problems);
                const char *only =
                    n == 1 ? json_str(json_array_get(problems, 0), "message") : NULL;
                if (only != NULL && strcmp(only, message) == 0)
                        n = 0, problems = NULL; /* the message already says it */
                json_t *problem;
                json_array_foreach(problems, i, problem)
                {
                        if (i == QUORUMCTL_ERROR_MAX_PROBLEMS)
                                break;
                        format_problem(f, problem);
                }
                if (n > QUORUMCTL_ERROR_MAX_PROBLEMS)
                        fprintf(f, "\n  ... and %zu more (--json prints them all)",
                                n - QUORUMCTL_ERROR_MAX_PROBLEMS);
        }
        json_decref(root);
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}
