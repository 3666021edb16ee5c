/*
 * sched: one demo per scheduling policy, and the checks of
 * tests/test_sched.py.
 *
 *   sched:rr[:N[:MS]]            N CPU-bound threads share the CPU for MS ms
 *   sched:stride[:MS]            three threads with 100, 200 and 300 tickets
 *   sched:prio[:rr]              a high-priority sleeper beside a CPU hog:
 *                                how fast it preempts (:rr: the same under
 *                                round-robin, for contrast); then priority order
 *   sched:edf:feasible|infeasible[:MS]   a periodic task set under EDF
 *   sched:switch                 the policy changed under running threads
 *   sched:broken:lose|spin|fault|bogus   a broken policy, ejected
 *   sched:trace:SEED             a seeded random workload, its trace dumped
 */
#include "demo.h"

void *spin_until_stopped(void *arg)
{
	struct spinner *s = arg;
	while (!*s->stop) {
		thread_burn(s->burn);
		s->loops++;
	}
	s->cpu_ns = thread_cpu_ns();
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "rr";
	const struct sched_policy *p = sched_policy_named(mode);
	int err = threads_init(p ? p : &sched_rr);
	if (err) {
		printf("sched: threads_init: %s\n", errname(err));
		return 1;
	}
	int rc;
	if (p == &sched_rr || p == &sched_stride)
		rc = demo_fair(p, argc - 1, argv + 1);
	else if (p == &sched_prio)
		rc = demo_prio(argc - 1, argv + 1);
	else if (p == &sched_edf)
		rc = demo_edf(argc - 1, argv + 1);
	else if (!strcmp(mode, "switch"))
		rc = demo_switch(argc - 1, argv + 1);
	else if (!strcmp(mode, "broken"))
		rc = demo_broken(argc - 1, argv + 1);
	else if (!strcmp(mode, "trace"))
		rc = demo_trace(argc - 1, argv + 1);
	else {
		printf("sched: unknown mode %s\n", mode);
		return 2;
	}
	printf("sched %s: %s\n", mode, rc ? "FAILED" : "ok");
	return rc;
}
