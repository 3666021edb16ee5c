/*
 * sched: one demo per scheduling policy, and the checks of
 * tests/test_sched.py.
 *
 *   sched:rr[:N[:MS]]            N CPU-bound threads share the CPU for MS ms
 *   sched:stride[:MS]            three threads with 100, 200 and 300 tickets
 *   sched:prio[:rr]              a high-priority sleeper beside a CPU hog:
 *                                how fast it preempts (:rr: the same under
 *                                round-robin, for contrast); then priority order
 *   sched:edf:feasible|infeasible[:MS[:host]]   a periodic task set under EDF
 *                                (:host: jobs sized to this host's speed)
 *   sched:gedf|pedf[:SET]        global or partitioned EDF over a periodic
 *                                task set (light, dhall, unfit; with cpus=N)
 *   sched:shinjuku[:LOAD[:N[:SEED[:Q...]]]]   a bimodal request load under
 *                                the Shinjuku-style dispatcher, run to
 *                                completion and preempted (with cpus=N)
 *   sched:caladan[:IV[:LOW[:HIGH[:MS[:PHASES[:SEED[:KEEP]]]]]]]   core
 *                                allocation: workers lent to a best-effort
 *                                env (it spawns `sched soak`) and taken back
 *                                as the load changes (cpus=N on N+1 CPUs)
 *   sched:switch                 the policy changed under running threads
 *   sched:broken:lose|spin|fault|bogus|idle   a broken policy, ejected (idle:
 *                                with cpus=N only)
 *   sched:trace:SEED             a seeded random workload, its trace dumped
 *   sched:showcase               rr, stride and prio in turn, then edf (sized
 *                                to the host) once every other env has ended
 *                                (./keel run)
 *
 * Before the mode, cpus=N runs the thread library on N of the env's CPUs
 * (threads_init_cpus; default 1).
 */
#include "demo.h"
#include "env.h"
#include "vm.h"

int demo_quiet;

static int showcase(void)
{
	static char *rr[] = { "rr", "4", "100" }, *stride[] = { "stride", "300" }, *prio[] = { "prio" };
	static char *edf[] = { "edf", "feasible", "200", "host" };
	demo_quiet = 1;
	int rc = demo_fair(&sched_rr, 3, rr);
	sched_set_policy(&sched_stride);
	rc |= demo_fair(&sched_stride, 2, stride);
	rc |= demo_prio(1, prio);
	printf("sched showcase: waiting for the other envs to end, so EDF has the CPU to itself\n");
	sched_set_policy(&sched_rr);
	while (keel_envs_alive())
		thread_sleep(5000000);
	sched_set_policy(&sched_edf);
	rc |= demo_edf(4, edf);
	return rc;
}

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
	unsigned cpus = 1;
	if (argc > 1 && !strncmp(argv[1], "cpus=", 5)) {
		cpus = (unsigned)keel_atou(argv[1] + 5);
		argc--, argv++;
	}
	const char *mode = argc > 1 ? argv[1] : "rr";
	if (!strcmp(mode, "soak"))
		return demo_soak(argc - 1, argv + 1); /* (caladan.c's best-effort env: no thread library) */
	const struct sched_policy *p = sched_policy_named(mode);
	int err = cpus == 1 ? threads_init(p ? p : &sched_rr) : threads_init_cpus(p ? p : &sched_rr, cpus);
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
	else if (p == &sched_gedf || p == &sched_pedf)
		rc = demo_rt(p, argc - 1, argv + 1);
	else if (p == &sched_shinjuku)
		rc = demo_shinjuku(argc - 1, argv + 1);
	else if (p == &sched_caladan)
		rc = demo_caladan(argc - 1, argv + 1);
	else if (!strcmp(mode, "switch"))
		rc = demo_switch(argc - 1, argv + 1);
	else if (!strcmp(mode, "broken"))
		rc = demo_broken(argc - 1, argv + 1);
	else if (!strcmp(mode, "showcase"))
		rc = showcase();
	else if (!strcmp(mode, "trace"))
		rc = demo_trace(argc - 1, argv + 1);
	else {
		printf("sched: unknown mode %s\n", mode);
		return 2;
	}
	printf("sched %s: %s\n", mode, rc ? "FAILED" : "ok");
	return rc;
}
