/*
 * Helpers on an environment's page tables: its PML4 (with the kernel slot
 * and the read-only page-table window, whose top is a table of its own),
 * reading and writing its memory as Ring 3 may, changing a leaf's
 * permissions. Its mappings themselves are capabilities: pt.c.
 */
#ifndef KEEL_UVM_H
#define KEEL_UVM_H

#include "types.h"

/* A new PML4: empty user half, PML4[511] -> the shared kernel PDPT, and
 * slot 254 -> *window, the top of the read-only page-table window (its own
 * frame: copies of the user-half entries, kept in step by pt.c). 0 if no
 * memory. */
paddr_t uvm_create(paddr_t *window);

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

/* Free the PML4 and the window's top; the user half must already be empty
 * (an env's mappings go with its capabilities, pt.c). */
void uvm_destroy(paddr_t pml4, paddr_t window);

#endif
