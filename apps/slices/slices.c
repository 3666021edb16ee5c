/*
 * How long each of its time slices really is, seen from Ring 3 (the
 * fairness test of tests/test_sched_slices.py, under icount where the TSC
 * counts instructions, so a slice's length is exact):
 *
 *   slices spin N     spin, timing every stretch the CPU is its own: a gap
 *                     in the TSC longer than GAP means it was off the CPU
 *                     (another env ran); a short one is a kernel entry that
 *                     gave the CPU back (an interrupt that fired nothing).
 *                     After N whole stretches (the first, begun mid-slice,
 *                     is not counted), or fewer once it runs alone:
 *                       slices env E: n=N min=A max=B total=T (TSC ticks)
 *   slices yield K    yield K times (SYS_YIELD), then end: each yield starts
 *                     the next env's slice while the LAPIC timer is still
 *                     set for this one's (kern/timer.c writes it only for an
 *                     earlier deadline).
 */
#include "keel.h"

#define GAP 200000 /* ticks: far more than a kernel entry, far less than a slice */
#define ALONE 50000000 /* ticks without a gap: no other env is left to run (the slices tested are shorter) */

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static int spin(unsigned n)
{
	uint64_t min = ~0ULL, max = 0, total = 0, start = rdtsc(), last = start;
	unsigned seen = 0;
	int first = 1;
	while (seen < n) {
		uint64_t t = rdtsc();
		if (t - last > GAP) { /* off the CPU from last to t: a stretch ended at last */
			if (!first) {
				uint64_t len = last - start;
				min = len < min ? len : min;
				max = len > max ? len : max;
				total += len;
				seen++;
			}
			first = 0;
			start = t;
		}
		last = t;
		if (t - start > ALONE)
			break; /* the others have ended: no stretch will end now */
	}
	printf("slices env %ld: n=%u min=%llu max=%llu total=%llu\n", sys_env_id(), seen, (unsigned long long)min,
	       (unsigned long long)max, (unsigned long long)total);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "spin"))
		return spin((unsigned)keel_atou(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "yield")) {
		for (uint64_t k = keel_atou(argv[2]); k; k--)
			sys_yield();
		printf("slices env %ld: yielded %s times\n", sys_env_id(), argv[2]);
		return 0;
	}
	printf("usage: slices spin N | slices yield K\n");
	return 1;
}
