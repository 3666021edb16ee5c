#include "uvm.h"
#include "tlb.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "frame.h"
#include "keel/errno.h"
#include "lib/string.h"
#include "keel/abi.h"
#include "panic.h"
#include "slot.h"
#include "uaccess.h"
#include "cpu_features.h"

paddr_t uvm_create(paddr_t *window)
{
	paddr_t pml4 = frame_alloc_zeroed(), win = pml4 ? frame_alloc_zeroed() : 0;
	if (!win) {
		if (pml4)
			frame_free(pml4);
		return 0;
	}
	u64 *top = pa_to_va(pml4), *wtop = pa_to_va(win);
	/* Invariant 2: the kernel half is shared by pointer, never copied. */
	top[KERNEL_SLOT] = slot_pdpt() | PTE_P | PTE_W;
	/*
	 * The read-only page-table window (docs/memory-map.md). Not a self-map:
	 * a PML4 that maps itself leads, through its own slot 511, to the
	 * kernel's tables -- and through the direct map's large pages to RAM
	 * -- at user-half addresses (invariant 1). Slot 254 points instead at a
	 * second top-level table holding copies of the user-half entries (pt.c
	 * writes both), whose kernel half is empty and whose own slot 254 points
	 * at itself, so every level of the env's tree, and nothing else, shows.
	 * User-readable, never writable: W clear at the top, so at every level.
	 */
	wtop[KEEL_PT_WINDOW_SLOT] = win | PTE_P | PTE_U | pte_nx;
	top[KEEL_PT_WINDOW_SLOT] = win | PTE_P | PTE_U | pte_nx;
	*window = win;
	return pml4;
}

int uvm_protect(paddr_t pml4, u64 va, u64 flags)
{
	u64 *table = pa_to_va(pml4);
	for (int l = 4; l > 1; l--) {
		u64 e = table[pt_index(va, l)];
		if (!(e & PTE_P) || (e & PTE_PS))
			return -ENOENT;
		table = pa_to_va(e & PTE_ADDR);
	}
	u64 *e = &table[pt_index(va, 1)];
	if (!(*e & PTE_P))
		return -ENOENT;
	*e = (*e & ~(PTE_W | PTE_NX)) | (flags & (PTE_W | PTE_NX));
	tlb_user_page(va); /* (before the env ever runs, today: the loader) */
	return 0;
}

/* Translate a user address as Ring 3 would: U (and W when asked) at every
 * level, not just the leaf -- an upper level can take rights away. */
static bool user_lookup(paddr_t pml4, u64 va, u64 need, paddr_t *pa)
{
	const u64 *table = pa_to_va(pml4);
	for (int l = 4; l >= 1; l--) {
		u64 e = table[pt_index(va, l)];
		if (!(e & PTE_P) || (e & need) != need)
			return false;
		if (l == 1 || (l <= 3 && (e & PTE_PS))) {
			u64 size = level_size(l);
			*pa = (e & PTE_ADDR & ~(size - 1)) + (va & (size - 1));
			return true;
		}
		table = pa_to_va(e & PTE_ADDR);
	}
	return false;
}

static int uvm_copy(paddr_t pml4, u64 va, void *kbuf, size_t n, bool write)
{
	u8 *k = kbuf;
	if (!user_range_ok(va, n))
		return -EFAULT;
	u64 need = PTE_U | (write ? PTE_W : 0);
	while (n) {
		paddr_t pa;
		if (!user_lookup(pml4, va, need, &pa))
			return -EFAULT;
		size_t chunk = MIN(n, PAGE_SIZE - va % PAGE_SIZE);
		if (write)
			memcpy(pa_to_va(pa), k, chunk);
		else
			memcpy(k, pa_to_va(pa), chunk);
		k += chunk;
		va += chunk;
		n -= chunk;
	}
	return 0;
}

int uvm_translate(paddr_t pml4, u64 va, bool write, paddr_t *pa)
{
	if (!user_range_ok(va, 1))
		return -EFAULT;
	return user_lookup(pml4, va, PTE_U | (write ? PTE_W : 0), pa) ? 0 : -EFAULT;
}

int uvm_poke(paddr_t pml4, u64 va, const void *src, size_t n) { return uvm_copy(pml4, va, (void *)src, n, true); }

int uvm_peek(paddr_t pml4, u64 va, void *dst, size_t n) { return uvm_copy(pml4, va, dst, n, false); }

void uvm_destroy(paddr_t pml4, paddr_t window)
{
	u64 *t = pa_to_va(pml4), *w = pa_to_va(window);
	for (unsigned i = 0; i < 256; i++)
		ASSERT(i == KEEL_PT_WINDOW_SLOT || !((t[i] | w[i]) & PTE_P)); /* gone with its capabilities */
	frame_free(pml4);
	frame_free(window);
}
