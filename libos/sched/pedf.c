/*
 * Partitioned EDF: each periodic thread is bound to one CPU, chosen first
 * fit by utilisation (its declared wcet / period: thread_set_wcet) in the
 * order threads declare their periods -- admit them by decreasing
 * utilisation for first-fit decreasing -- and each CPU runs uniprocessor
 * EDF over its own queue. A CPU's set is feasible iff its utilisation is at
 * most 1 (implicit deadlines), so a set that partitions is guaranteed; a
 * thread that fits on no CPU goes to the least-loaded one (counted in
 * sched_pedf_unfit: that CPU is overloaded and misses deadlines, the others
 * are unaffected). Threads without a period or a WCET stay on the CPU they
 * run on, after every periodic one. No tick, no migration after placement.
 * See sched_gedf for the global alternative.
 */
#include "sched.h"

#define CPUS_MAX 64
#define PPM 1000000ULL

static struct thread_queue queues[CPUS_MAX]; /* each CPU's, by absolute deadline */
static uint64_t load_ppm[CPUS_MAX];          /* utilisation placed there, millionths */
static uint64_t generation;                  /* this install's (t->pol[] from an older one is stale) */
unsigned sched_pedf_unfit;

/* t->pol[0]: the generation that placed it; pol[1]: its CPU; pol[2]: its utilisation (ppm). */
static bool placed(const struct thread *t) { return t->pol[0] == generation; }

static void pedf_init(void)
{
	for (unsigned i = 0; i < CPUS_MAX; i++) {
		queues[i] = (struct thread_queue){0};
		load_ppm[i] = 0;
	}
	generation++;
	sched_pedf_unfit = 0;
}

static void place(struct thread *t)
{
	unsigned n = sched_ncpus(), cpu = n, least = 0;
	uint64_t u = t->wcet * PPM / t->period;
	for (unsigned i = 0; i < n && cpu == n; i++)
		if (load_ppm[i] + u <= PPM)
			cpu = i;
	if (cpu == n) {
		for (unsigned i = 1; i < n; i++)
			if (load_ppm[i] < load_ppm[least])
				least = i;
		cpu = least;
		sched_pedf_unfit++;
	}
	load_ppm[cpu] += u;
	t->pol[0] = generation;
	t->pol[1] = cpu;
	t->pol[2] = u;
}

static unsigned pedf_select(struct thread *t, enum sched_why why)
{
	if (!placed(t) && t->period && t->wcet)
		place(t);
	if (placed(t))
		return (unsigned)t->pol[1];
	return why == SCHED_WOKEN || why == SCHED_MOVED ? t->cpu : sched_cpu();
}

static void pedf_ready(struct thread *t, enum sched_why why) { tq_insert(&queues[t->cpu], t, sched_deadline_before); }

static struct thread *pedf_pick(void) { return tq_pop(&queues[sched_cpu()]); }

static void pedf_blocked(struct thread *t)
{
	if (t->state == THREAD_DONE && placed(t)) {
		load_ppm[t->pol[1]] -= t->pol[2]; /* its share is free again */
		t->pol[0] = 0;
	}
}

static bool pedf_preempt(struct thread *cur, struct thread *woken) { return sched_deadline_before(woken, cur); }

int sched_pedf_cpu(const struct thread *t) { return placed(t) ? (int)t->pol[1] : -1; }

static void pedf_dump(void)
{
	printf("sched:   pedf (%u unfit):", sched_pedf_unfit);
	for (unsigned i = 0; i < sched_ncpus(); i++) {
		printf(" cpu%u load %llu ppm [", i, (unsigned long long)load_ppm[i]);
		for (struct thread *t = queues[i].head; t; t = t->q_next)
			printf(" %d", t->tid);
		printf(" ]");
	}
	printf("\n");
}

const struct sched_policy sched_pedf = {
	.name = "pedf",
	.init = pedf_init,
	.ready = pedf_ready,
	.pick = pedf_pick,
	.blocked = pedf_blocked,
	.preempt = pedf_preempt,
	.dump = pedf_dump,
	.select_cpu = pedf_select,
};
