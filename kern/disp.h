/*
 * Starting more dispatchers (docs/abi.md "Dispatchers"; dispatcher.h): an
 * env runs on several CPUs at once, one dispatcher per CPU, each bound to
 * its CPU and taking upcalls through its own area.
 */
#ifndef KEEL_DISP_H
#define KEEL_DISP_H

#include "types.h"

struct dispatcher;

/* At boot: hand the context of a dispatcher whose CPU is revoked to another
 * of its env's (the scheduler calls back). */
void disp_init(void);

/* SYS_DISP_START from dispatcher d: 0, or -errno (the table in docs/abi.md). */
i64 disp_start(struct dispatcher *d, u64 ureq);

#endif
