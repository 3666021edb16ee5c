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
#include "cpu_features.h"
#include "frame.h"
#include "image.h"
#include "keel/errno.h"
#include "panic.h"

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

static void (*flush_everywhere)(u64 va);

void slot_set_unmap_flush(void (*flush)(u64 va)) { flush_everywhere = flush; }

paddr_t slot_unmap(uptr va)
{
	u64 *e;
	if (slot_entry(va, 1, false, &e) || !(*e & PTE_P))
		return 0;
	paddr_t pa = *e & PTE_ADDR;
	*e = 0;
	if (flush_everywhere)
		flush_everywhere(va); /* global: every CPU, now (tlb.c) */
	else
		invlpg(va);
	return pa;
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
