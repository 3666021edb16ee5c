/*
 * The kernel slot: PML4 slot 511, where all kernel memory lives (docs/design.md
 * invariants 1, 2, 3, 6). Every address space's PML4[511] points to the one
 * PDPT kept here, so a mapping made below it appears in all of them at once.
 */
#ifndef KEEL_SLOT_H
#define KEEL_SLOT_H

#include "types.h"

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
/* Once several CPUs run (tlb.c): how slot_unmap flushes the page on every
 * CPU (a hook: tlb.c needs the cross-CPU calls, which need the slot). */
void slot_set_unmap_flush(void (*flush)(u64 va));
paddr_t slot_unmap(uptr va);

#endif
