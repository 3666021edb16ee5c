/* libos regions: reserved ranges mapped eagerly or on demand (mem.h). */
#include "mem.h"
#include "vm.h"

#define PAGE 4096ULL

static struct vm_region *demand_regions;

static uint64_t page_of(const struct vm_region *r, uint64_t va) { return (va - r->base) / PAGE; }

static int in_guard(const struct vm_region *r, uint64_t va) { return (va - r->base) % r->chunk < r->guard; }

static long vm_region_reserve_unlocked(struct vm_region *r, uint64_t size, uint64_t align, uint64_t guard, uint64_t chunk,
		       unsigned flags, uint32_t *frames)
{
	size = (size + PAGE - 1) & ~(PAGE - 1);
	if (!chunk)
		chunk = size;
	if (!size || guard >= chunk || chunk % PAGE || size % chunk || !frames)
		return -EINVAL;
	long slot = sys_vrange_alloc(size, align);
	if (slot < 0)
		return slot;
	struct keel_cap_info info;
	long err = sys_cap_info((uint32_t)slot, &info);
	if (err) {
		sys_cap_delete((uint32_t)slot);
		return err;
	}
	*r = (struct vm_region){ .base = info.base, .size = size, .guard = guard, .chunk = chunk, .flags = flags,
				 .vrange = (uint32_t)slot, .frames = frames };
	for (uint64_t i = 0; i < size / PAGE; i++)
		frames[i] = KEEL_CAP_NONE;
	if (flags & VMR_DEMAND) {
		r->next = demand_regions;
		demand_regions = r;
	}
	return 0;
}


static void vm_region_release_unlocked(struct vm_region *r)
{
	vm_region_unmap(r, r->base, r->size);
	vm_trim(r->base, r->size);
	for (struct vm_region **p = &demand_regions; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	sys_cap_delete(r->vrange);
	r->size = 0;
}

/* The region a fault at cr2 is for, under the lock: NULL and *why if none
 * is to map it. */
static struct vm_region *fault_region(uint64_t cr2, uint64_t error, long *why)
{
	*why = VMF_NOT_MINE;
	for (struct vm_region *r = demand_regions; r; r = r->next) {
		if (!vm_region_contains(r, cr2))
			continue;
		if (in_guard(r, cr2)) {
			*why = VMF_GUARD;
			return NULL;
		}
		/* Present already (a protection fault), or a write to a read-only region. */
		if ((error & 1) || ((error & 2) && !(r->flags & VMR_WRITE)))
			return NULL;
		return r;
	}
	return NULL;
}

/* The calls, each under the memory lock (mem.h). */
long vm_region_reserve(struct vm_region *r, uint64_t size, uint64_t align, uint64_t guard, uint64_t chunk,
		       unsigned flags, uint32_t *frames)
{
	mem_enter();
	long ret = vm_region_reserve_unlocked(r, size, align, guard, chunk, flags, frames);
	mem_exit();
	return ret;
}

/* The kernel call is made outside the lock -- a thread should not hold it,
 * upcalls off, through a call to the kernel (the watchdog sees a thread
 * that is always disabled when it enters the kernel as stuck) -- the page
 * marked pending meanwhile. */
long vm_region_map(struct vm_region *r, uint64_t va)
{
	uint64_t i;
	for (;;) {
		mem_enter();
		if (!vm_region_contains(r, va) || in_guard(r, va)) {
			mem_exit();
			return -EINVAL;
		}
		i = page_of(r, va);
		uint32_t f = r->frames[i];
		if (f == KEEL_CAP_NONE)
			break; /* (locked) */
		mem_exit();
		if (f != VMR_FRAME_PENDING)
			return 0;
		__builtin_ia32_pause(); /* another thread maps it now */
	}
	uint64_t page = r->base + i * PAGE;
	long t = vm_table(1, page, 1);
	if (t < 0) {
		mem_exit();
		return t;
	}
	r->frames[i] = VMR_FRAME_PENDING;
	mem_exit();
	long f = vm_map_new_in((uint32_t)t, page, r->flags & VMR_WRITE ? KEEL_MAP_WRITE : 0);
	mem_enter();
	r->frames[i] = f < 0 ? KEEL_CAP_NONE : (uint32_t)f;
	if (f >= 0)
		r->mapped++;
	mem_exit();
	return f < 0 ? f : 0;
}

/* The frames leave the region's record under the lock, a batch at a time,
 * and are deleted after it: a delete with other CPUs up waits for their
 * TLBs, and a thread should not hold the lock (upcalls off) that long. */
void vm_region_unmap(struct vm_region *r, uint64_t va, uint64_t len)
{
	uint64_t p = va & ~(PAGE - 1);
	while (p < va + len && vm_region_contains(r, p)) {
		uint32_t caps[16];
		unsigned n = 0;
		mem_enter();
		for (; p < va + len && vm_region_contains(r, p) && n < ARRAY_SIZE(caps); p += PAGE) {
			uint64_t i = page_of(r, p);
			if (r->frames[i] == KEEL_CAP_NONE || r->frames[i] == VMR_FRAME_PENDING)
				continue;
			caps[n++] = r->frames[i];
			r->frames[i] = KEEL_CAP_NONE;
			r->mapped--;
		}
		mem_exit();
		for (unsigned k = 0; k < n; k++)
			sys_cap_delete(caps[k]); /* unmaps it, and the frame is free */
	}
}

void vm_region_release(struct vm_region *r)
{
	mem_enter();
	vm_region_release_unlocked(r);
	mem_exit();
}

long vm_region_fault(uint64_t cr2, uint64_t error)
{
	long why;
	mem_enter();
	struct vm_region *r = fault_region(cr2, error, &why);
	mem_exit();
	return r ? vm_region_map(r, cr2) : why;
}
