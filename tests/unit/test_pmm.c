/* The frame allocator: accounting, ranges, contiguity, misuse. */
#include "check.h"
#include "keel/errno.h"
#include "pmm.h"

#define NFRAMES 1000
static u64 bitmap[(NFRAMES + 63) / 64];
static struct pmm p;

int main(void)
{
	pmm_init(&p, bitmap, NFRAMES);
	CHECK_EQ(p.nfree, 0);
	CHECK_EQ(pmm_alloc(&p), 0); /* empty: fails cleanly */

	/* Frame 0 is never added; partial pages are not added; re-adding is a no-op. */
	CHECK_EQ(pmm_add_range(&p, 0, 0x10000), 15);
	CHECK_EQ(pmm_add_range(&p, 0x10800, 0x13000), 2);
	CHECK_EQ(pmm_add_range(&p, 0x0, 0x4000), 0);
	CHECK_EQ(pmm_add_range(&p, 0x100000, UINT64_MAX), NFRAMES - 0x100);
	CHECK_EQ(pmm_add_range(&p, UINT64_MAX - 10, UINT64_MAX), 0);
	u64 total = 15 + 2 + NFRAMES - 0x100;
	CHECK_EQ(p.nfree, total);
	CHECK(!pmm_is_free(&p, 0));
	CHECK(!pmm_is_free(&p, 0x10000));
	CHECK(pmm_is_free(&p, 0x11000));

	/* Range-restricted allocation honours both ends, across word edges. */
	paddr_t a = pmm_alloc_in(&p, 0x100000 + 65 * 4096, 0x100000 + 67 * 4096);
	CHECK_EQ(a, 0x100000 + 65 * 4096);
	a = pmm_alloc_in(&p, 0x100000 + 65 * 4096, 0x100000 + 67 * 4096);
	CHECK_EQ(a, 0x100000 + 66 * 4096);
	CHECK_EQ(pmm_alloc_in(&p, 0x100000 + 65 * 4096, 0x100000 + 67 * 4096), 0);
	CHECK_EQ(pmm_alloc_in(&p, 0x14000, 0x100000), 0); /* a hole */
	CHECK_EQ(pmm_alloc_in(&p, 0x5000, 0x5000), 0);
	CHECK_EQ(pmm_free(&p, 0x100000 + 65 * 4096), 0);
	CHECK_EQ(pmm_free(&p, 0x100000 + 66 * 4096), 0);

	/* Misuse is reported, not absorbed. */
	CHECK_EQ(pmm_free(&p, 0x11001), -EINVAL);
	CHECK_EQ(pmm_free(&p, 0), -ERANGE);
	CHECK_EQ(pmm_free(&p, (u64)NFRAMES * 4096), -ERANGE);
	CHECK_EQ(pmm_free(&p, 0x11000), -EEXIST); /* already free */
	CHECK_EQ(p.nfree, total);

	/* Exhaust, then give everything back. */
	static paddr_t got[NFRAMES];
	size_t n = 0;
	while ((got[n] = pmm_alloc(&p)) != 0)
		n++;
	CHECK_EQ(n, total);
	CHECK_EQ(p.nfree, 0);
	for (size_t i = 0; i < n; i++) {
		CHECK(got[i] % 4096 == 0 && got[i] != 0);
		if (i)
			CHECK(got[i] != got[i - 1]);
	}
	CHECK_EQ(pmm_alloc_contig(&p, 1, 0, UINT64_MAX), 0);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(pmm_free(&p, got[i]), 0);
	CHECK_EQ(p.nfree, total);

	/* Contiguous runs: found where they exist, refused where they cannot. */
	a = pmm_alloc_contig(&p, 100, 0, UINT64_MAX);
	CHECK_EQ(a, 0x100000);
	CHECK_EQ(p.nfree, total - 100);
	CHECK_EQ(pmm_alloc_contig(&p, 16, 0, 0x100000), 0); /* low runs are 15 and 2 long */
	CHECK_EQ(pmm_alloc_contig(&p, 15, 0, 0x100000), 0x1000);
	CHECK_EQ(pmm_alloc_contig(&p, NFRAMES, 0, UINT64_MAX), 0);
	CHECK_EQ(pmm_alloc_contig(&p, 0, 0, UINT64_MAX), 0);
	for (u64 i = 0; i < 100; i++)
		pmm_free(&p, a + i * 4096);
	for (u64 i = 1; i < 16; i++)
		pmm_free(&p, i * 4096);
	CHECK_EQ(p.nfree, total);
	/* Fragment every other frame: no run of 2 remains above 1 MiB. */
	for (u64 f = 0x100; f < NFRAMES; f += 2)
		pmm_alloc_in(&p, f * 4096, (f + 1) * 4096);
	CHECK_EQ(pmm_alloc_contig(&p, 2, 0x100000, UINT64_MAX), 0);
	return check_done("pmm");
}
