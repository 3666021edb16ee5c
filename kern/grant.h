/*
 * Device capabilities handed out at boot: `grant=IDX:WHAT,...` on the kernel
 * command line gives the IDX-th program of `run=` (from 0) an interrupt,
 * port or software-vector capability (docs/abi.md "Devices"):
 *
 *   IDX:irqN          ISA IRQ N (routed through the MADT's overrides)
 *   IDX:gsiN          global system interrupt N
 *   IDX:ioBASE+COUNT  I/O ports BASE .. BASE+COUNT-1
 *   IDX:swvecN        software vector N (0xA0..0xBF)
 *
 * Numbers are decimal or 0x-hex. The kernel's own lines and ports are
 * refused. Until envs can make envs, the boot is where such authority starts.
 */
#ifndef KEEL_GRANT_H
#define KEEL_GRANT_H

#include "types.h"

struct env;

/* Apply the spec to the boot's envs; returns how many items failed (each
 * reported on the console). */
u64 grant_apply(const char *spec, struct env **envs, u64 n);

/* `pin=IDX:cpuN,...`: the IDX-th program runs only on CPU N (a CPU that is
 * up; SMP part 2 replaces this with CPU capabilities). Same reporting. */
u64 pin_apply(const char *spec, struct env **envs, u64 n);

#endif
