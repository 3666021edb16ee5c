/* The slot audit: the kernel slot's invariants, checked on the live machine. */
#ifndef KEEL_SLOT_AUDIT_H
#define KEEL_SLOT_AUDIT_H

#include "types.h"

/*
 * The slot audit (docs/design.md invariant 6): checks the address space rooted at pml4_pa
 * against invariants 1 and 2, and the live GDTR, IDTR, TR, TSS.RSP0/IST,
 * GS base and RSP against it. Prints every problem and a one-line verdict
 * naming `who`; returns the number of problems.
 * kernel_only: the user half must be empty too (the kernel's own PML4).
 */
int slot_audit(paddr_t pml4_pa, const char *who, bool kernel_only);
/* The same, printing only problems (the audit of every CPU, smp.c). */
int slot_audit_quiet(paddr_t pml4_pa, const char *who, bool kernel_only);

/* The part of the audit that walks everything reachable from the user half
 * as the MMU would (the page-table window included): supervisor entries,
 * large pages, tables or pages that are not an env's. Prints each problem;
 * returns their number, and the user pages it reached in *leaves. */
int slot_audit_user_half(paddr_t pml4_pa, const char *who, u64 *leaves);

#endif
