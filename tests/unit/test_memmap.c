/* Memory-map normalisation and range arithmetic. */
#include "check.h"
#include "memmap.h"

static struct range_set s;

static void check_ranges(const struct range_set *rs, const u64 (*want)[2], size_t n, int line)
{
	int ok = rs->n == n;
	for (size_t i = 0; ok && i < n; i++)
		ok = rs->r[i].start == want[i][0] && rs->r[i].end == want[i][1];
	check_count++;
	if (!ok) {
		check_failures++;
		fprintf(stderr, "line %d: ranges differ; got %zu:\n", line, rs->n);
		for (size_t i = 0; i < rs->n; i++)
			fprintf(stderr, "  %#llx-%#llx\n", (unsigned long long)rs->r[i].start,
				(unsigned long long)rs->r[i].end);
	}
}
#define RANGES(rs, ...)                                                                    \
	do {                                                                               \
		static const u64 w_[][2] = { __VA_ARGS__ };                                \
		check_ranges(rs, w_, sizeof w_ / sizeof w_[0], __LINE__);                  \
	} while (0)

int main(void)
{
	/* QEMU q35, 512M: usable is exactly the two type-1 entries. */
	struct mb2_mmap_entry q35[] = {
		{ 0, 0x9fc00, 1 },           { 0x9fc00, 0x400, 2 },     { 0xf0000, 0x10000, 2 },
		{ 0x100000, 0x1fedf000, 1 }, { 0x1ffdf000, 0x21000, 2 }, { 0xb0000000, 0x10000000, 2 },
	};
	memmap_available(q35, 6, &s);
	RANGES(&s, { 0, 0x9fc00 }, { 0x100000, 0x1ffdf000 });
	CHECK_EQ(range_set_bytes(&s), 0x9fc00 + 0x1fedf000);

	/* Unsorted, overlapping available entries: merged, not double counted. */
	struct mb2_mmap_entry messy[] = {
		{ 0x300000, 0x100000, 1 }, { 0x100000, 0x250000, 1 }, { 0x200000, 0x10000, 1 },
		{ 0x500000, 0, 1 },        { 0x380000, 0x1000, 2 },
	};
	memmap_available(messy, 5, &s);
	RANGES(&s, { 0x100000, 0x380000 }, { 0x381000, 0x400000 });

	/* Reserved wins over available whatever the order; other types too. */
	struct mb2_mmap_entry clash[] = {
		{ 0x1000, 0x1000, 3 }, { 0, 0x10000, 1 }, { 0x8000, 0x1000, 5 }, { 0x4000, 0x2000, 4 },
	};
	memmap_available(clash, 4, &s);
	RANGES(&s, { 0, 0x1000 }, { 0x2000, 0x4000 }, { 0x6000, 0x8000 }, { 0x9000, 0x10000 });

	/* Adjacent entries merge; nothing beyond the architectural limit. */
	struct mb2_mmap_entry adj[] = {
		{ 0x1000, 0x1000, 1 },
		{ 0x2000, 0x1000, 1 },
		{ PHYS_ADDR_LIMIT - 0x1000, 0x3000, 1 },
		{ UINT64_MAX - 10, 5, 1 },
	};
	memmap_available(adj, 4, &s);
	RANGES(&s, { 0x1000, 0x3000 }, { PHYS_ADDR_LIMIT - 0x1000, PHYS_ADDR_LIMIT });

	/* Nothing at all, or nothing usable. */
	memmap_available(adj, 0, &s);
	CHECK_EQ(s.n, 0);
	struct mb2_mmap_entry none[] = { { 0, 0x100000, 2 } };
	memmap_available(none, 1, &s);
	CHECK_EQ(s.n, 0);

	/* Page alignment shrinks inward and drops slivers. */
	s.n = 3;
	s.r[0] = (struct range){ 0x0, 0x9fc00 };
	s.r[1] = (struct range){ 0x100800, 0x101000 };
	s.r[2] = (struct range){ 0x200001, 0x300fff };
	range_set_page_align(&s);
	RANGES(&s, { 0, 0x9f000 }, { 0x201000, 0x300000 });

	/* Removal: head, tail, middle split, several at once, nothing. */
	s.n = 2;
	s.overflow = false;
	s.r[0] = (struct range){ 0x1000, 0x10000 };
	s.r[1] = (struct range){ 0x20000, 0x30000 };
	range_set_remove(&s, 0, 0x2000);
	range_set_remove(&s, 0xf000, 0x11000);
	range_set_remove(&s, 0x4000, 0x5000);
	RANGES(&s, { 0x2000, 0x4000 }, { 0x5000, 0xf000 }, { 0x20000, 0x30000 });
	range_set_remove(&s, 0x3000, 0x28000);
	RANGES(&s, { 0x2000, 0x3000 }, { 0x28000, 0x30000 });
	/* Queries: within one range, across a gap, touching only at an end. */
	CHECK(range_set_covers(&s, 0x2000, 0x3000) && range_set_covers(&s, 0x28000, 0x29000));
	CHECK(!range_set_covers(&s, 0x2000, 0x28001) && !range_set_covers(&s, 0x1fff, 0x2001));
	CHECK(range_set_overlaps(&s, 0x2fff, 0x28000) && range_set_overlaps(&s, 0, 0x2001));
	CHECK(!range_set_overlaps(&s, 0x3000, 0x28000) && !range_set_overlaps(&s, 0x30000, 0x40000));
	range_set_remove(&s, 0x50000, 0x40000);
	range_set_remove(&s, 0, UINT64_MAX);
	CHECK_EQ(s.n, 0);

	/* A split that does not fit keeps the lower part and says so. */
	s.n = MEMMAP_MAX_RANGES;
	for (size_t i = 0; i < MEMMAP_MAX_RANGES; i++)
		s.r[i] = (struct range){ i * 0x10000, i * 0x10000 + 0x8000 };
	s.overflow = false;
	range_set_remove(&s, 0x1000, 0x2000);
	CHECK(s.overflow);
	CHECK_EQ(s.n, MEMMAP_MAX_RANGES);
	CHECK_EQ(s.r[0].end, 0x1000);

	/* More than MEMMAP_MAX_RANGES usable pieces: overflow reported. */
	static struct mb2_mmap_entry many[MB2_MAX_MMAP];
	for (size_t i = 0; i < MB2_MAX_MMAP; i++)
		many[i] = (struct mb2_mmap_entry){ i * 0x2000, 0x1000, 1 };
	memmap_available(many, MB2_MAX_MMAP, &s);
	CHECK_EQ(s.n, MB2_MAX_MMAP);
	CHECK(!s.overflow);
	return check_done("memmap");
}
