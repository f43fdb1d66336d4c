/*
 * args.h — command-line parsing for quorumctl against a table of commands.
 *
 * A command line is "quorumctl [OPTIONS] OBJECT VERB [ARGS...] [OPTIONS]":
 * the first two positional words select a command from a table, global
 * options may appear anywhere, and a command's own options are recognised
 * once its words have been seen.  Options are stored by name, so a name that
 * is both global and a command option (--timeout in "change wait") has one
 * value wherever it was written.  "--opt=value", "--opt value", "-o value",
 * "-ovalue" and "--" (end of options) are accepted.  Parsing is pure: no
 * output, no exit; errors come back as a message for the caller to print.
 */
#ifndef QUORUMCTL_ARGS_H
#define QUORUMCTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

struct quorumctl_ctx;
struct quorumctl_args;

enum quorumctl_opt_kind {
        QUORUMCTL_OPT_FLAG,  /* no value */
        QUORUMCTL_OPT_VALUE, /* one value; giving it twice is a usage error */
        QUORUMCTL_OPT_MULTI, /* a value, repeatable */
};

struct quorumctl_opt {
        const char *name; /* long name without "--"; NULL ends a table */
        char short_name;  /* 0: none */
        enum quorumctl_opt_kind kind;
        const char *metavar; /* for help, e.g. "SECS" */
        const char *help;
        const char *requires; /* an option it means nothing without, or NULL */
};

/* Runs a command; returns the process exit code (QUORUMCTL_EXIT_*). */
typedef int (*quorumctl_run_fn)(struct quorumctl_ctx *ctx,
                                const struct quorumctl_args *args);

struct quorumctl_cmd {
        const char *object;        /* "zone"; NULL ends a table */
        const char *verb;          /* "create" */
        const char *synopsis;      /* the rest of the usage line: "NAME [--ttl T]" */
        const char *summary;       /* one line for the command list */
        const char *details;       /* paragraph for "OBJECT VERB --help", may be NULL */
        size_t min_args, max_args; /* positional words after OBJECT VERB */
        const struct quorumctl_opt *opts; /* may be NULL */
        quorumctl_run_fn run;
};

#define QUORUMCTL_ARGS_UNLIMITED ((size_t)-1)

struct quorumctl_opt_value {
        const char *name;  /* borrowed from the option table */
        const char *value; /* borrowed from argv; NULL for a flag */
};

struct quorumctl_args {
        const struct quorumctl_cmd *cmd; /* NULL when none was selected */
        const char *object;              /* first word, even if unknown */
        const char **pos; /* positional words after OBJECT VERB (owned array) */
        size_t npos;
        struct quorumctl_opt_value *opts; /* owned array */
        size_t nopts;
        bool help;    /* -h/--help anywhere */
        bool version; /* --version */
};

/*
 * Parses argv[1..argc-1].  globals and cmds are tables ended by a NULL name /
 * object; both and argv are borrowed and must outlive *out.  Returns 0, or
 * -EINVAL with a message in err (a usage error), or -ENOMEM.  With --help or
 * --version the positional counts are not checked and an unknown or partial
 * command is not an error (cmd is then NULL).
 */
int quorumctl_args_parse(struct quorumctl_args *out, int argc, char **argv,
                         const struct quorumctl_opt *globals,
                         const struct quorumctl_cmd *cmds, char *err, size_t errlen);

void quorumctl_args_free(struct quorumctl_args *args);

/* The last value of option name, or NULL when it was not given. */
const char *quorumctl_args_get(const struct quorumctl_args *args, const char *name);

bool quorumctl_args_has(const struct quorumctl_args *args, const char *name);

/* The index-th value (0-based) of a repeatable option, or NULL past the end. */
const char *quorumctl_args_get_nth(const struct quorumctl_args *args, const char *name,
                                   size_t index);

/*
 * Reads option name as an unsigned integer in [min, max]; *out keeps its
 * value when the option is absent.  Returns 0 or -EINVAL with a message.
 */
int quorumctl_args_get_uint(const struct quorumctl_args *args, const char *name,
                            unsigned long min, unsigned long max, unsigned long *out,
                            char *err, size_t errlen);

/* Same for a duration in seconds with an optional fraction ("2.5"). */
int quorumctl_args_get_seconds(const struct quorumctl_args *args, const char *name,
                               double *out, char *err, size_t errlen);

#endif
