/*
 * The libos heap: one region of the single address space, its pages mapped
 * as the heap needs them (never on demand: running out is malloc's NULL,
 * not a fault later).
 *
 * Every heap page run starts with a 64-byte header. Small blocks (16 bytes
 * to 2 KiB, eight power-of-two classes) are carved from one-page runs of
 * their class and kept on per-class free lists; their pages stay with the
 * heap. Larger blocks get a run of their own, whose frames go back to the
 * kernel when the block is freed (its addresses are kept for reuse).
 * Blocks are aligned to 64 bytes from the 64-byte class up.
 */
#include "keel.h"
#include "mem.h"
#include "vm.h"

#define PAGE 4096ULL
#define HEAP_MAX (64ULL << 20)
#define HDR 64
#define CLASSES 8 /* 16 << 0 .. 16 << 7 = 2048 */
#define LARGE 0xFF
#define MAGIC 0x68656170u /* "heap" */
#define FREE_RUNS_MAX 256

struct run_hdr {
	uint32_t magic;
	uint32_t kind;   /* size class, or LARGE */
	uint64_t pages;  /* LARGE: pages in the run */
};
_Static_assert(sizeof(struct run_hdr) <= HDR, "a run header fits its 64 bytes");

struct free_block {
	struct free_block *next;
};

static struct vm_region heap;
static uint32_t heap_frames[HEAP_MAX / PAGE];
static uint64_t heap_top; /* pages handed out from the start of the region */
static struct free_block *free_lists[CLASSES];
static struct {
	uint64_t first, pages;
} free_runs[FREE_RUNS_MAX];
static unsigned nfree_runs;
static struct heap_stats stats;
const struct libos_mem_lock *libos_mem_lock;
static int heap_ready = -1; /* -1 not tried; 0 ready; > 0 the error, as a positive errno */

/* The region is as large as the env's address-space quota allows, up to
 * HEAP_MAX: a quarter of the size at a time down to 1 MiB (a spawned child
 * may hold little). */
static int heap_init(void)
{
	if (heap_ready < 0) {
		long err = vm_init();
		for (uint64_t size = HEAP_MAX; !err; size /= 4) {
			err = vm_region_reserve(&heap, size, 0, 0, 0, VMR_WRITE, heap_frames);
			if (err != -EDQUOT || size <= (1ULL << 20))
				break;
			err = 0;
		}
		heap_ready = (int)-err;
	}
	return heap_ready;
}

static size_t class_size(unsigned c) { return (size_t)16 << c; }

static int class_of(size_t n)
{
	for (unsigned c = 0; c < CLASSES; c++)
		if (n <= class_size(c))
			return (int)c;
	return -1;
}

/* A run of `pages` mapped pages, its header written: its address, or NULL. */
static struct run_hdr *run_alloc(uint64_t pages, uint32_t kind)
{
	uint64_t first = UINT64_MAX;
	for (unsigned i = 0; i < nfree_runs; i++)
		if (free_runs[i].pages >= pages) {
			first = free_runs[i].first;
			free_runs[i].first += pages;
			free_runs[i].pages -= pages;
			if (!free_runs[i].pages)
				free_runs[i] = free_runs[--nfree_runs];
			break;
		}
	int fresh = first == UINT64_MAX;
	if (fresh) {
		if (pages > heap.size / PAGE - heap_top)
			return NULL;
		first = heap_top;
		heap_top += pages;
	}
	/* The run is this call's: its pages are mapped outside the lock (from
	 * malloc, whose lock this is: vm_region_map's kernel calls are then
	 * made with it free). */
	mem_exit();
	uint64_t p = 0;
	while (p < pages && vm_region_map(&heap, heap.base + (first + p) * PAGE) == 0)
		p++;
	mem_enter();
	if (p < pages) {
		vm_region_unmap(&heap, heap.base + first * PAGE, p * PAGE);
		if (fresh && heap_top == first + pages)
			heap_top = first;
		else if (nfree_runs < FREE_RUNS_MAX)
			free_runs[nfree_runs++] = (typeof(free_runs[0])){ first, pages };
		return NULL;
	}
	stats.pages_mapped += pages;
	struct run_hdr *h = (struct run_hdr *)(heap.base + first * PAGE);
	*h = (struct run_hdr){ .magic = MAGIC, .kind = kind, .pages = pages };
	return h;
}

static void run_free(struct run_hdr *h)
{
	uint64_t first = ((uint64_t)h - heap.base) / PAGE, pages = h->pages;
	/* Unmapped with the lock let go, as run_alloc maps (each frame's
	 * delete waits for other CPUs' TLBs: not with upcalls off -- free and
	 * realloc hold it once, so it is free here); its addresses are in no
	 * free run until it is done. */
	mem_exit();
	vm_region_unmap(&heap, (uint64_t)h, pages * PAGE);
	mem_enter();
	stats.pages_mapped -= pages;
	for (unsigned i = 0; i < nfree_runs; i++) /* join a neighbour */
		if (free_runs[i].first + free_runs[i].pages == first) {
			free_runs[i].pages += pages;
			return;
		} else if (first + pages == free_runs[i].first) {
			free_runs[i].first = first;
			free_runs[i].pages += pages;
			return;
		}
	if (nfree_runs < FREE_RUNS_MAX)
		free_runs[nfree_runs++] = (typeof(free_runs[0])){ first, pages };
	/* else its addresses are lost to the heap; its memory is not */
}

/* The header of the run holding block p (p in a run's first page), or NULL
 * -- also when p's page is not mapped (the region's frame record says so),
 * so no pointer makes this fault. */
static struct run_hdr *header_of(const void *p)
{
	uint64_t a = (uint64_t)p;
	if (heap_ready != 0 || !vm_region_contains(&heap, a) || (a & (PAGE - 1)) < HDR)
		return NULL;
	uint32_t f = heap.frames[(a - heap.base) / PAGE];
	if (f == KEEL_CAP_NONE || f == VMR_FRAME_PENDING)
		return NULL; /* not mapped (yet) */
	struct run_hdr *h = (struct run_hdr *)(a & ~(PAGE - 1));
	return h->magic == MAGIC ? h : NULL;
}

static int heap_owns_unlocked(const void *p) { return header_of(p) != NULL; }

static void *malloc_unlocked(size_t n)
{
	if (heap_init())
		goto fail;
	if (!n)
		n = 1;
	int c = class_of(n);
	if (c < 0) {
		if (n > heap.size)
			goto fail;
		struct run_hdr *h = run_alloc((n + HDR + PAGE - 1) / PAGE, LARGE);
		if (!h)
			goto fail;
		stats.allocs++;
		stats.bytes_in_use += h->pages * PAGE;
		return (uint8_t *)h + HDR;
	}
	if (!free_lists[c]) {
		struct run_hdr *h = run_alloc(1, (uint32_t)c);
		if (!h)
			goto fail;
		for (uint64_t off = PAGE - class_size(c); off >= HDR; off -= class_size(c)) {
			struct free_block *b = (struct free_block *)((uint8_t *)h + off);
			b->next = free_lists[c];
			free_lists[c] = b;
		}
	}
	struct free_block *b = free_lists[c];
	free_lists[c] = b->next;
	stats.allocs++;
	stats.bytes_in_use += class_size(c);
	return b;
fail:
	stats.failures++;
	return NULL;
}

static void free_unlocked(void *p)
{
	if (!p)
		return;
	struct run_hdr *h = header_of(p);
	if (!h) {
		printf("libos: free(%p): not a heap block\n", p);
		sys_exit(134);
	}
	stats.frees++;
	if (h->kind == LARGE) {
		stats.bytes_in_use -= h->pages * PAGE;
		run_free(h);
		return;
	}
	struct free_block *b = p;
	b->next = free_lists[h->kind];
	free_lists[h->kind] = b;
	stats.bytes_in_use -= class_size(h->kind);
}

static size_t capacity(struct run_hdr *h, void *p)
{
	return h->kind == LARGE ? h->pages * PAGE - ((uint64_t)p - (uint64_t)h) : class_size(h->kind);
}

void *calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}


void *aligned_alloc(size_t align, size_t n)
{
	if (!align || (align & (align - 1)) || align > HDR)
		return NULL;
	return malloc(n < align ? align : n); /* classes from 64 bytes up are 64-aligned */
}

void heap_stats(struct heap_stats *out) { *out = stats; }

/* The calls, each under the memory lock (mem.h): the heap is shared by
 * threads on several CPUs. */
void *malloc(size_t n)
{
	mem_enter();
	void *ret = malloc_unlocked(n);
	mem_exit();
	return ret;
}

void free(void *p)
{
	mem_enter();
	free_unlocked(p);
	mem_exit();
}

int heap_owns(const void *p)
{
	mem_enter();
	int ret = heap_owns_unlocked(p);
	mem_exit();
	return ret;
}

/* (The block moves through malloc and free, each under the lock on its
 * own: a large run's pages are then mapped and unmapped with it free.) */
void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	mem_enter();
	struct run_hdr *h = header_of(p);
	size_t cap = h ? capacity(h, p) : 0;
	mem_exit();
	if (!h)
		return NULL;
	if (n <= cap)
		return p;
	void *q = malloc(n);
	if (q) {
		memcpy(q, p, cap);
		free(p);
	}
	return q;
}
