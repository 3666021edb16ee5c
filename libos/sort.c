/* keel_sort_u64 (keel.h): heapsort -- in place, O(n log n) worst case, no
 * allocation: for apps' samples and latencies (apps/tbench, apps/sched). */
#include "keel.h"

static void sift(uint64_t *a, size_t root, size_t n)
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && a[child + 1] > a[child])
			child++;
		if (a[root] >= a[child])
			return;
		uint64_t t = a[root];
		a[root] = a[child];
		a[child] = t;
	}
}

void keel_sort_u64(uint64_t *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift(a, i, n);
	while (n > 1) {
		uint64_t t = a[--n];
		a[n] = a[0];
		a[0] = t;
		sift(a, 0, n);
	}
}
