/* Bringing up the application processors (docs/smp.md). */
#ifndef KEEL_X86_SMP_H
#define KEEL_X86_SMP_H

#include "mb2.h"
#include "types.h"

#define AP_KSTACK_PAGES 8 /* an AP's kernel stack: 32 KiB above a guard page, as cpu0's */

/*
 * Start every enabled CPU the MADT lists besides this one: INIT to all of
 * them and the architectural 10 ms once, then one at a time a startup IPI
 * (again after 200 us if it has not answered) and up to five seconds for it
 * to report in. A CPU that does not
 * answer is reported, sent INIT again (so it never runs the trampoline after
 * it is gone) and left out. `skip` (1-based; 0: none) is an AP sent no
 * startup IPI on purpose, to prove that path (smp_skip= on the command
 * line). Each AP sets up its own registers and per-CPU state and then waits,
 * halted with interrupts off, for work (SMP part 2).
 */
void smp_start(const struct mb2_info *mb, paddr_t mbi_pa, u32 skip);

/*
 * Run fn(arg) on CPU `cpu` (an index into cpus[]) and wait until it has run:
 * the call is posted in that CPU's mailbox and a VEC_CALL IPI sent; the AP,
 * halted with interrupts on between calls, runs it from the interrupt. On
 * this CPU, a plain call. 0, or -EBUSY if it did not run within 5 s
 * (reported). Only cpu0 calls, for now: no two calls race for a mailbox.
 */
int smp_call(u32 cpu, void (*fn)(void *), void *arg);
void smp_call_interrupt(void); /* trap.c: VEC_CALL arrived */

/* trap.c, at an NMI: if another CPU is panicking, count this one stopped and
 * halt for good; otherwise return. */
void smp_nmi(void);

/* The slot audit of the kernel's address space on every AP, from that AP's
 * live registers (its own CR3, GDTR, IDTR, TSS, stacks, GS base); one line.
 * Returns the number of problems. */
int smp_audit_cpus(void);

#endif
