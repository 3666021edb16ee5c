/*
 * EDF over a periodic task set whose execution times are given in guest
 * instructions (under -icount, 1 instruction is 1 ns of the kernel clock):
 *
 *   feasible    10 ms / 3 M, 20 ms / 6 M, 40 ms / 12 M   U = 0.90
 *   infeasible  10 ms / 4 M, 20 ms / 8 M, 40 ms / 16 M   U = 1.20
 *
 * Deadlines equal periods. Every task runs its jobs until the end of the run,
 * then the per-task figures and the scheduling trace are printed.
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

int demo_edf(int argc, char **argv)
{
	int feasible = !(argc > 1 && !strcmp(argv[1], "infeasible"));
	uint64_t ms = arg_or(argc, argv, 2, 200);
	static struct task set[3];
	uint64_t scale = feasible ? 3 : 4; /* millions of instructions per 10 ms of period */
	struct thread *t[3];
	uint64_t end = keel_now() + ms * 1000000;
	uint64_t u = 0;
	for (int i = 0; i < 3; i++) {
		set[i] = (struct task){ .period_ms = 10ULL << i, .wcet = (scale << i) * 1000000, .end = end };
		u += set[i].wcet * 100 / (set[i].period_ms * 1000000);
	}
	printf("sched edf: %s set, U = %llu.%02llu, for %llu ms\n", feasible ? "feasible" : "infeasible",
	       (unsigned long long)u / 100, (unsigned long long)u % 100, (unsigned long long)ms);
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
	if (!demo_quiet)
		trace_dump();
	return misses && feasible;
}
