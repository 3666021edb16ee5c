/* Bringing up the application processors (docs/smp.md). */
#ifndef KEEL_X86_SMP_H
#define KEEL_X86_SMP_H

#include "mb2.h"
#include "types.h"

#define AP_KSTACK_PAGES 8 /* an AP's kernel stack: 32 KiB above a guard page, as cpu0's */

/*
 * Start every enabled CPU the MADT lists besides this one: the trampoline
 * copied to a free page below 640 KiB -- or, if none is free, to one a boot
 * module is moved off (its record in *mb changes: docs/smp.md, "Bring-up")
 * -- INIT to all of them and the architectural 10 ms once, then one at a
 * time a startup IPI (again after 200 us if it has not answered) and up to
 * five seconds for it to report in. A CPU that does not answer is reported,
 * sent INIT again (so it never runs the trampoline after it is gone), left
 * out, and the stacks made for it are freed. `skip` (1-based; 0: none) is an
 * AP sent no startup IPI on purpose, to prove that path (smp_skip= on the
 * command line). Each AP sets up its own registers and per-CPU state and
 * then waits, halted with interrupts on, for the run.
 */
void smp_start(struct mb2_info *mb, paddr_t mbi_pa, u32 skip);

/* trampoline=move (tunables.c), test only: every free page below 640 KiB
 * counts as held, so the trampoline's page can only come from moving a
 * module (tests/test_smp.py). */
extern bool smp_trampoline_move;

/* The run is over (run.c): every other CPU is stopped by NMI and halts for
 * good, so the end-of-run checks see all of the kernel's state at rest.
 * Returns how many stopped. */
u32 smp_stop_others(void);

/* trap.c, at an NMI: if another CPU is panicking, count this one stopped and
 * halt for good; otherwise return. */
void smp_nmi(void);

/* The slot audit of the kernel's address space on every AP, from that AP's
 * live registers (its own CR3, GDTR, IDTR, TSS, stacks, GS base); one line.
 * Returns the number of problems. */
int smp_audit_cpus(void);

#endif
