/* TLB shootdown (tlb.h; docs/smp.md). */
#include "tlb.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/xcall.h"
#include "panic.h"
#include "slot.h"

bool tlb_skip_ipis;
u64 tlb_syncs, tlb_ipis;

/* What the CPU holding the kernel lock has changed since its last sync. */
static struct {
	u32 npages;
	bool all;
	u64 va[TLB_BATCH];
} pending;

bool tlb_owed;

void tlb_note_page(u64 va)
{
	tlb_owed = true;
	if (pending.all)
		return;
	if (pending.npages == TLB_BATCH)
		pending.all = true;
	else
		pending.va[pending.npages++] = va;
}

void tlb_user_all(void)
{
	write_cr3(read_cr3());
	if (cpus_up > 1)
		tlb_owed = pending.all = true;
}

/* On each CPU asked: a CPU whose CR3 is the kernel's caches no user entry. */
static void flush_call(void *arg)
{
	(void)arg;
	if (!this_cpu()->pml4_loaded)
		return;
	if (pending.all) {
		write_cr3(read_cr3());
		return;
	}
	for (u32 i = 0; i < pending.npages; i++)
		invlpg(pending.va[i]);
}

void tlb_sync_now(void)
{
	u64 targets = 0;
	u32 me = this_cpu()->id;
	for (u32 c = 0; c < cpus_up; c++)
		if (c != me && cpus[c].pml4_loaded)
			targets |= 1ULL << c;
	tlb_syncs++;
	if (targets && !tlb_skip_ipis) {
		for (u64 m = targets; m; m &= m - 1)
			tlb_ipis++;
		if (smp_call_many(targets, flush_call, NULL))
			panic("tlb: a CPU did not flush within 5 s (targets %#llx)", (unsigned long long)targets);
	}
	pending.npages = 0;
	pending.all = false;
	tlb_owed = false;
}

static void invlpg_call(void *arg) { invlpg(*(u64 *)arg); }

void tlb_kernel_page(u64 va)
{
	invlpg(va);
	u64 others = 0;
	for (u32 c = 0; c < cpus_up; c++)
		if (c != this_cpu()->id)
			others |= 1ULL << c;
	if (others && smp_call_many(others, invlpg_call, &va))
		panic("tlb: a CPU did not flush kernel page %#llx within 5 s", (unsigned long long)va);
}

void tlb_init(void) { slot_set_unmap_flush(tlb_kernel_page); }
