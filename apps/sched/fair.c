/* Proportional sharing: round-robin (equal shares) and stride (shares by
 * tickets). The shares are read from the threads' progress at one instant,
 * measured in guest instructions of work done. */
#include "demo.h"

int demo_fair(const struct sched_policy *p, int argc, char **argv)
{
	int stride = p == &sched_stride;
	unsigned n = stride ? 3 : (unsigned)arg_or(argc, argv, 1, 4);
	uint64_t ms = arg_or(argc, argv, stride ? 1 : 2, stride ? 300 : 200);
	static struct spinner s[16];
	struct thread *t[16];
	volatile int stop = 0;
	if (n < 1 || n > 16)
		return 1;
	thread_self()->priority = 1; /* (main only sleeps) */
	for (unsigned i = 0; i < n; i++) {
		s[i] = (struct spinner){ .stop = &stop, .burn = 10000 };
		t[i] = thread_create_with("worker", spin_until_stopped, &s[i], 0, stride ? 100 * (i + 1) : 100);
	}
	thread_sleep(ms * 1000000);
	uint64_t loops[16], total = 0, tickets = 0;
	for (unsigned i = 0; i < n; i++) { /* one instant: nothing else runs while main reads */
		loops[i] = s[i].loops;
		total += loops[i];
		tickets += stride ? 100 * (i + 1) : 100;
	}
	stop = 1;
	for (unsigned i = 0; i < n; i++)
		thread_join(t[i], NULL);
	uint64_t worst = 0; /* per mille */
	for (unsigned i = 0; i < n; i++) {
		uint64_t want = total * (stride ? 100 * (i + 1) : 100) / tickets;
		uint64_t dev = (loops[i] > want ? loops[i] - want : want - loops[i]) * 1000 / (want ? want : 1);
		if (dev > worst)
			worst = dev;
		printf("sched %s: thread %u (%u tickets): %llu bursts (fair share %llu, off by %llu.%llu%%), cpu %llu us\n",
		       p->name, i + 1, stride ? 100 * (i + 1) : 100, (unsigned long long)loops[i],
		       (unsigned long long)want, (unsigned long long)dev / 10, (unsigned long long)dev % 10,
		       (unsigned long long)s[i].cpu_ns / 1000);
	}
	printf("sched %s: %u threads over %llu ms: largest deviation from the fair share %llu.%llu%%\n", p->name, n,
	       (unsigned long long)ms, (unsigned long long)worst / 10, (unsigned long long)worst % 10);
	return 0;
}
