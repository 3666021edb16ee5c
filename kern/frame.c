#include "frame.h"
#include "console.h"
#include "failpoint.h"
#include "image.h"
#include "keel/errno.h"
#include "lib/string.h"
#include "panic.h"

struct pmm kernel_frames;
struct range_set boot_ram;
static struct range_set free_ram; /* scratch while building the allocator */
static paddr_t alloc_limit = GiB(4);

static void reserve(struct range_set *s, u64 start, u64 end, const char *what)
{
	start = ALIGN_DOWN(start, PAGE_SIZE);
	end = ALIGN_UP(end, PAGE_SIZE);
	kprintf("mem: reserved %#014llx-%#014llx %s\n", (unsigned long long)start, (unsigned long long)end,
		what);
	range_set_remove(s, start, end);
}

int frame_init(const struct mb2_info *mb, paddr_t mbi_pa)
{
	memmap_available(mb->mmap, mb->nmmap, &boot_ram);
	if (boot_ram.overflow)
		kprintf("mem: memory map too fragmented: some RAM ignored\n");
	for (size_t i = 0; i < mb->nmmap; i++)
		kprintf("mem: e820 %#014llx-%#014llx type %u\n", (unsigned long long)mb->mmap[i].base,
			(unsigned long long)(mb->mmap[i].base + mb->mmap[i].len), mb->mmap[i].type);
	u64 usable = range_set_bytes(&boot_ram);
	kprintf("mem: usable %llu bytes (%llu KiB) in %zu ranges\n", (unsigned long long)usable,
		(unsigned long long)(usable >> 10), boot_ram.n);
	if (!usable)
		return -ENOMEM;

	free_ram = boot_ram;
	range_set_page_align(&free_ram);
	reserve(&free_ram, 0, MiB(1), "first MiB (firmware)");
	reserve(&free_ram, image_phys_start(), image_phys_end(), "kernel image");
	reserve(&free_ram, mbi_pa, mbi_pa + mb->total_size, "boot information");
	for (size_t i = 0; i < mb->nmodules; i++)
		reserve(&free_ram, mb->modules[i].start, mb->modules[i].end, mb->modules[i].cmdline);
	if (free_ram.n == 0)
		return -ENOMEM;

	u64 top = free_ram.r[free_ram.n - 1].end;
	if (top > DIRECT_MAP_SIZE) {
		kprintf("mem: RAM above %llu GiB is not used (direct map limit)\n",
			(unsigned long long)(DIRECT_MAP_SIZE >> 30));
		range_set_remove(&free_ram, DIRECT_MAP_SIZE, UINT64_MAX);
		top = DIRECT_MAP_SIZE;
	}

	/* The bitmap goes in the first free range below 4 GiB large enough
	 * (the early tables direct-map only the low 4 GiB). */
	u64 nframes = top / PAGE_SIZE;
	u64 bytes = ALIGN_UP(pmm_bitmap_bytes(nframes), PAGE_SIZE);
	paddr_t bm = 0;
	for (size_t i = 0; i < free_ram.n && !bm; i++)
		if (free_ram.r[i].end - free_ram.r[i].start >= bytes && free_ram.r[i].start + bytes <= GiB(4))
			bm = free_ram.r[i].start;
	if (!bm) {
		kprintf("mem: no room below 4 GiB for a %llu KiB frame bitmap\n", (unsigned long long)(bytes >> 10));
		return -ENOMEM;
	}
	range_set_remove(&free_ram, bm, bm + bytes);

	pmm_init(&kernel_frames, pa_to_va(bm), nframes);
	for (size_t i = 0; i < free_ram.n; i++)
		pmm_add_range(&kernel_frames, free_ram.r[i].start, free_ram.r[i].end);
	kprintf("mem: %llu frames free (%llu MiB); frame bitmap %llu KiB at %#llx\n",
		(unsigned long long)kernel_frames.nfree, (unsigned long long)(kernel_frames.nfree >> 8),
		(unsigned long long)(bytes >> 10), (unsigned long long)bm);
	return 0;
}

paddr_t frame_alloc_in(paddr_t lo, paddr_t hi)
{
	if (failpoint_hit(FAIL_FRAME))
		return 0;
	return pmm_alloc_in(&kernel_frames, lo, MIN(hi, alloc_limit));
}

paddr_t frame_alloc(void) { return frame_alloc_in(PAGE_SIZE, UINT64_MAX); }

paddr_t frame_alloc_contig(u64 n, paddr_t lo, paddr_t hi)
{
	if (failpoint_hit(FAIL_FRAME))
		return 0;
	return pmm_alloc_contig(&kernel_frames, n, lo, MIN(hi, alloc_limit));
}

paddr_t frame_alloc_zeroed(void)
{
	paddr_t pa = frame_alloc();
	if (pa)
		memset(pa_to_va(pa), 0, PAGE_SIZE);
	return pa;
}

void frame_free(paddr_t pa)
{
	int err = pmm_free(&kernel_frames, pa);
	if (err)
		panic("frame_free(%#llx): %s", (unsigned long long)pa,
		      err == -EEXIST ? "double free" : "not a RAM frame");
}

void frame_lift_limit(void) { alloc_limit = UINT64_MAX; }

u64 frames_free(void) { return kernel_frames.nfree; }
