/*
 * Test-only sabotage for the slot audit (`audit_plant=WHAT` on the command
 * line), proving the audit reads the live tables and registers and can fail:
 *   slot288   map a kernel page (the per-CPU data) at PML4 slot 288
 *   identity  map the kernel image's first page at its physical address
 *   idtr      load IDTR with an alias of the IDT outside slot 511
 * and, in an env's address space made for the purpose, two ways the user
 * half could reach the kernel through the page-table window:
 *   window       the window's top pointing at the kernel's PDPT in its slot
 *                511, as the old self-map did
 *   window-leaf  a supervisor leaf under the window: the directory entry
 *                above one of the env's pages without U, which the window
 *                shows as a page
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "console.h"
#include "env.h"
#include "frame.h"
#include "image.h"
#include "lib/string.h"
#include "panic.h"
#include "pt.h"
#include "slot.h"
#include "slot_audit.h"
#include "cpu_features.h"

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

/* An env with one page mapped by the kernel, planted into, then audited
 * as every new address space is. */
static void plant_in_env(bool leaf)
{
	struct env *e;
	u64 base;
	if (env_create_empty("plant", &e) || pt_kvrange(e, 0, PAGE_SIZE, PAGE_SIZE, &base) < 0 ||
	    pt_kmap(e, base, PTE_W | pte_nx, NULL)) {
		kprintf("audit_plant: no env to plant in\n");
		return;
	}
	u64 *win = pa_to_va(e->pt_window);
	if (!leaf) {
		win[KERNEL_SLOT] = slot_pdpt() | PTE_P | PTE_W;
	} else {
		u64 *t = pa_to_va(e->pml4);
		for (int l = 4; l > 2; l--)
			t = pa_to_va(t[pt_index(base, l)] & PTE_ADDR);
		t[pt_index(base, 2)] &= ~PTE_U; /* the PD entry: a leaf, seen through the window */
	}
	if (slot_audit(e->pml4, e->name, false))
		panic("slot audit failed for env %u (%s)", e->id, e->name);
}

void audit_plant(const char *what)
{
	kprintf("audit_plant: planting '%s' (test only)\n", what);
	if (strcmp(what, "window") == 0 || strcmp(what, "window-leaf") == 0) {
		plant_in_env(what[6] == '-');
		return;
	}
	if (strcmp(what, "slot288") == 0) {
		paddr_t pa = 0;
		paging_lookup(read_cr3() & PTE_ADDR, (u64)&cpus[0], NULL, &pa);
		plant_mapping(0xFFFF900000000000ULL, ALIGN_DOWN(pa, PAGE_SIZE));
	} else if (strcmp(what, "identity") == 0) {
		plant_mapping(image_phys_start(), image_phys_start());
	} else if (strcmp(what, "idtr") == 0) {
		struct descriptor_ptr idtr = sidt();
		paddr_t pa = 0;
		paging_lookup(read_cr3() & PTE_ADDR, idtr.base, NULL, &pa);
		u64 alias = 0xFFFF900000000000ULL;
		if (plant_mapping(alias, ALIGN_DOWN(pa, PAGE_SIZE))) {
			struct descriptor_ptr p = { idtr.limit, alias + (pa % PAGE_SIZE) };
			lidt(&p);
		}
	} else {
		kprintf("audit_plant: unknown plant '%s'\n", what);
	}
}
