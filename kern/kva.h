/*
 * The kernel virtual area (KVA_BASE..KVA_END in slot 511): kernel stacks
 * with unmapped guard pages, and windows onto device or firmware memory.
 * Addresses are handed out by a bump pointer and never reused: 254 GiB of
 * address space outlasts any boot, and a stale pointer into a freed window
 * faults instead of aliasing something new.
 */
#ifndef KEEL_KVA_H
#define KEEL_KVA_H

#include "types.h"

/* A kernel stack of `pages` pages above one unmapped guard page. On success
 * *top is its (16-byte aligned) top. -ENOMEM leaves nothing allocated. */
int kva_alloc_stack(size_t pages, const char *name, uptr *top);

/* Unmap the stack of `pages` pages below `top` (kva_alloc_stack's) and free
 * its frames; returns how many. Its addresses, guard page included, stay
 * unmapped and are never handed out again (a stale pointer faults), and
 * fault reports call them "(freed)". The caller makes sure no CPU uses it;
 * slot_unmap flushes every CPU's TLB. */
size_t kva_free_stack(uptr top, size_t pages);

/* Map [pa, pa + len) read-only (writable if `writable`), with cache flags
 * (PTE_PCD | PTE_PWT for MMIO registers, pte_wc for a framebuffer, 0 for
 * write-back; docs/memory-map.md). NULL on failure. */
void *kva_map_phys(paddr_t pa, size_t len, bool writable, u64 cache);

/* Remember that [start, end) is `name` (for fault reports); best effort. */
void kva_note(uptr start, uptr end, const char *name);

/* What a kernel address is, for diagnostics ("guard page below ...");
 * NULL if unknown. */
const char *kva_describe(uptr va);

#endif
