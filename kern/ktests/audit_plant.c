/*
 * Test-only sabotage for the slot audit (`audit_plant=WHAT` on the command
 * line), proving the audit reads the live tables and registers and can fail:
 *   slot288   map a kernel page (the per-CPU data) at PML4 slot 288
 *   identity  map the kernel image's first page at its physical address
 *   idtr      load IDTR with an alias of the IDT outside slot 511
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "console.h"
#include "frame.h"
#include "image.h"
#include "lib/string.h"
#include "slot.h"

/* Map va -> pa in the kernel's own PML4 with a private set of tables. */
static bool plant_mapping(u64 va, paddr_t pa)
{
	u64 *table = pa_to_va(slot_kernel_pml4());
	for (int l = 4; l > 1; l--) {
		u64 *e = &table[pt_index(va, l)];
		if (!(*e & PTE_P)) {
			paddr_t t = frame_alloc_zeroed();
			if (!t)
				return false;
			*e = t | PTE_P | PTE_W;
		}
		table = pa_to_va(*e & PTE_ADDR);
	}
	table[pt_index(va, 1)] = pa | PTE_P | PTE_W | pte_nx;
	invlpg(va);
	return true;
}

void audit_plant(const char *what)
{
	kprintf("audit_plant: planting '%s' (test only)\n", what);
	if (strcmp(what, "slot288") == 0) {
		paddr_t pa;
		pt_lookup(read_cr3() & PTE_ADDR, (u64)&cpus[0], NULL, &pa);
		plant_mapping(0xFFFF900000000000ULL, ALIGN_DOWN(pa, PAGE_SIZE));
	} else if (strcmp(what, "identity") == 0) {
		plant_mapping(image_phys_start(), image_phys_start());
	} else if (strcmp(what, "idtr") == 0) {
		struct descriptor_ptr idtr = sidt();
		paddr_t pa;
		pt_lookup(read_cr3() & PTE_ADDR, idtr.base, NULL, &pa);
		u64 alias = 0xFFFF900000000000ULL;
		if (plant_mapping(alias, ALIGN_DOWN(pa, PAGE_SIZE))) {
			struct descriptor_ptr p = { idtr.limit, alias + (pa % PAGE_SIZE) };
			lidt(&p);
		}
	} else {
		kprintf("audit_plant: unknown plant '%s'\n", what);
	}
}
