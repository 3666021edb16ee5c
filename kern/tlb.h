/*
 * TLB shootdown (docs/smp.md, "TLB shootdown"). Without PCID a CPU may
 * cache an address space's translations while its CR3 holds it -- an idle
 * CPU that kept the last env's CR3 included -- and a CR3 load drops them
 * all but the global (kernel) ones.
 *
 * A change that takes a user translation away (unmap, fewer rights, a
 * table unlinked) flushes this CPU at once and is noted; before the call
 * that made it returns, and before any frame it freed can be reused,
 * tlb_sync() has every other CPU whose CR3 holds a user address space
 * flush the same (INVLPG for up to TLB_BATCH pages, else a CR3 reload) and
 * waits for all of them: one IPI per CPU for a whole batch. Which address
 * spaces reach a table is not tracked (tables may be shared), so every CPU
 * with a user CR3 is asked: more IPIs than needed, never a stale entry.
 * Everything here runs under the kernel lock.
 */
#ifndef KEEL_TLB_H
#define KEEL_TLB_H

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "types.h"

#define TLB_BATCH 16

void tlb_note_page(u64 va);
void tlb_sync_now(void);
extern bool tlb_owed; /* something was noted since the last sync */

/* A user page's translation went or lost rights (flushed here now). With
 * one CPU up nothing is noted: no other CPU can cache it. */
static inline void tlb_user_page(u64 va)
{
	invlpg(va);
	if (cpus_up > 1)
		tlb_note_page(va);
}
/* A table was unlinked or an upper-level entry lost rights: everything
 * below may be cached, paging-structure caches included (flushed here now). */
void tlb_user_all(void);
/* Have every other CPU that may cache what was noted flush it; wait. */
static inline void tlb_sync(void)
{
	if (unlikely(tlb_owed))
		tlb_sync_now();
}
/* A kernel (global) mapping went: INVLPG on every CPU, now. tlb_init makes
 * slot_unmap use it (once the APs are up). */
void tlb_kernel_page(u64 va);
void tlb_init(void);

/* Test only (shootdown=skip on the command line): tlb_sync sends nothing,
 * to prove the shootdown tests fail without it. */
extern bool tlb_skip_ipis;

/* Statistics for the run's summary. */
extern u64 tlb_syncs, tlb_ipis;

#endif
