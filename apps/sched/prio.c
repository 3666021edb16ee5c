/* Fixed priority: how soon a woken high-priority thread takes the CPU from
 * a low-priority hog (under round-robin, for contrast, it waits for the
 * hog's quantum to end), and that priorities decide the order of work. */
#include "demo.h"

static volatile int stop;
static uint64_t lat_max, lat_sum;
#define WAKES 20

static void *high(void *arg)
{
	for (int i = 0; i < WAKES; i++) {
		uint64_t target = keel_now() + 3300000; /* 3.3 ms: not in step with the 1 ms tick */
		thread_sleep_until(target);
		uint64_t lat = keel_now() - target;
		lat_sum += lat;
		if (lat > lat_max)
			lat_max = lat;
	}
	stop = 1;
	return NULL;
}

static int order[3], finished;

static void *ranked(void *arg)
{
	for (int i = 0; i < 10; i++)
		thread_burn(200000);
	order[finished++] = thread_self()->priority;
	return NULL;
}

int demo_prio(int argc, char **argv)
{
	const struct sched_policy *p = argc > 1 && !strcmp(argv[1], "rr") ? &sched_rr : &sched_prio;
	sched_set_policy(p);
	thread_self()->priority = 100;
	struct spinner hog = { .stop = &stop, .burn = 10000 };
	struct thread *l = thread_create_with("low", spin_until_stopped, &hog, 1, 100);
	struct thread *h = thread_create_with("high", high, NULL, 10, 100);
	thread_join(h, NULL);
	thread_join(l, NULL);
	printf("sched %s: a woken priority-10 thread beside a priority-1 hog: wake-up latency max %llu us, "
	       "mean %llu us over %d wake-ups (the tick is %llu us)\n",
	       p->name, (unsigned long long)lat_max / 1000, (unsigned long long)lat_sum / WAKES / 1000, WAKES,
	       (unsigned long long)p->quantum_ns / 1000);
	if (p != &sched_prio)
		return 0;

	/* Three threads, priorities 1, 2, 3 created in that order; main (100) waits. */
	struct thread *t[3];
	for (int i = 0; i < 3; i++)
		t[i] = thread_create_with("ranked", ranked, NULL, i + 1, 100);
	for (int i = 0; i < 3; i++)
		thread_join(t[i], NULL);
	printf("sched prio: priorities 1, 2, 3 started in that order finished in the order %d %d %d\n", order[0],
	       order[1], order[2]);
	return 0;
}
