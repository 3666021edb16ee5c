/*
 * An environment's user-half page tables (PML4 slots 0..255), as the kernel
 * builds them for a loaded program. Every level carries U; leaves never G.
 */
#ifndef KEEL_UVM_H
#define KEEL_UVM_H

#include "types.h"

/* A new PML4: empty user half, PML4[511] -> the shared kernel PDPT. 0 if no memory. */
paddr_t uvm_create(void);

/* Map the 4 KiB page at va (user half) to pa with PTE_W / pte_nx from flags.
 * 0, -ENOMEM, -EEXIST, -EINVAL (not a user address). */
int uvm_map(paddr_t pml4, u64 va, paddr_t pa, u64 flags);

/* Change a mapped page's W/NX bits. */
int uvm_protect(paddr_t pml4, u64 va, u64 flags);

/* Copy to / from the frames an env maps at [va, va + n), through the direct
 * map, so any env's memory can be reached whatever CR3 is loaded. Every page
 * must be mapped user-accessible, and writable for uvm_poke; else -EFAULT
 * (nothing is copied past the first bad page). */
int uvm_poke(paddr_t pml4, u64 va, const void *src, size_t n);
int uvm_peek(paddr_t pml4, u64 va, void *dst, size_t n);

/* The frame behind a user page, checked as Ring 3 sees it (user, and
 * writable if `write`, at every level). 0 or -EFAULT. */
int uvm_translate(paddr_t pml4, u64 va, bool write, paddr_t *pa);

/* Free every user-half table and every frame mapped there, then the PML4.
 * (Environments own their mappings outright until capabilities exist.) */
void uvm_destroy(paddr_t pml4);

#endif
