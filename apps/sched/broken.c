/*
 * Deliberately broken policies, each a round-robin that goes wrong after its
 * 50th pick: `lose` stops queueing thread 2 (it would never run again),
 * `spin` loops for ever inside pick, `fault` writes through a null pointer,
 * `bogus` returns something that is not a thread, `idle` (several CPUs
 * only) gives threads to CPU 0 alone and leaves the others idle.
 * The dispatcher must eject each and finish the work under round-robin.
 */
#include "demo.h"

static struct thread_queue q;
static unsigned picks;
static int how; /* 0 lose, 1 spin, 2 fault, 3 bogus, 4 idle */
static volatile int *volatile null_pointer;

static void b_init(void) { q = (struct thread_queue){0}; }

static void b_ready(struct thread *t, enum sched_why why)
{
	if (how == 0 && picks >= 50 && t->tid == 2)
		return; /* lost */
	tq_push(&q, t);
}

static struct thread *b_pick(void)
{
	if (++picks > 50) {
		if (how == 1)
			for (;;)
				__asm__ volatile("");
		if (how == 2)
			null_pointer[2] = 1;
		if (how == 3)
			return (struct thread *)&q;
		if (how == 4 && sched_cpu() != 0)
			return NULL;
	}
	return tq_pop(&q);
}

static void b_dump(void)
{
	unsigned n = 0;
	for (struct thread *t = q.head; t; t = t->q_next)
		n++;
	printf("sched:   broken policy: %u picks, %u threads queued\n", picks, n);
}

static const struct sched_policy broken = {
	.name = "broken",
	.quantum_ns = 500000,
	.init = b_init,
	.ready = b_ready,
	.pick = b_pick,
	.dump = b_dump,
};

static volatile int finished;

static void *worker(void *arg)
{
	for (int k = 0; k < 40; k++)
		thread_burn(250000);
	__atomic_add_fetch(&finished, 1, __ATOMIC_SEQ_CST); /* (threads on several CPUs) */
	return NULL;
}

int demo_broken(int argc, char **argv)
{
	static const char *const kinds[] = { "lose", "spin", "fault", "bogus", "idle" };
	how = -1;
	for (int i = 0; i < 5; i++)
		if (argc > 1 && !strcmp(argv[1], kinds[i]))
			how = i;
	if (how < 0)
		return 2;
	sched_watchdog_ns = 20000000; /* 20 ms */
	sched_set_policy(&broken);
	struct thread *t[6];
	for (int i = 0; i < 6; i++)
		t[i] = thread_create("worker", worker, NULL);
	for (int i = 0; i < 6; i++)
		thread_join(t[i], NULL);
	printf("sched broken %s: %d of 6 workers finished under %s after %u ejection%s\n", kinds[how], finished,
	       sched_policy()->name, sched_ejections, sched_ejections == 1 ? "" : "s");
	if (sched_ncpus() > 1)
		for (unsigned i = 0; i < sched_ncpus(); i++)
			printf("sched broken: cpu%u ran %llu dispatches\n", i,
			       (unsigned long long)sched_cpu_stat(i, SCHED_STAT_DISPATCHES));
	return finished == 6 && sched_ejections == 1 && sched_policy() == &sched_rr ? 0 : 1;
}
