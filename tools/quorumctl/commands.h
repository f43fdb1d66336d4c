/*
 * commands.h — the table of quorumctl commands, the global options and the
 * help texts, and quorumctl_cli_main, which ties parsing, set-up and the
 * command together (main.c only calls it).
 */
#ifndef QUORUMCTL_COMMANDS_H
#define QUORUMCTL_COMMANDS_H

#include <stdio.h>

#include "tools/quorumctl/args.h"

extern const struct quorumctl_opt quorumctl_global_opts[];
extern const struct quorumctl_cmd quorumctl_commands[];

/* The whole tool: returns the exit code.  env is read through getenv. */
int quorumctl_cli_main(int argc, char **argv, FILE *out, FILE *err);

/* Help for the tool, for an object ("zone") or for one command. */
void quorumctl_help_print(FILE *out, const struct quorumctl_args *args);

#endif
