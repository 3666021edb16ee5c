/*
 * EDF over a periodic task set whose execution times are given in guest
 * instructions (under -icount, 1 instruction is 1 ns of the kernel clock):
 *
 *   feasible    10 ms / 3 M, 20 ms / 6 M, 40 ms / 12 M   U = 0.90
 *   infeasible  10 ms / 4 M, 20 ms / 8 M, 40 ms / 16 M   U = 1.20
 *
 * Deadlines equal periods. Every task runs its jobs until the end of the run,
 * then the per-task figures and the scheduling trace are printed.
 *
 * `sched:edf:feasible|infeasible:MS:host` (the showcase, ./keel run) sizes
 * the jobs to this host instead: without -icount a guest instruction takes
 * whatever time TCG and the host's load make it, so a set sized in
 * instructions may not be feasible in time at all. On a host slower than an
 * instruction per nanosecond the jobs are scaled by the measured time of a
 * million-instruction burn, and misses are reported
 * but are not the run's failure -- a host that slows down after the
 * measurement shows up as misses. The strict checks run under -icount
 * (tests/test_sched.py).
 */
#include "demo.h"

struct task {
	uint64_t period_ms, wcet;
	uint64_t end;
	uint64_t jobs, misses, max_response;
	int64_t max_lateness;
};

static void *periodic(void *arg)
{
	struct task *k = arg;
	thread_set_period(k->period_ms * 1000000, 0);
	struct thread *self = thread_self();
	while (keel_now() < k->end) {
		thread_burn(k->wcet);
		uint64_t response = keel_now() - self->release;
		if (response > k->max_response)
			k->max_response = response;
		thread_next_job();
	}
	k->jobs = self->jobs_done;
	k->misses = self->misses;
	k->max_lateness = self->max_lateness;
	return NULL;
}

/* Instructions this host burns in a millisecond of the kernel clock, the
 * median of five million-instruction burns -- but no more than the
 * 1,000,000 the set is written for (exactly that under -icount): a faster
 * host keeps the slack, a slower one gets smaller jobs. */
static uint64_t instructions_per_ms(void)
{
	uint64_t ns[5];
	for (int i = 0; i < 5; i++) {
		uint64_t t0 = keel_now();
		thread_burn(1000000);
		ns[i] = keel_now() - t0;
	}
	for (int i = 1; i < 5; i++)
		for (int j = i; j > 0 && ns[j - 1] > ns[j]; j--) {
			uint64_t t = ns[j];
			ns[j] = ns[j - 1];
			ns[j - 1] = t;
		}
	return ns[2] > 1000000 ? 1000000ULL * 1000000 / ns[2] : 1000000;
}

int demo_edf(int argc, char **argv)
{
	int feasible = !(argc > 1 && !strcmp(argv[1], "infeasible"));
	uint64_t ms = arg_or(argc, argv, 2, 200);
	int host = argc > 3 && !strcmp(argv[3], "host");
	static struct task set[3];
	uint64_t scale = feasible ? 3 : 4; /* millions of instructions per 10 ms of period */
	uint64_t per_ms = host ? instructions_per_ms() : 1000000; /* instructions per ms */
	struct thread *t[3];
	uint64_t end = keel_now() + ms * 1000000;
	uint64_t u = 0;
	for (int i = 0; i < 3; i++) {
		set[i] = (struct task){ .period_ms = 10ULL << i, .wcet = (scale << i) * per_ms, .end = end };
		u += set[i].wcet * 100 / (set[i].period_ms * per_ms); /* time, at this speed */
	}
	printf("sched edf: %s set, U = %llu.%02llu, for %llu ms\n", feasible ? "feasible" : "infeasible",
	       (unsigned long long)u / 100, (unsigned long long)u % 100, (unsigned long long)ms);
	if (host)
		printf("sched edf: jobs sized to this host: %llu instructions per ms\n", (unsigned long long)per_ms);
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof name, "task%d", i + 1);
		t[i] = thread_create(name, periodic, &set[i]);
	}
	uint64_t misses = 0, jobs = 0;
	for (int i = 0; i < 3; i++) {
		thread_join(t[i], NULL);
		struct task *k = &set[i];
		misses += k->misses;
		jobs += k->jobs;
		printf("sched edf: task %d (period %llu ms, %llu M instructions): %llu jobs, %llu missed, "
		       "max response %llu us, max lateness %lld us\n",
		       i + 1, (unsigned long long)k->period_ms, (unsigned long long)k->wcet / 1000000,
		       (unsigned long long)k->jobs, (unsigned long long)k->misses, (unsigned long long)k->max_response / 1000,
		       (long long)k->max_lateness / 1000);
	}
	printf("sched edf: %llu jobs, %llu deadline misses\n", (unsigned long long)jobs, (unsigned long long)misses);
	if (host && misses && feasible)
		printf("sched edf: the host ran slower than when the jobs were sized (use --icount for exact "
		       "figures)\n");
	if (!demo_quiet)
		trace_dump();
	return misses && feasible && !host;
}
