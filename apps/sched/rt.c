/*
 * Global and partitioned EDF on several CPUs over one named periodic task
 * set (start with cpus=N; the policy is the mode):
 *
 *   sched:gedf:SET   sched:pedf:SET     (cpus=4 sched:pedf:unfit, ...)
 *
 *   light   8 tasks, U = 2.69, u_max 0.4: within G-EDF's bound
 *           m - (m - 1) u_max = 2.8 on 4 CPUs, and first fit partitions it
 *           (no CPU above 0.9)
 *   dhall   a heavy task (41 ms, u 0.9) and 4 light ones (20 ms, u 0.2):
 *           U = 1.70, yet G-EDF runs the light ones first on all four CPUs
 *           and every heavy job misses (Dhall's effect); partitioned,
 *           nothing misses
 *   unfit   5 tasks, U = 3.28, u 0.56-0.71: after first fit the fifth fits
 *           on no CPU, so P-EDF overloads one (1.22: only its tasks miss);
 *           G-EDF schedules the same set
 *
 * Tasks are admitted one at a time in the listed order (decreasing
 * utilisation: first-fit decreasing under sched_pedf), each declaring its
 * WCET, and all release their first job at one instant (thread_set_period_at):
 * the synchronous release the analyses assume. A job is `wcet` of time
 * holding a CPU (work()), not a count of instructions: under -icount with
 * several CPUs the guest clock counts every CPU's instructions.
 * Each task runs `jobs` jobs (SPAN_MS of releases), then every task's
 * figures and the trace are printed; tests/test_rt.py sets them beside a
 * host-side simulation of the same set.
 */
#include "demo.h"

#define MS 1000000ULL
#define US 1000ULL
#define SPAN_MS 132 /* each task's jobs: those released within it */

struct rt_task {
	uint64_t period_us, wcet_us;
};

static const struct {
	const char *name;
	unsigned n;
	struct rt_task t[8];
} sets[] = {
	{ "light", 8, { { 55000, 22000 }, { 22000, 8700 }, { 44000, 16700 }, { 25000, 9000 },
		        { 88000, 28900 }, { 50000, 14400 }, { 16000, 4300 }, { 32000, 8500 } } },
	{ "dhall", 5, { { 41000, 37000 }, { 20000, 4000 }, { 20000, 4000 }, { 20000, 4000 }, { 20000, 4000 } } },
	{ "unfit", 5, { { 22000, 15700 }, { 80000, 54400 }, { 40000, 26600 }, { 50000, 32700 }, { 44000, 24800 } } },
};

struct task {
	uint64_t period, wcet, first, jobs;
	int tid, placed;
	uint64_t misses, done, cpus; /* cpus: a bit per CPU a job of it started on */
	int64_t max_lateness;
};

/* A job: `ns` of time holding a CPU -- the kernel clock's time between
 * samples in which this thread stayed dispatched (a sample that spans a
 * preemption by the library does not count). Not thread_cpu_ns: that is the
 * env's own clock, which leaves out the time the kernel had the CPU, and
 * under -icount with several CPUs QEMU's round-robin puts other vCPUs'
 * instructions inside this one's kernel entries (tests/test_rt.py).
 * Samples are short (thread_burn(1000), a few microseconds of the clock):
 * each preemption throws one sample away and the job runs that much longer.
 * With 10,000 a sample spanned up to ~0.5 ms of the four-CPU icount clock
 * and the late chains ended 3-5 ms after the ideal's; now within 0.6 ms. */
static void work(struct thread *self, uint64_t ns)
{
	uint64_t done = 0, last = keel_now(), disp = *(volatile uint64_t *)&self->dispatches;
	while (done < ns) {
		thread_burn(1000);
		uint64_t now = keel_now(), d = *(volatile uint64_t *)&self->dispatches;
		if (d == disp)
			done += now - last;
		disp = d;
		last = now;
	}
}

static void *task_main(void *arg)
{
	struct task *k = arg;
	struct thread *self = thread_self();
	thread_set_wcet(k->wcet);
	thread_set_period_at(k->period, 0, k->first); /* placed, then asleep until the first release */
	for (uint64_t j = 0; j < k->jobs; j++) {
		k->cpus |= 1ULL << self->cpu;
		work(self, k->wcet);
		thread_next_job();
	}
	k->misses = self->misses;
	k->done = self->jobs_done;
	k->max_lateness = self->max_lateness;
	return NULL;
}

int demo_rt(const struct sched_policy *p, int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "light";
	unsigned s = 0;
	while (s < ARRAY_SIZE(sets) && strcmp(sets[s].name, name))
		s++;
	if (s == ARRAY_SIZE(sets)) {
		printf("sched %s: no task set %s (light, dhall, unfit)\n", p->name, name);
		return 1;
	}
	static struct task k[8];
	struct thread *t[8];
	unsigned n = sets[s].n;
	/* Admission takes well under a millisecond a task: all are placed
	 * and asleep long before the first release. */
	uint64_t first = keel_now() + 20 * MS, u_ppm = 0;
	printf("sched %s: set %s on %u CPUs, %u tasks, first release at %llu\n", p->name, name, sched_ncpus(), n,
	       (unsigned long long)first);
	trace_reserve(16384);
	for (unsigned i = 0; i < n; i++) {
		const struct rt_task *d = &sets[s].t[i];
		k[i] = (struct task){ .period = d->period_us * US, .wcet = d->wcet_us * US, .first = first,
				      .jobs = SPAN_MS * 1000 / d->period_us };
		u_ppm += d->wcet_us * 1000000 / d->period_us;
		printf("sched %s: task %u: period %llu us, wcet %llu us, %llu jobs\n", p->name, i + 1,
		       (unsigned long long)d->period_us, (unsigned long long)d->wcet_us, (unsigned long long)k[i].jobs);
		char tname[16];
		snprintf(tname, sizeof tname, "rt%u", i + 1);
		t[i] = thread_create(tname, task_main, &k[i]);
		k[i].tid = t[i]->tid;
		/* One at a time, so first fit sees them in this order: on to the
		 * next once this one sleeps until the first release (placed). */
		while (*(volatile enum thread_state *)&t[i]->state != THREAD_SLEEPING)
			thread_sleep(100 * US);
		k[i].placed = sched_pedf_cpu(t[i]);
	}
	printf("sched %s: U = %llu.%03llu\n", p->name, (unsigned long long)(u_ppm / 1000000),
	       (unsigned long long)(u_ppm % 1000000 / 1000));
	uint64_t misses = 0, jobs = 0;
	for (unsigned i = 0; i < n; i++) {
		thread_join(t[i], NULL);
		misses += k[i].misses;
		jobs += k[i].done;
		printf("sched %s: task %u (tid %d): %llu jobs, %llu missed, max lateness %lld us, placed %d, ran on cpus %#llx\n",
		       p->name, i + 1, k[i].tid, (unsigned long long)k[i].done, (unsigned long long)k[i].misses,
		       (long long)k[i].max_lateness / 1000, k[i].placed, (unsigned long long)k[i].cpus);
	}
	printf("sched %s: %llu jobs, %llu deadline misses, %llu migrations", p->name, (unsigned long long)jobs,
	       (unsigned long long)misses, (unsigned long long)sched_migrations());
	if (p == &sched_pedf)
		printf(", %u unfit", sched_pedf_unfit);
	printf("\n");
	for (unsigned c = 0; c < sched_ncpus(); c++)
		printf("sched %s: cpu %u: %llu dispatches, %llu idles, %llu kicks\n", p->name, c,
		       (unsigned long long)sched_cpu_stat(c, SCHED_STAT_DISPATCHES),
		       (unsigned long long)sched_cpu_stat(c, SCHED_STAT_IDLES),
		       (unsigned long long)sched_cpu_stat(c, SCHED_STAT_KICKS));
	trace_dump();
	return 0;
}
