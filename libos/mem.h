/*
 * libos memory: regions of the single address space (vm_region_*), and the
 * heap (malloc, free, ...) built on one of them.
 *
 * A region is a range the libOS reserves with SYS_VRANGE_ALLOC; its pages
 * are mapped eagerly (vm_region_map) or on demand from the #PF upcall
 * (VMR_DEMAND: vm_region_fault, called by the thread library's trap handler
 * or any app's own). Unmapping a page deletes its frame: the memory goes
 * back to the kernel. Out of memory, a frame or capability quota, or a page
 * table that cannot be made is an error returned to the caller (malloc:
 * NULL), never a fault.
 */
#ifndef LIBOS_MEM_H
#define LIBOS_MEM_H

#include <stddef.h>
#include <stdint.h>

#define VMR_WRITE  1 /* pages mapped writable */
#define VMR_DEMAND 2 /* a #PF on an unmapped page maps a zeroed one */

struct vm_region {
	uint64_t base, size;      /* page-aligned */
	uint64_t guard;           /* bytes at the bottom of each chunk never mapped (a stack's guard) */
	uint64_t chunk;           /* the region's size, or the size of the stacks it is cut into */
	unsigned flags;           /* VMR_* */
	uint32_t vrange;          /* its KEEL_CAP_VRANGE slot */
	uint32_t *frames;         /* per page: the frame slot mapped there, KEEL_CAP_NONE, or
	                           * VMR_FRAME_PENDING while a thread maps it */
	uint64_t mapped;          /* pages mapped now */
	struct vm_region *next;   /* the list demand faults search */
};

/* Reserve size bytes (rounded up to pages) aligned to `align` (0: a page).
 * `frames` must have room for one slot per page. `guard` bytes at the
 * bottom of every `chunk` (0: of the region) are never mapped. 0 or -errno. */
long vm_region_reserve(struct vm_region *r, uint64_t size, uint64_t align, uint64_t guard, uint64_t chunk,
		       unsigned flags, uint32_t *frames);
/* Map a zeroed frame at the page holding va (already mapped: 0). 0 or -errno. */
long vm_region_map(struct vm_region *r, uint64_t va);
/* Unmap [va, va + len) and give its frames back. */
void vm_region_unmap(struct vm_region *r, uint64_t va, uint64_t len);
/* Unmap everything, delete the page tables it emptied and the range itself. */
void vm_region_release(struct vm_region *r);
#define VMR_FRAME_PENDING 0xFFFFFFFEu

static inline int vm_region_contains(const struct vm_region *r, uint64_t va)
{
	return va - r->base < r->size;
}

/* A #PF at cr2 (error code `error`): VMF_MAPPED if a demand region mapped
 * the page (resume the faulting context), VMF_NOT_MINE if cr2 is in no
 * demand region (or the access is one its pages never allow), VMF_GUARD if
 * it hit a region's guard (a stack overflow), or the -errno that kept the
 * page from being mapped (-ENOMEM, -EDQUOT). */
#define VMF_MAPPED   0
#define VMF_NOT_MINE 1
#define VMF_GUARD    2
long vm_region_fault(uint64_t cr2, uint64_t error);

/* Threads on several CPUs share the heap and the regions: the thread
 * library sets this lock (dcpu.c), taken around each call here (nested on
 * one CPU). NULL -- no threads -- takes none. */
struct libos_mem_lock {
	void (*enter)(void);
	void (*exit)(void);
};
extern const struct libos_mem_lock *libos_mem_lock;
static inline void mem_enter(void)
{
	if (libos_mem_lock)
		libos_mem_lock->enter();
}
static inline void mem_exit(void)
{
	if (libos_mem_lock)
		libos_mem_lock->exit();
}

/* ------------------------------------------------------------ the heap */
void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t n);
void free(void *p);
/* Aligned to `align` (a power of two, at most a page). */
void *aligned_alloc(size_t align, size_t n);

/* Is p inside a live heap page (safe to read, whatever it points at)? */
int heap_owns(const void *p);

struct heap_stats {
	uint64_t pages_mapped;  /* frames the heap holds now */
	uint64_t bytes_in_use;  /* in live allocations (rounded to their size class) */
	uint64_t allocs, frees, failures;
};
void heap_stats(struct heap_stats *out);

#endif
