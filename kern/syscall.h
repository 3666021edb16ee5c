#ifndef KEEL_SYSCALL_H
#define KEEL_SYSCALL_H

#include "types.h"

struct env;
struct dispatcher;
struct trap_frame;

/* What syscall_fast tells entry.S's syscall entry (in RDX, its value in RAX). */
#define SYSCALL_FAST_NONE   0 /* not a fast call: the general path makes it */
#define SYSCALL_FAST_SYSRET 1 /* answered: back to Ring 3 by sysretq at once */
#define SYSCALL_FAST_EVENTS 2 /* answered, but events wait: the general path delivers them */

/* STAR, LSTAR (entry; floor_entry for benchmarks, DEBUG_FLOOR_SYSCALL),
 * CSTAR (compat_entry), FMASK, EFER.SCE: entry.S's addresses, from main.c. */
void syscall_init(u64 entry, u64 compat_entry, u64 floor_entry);
/* The same MSRs on this CPU, with cpu0's addresses (an AP, smp.c). */
void syscall_init_like_cpu0(void);

/* Fast paths switched off (a mask of KEEL_FASTPATH_*): by a differential
 * test (DEBUG_FAST_PATHS), or all of them for the whole boot
 * (fastpaths=off, debug builds: the suite run with the general paths only,
 * ./keel test --fastpaths off). syscall_fast_paths sets the mask and the
 * self event's gate; main.c calls it once the command line is read. */
extern u64 fast_paths_off;
extern bool fast_paths_forced_off;
void syscall_fast_paths(u64 off);

/* The call `nr` with its arguments, made for d (its arguments in the
 * order the syscall entry has them: the fast path passes them on unmoved). */
i64 syscall_dispatch(u64 a0, u64 a1, u64 a2, u64 nr, struct dispatcher *d);
__noreturn void syscall_from_user(struct trap_frame *tf);
__noreturn void syscall_switch(struct trap_frame *tf);

__noreturn void syscall_compat_from_user(struct trap_frame *tf);

#endif
