/*
 * ca.h — `quorumdns ca init|issue`: the cluster CA and node certificates
 * (ca.c says what is made and how keys are kept).
 */
#ifndef NODE_CA_H
#define NODE_CA_H

/* Runs `quorumdns ca ARGS...` (argv starts after "ca"); returns the exit
 * status: 0 done, 1 failed, 2 usage. */
int node_ca_main(int argc, char **argv);

#endif
