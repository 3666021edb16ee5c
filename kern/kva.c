#include "kva.h"
#include "arch/x86_64/paging.h"
#include "frame.h"
#include "keel/errno.h"
#include "lib/fmt.h"
#include "lib/string.h"
#include "slot.h"
#include "cpu_features.h"

static uptr kva_next = KVA_BASE;

static struct {
	uptr start, end;
	char name[48];
} regions[1024]; /* 64 CPUs' kernel and IST stacks and their guards, and more */
static size_t nregions;

void kva_note(uptr start, uptr end, const char *name)
{
	if (nregions == ARRAY_SIZE(regions))
		return;
	regions[nregions].start = start;
	regions[nregions].end = end;
	fmt_snprintf(regions[nregions].name, sizeof regions[nregions].name, "%s", name);
	nregions++;
}

const char *kva_describe(uptr va)
{
	for (size_t i = 0; i < nregions; i++)
		if (va >= regions[i].start && va < regions[i].end)
			return regions[i].name;
	return NULL;
}

static uptr kva_reserve(size_t bytes)
{
	if (bytes > KVA_END - kva_next)
		return 0;
	uptr va = kva_next;
	kva_next += bytes;
	return va;
}

int kva_alloc_stack(size_t pages, const char *name, uptr *top)
{
	uptr base = kva_reserve((pages + 1) * PAGE_SIZE);
	if (!base)
		return -ENOMEM;
	uptr lo = base + PAGE_SIZE;
	for (size_t i = 0; i < pages; i++) {
		paddr_t pa = frame_alloc();
		int err = pa ? slot_map(lo + i * PAGE_SIZE, pa, PAGE_SIZE, PTE_W | pte_nx | pte_g) : -ENOMEM;
		if (err) {
			if (pa)
				frame_free(pa);
			while (i-- > 0)
				frame_free(slot_unmap(lo + i * PAGE_SIZE));
			return err;
		}
	}
	char what[48];
	fmt_snprintf(what, sizeof what, "guard page below %s", name);
	kva_note(base, lo, what);
	kva_note(lo, lo + pages * PAGE_SIZE, name);
	*top = lo + pages * PAGE_SIZE;
	return 0;
}

size_t kva_free_stack(uptr top, size_t pages)
{
	uptr lo = top - pages * PAGE_SIZE;
	size_t freed = 0;
	for (uptr va = lo; va < top; va += PAGE_SIZE) {
		paddr_t pa = slot_unmap(va);
		if (pa) {
			frame_free(pa);
			freed++;
		}
	}
	for (size_t i = 0; i < nregions; i++)
		if (regions[i].start == lo && regions[i].end == top) {
			size_t n = strlen(regions[i].name);
			fmt_snprintf(regions[i].name + n, sizeof regions[i].name - n, " (freed)");
		}
	return freed;
}

void *kva_map_phys(paddr_t pa, size_t len, bool writable, u64 cache)
{
	paddr_t first = ALIGN_DOWN(pa, PAGE_SIZE);
	if (len == 0 || pa + len < pa || (pa + len - 1) >> 52)
		return NULL; /* bits 52 and up of a page-table entry are not address */
	size_t n = (ALIGN_UP(pa + len, PAGE_SIZE) - first) / PAGE_SIZE;
	uptr va = kva_reserve(n * PAGE_SIZE);
	if (!va)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (slot_map(va + i * PAGE_SIZE, first + i * PAGE_SIZE, PAGE_SIZE,
			     (writable ? PTE_W : 0) | cache | pte_nx | pte_g)) {
			while (i-- > 0)
				slot_unmap(va + i * PAGE_SIZE);
			return NULL;
		}
	}
	return (void *)(va + (pa - first));
}
