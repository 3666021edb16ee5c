/*
 * The kernel slot (docs/design.md invariants 1-3, 6).
 *
 * Why every kernel mapping hangs below ONE PDPT: an interrupt, an exception or
 * a syscall may arrive while any environment's CR3 is loaded, and the CPU
 * then needs the IDT, the GDT, the TSS and the kernel stack -- and the kernel
 * needs its code and data -- without switching CR3. Keel's origin is a kernel
 * that double-faulted because a process's page table did not map the stack
 * holding its IRET frame. Here every address space's PML4[511] points to the
 * same PDPT page, so whatever the kernel maps is present everywhere at once,
 * by construction, and the audit below proves it on the live tables.
 */
#include "slot.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "console.h"
#include "cpu_features.h"
#include "frame.h"
#include "image.h"
#include "keel/errno.h"
#include "panic.h"
#include "pt.h"

u64 pte_nx;
u64 pte_g;
static paddr_t kernel_pdpt_pa; /* the one PDPT behind PML4[511] everywhere */
static paddr_t kernel_pml4_pa; /* the kernel's own address space */

paddr_t slot_kernel_pml4(void) { return kernel_pml4_pa; }
paddr_t slot_pdpt(void) { return kernel_pdpt_pa; }

static u64 *table_of(u64 entry) { return pa_to_va(entry & PTE_ADDR); }

/* The entry for va at `level` (3: 1 GiB, 2: 2 MiB, 1: 4 KiB) below the shared
 * PDPT, creating missing tables when create is set. */
static int slot_entry(uptr va, int level, bool create, u64 **out)
{
	u64 *table = pa_to_va(kernel_pdpt_pa);
	for (int l = 3; l > level; l--) {
		u64 *e = &table[pt_index(va, l)];
		if (!(*e & PTE_P)) {
			if (!create)
				return -ENOENT;
			paddr_t t = frame_alloc_zeroed();
			if (!t)
				return -ENOMEM;
			/* Intermediate tables never carry NX/U: leaves decide. */
			*e = t | PTE_P | PTE_W;
		} else if (*e & PTE_PS) {
			return -EEXIST; /* a large page covers va */
		}
		table = table_of(*e);
	}
	*out = &table[pt_index(va, level)];
	return 0;
}

int slot_map(uptr va, paddr_t pa, u64 size, u64 flags)
{
	ASSERT(va >= KERNEL_SLOT_BASE && IS_ALIGNED(va, size) && IS_ALIGNED(pa, size));
	int level = size == PAGE_1G ? 3 : size == PAGE_2M ? 2 : 1;
	u64 *e;
	int err = slot_entry(va, level, true, &e);
	if (err)
		return err;
	if (*e & PTE_P)
		return -EEXIST;
	*e = pa | flags | PTE_P | (level > 1 ? PTE_PS : 0);
	return 0;
}

paddr_t slot_unmap(uptr va)
{
	u64 *e;
	if (slot_entry(va, 1, false, &e) || !(*e & PTE_P))
		return 0;
	paddr_t pa = *e & PTE_ADDR;
	*e = 0;
	invlpg(va);
	return pa;
}

bool pt_lookup(paddr_t pml4_pa, u64 va, u64 *leaf, paddr_t *pa)
{
	if (!is_canonical(va))
		return false;
	u64 *table = pa_to_va(pml4_pa);
	for (int l = 4; l >= 1; l--) {
		u64 e = table[pt_index(va, l)];
		if (!(e & PTE_P))
			return false;
		if (l == 1 || (l <= 3 && (e & PTE_PS))) {
			if (leaf)
				*leaf = e;
			if (pa)
				*pa = (e & PTE_ADDR & ~(level_size(l) - 1)) + (va & (level_size(l) - 1));
			return true;
		}
		table = table_of(e);
	}
	return false;
}

bool slot_range_mapped(u64 va, u64 len)
{
	paddr_t cr3 = read_cr3() & PTE_ADDR;
	u64 end = va + len;
	if (end < va)
		return false;
	for (u64 p = ALIGN_DOWN(va, PAGE_SIZE); p < end; p += PAGE_SIZE)
		if (!pt_lookup(cr3, p, NULL, NULL))
			return false;
	return true;
}

/* ------------------------------------------------------------- building */

static int map_image(const char *start, const char *end, u64 flags)
{
	for (uptr va = (uptr)start; va < (uptr)end; va += PAGE_SIZE) {
		int err = slot_map(va, va - KERNEL_VMA, PAGE_SIZE, flags);
		if (err)
			return err;
	}
	return 0;
}

/* Direct-map [start, end) with the largest pages alignment allows. */
static int map_direct(u64 start, u64 end, u64 flags)
{
	u64 pa = start;
	while (pa < end) {
		u64 size = PAGE_SIZE;
		if (cpu_has.page1g && IS_ALIGNED(pa, PAGE_1G) && end - pa >= PAGE_1G)
			size = PAGE_1G;
		else if (IS_ALIGNED(pa, PAGE_2M) && end - pa >= PAGE_2M)
			size = PAGE_2M;
		int err = slot_map(DIRECT_MAP_BASE + pa, pa, size, flags);
		if (err)
			return err;
		pa += size;
	}
	return 0;
}

int slot_init(void)
{
	kernel_pdpt_pa = frame_alloc_zeroed();
	kernel_pml4_pa = frame_alloc_zeroed();
	if (!kernel_pdpt_pa || !kernel_pml4_pa)
		return -ENOMEM;
	u64 *pml4 = pa_to_va(kernel_pml4_pa);
	pml4[KERNEL_SLOT] = kernel_pdpt_pa | PTE_P | PTE_W;

	/* The image, W^X. The page below the bootstrap stack stays unmapped. */
	int err;
	if ((err = map_image(__text_start, __text_end, pte_g)) ||
	    (err = map_image(__rodata_start, __rodata_end, pte_g | pte_nx)) ||
	    (err = map_image(__data_start, __boot_stack_guard, pte_g | pte_nx | PTE_W)) ||
	    (err = map_image(__boot_stack_bottom, __bss_end, pte_g | pte_nx | PTE_W)))
		return err;

	/* The direct map: RAM only (no MMIO holes, so nothing is mapped with
	 * the wrong memory type), and the image's frames read-only there so
	 * its code has no writable alias. */
	u64 img_lo = ALIGN_DOWN(image_phys_start(), PAGE_SIZE), img_hi = ALIGN_UP(image_phys_end(), PAGE_SIZE);
	u64 rw = pte_g | pte_nx | PTE_W, ro = pte_g | pte_nx;
	for (size_t i = 0; i < boot_ram.n; i++) {
		u64 a = ALIGN_UP(boot_ram.r[i].start, PAGE_SIZE);
		u64 b = MIN(ALIGN_DOWN(boot_ram.r[i].end, PAGE_SIZE), DIRECT_MAP_SIZE);
		if (a >= b)
			continue;
		u64 lo = MAX(a, img_lo), hi = MIN(b, img_hi);
		if (lo < hi) {
			if ((err = map_direct(a, lo, rw)) || (err = map_direct(lo, hi, ro)) ||
			    (err = map_direct(hi, b, rw)))
				return err;
		} else if ((err = map_direct(a, b, rw))) {
			return err;
		}
	}

	/* From here on there is no identity map and nothing outside slot 511. */
	write_cr3(kernel_pml4_pa);
	frame_lift_limit();
	return 0;
}

/* --------------------------------------------------------------- audit */

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
		if (!pt_lookup(a->pml4, p, &leaf, NULL)) {
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
			enum frame_type ft = pt_frame_type(pa);
			if (level != 1)
				audit_fail(w->a, "%#llx: a large page at level %d in the user half", (unsigned long long)va,
					   level);
			else if (ft != FRAME_DATA && !user_table_type(ft))
				audit_fail(w->a, "%#llx: a user page of frame %#llx, type %d: not an env's data or table",
					   (unsigned long long)va, (unsigned long long)pa, ft);
			w->leaves++;
		} else if (!user_table_type(pt_frame_type(pa))) {
			/* Not read: it may be a kernel table, or no RAM at all. */
			audit_fail(w->a, "%#llx: level %d entry -> frame %#llx, type %d: not an env's page table",
				   (unsigned long long)va, level, (unsigned long long)pa, pt_frame_type(pa));
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

int slot_audit(paddr_t pml4_pa, const char *who, bool kernel_only)
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
		} else if (!(e & PTE_P) || (e & PTE_ADDR) != kernel_pdpt_pa || (e & PTE_U)) {
			audit_fail(&a, "PML4[511] = %#llx: must point to the shared PDPT %#llx, supervisor-only",
				   (unsigned long long)e, (unsigned long long)kernel_pdpt_pa);
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
		if (base >= KERNEL_SLOT_BASE && slot_range_mapped(base, sizeof(struct tss))) {
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

	if (a.problems)
		kprintf("slot audit: FAILED (%s): %d problem%s\n", who, a.problems, a.problems == 1 ? "" : "s");
	else
		kprintf("slot audit: ok (%s): PML4[511] -> shared PDPT %#llx; GDT, IDT, TSS, stacks, per-CPU "
			"data mapped; user half: %llu user pages, no supervisor entry\n",
			who, (unsigned long long)kernel_pdpt_pa, (unsigned long long)leaves);
	return a.problems;
}
