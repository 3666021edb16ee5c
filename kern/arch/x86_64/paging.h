/* x86_64 4-level paging: entry bits and address arithmetic (SDM Vol. 3A, 4.5). */
#ifndef KEEL_X86_PAGING_H
#define KEEL_X86_PAGING_H

#include "arch/x86_64/cpu.h"
#include "layout.h"
#include "types.h"

#define PTE_P   (1ULL << 0)
#define PTE_W   (1ULL << 1)
#define PTE_U   (1ULL << 2)
#define PTE_PWT (1ULL << 3)
#define PTE_PCD (1ULL << 4)
#define PTE_A   (1ULL << 5)
#define PTE_D   (1ULL << 6)
#define PTE_PS  (1ULL << 7) /* in a PDPT or PD entry: 1 GiB or 2 MiB page */
#define PTE_G   (1ULL << 8)
#define PTE_NX  (1ULL << 63)
#define PTE_ADDR 0x000FFFFFFFFFF000ULL

#define PT_ENTRIES 512
#define PAGE_2M (1ULL << 21)
#define PAGE_1G (1ULL << 30)

/* Level 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT. */
static inline unsigned pt_index(u64 va, int level) { return (unsigned)(va >> (12 + 9 * (level - 1))) & 511; }
static inline u64 level_size(int level) { return 1ULL << (12 + 9 * (level - 1)); }

static inline bool is_canonical(u64 va) { return (u64)(((i64)va << 16) >> 16) == va; }

/*
 * Walk the tables at pml4_pa (through the direct map) for va: true if it is
 * mapped, with the leaf entry and the physical address it translates to.
 * Reads only present tables; used where nothing above may be trusted (a
 * panic's backtrace) as much as by the audit.
 */
static inline bool paging_lookup(paddr_t pml4_pa, u64 va, u64 *leaf, paddr_t *pa)
{
	if (!is_canonical(va))
		return false;
	const u64 *table = (const u64 *)(DIRECT_MAP_BASE + pml4_pa);
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
		table = (const u64 *)(DIRECT_MAP_BASE + (e & PTE_ADDR));
	}
	return false;
}

/* Is [va, va + len) mapped in the address space loaded now? */
static inline bool paging_mapped(u64 va, u64 len)
{
	paddr_t cr3 = read_cr3() & PTE_ADDR;
	u64 end = va + len;
	if (end < va)
		return false;
	for (u64 p = va & ~(u64)(PAGE_SIZE - 1); p < end; p += PAGE_SIZE)
		if (!paging_lookup(cr3, p, NULL, NULL))
			return false;
	return true;
}

/* PF error code bits (SDM Vol. 3A, 4.7) */
#define PF_P    (1u << 0)
#define PF_W    (1u << 1)
#define PF_U    (1u << 2)
#define PF_RSVD (1u << 3)
#define PF_I    (1u << 4)
#define PF_PK   (1u << 5)
#define PF_SS   (1u << 6)

#endif
