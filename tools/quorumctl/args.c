/*
 * args.c — command-line parsing for quorumctl (see args.h).
 *
 * One pass over argv: words go to the positional list, and the first two
 * select the command; options are looked up in the selected command's table
 * first, then in the global table, and stored by name.  Errors name the
 * offending word so that a usage message can follow it.
 */
#include "tools/quorumctl/args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen,
                                                      const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static const struct quorumctl_opt *find_long(const struct quorumctl_opt *table,
                                             const char *name, size_t len)
{
        for (; table != NULL && table->name != NULL; table++)
                if (strlen(table->name) == len && strncmp(table->name, name, len) == 0)
                        return table;
        return NULL;
}

static const struct quorumctl_opt *find_short(const struct quorumctl_opt *table, char c)
{
        for (; table != NULL && table->name != NULL; table++)
                if (table->short_name != 0 && table->short_name == c)
                        return table;
        return NULL;
}

static const struct quorumctl_cmd *find_cmd(const struct quorumctl_cmd *cmds,
                                            const char *object, const char *verb)
{
        for (; cmds->object != NULL; cmds++)
                if (strcmp(cmds->object, object) == 0 && strcmp(cmds->verb, verb) == 0)
                        return cmds;
        return NULL;
}

static bool object_known(const struct quorumctl_cmd *cmds, const char *object)
{
        for (; cmds->object != NULL; cmds++)
                if (strcmp(cmds->object, object) == 0)
                        return true;
        return false;
}

static int add_value(struct quorumctl_args *a, const struct quorumctl_opt *opt,
                     const char *value, char *err, size_t errlen)
{
        if (opt->kind == QUORUMCTL_OPT_VALUE && quorumctl_args_has(a, opt->name))
                return fail(err, errlen, "option --%s given more than once", opt->name);
        struct quorumctl_opt_value *grown =
            realloc(a->opts, (a->nopts + 1) * sizeof(*a->opts));
        if (grown == NULL)
                return -ENOMEM;
        a->opts = grown;
        a->opts[a->nopts].name = opt->name;
        a->opts[a->nopts].value = value;
        a->nopts++;
        if (strcmp(opt->name, "help") == 0)
                a->help = true;
        if (strcmp(opt->name, "version") == 0)
                a->version = true;
        return 0;
}

/* Handles argv[*i], an option; may consume the next word as its value. */
static int parse_option(struct quorumctl_args *a, int argc, char **argv, int *i,
                        const struct quorumctl_opt *globals, char *err, size_t errlen)
{
        const char *word = argv[*i];
        const struct quorumctl_opt *local = a->cmd != NULL ? a->cmd->opts : NULL;
        const struct quorumctl_opt *opt;
        const char *inline_value = NULL;

        if (word[1] == '-') {
                const char *name = word + 2;
                const char *eq = strchr(name, '=');
                size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
                opt = find_long(local, name, len);
                if (opt == NULL)
                        opt = find_long(globals, name, len);
                if (opt == NULL)
                        return fail(err, errlen, "unknown option --%.*s%s", (int)len,
                                    name,
                                    a->cmd == NULL ? " (command options go after the "
                                                     "command)"
                                                   : "");
                if (eq != NULL)
                        inline_value = eq + 1;
        } else {
                opt = find_short(local, word[1]);
                if (opt == NULL)
                        opt = find_short(globals, word[1]);
                if (opt == NULL)
                        return fail(err, errlen, "unknown option -%c", word[1]);
                if (word[2] != '\0')
                        inline_value = word + 2;
        }

        if (opt->kind == QUORUMCTL_OPT_FLAG) {
                if (inline_value != NULL)
                        return fail(err, errlen, "option --%s takes no value", opt->name);
                return add_value(a, opt, NULL, err, errlen);
        }
        if (inline_value == NULL) {
                if (*i + 1 >= argc)
                        return fail(err, errlen, "option --%s needs a value", opt->name);
                inline_value = argv[++*i];
        }
        return add_value(a, opt, inline_value, err, errlen);
}

static int add_positional(struct quorumctl_args *a, const char *word,
                          const struct quorumctl_cmd *cmds, size_t *words)
{
        (*words)++;
        if (*words == 1) {
                a->object = word;
                return 0;
        }
        if (*words == 2) {
                a->cmd = find_cmd(cmds, a->object, word);
                if (a->cmd != NULL)
                        return 0;
                /* An unknown verb: kept as a positional for the error message. */
        }
        const char **grown = realloc(a->pos, (a->npos + 1) * sizeof(*a->pos));
        if (grown == NULL)
                return -ENOMEM;
        a->pos = grown;
        a->pos[a->npos++] = word;
        return 0;
}

int quorumctl_args_parse(struct quorumctl_args *a, int argc, char **argv,
                         const struct quorumctl_opt *globals,
                         const struct quorumctl_cmd *cmds, char *err, size_t errlen)
{
        memset(a, 0, sizeof(*a));
        err[0] = '\0';
        bool options_done = false;
        size_t words = 0;
        int rc = 0;

        for (int i = 1; i < argc && rc == 0; i++) {
                const char *word = argv[i];
                if (!options_done && strcmp(word, "--") == 0)
                        options_done = true;
                else if (!options_done && word[0] == '-' && word[1] != '\0')
                        rc = parse_option(a, argc, argv, &i, globals, err, errlen);
                else
                        rc = add_positional(a, word, cmds, &words);
        }
        if (rc != 0)
                return rc;
        if (a->cmd == NULL && words == 1)
                a->cmd = find_cmd(cmds, a->object, ""); /* a one-word command */
        if (a->help || a->version)
                return 0;
        if (a->object == NULL)
                return fail(err, errlen, "no command given");
        if (a->cmd == NULL) {
                if (!object_known(cmds, a->object))
                        return fail(err, errlen, "unknown command '%s'", a->object);
                if (words < 2)
                        return fail(err, errlen, "'%s' needs a subcommand", a->object);
                return fail(err, errlen, "unknown command '%s %s'", a->object, a->pos[0]);
        }
        if (a->npos < a->cmd->min_args)
                return fail(err, errlen, "'%s %s' needs more arguments", a->cmd->object,
                            a->cmd->verb);
        if (a->cmd->max_args != QUORUMCTL_ARGS_UNLIMITED && a->npos > a->cmd->max_args)
                return fail(err, errlen, "'%s %s': unexpected argument '%s'",
                            a->cmd->object, a->cmd->verb, a->pos[a->cmd->max_args]);
        for (const struct quorumctl_opt *o = a->cmd->opts; o != NULL && o->name != NULL;
             o++)
                if (o->requires != NULL && quorumctl_args_has(a, o->name) &&
                    !quorumctl_args_has(a, o->requires))
                        return fail(err, errlen, "--%s goes with --%s", o->name,
                                    o->requires);
        return 0;
}

void quorumctl_args_free(struct quorumctl_args *a)
{
        free(a->pos);
        free(a->opts);
        memset(a, 0, sizeof(*a));
}

const char *quorumctl_args_get(const struct quorumctl_args *a, const char *name)
{
        for (size_t i = a->nopts; i > 0; i--)
                if (strcmp(a->opts[i - 1].name, name) == 0)
                        return a->opts[i - 1].value;
        return NULL;
}

bool quorumctl_args_has(const struct quorumctl_args *a, const char *name)
{
        for (size_t i = 0; i < a->nopts; i++)
                if (strcmp(a->opts[i].name, name) == 0)
                        return true;
        return false;
}

const char *quorumctl_args_get_nth(const struct quorumctl_args *a, const char *name,
                                   size_t index)
{
        for (size_t i = 0; i < a->nopts; i++)
                if (strcmp(a->opts[i].name, name) == 0 && index-- == 0)
                        return a->opts[i].value;
        return NULL;
}

int quorumctl_args_get_uint(const struct quorumctl_args *a, const char *name,
                            unsigned long min, unsigned long max, unsigned long *out,
                            char *err, size_t errlen)
{
        const char *text = quorumctl_args_get(a, name);
        if (text == NULL)
                return 0;
        char *end;
        errno = 0;
        unsigned long v = strtoul(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < min ||
            v > max)
                return fail(err, errlen, "--%s: '%s' is not a number in %lu..%lu", name,
                            text, min, max);
        *out = v;
        return 0;
}

int quorumctl_args_get_seconds(const struct quorumctl_args *a, const char *name,
                               double *out, char *err, size_t errlen)
{
        const char *text = quorumctl_args_get(a, name);
        if (text == NULL)
                return 0;
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v <= 0 ||
            v > 86400.0 * 365)
                return fail(err, errlen, "--%s: '%s' is not a positive number of seconds",
                            name, text);
        *out = v;
        return 0;
}
