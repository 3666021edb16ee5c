#include "memmap.h"
#include "layout.h"

static void set_append(struct range_set *s, u64 start, u64 end)
{
	if (start >= end)
		return;
	if (s->n && s->r[s->n - 1].end == start) {
		s->r[s->n - 1].end = end;
		return;
	}
	if (s->n == MEMMAP_MAX_RANGES) {
		s->overflow = true;
		return;
	}
	s->r[s->n++] = (struct range){ start, end };
}

void memmap_available(const struct mb2_mmap_entry *e, size_t n, struct range_set *out)
{
	out->n = 0;
	out->overflow = false;
	if (n > MB2_MAX_MMAP)
		n = MB2_MAX_MMAP;

	/*
	 * Sweep over the entry boundaries in increasing order. Between two
	 * consecutive boundaries coverage is constant: the piece is RAM if an
	 * available entry covers it and no other entry does. O(n^2), n <= 128.
	 */
	u64 pos = 0;
	for (;;) {
		u64 next = UINT64_MAX;
		for (size_t i = 0; i < n; i++) {
			u64 s = e[i].base, t = e[i].base + e[i].len;
			if (e[i].len == 0 || t < s)
				continue;
			if (s > pos && s < next)
				next = s;
			if (t > pos && t < next)
				next = t;
		}
		if (next == UINT64_MAX)
			break;
		bool avail = false, other = false;
		for (size_t i = 0; i < n; i++) {
			u64 s = e[i].base, t = e[i].base + e[i].len;
			if (e[i].len == 0 || t < s)
				continue;
			if (s <= pos && t >= next) {
				if (e[i].type == MB2_MEM_AVAILABLE)
					avail = true;
				else
					other = true;
			}
		}
		if (avail && !other && pos < PHYS_ADDR_LIMIT)
			set_append(out, pos, MIN(next, PHYS_ADDR_LIMIT));
		pos = next;
	}
}

u64 range_set_bytes(const struct range_set *s)
{
	u64 sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += s->r[i].end - s->r[i].start;
	return sum;
}

bool range_set_covers(const struct range_set *s, u64 start, u64 end)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->r[i].start <= start && end <= s->r[i].end)
			return true;
	return false;
}

bool range_set_overlaps(const struct range_set *s, u64 start, u64 end)
{
	for (size_t i = 0; i < s->n; i++)
		if (start < s->r[i].end && s->r[i].start < end)
			return true;
	return false;
}

void range_set_page_align(struct range_set *s)
{
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++) {
		u64 a = ALIGN_UP(s->r[i].start, PAGE_SIZE);
		u64 b = ALIGN_DOWN(s->r[i].end, PAGE_SIZE);
		if (a < s->r[i].start) /* wrapped */
			continue;
		if (a < b)
			s->r[k++] = (struct range){ a, b };
	}
	s->n = k;
}

void range_set_remove(struct range_set *s, u64 start, u64 end)
{
	if (start >= end)
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct range *r = &s->r[i];
		if (end <= r->start || start >= r->end)
			continue;
		if (start <= r->start && end >= r->end) { /* whole range goes */
			for (size_t j = i; j + 1 < s->n; j++)
				s->r[j] = s->r[j + 1];
			s->n--;
			i--;
		} else if (start <= r->start) { /* head */
			r->start = end;
		} else if (end >= r->end) { /* tail */
			r->end = start;
		} else { /* middle: split */
			if (s->n == MEMMAP_MAX_RANGES) {
				s->overflow = true;
				r->end = start; /* drop the upper part rather than use reserved memory */
				continue;
			}
			for (size_t j = s->n; j > i + 1; j--)
				s->r[j] = s->r[j - 1];
			s->r[i + 1] = (struct range){ end, r->end };
			r->end = start;
			s->n++;
			i++;
		}
	}
}
