/*
 * main.c — quorumctl, the operator command line of a quorumdns cluster.
 *
 * Everything is in quorumctl_cli_main (commands.c), so that the whole tool
 * can also be driven from a test with its own output streams.
 */
#include <stdio.h>

#include "tools/quorumctl/commands.h"

int main(int argc, char **argv)
{
        return quorumctl_cli_main(argc, argv, stdout, stderr);
}
