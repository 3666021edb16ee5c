/*
 * The slot audit (docs/design.md invariant 6): invariants 1-3 checked on
 * the live machine -- the page tables as they are, everything reachable
 * from the user half as the MMU would reach it, and the GDTR, IDTR, TR,
 * TSS stacks, RSP and GS base as the CPU holds them now, not as symbols
 * say they should be. It runs at boot and for every new address space, and
 * fails loudly.
 */
#include "slot_audit.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "console.h"
#include "frame.h"
#include "frame_type.h"
#include "layout.h"
#include "slot.h"

struct audit {
	paddr_t pml4;
	const char *who;
	int problems;
};

static void audit_fail(struct audit *a, const char *fmt, ...) __printf(2, 3);
static void audit_fail(struct audit *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kprintf("slot audit: FAIL (%s): ", a->who);
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
	a->problems++;
}

/* A live structure the CPU reaches on entry must be in slot 511, mapped,
 * and supervisor-only in the audited address space. */
static void audit_live(struct audit *a, const char *what, u64 va, u64 len)
{
	if (va < KERNEL_SLOT_BASE || va + len < va) {
		audit_fail(a, "%s at %#llx is outside slot 511", what, (unsigned long long)va);
		return;
	}
	for (u64 p = ALIGN_DOWN(va, PAGE_SIZE); p < va + len; p += PAGE_SIZE) {
		u64 leaf;
		if (!paging_lookup(a->pml4, p, &leaf, NULL)) {
			audit_fail(a, "%s at %#llx: page %#llx is not mapped", what, (unsigned long long)va,
				   (unsigned long long)p);
			return;
		}
		if (leaf & PTE_U) {
			audit_fail(a, "%s page %#llx is user-accessible", what, (unsigned long long)p);
			return;
		}
	}
}

/*
 * What Ring 3 can reach: the user half walked as the MMU walks it, from
 * PML4 slots 0-255 down through every present entry -- the page-table
 * window's too, so each table is also read one, two and three levels below
 * its own, as the window makes the MMU read it. PS is read where the MMU
 * reads it (levels 3 and 2; at level 1 bit 7 is PAT, at level 4 reserved).
 * Every entry on the way must be a user entry (a supervisor one in the user
 * half is a kernel mapping there, invariant 1), every table one of an env's
 * page tables or its window's top -- never the PML4 itself, which holds
 * slot 511, nor a kernel frame -- and every leaf a 4 KiB page of an env's
 * data or tables. In a well-formed tree every table is read at most four
 * times (its own level and three window levels); far more reads mean a loop
 * the kernel made, reported instead of followed.
 */
struct user_walk {
	struct audit *a;
	u64 reads, budget, leaves;
};

static bool user_table_type(enum frame_type t)
{
	return t == FRAME_PT1 || t == FRAME_PT2 || t == FRAME_PT3 || t == FRAME_WINDOW;
}

static void walk_user(struct user_walk *w, paddr_t table, int level, u64 vbase)
{
	if (++w->reads > w->budget) {
		if (w->reads == w->budget + 1)
			audit_fail(w->a, "the user half's tables are read more than %llu times: a loop",
				   (unsigned long long)w->budget);
		return;
	}
	const u64 *t = pa_to_va(table);
	for (unsigned i = 0; i < (level == 4 ? 256u : PT_ENTRIES); i++) {
		u64 e = t[i], va = vbase + (u64)i * level_size(level);
		paddr_t pa = e & PTE_ADDR;
		if (!(e & PTE_P))
			continue;
		if (!(e & PTE_U)) {
			audit_fail(w->a, "%#llx: a supervisor entry at level %d in the user half (%#llx)",
				   (unsigned long long)va, level, (unsigned long long)e);
			continue;
		}
		if (level == 4 && (e & PTE_PS)) {
			audit_fail(w->a, "%#llx: PS set in a PML4 entry", (unsigned long long)va);
		} else if (level == 1 || (e & PTE_PS)) {
			enum frame_type ft = frame_type(pa);
			if (level != 1)
				audit_fail(w->a, "%#llx: a large page at level %d in the user half", (unsigned long long)va,
					   level);
			else if (ft != FRAME_DATA && !user_table_type(ft))
				audit_fail(w->a, "%#llx: a user page of frame %#llx, type %d: not an env's data or table",
					   (unsigned long long)va, (unsigned long long)pa, ft);
			w->leaves++;
		} else if (!user_table_type(frame_type(pa))) {
			/* Not read: it may be a kernel table, or no RAM at all. */
			audit_fail(w->a, "%#llx: level %d entry -> frame %#llx, type %d: not an env's page table",
				   (unsigned long long)va, level, (unsigned long long)pa, frame_type(pa));
		} else {
			walk_user(w, pa, level - 1, va);
		}
	}
}

int slot_audit_user_half(paddr_t pml4_pa, const char *who, u64 *leaves)
{
	struct audit a = { pml4_pa, who, 0 };
	struct user_walk w = { &a, 0, 4 * kernel_frames.nframes + 4, 0 };
	walk_user(&w, pml4_pa, 4, 0);
	if (leaves)
		*leaves = w.leaves;
	return a.problems;
}

static int audit_space(paddr_t pml4_pa, const char *who, bool kernel_only, u64 *leaves_out)
{
	struct audit a = { pml4_pa, who, 0 };
	u64 leaves = 0;
	const u64 *pml4 = pa_to_va(pml4_pa);

	/* Invariants 1 and 2 on the tables themselves. */
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		u64 e = pml4[i];
		if (i < 256) {
			if ((e & PTE_P) && kernel_only) /* (an env's: walked below) */
				audit_fail(&a, "PML4[%u] = %#llx: the kernel's own address space must have an "
					       "empty user half",
					   i, (unsigned long long)e);
		} else if (i < KERNEL_SLOT) {
			if (e & PTE_P)
				audit_fail(&a, "PML4[%u] = %#llx: slots 256..510 must stay empty", i,
					   (unsigned long long)e);
		} else if (!(e & PTE_P) || (e & PTE_ADDR) != slot_pdpt() || (e & PTE_U)) {
			audit_fail(&a, "PML4[511] = %#llx: must point to the shared PDPT %#llx, supervisor-only",
				   (unsigned long long)e, (unsigned long long)slot_pdpt());
		}
	}

	/* Invariant 3: what the CPU reads on entry, from the live registers. */
	struct descriptor_ptr gdtr = sgdt(), idtr = sidt();
	audit_live(&a, "GDTR base", gdtr.base, (u64)gdtr.limit + 1);
	audit_live(&a, "IDTR base", idtr.base, (u64)idtr.limit + 1);
	u16 tr = str();
	if (!tr || (u32)tr + 16 > (u32)gdtr.limit + 1 || gdtr.base < KERNEL_SLOT_BASE) {
		audit_fail(&a, "TR selector %#x is not a TSS in the GDT", tr);
	} else {
		const u8 *d = (const u8 *)gdtr.base + (tr & ~7);
		u64 base = (u64)d[2] | (u64)d[3] << 8 | (u64)d[4] << 16 | (u64)d[7] << 24 |
			   (u64)*(const u32 *)(d + 8) << 32;
		audit_live(&a, "TSS", base, sizeof(struct tss));
		if (base >= KERNEL_SLOT_BASE && paging_mapped(base, sizeof(struct tss))) {
			const struct tss *t = (const struct tss *)base;
			audit_live(&a, "TSS.RSP0 stack", t->rsp[0] - 8, 8);
			for (int i = 0; i < 7; i++) {
				if (!t->ist[i])
					continue;
				char name[16] = "TSS.IST0 stack";
				name[7] = (char)('1' + i);
				audit_live(&a, name, t->ist[i] - 8, 16);
			}
		}
	}
	/* Invariant 1 below the PML4: nothing of the kernel reachable from the
	 * user half, through the page-table window or otherwise. */
	if (!kernel_only)
		a.problems += slot_audit_user_half(pml4_pa, who, &leaves);

	audit_live(&a, "RSP", read_rsp(), 8);
	audit_live(&a, "GS base (per-CPU data)", rdmsr(MSR_GS_BASE), sizeof(struct percpu));
	*leaves_out = leaves;
	return a.problems;
}

int slot_audit_quiet(paddr_t pml4_pa, const char *who, bool kernel_only)
{
	u64 leaves;
	int problems = audit_space(pml4_pa, who, kernel_only, &leaves);
	if (problems)
		kprintf("slot audit: FAILED (%s): %d problem%s\n", who, problems, problems == 1 ? "" : "s");
	return problems;
}

int slot_audit(paddr_t pml4_pa, const char *who, bool kernel_only)
{
	u64 leaves;
	int problems = audit_space(pml4_pa, who, kernel_only, &leaves);
	if (problems)
		kprintf("slot audit: FAILED (%s): %d problem%s\n", who, problems, problems == 1 ? "" : "s");
	else
		kprintf("slot audit: ok (%s): PML4[511] -> shared PDPT %#llx; GDT, IDT, TSS, stacks, per-CPU "
			"data mapped; user half: %llu user pages, no supervisor entry\n",
			who, (unsigned long long)slot_pdpt(), (unsigned long long)leaves);
	return problems;
}
