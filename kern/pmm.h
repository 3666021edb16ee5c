/*
 * The physical frame allocator: one bit per 4 KiB frame (1 = free), kept
 * outside the frames themselves, so boot touches only the bitmap, never the
 * RAM it describes. Pure (the caller supplies the bitmap's storage); the
 * kernel's instance and its boot set-up live in frame.c.
 */
#ifndef KEEL_PMM_H
#define KEEL_PMM_H

#include "types.h"

struct pmm {
	u64 *bitmap;   /* bit f set: frame f is free */
	u64 nframes;   /* frames [0, nframes) are described */
	u64 nfree;     /* frames currently free */
	u64 ntotal;    /* frames ever added as free (the managed RAM) */
	u64 hint;      /* bitmap word where the next search starts */
};

/* Bytes of bitmap needed to describe frames [0, nframes). */
static inline u64 pmm_bitmap_bytes(u64 nframes) { return (nframes + 63) / 64 * 8; }

/* Start with every frame in use. */
void pmm_init(struct pmm *p, u64 *bitmap, u64 nframes);

/* Mark the whole frames inside [start, end) free. Frame 0 is never added (a
 * zero physical address means "no frame"). Returns the number added. */
u64 pmm_add_range(struct pmm *p, u64 start, u64 end);

/* One frame anywhere, or in [lo, hi). Returns its address, 0 when none. */
paddr_t pmm_alloc(struct pmm *p);
paddr_t pmm_alloc_in(struct pmm *p, paddr_t lo, paddr_t hi);

/* n physically contiguous frames in [lo, hi); returns the first, 0 if none. */
paddr_t pmm_alloc_contig(struct pmm *p, u64 n, paddr_t lo, paddr_t hi);

/* Free one frame: 0, or -EINVAL (unaligned), -ERANGE (not described),
 * -EEXIST (already free: a double free). */
int pmm_free(struct pmm *p, paddr_t pa);

bool pmm_is_free(const struct pmm *p, paddr_t pa);

#endif
