#include "vrange.h"
#include "context.h"
#include "heap.h"
#include "keel/errno.h"
#include "keel/abi.h"
#include "layout.h"

struct vrange {
	u64 base, size; /* [base, base + size) plus one guard page after */
	u32 owner;
	struct vrange *next;
};

static struct vrange *ranges; /* sorted by base */
static u64 cursor = VRANGE_START;
static u64 nranges;
/* General allocations stay below the page-table window (PML4 slot 254);
 * above it, only an exact reservation may take a range (the last user
 * page, see SYSRET_RIP_LIMIT, is up there). */
#define VRANGE_LIMIT ((u64)KEEL_PT_WINDOW_SLOT << 39)

static int insert(u64 base, u64 size, u32 owner)
{
	struct vrange *v = kmalloc(sizeof *v);
	if (!v)
		return -ENOMEM;
	*v = (struct vrange){ base, size, owner, NULL };
	struct vrange **p = &ranges;
	while (*p && (*p)->base < base)
		p = &(*p)->next;
	v->next = *p;
	*p = v;
	nranges++;
	return 0;
}

/* First `align`-aligned gap of size+guard at or after `from`, or 0. */
static u64 find_from(u64 from, u64 size, u64 align)
{
	u64 cand = ALIGN_UP(from, align);
	for (struct vrange *r = ranges; r; r = r->next) {
		u64 r_end = r->base + r->size + PAGE_SIZE;
		if (r_end <= cand)
			continue;
		if (cand + size + PAGE_SIZE <= r->base)
			break;
		cand = ALIGN_UP(r_end, align);
	}
	if (cand > VRANGE_LIMIT || size + PAGE_SIZE > VRANGE_LIMIT - cand)
		return 0;
	return cand;
}

u64 vrange_alloc(u64 size, u64 align, u32 owner)
{
	if (size == 0 || size > VRANGE_LIMIT - VRANGE_START)
		return 0;
	size = ALIGN_UP(size, PAGE_SIZE);
	align = MAX(align, PAGE_SIZE);
	u64 base = find_from(cursor, size, align);
	if (!base)
		base = find_from(VRANGE_START, size, align);
	if (!base || insert(base, size, owner))
		return 0;
	cursor = base + size + PAGE_SIZE;
	return base;
}

int vrange_reserve(u64 base, u64 size, u32 owner)
{
	if (!IS_ALIGNED(base, PAGE_SIZE) || !IS_ALIGNED(size, PAGE_SIZE) || size == 0 || base < USER_BASE ||
	    base > USER_END || size > USER_END - base)
		return -EINVAL;
	u64 w0 = (u64)KEEL_PT_WINDOW_SLOT << 39, w1 = w0 + (1ULL << 39);
	if (base < w1 && w0 < base + size)
		return -EWINDOW;
	for (struct vrange *r = ranges; r; r = r->next)
		if (base < r->base + r->size && r->base < base + size)
			return -EEXIST;
	return insert(base, size, owner);
}

void vrange_free(u64 base)
{
	for (struct vrange **p = &ranges; *p; p = &(*p)->next) {
		if ((*p)->base == base) {
			struct vrange *dead = *p;
			*p = dead->next;
			kfree(dead);
			nranges--;
			return;
		}
	}
}

u64 vrange_count(void) { return nranges; }
