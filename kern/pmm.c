#include "pmm.h"
#include "keel/errno.h"
#include "layout.h"
#include "lib/string.h"

static inline bool bit_get(const u64 *bm, u64 f) { return (bm[f / 64] >> (f % 64)) & 1; }
static inline void bit_set(u64 *bm, u64 f) { bm[f / 64] |= 1ULL << (f % 64); }
static inline void bit_clear(u64 *bm, u64 f) { bm[f / 64] &= ~(1ULL << (f % 64)); }

void pmm_init(struct pmm *p, u64 *bitmap, u64 nframes)
{
	p->bitmap = bitmap;
	p->nframes = nframes;
	p->nfree = 0;
	p->ntotal = 0;
	p->hint = 0;
	memset(bitmap, 0, pmm_bitmap_bytes(nframes));
}

u64 pmm_add_range(struct pmm *p, u64 start, u64 end)
{
	u64 first = (start + PAGE_SIZE - 1) / PAGE_SIZE;
	u64 last = end / PAGE_SIZE; /* exclusive */
	if (start > UINT64_MAX - PAGE_SIZE)
		return 0;
	if (first == 0)
		first = 1;
	if (last > p->nframes)
		last = p->nframes;
	u64 added = 0;
	for (u64 f = first; f < last; f++) {
		if (!bit_get(p->bitmap, f)) {
			bit_set(p->bitmap, f);
			added++;
		}
	}
	p->nfree += added;
	p->ntotal += added;
	return added;
}

/* First free frame in [flo, fhi), searching whole words from the hint (out
 * of line: pmm_alloc_in's common case then needs no registers saved). */
static __attribute__((noinline)) u64 find_free(struct pmm *p, u64 flo, u64 fhi)
{
	if (flo >= fhi)
		return 0;
	u64 wlo = flo / 64, whi = (fhi + 63) / 64;
	u64 start = p->hint >= wlo && p->hint < whi ? p->hint : wlo;
	for (u64 k = 0; k < whi - wlo; k++) {
		u64 w = start + k;
		if (w >= whi)
			w -= whi - wlo;
		u64 bits = p->bitmap[w];
		if (!bits)
			continue;
		/* Mask off frames outside [flo, fhi) in the edge words. */
		if (w == flo / 64 && flo % 64)
			bits &= ~0ULL << (flo % 64);
		if (w == (fhi - 1) / 64 && fhi % 64)
			bits &= ~0ULL >> (64 - fhi % 64);
		if (!bits)
			continue;
		p->hint = w;
		return w * 64 + (u64)__builtin_ctzll(bits);
	}
	return 0;
}

/* Frame f (0: none) taken. */
static paddr_t alloc_found(struct pmm *p, u64 f)
{
	if (!f)
		return 0;
	bit_clear(p->bitmap, f);
	p->nfree--;
	return f * PAGE_SIZE;
}

paddr_t pmm_alloc_in(struct pmm *p, paddr_t lo, paddr_t hi)
{
	if (!p->nfree)
		return 0;
	u64 flo = (lo + PAGE_SIZE - 1) / PAGE_SIZE, fhi = hi / PAGE_SIZE;
	if (lo > UINT64_MAX - PAGE_SIZE)
		return 0;
	if (fhi > p->nframes)
		fhi = p->nframes;
	/* The common case without the search: a free frame in the hint's word,
	 * which lies wholly inside the bounds (find_free would start there and
	 * take the same frame). */
	if (!flo)
		flo = 1; /* frame 0 is never handed out */
	u64 w = p->hint;
	if (w >= flo / 64 && w * 64 + 64 <= fhi) {
		u64 bits = p->bitmap[w];
		if (w == flo / 64)
			bits &= ~0ULL << (flo % 64);
		if (bits)
			return alloc_found(p, w * 64 + (u64)__builtin_ctzll(bits));
	}
	return alloc_found(p, find_free(p, flo, fhi));
}

paddr_t pmm_alloc(struct pmm *p) { return pmm_alloc_in(p, PAGE_SIZE, UINT64_MAX); }

paddr_t pmm_alloc_contig(struct pmm *p, u64 n, paddr_t lo, paddr_t hi)
{
	if (n == 0 || n > p->nfree)
		return 0;
	u64 flo = (lo + PAGE_SIZE - 1) / PAGE_SIZE, fhi = hi / PAGE_SIZE;
	if (lo > UINT64_MAX - PAGE_SIZE)
		return 0;
	if (flo == 0)
		flo = 1;
	if (fhi > p->nframes)
		fhi = p->nframes;
	u64 run = 0;
	for (u64 f = flo; f < fhi; f++) {
		if (f % 64 == 0 && p->bitmap[f / 64] == 0 && f + 64 <= fhi) {
			run = 0;
			f += 63;
			continue;
		}
		run = bit_get(p->bitmap, f) ? run + 1 : 0;
		if (run == n) {
			u64 first = f + 1 - n;
			for (u64 g = first; g <= f; g++)
				bit_clear(p->bitmap, g);
			p->nfree -= n;
			return first * PAGE_SIZE;
		}
	}
	return 0;
}

int pmm_free(struct pmm *p, paddr_t pa)
{
	if (pa % PAGE_SIZE)
		return -EINVAL;
	u64 f = pa / PAGE_SIZE;
	if (f == 0 || f >= p->nframes)
		return -ERANGE;
	if (bit_get(p->bitmap, f))
		return -EEXIST;
	bit_set(p->bitmap, f);
	p->nfree++;
	return 0;
}

bool pmm_is_free(const struct pmm *p, paddr_t pa)
{
	u64 f = pa / PAGE_SIZE;
	return f < p->nframes && bit_get(p->bitmap, f);
}
