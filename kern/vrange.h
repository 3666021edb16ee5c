/*
 * The single user address space (docs/design.md invariant 4): one allocator hands
 * out ranges of the user half to environments, so a virtual address names
 * the same thing everywhere, and two programs never overlap. A range is not
 * handed out again while its holder keeps it. Allocation is next-fit (a freed
 * range is reused only after the cursor wraps), and every range is followed
 * by an unmapped guard page that belongs to no one.
 */
#ifndef KEEL_VRANGE_H
#define KEEL_VRANGE_H

#include "types.h"

#define VRANGE_START 0x0000000040000000ULL /* 1 GiB: the low gigabyte stays empty */

/* A range of `size` bytes (rounded up to pages) starting at a multiple of
 * `align` (a power of two; 0 = a page) for `owner`; 0 if none. */
u64 vrange_alloc(u64 size, u64 align, u32 owner);

/* Claim [base, base + size) exactly; -EEXIST if any of it is taken,
 * -EINVAL if it is not page-aligned user space, -ENOMEM if no memory. */
int vrange_reserve(u64 base, u64 size, u32 owner);

/* Release the range starting at base. */
void vrange_free(u64 base);

/* How many ranges are held (all owners). */
u64 vrange_count(void);

#endif
