#include "heap.h"
#include "config.h"
#include "failpoint.h"
#include "frame.h"
#include "lib/string.h"
#include "panic.h"

#define SLAB_MAGIC 0x51AB51AB51AB51ABULL
#define LARGE_MAGIC 0x1A26E1A26E1A26E0ULL
#define HDR_SIZE 64 /* keeps every object 16-byte (and small classes 64-byte) aligned */
#define NCLASSES 7  /* 16 .. 1024 */
#define POISON 0x6b /* debug builds: what a freed small object holds (but its link) */
#define POISON64 0x6b6b6b6b6b6b6b6bULL
#define MAX_SMALL 1024

struct free_obj {
	struct free_obj *next;
};

/* At the start of every heap page (slab) or page run (large). */
struct page_hdr {
	u64 magic;
	u32 cls;          /* slab: size class index */
	u32 nfree;        /* slab: free objects in this page */
	u64 npages;       /* large: frames in the run */
	struct free_obj *free;
	struct page_hdr *next, *prev; /* slab: in its class's list of pages with room */
};
_Static_assert(sizeof(struct page_hdr) <= HDR_SIZE, "heap page header");

static struct page_hdr *partial[NCLASSES];
static struct heap_stats stats;

static size_t class_size(unsigned c) { return (size_t)16 << c; }
/* The smallest class that holds size (1 .. MAX_SMALL): log2 of size
 * rounded up to a power of two, less log2(16). */
static unsigned class_of(size_t size)
{
	return size <= 16 ? 0 : 64 - (unsigned)__builtin_clzll(size - 1) - 4;
}
static size_t objs_per_page(unsigned c) { return (PAGE_SIZE - HDR_SIZE) / class_size(c); }

static void list_remove(struct page_hdr *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		partial[h->cls] = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->next = h->prev = NULL;
}

static void list_push(struct page_hdr *h)
{
	h->prev = NULL;
	h->next = partial[h->cls];
	if (h->next)
		h->next->prev = h;
	partial[h->cls] = h;
}

static struct page_hdr *new_slab(unsigned c)
{
	paddr_t pa = frame_alloc();
	if (!pa)
		return NULL;
	struct page_hdr *h = pa_to_va(pa);
	*h = (struct page_hdr){ .magic = SLAB_MAGIC, .cls = c };
	size_t n = objs_per_page(c);
	for (size_t i = n; i-- > 0;) {
		struct free_obj *o = (void *)((u8 *)h + HDR_SIZE + i * class_size(c));
		o->next = h->free;
		h->free = o;
	}
	h->nfree = (u32)n;
	stats.pages++;
	list_push(h);
	return h;
}

void *kmalloc(size_t size)
{
	if (size == 0)
		size = 1;
	if (failpoint_hit(FAIL_HEAP))
		return NULL;
	if (size <= MAX_SMALL) {
		unsigned c = class_of(size);
		struct page_hdr *h = partial[c] ? partial[c] : new_slab(c);
		if (!h)
			return NULL;
		struct free_obj *o = h->free;
		h->free = o->next;
		if (--h->nfree == 0)
			list_remove(h);
		stats.allocs++;
		stats.live_objects++;
		stats.live_bytes += class_size(c);
		return o;
	}
	if (size > GiB(1))
		return NULL;
	u64 npages = (size + HDR_SIZE + PAGE_SIZE - 1) / PAGE_SIZE;
	paddr_t pa = pmm_alloc_contig(&kernel_frames, npages, PAGE_SIZE, UINT64_MAX);
	if (!pa)
		return NULL;
	struct page_hdr *h = pa_to_va(pa);
	*h = (struct page_hdr){ .magic = LARGE_MAGIC, .npages = npages };
	stats.allocs++;
	stats.live_objects++;
	stats.live_bytes += npages * PAGE_SIZE;
	stats.pages += npages;
	return (u8 *)h + HDR_SIZE;
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);
	if (p)
		memset(p, 0, size);
	return p;
}

void kfree(void *p)
{
	if (!p)
		return;
	struct page_hdr *h = (void *)ALIGN_DOWN((uptr)p, PAGE_SIZE);
	if (h->magic == LARGE_MAGIC && (u8 *)p == (u8 *)h + HDR_SIZE) {
		paddr_t pa = direct_va_to_pa(h);
		u64 n = h->npages;
		h->magic = 0;
		for (u64 i = 0; i < n; i++)
			frame_free(pa + i * PAGE_SIZE);
		stats.frees++;
		stats.live_objects--;
		stats.live_bytes -= n * PAGE_SIZE;
		stats.pages -= n;
		return;
	}
	if (h->magic != SLAB_MAGIC || ((uptr)p - (uptr)h - HDR_SIZE) % class_size(h->cls))
		panic("kfree(%p): not a heap object", p);
	unsigned c = h->cls;
	struct free_obj *o = p;
	if (KEEL_DEBUG) {
		/* A free object is poisoned past its link: only one that looks
		 * so can be on the free list, and only then is the list walked. */
		if (((u64 *)p)[1] == POISON64)
			for (struct free_obj *f = h->free; f; f = f->next)
				if (f == o)
					panic("kfree(%p): double free", p);
		memset(p, POISON, class_size(c));
	}
	o->next = h->free;
	h->free = o;
	stats.frees++;
	stats.live_objects--;
	stats.live_bytes -= class_size(c);
	if (h->nfree++ == 0)
		list_push(h);
	/* Give an empty page back at once: the frame count then says exactly
	 * what the kernel holds (tests compare it before and after). */
	if (h->nfree == objs_per_page(c)) {
		list_remove(h);
		h->magic = 0;
		frame_free(direct_va_to_pa(h));
		stats.pages--;
	}
}

void heap_stats(struct heap_stats *out) { *out = stats; }
