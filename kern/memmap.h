/*
 * Physical memory ranges: turning the firmware's memory map (unsorted,
 * possibly overlapping, zero-length entries) into sorted, disjoint ranges of
 * RAM the kernel may use. Pure; host-tested.
 */
#ifndef KEEL_MEMMAP_H
#define KEEL_MEMMAP_H

#include "types.h"
#include "mb2.h"

#define MEMMAP_MAX_RANGES 160
#define PHYS_ADDR_LIMIT (1ULL << 52) /* architectural maximum physical address */

struct range {
	u64 start, end; /* [start, end) */
};

struct range_set {
	struct range r[MEMMAP_MAX_RANGES];
	size_t n;
	bool overflow; /* a split did not fit: some memory was dropped (reported) */
};

/*
 * The available RAM in a memory map: bytes covered by an AVAILABLE entry and
 * by no entry of any other type (where entries overlap, the more restrictive
 * type wins). Result sorted, disjoint, adjacent ranges merged, byte-exact.
 */
void memmap_available(const struct mb2_mmap_entry *e, size_t n, struct range_set *out);

/* Sum of the lengths in a set. */
u64 range_set_bytes(const struct range_set *s);

/* Shrink every range inward to page boundaries, dropping empty ones. */
void range_set_page_align(struct range_set *s);

/* Whether one range of the set holds all of [start, end); whether any byte
 * of [start, end) is in the set. */
bool range_set_covers(const struct range_set *s, u64 start, u64 end);
bool range_set_overlaps(const struct range_set *s, u64 start, u64 end);

/* Remove [start, end) from a sorted, disjoint set (may split one range). */
void range_set_remove(struct range_set *s, u64 start, u64 end);

#endif
