/*
 * The kernel slot: PML4 slot 511, where all kernel memory lives (docs/design.md
 * invariants 1, 2, 3, 6). Every address space's PML4[511] points to the one
 * PDPT kept here, so a mapping made below it appears in all of them at once.
 */
#ifndef KEEL_SLOT_H
#define KEEL_SLOT_H

#include "types.h"

extern u64 pte_nx; /* PTE_NX if the CPU has NX (EFER.NXE set), else 0 */
extern u64 pte_g;  /* PTE_G if the CPU has global pages (CR4.PGE set), else 0 */

/* Build the real kernel slot (image W^X with a guarded bootstrap stack, the
 * direct map of RAM), load it, and drop the boot identity map. */
int slot_init(void);

/* The kernel's own address space (no user half) and the shared PDPT. */
paddr_t slot_kernel_pml4(void);
paddr_t slot_pdpt(void);

/* Map one page of size 4 KiB, 2 MiB or 1 GiB at va (inside slot 511).
 * Returns 0, -ENOMEM (no frame for a table), -EEXIST (already mapped). */
int slot_map(uptr va, paddr_t pa, u64 size, u64 flags);

/* Unmap the 4 KiB page at va; returns the frame it mapped (0 if none). */
paddr_t slot_unmap(uptr va);

/* Walk the tables rooted at pml4_pa for va. Returns true if mapped, with the
 * leaf entry and the physical address va translates to. */
bool pt_lookup(paddr_t pml4_pa, u64 va, u64 *leaf, paddr_t *pa);

/* Is [va, va + len) mapped in the current address space? */
bool slot_range_mapped(u64 va, u64 len);

/*
 * The slot audit (invariant 6): checks the address space rooted at pml4_pa
 * against invariants 1 and 2, and the live GDTR, IDTR, TR, TSS.RSP0/IST,
 * GS base and RSP against it. Prints every problem and a one-line verdict
 * naming `who`; returns the number of problems.
 * kernel_only: the user half must be empty too (the kernel's own PML4).
 */
int slot_audit(paddr_t pml4_pa, const char *who, bool kernel_only);

/* The part of the audit that walks everything reachable from the user half
 * as the MMU would (the page-table window included): supervisor entries,
 * large pages, tables or pages that are not an env's. Prints each problem;
 * returns their number, and the user pages it reached in *leaves. */
int slot_audit_user_half(paddr_t pml4_pa, const char *who, u64 *leaves);

#endif
