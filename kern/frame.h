/*
 * Physical frames: the kernel's frame allocator (a pmm over the boot memory
 * map) and the direct map through which the kernel reaches any RAM frame.
 */
#ifndef KEEL_FRAME_H
#define KEEL_FRAME_H

#include "types.h"
#include "layout.h"
#include "memmap.h"
#include "mb2.h"
#include "pmm.h"

extern struct pmm kernel_frames;
extern struct range_set boot_ram; /* RAM per the memory map, byte-exact */

/* The direct map: physical RAM at DIRECT_MAP_BASE + pa. */
static inline void *pa_to_va(paddr_t pa) { return (void *)(DIRECT_MAP_BASE + pa); }
static inline paddr_t direct_va_to_pa(const void *va) { return (uptr)va - DIRECT_MAP_BASE; }

/* Build the allocator from the memory map, keeping out the first MiB, the
 * kernel image, the boot information and the modules. */
int frame_init(const struct mb2_info *mb, paddr_t mbi_pa);

/* One frame (0 when none is left or a failure is injected). Until
 * frame_lift_limit() only frames below 4 GiB are handed out: the early page
 * tables direct-map only that much. */
paddr_t frame_alloc(void);
paddr_t frame_alloc_zeroed(void);
paddr_t frame_alloc_in(paddr_t lo, paddr_t hi);
/* n physically contiguous frames in [lo, hi): the first, or 0. */
paddr_t frame_alloc_contig(u64 n, paddr_t lo, paddr_t hi);
void frame_free(paddr_t pa);
void frame_lift_limit(void);

u64 frames_free(void);

#endif
