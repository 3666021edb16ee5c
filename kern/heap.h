/*
 * The kernel heap: kmalloc/kfree for kernel objects.
 * Small sizes (<= 1024 bytes) come from slab pages of one size class each;
 * larger ones from physically contiguous frames. All of it is reached through
 * the direct map. Every allocation can fail (NULL); callers handle it.
 */
#ifndef KEEL_HEAP_H
#define KEEL_HEAP_H

#include "types.h"

void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *p);

struct heap_stats {
	u64 allocs, frees;   /* calls that succeeded */
	u64 live_objects;
	u64 live_bytes;      /* bytes of the size classes / page runs handed out */
	u64 pages;           /* frames the heap holds */
};
void heap_stats(struct heap_stats *out);

#endif
