/*
 * probe_priv.h — what probe.c (the engine, HTTP and HTTPS) and probe_tcp.c
 * (TCP connects on libuv) share.  Not for use outside health/.
 */
#ifndef HEALTH_PROBE_PRIV_H
#define HEALTH_PROBE_PRIV_H

#include "health/probe.h"

/* Sets probe's verdict (the first one wins); text is printf-formatted. */
void probe_decide(struct health_probe *probe, bool ok, enum health_reason reason,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Lets the kernel pick a bound socket's port at connect time (best effort). */
void probe_socket_no_port(int fd);

/* Microseconds since the probe started. */
int64_t probe_elapsed_us(const struct health_probe *probe);

/* (Re)starts the probe's deadline: ms from now, the verdict is a timeout
 * unless one was set before (then the probe just ends). */
void probe_arm_deadline(struct health_probe *probe, uint64_t ms);

/* Ends an active probe: releases its transfer, then calls its callback. */
void probe_finish(struct health_probe *probe);

/* TCP (probe_tcp.c): start, and drop a running attempt without a verdict. */
int probe_tcp_start(struct health_probe *probe, const struct health_check_config *cfg);
void probe_tcp_detach(struct health_probe *probe);

#endif
