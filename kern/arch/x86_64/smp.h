/* Bringing up the application processors (docs/smp.md). */
#ifndef KEEL_X86_SMP_H
#define KEEL_X86_SMP_H

#include "mb2.h"
#include "types.h"

/* CPUs running the kernel (cpus[0..smp_ncpus-1]); 1 until smp_start. */
extern u32 smp_ncpus;

/*
 * Start every enabled CPU the MADT lists besides this one: INIT to all of
 * them and the architectural 10 ms once, then one at a time a startup IPI
 * (again after 200 us if it has not answered) and up to a second for it to
 * report in. A CPU that does not
 * answer is reported, sent INIT again (so it never runs the trampoline after
 * it is gone) and left out. `skip` (1-based; 0: none) is an AP sent no
 * startup IPI on purpose, to prove that path (smp_skip= on the command
 * line). Each AP sets up its own registers and per-CPU state and then waits,
 * halted with interrupts off, for work (SMP part 2).
 */
void smp_start(const struct mb2_info *mb, paddr_t mbi_pa, u32 skip);

#endif
