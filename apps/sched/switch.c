/* Policies changed under running threads: every 2 ms (as main gets the CPU
 * back: at once under prio, where it has the top priority; after the
 * running worker's quantum under rr and stride; after a worker ends under
 * edf, where no thread has a deadline) main installs the next of stride,
 * prio, edf and rr; the workers keep running and note which policies they
 * ran under. */
#include "demo.h"

#define WORKERS 6
static unsigned ran_under[WORKERS];
static volatile int finished;

static unsigned policy_bit(void)
{
	static const char *const names[] = { "rr", "stride", "prio", "edf" };
	for (unsigned i = 0; i < 4; i++)
		if (!strcmp(sched_policy()->name, names[i]))
			return 1u << i;
	return 0;
}

static void *worker(void *arg)
{
	unsigned i = (unsigned)(uint64_t)arg;
	for (int k = 0; k < 60; k++) {
		thread_burn(250000);
		ran_under[i] |= policy_bit();
	}
	finished++;
	return NULL;
}

int demo_switch(int argc, char **argv)
{
	const struct sched_policy *cycle[] = { &sched_stride, &sched_prio, &sched_edf, &sched_rr };
	struct thread *t[WORKERS];
	struct thread *self = thread_self();
	self->priority = 100;
	self->tickets = 1000;
	for (unsigned i = 0; i < WORKERS; i++)
		t[i] = thread_create_with("worker", worker, (void *)(uint64_t)i, (int)i + 1, 100 * (i + 1));
	unsigned switches = 0;
	while (finished < WORKERS) {
		thread_sleep(2000000);
		const struct sched_policy *p = cycle[switches % 4];
		sched_set_policy(p);
		switches++;
		unsigned live = 0;
		for (unsigned i = 0; i < WORKERS; i++)
			live += t[i]->state != THREAD_DONE;
		printf("sched switch: now %s: %u threads, %u workers still running\n", p->name, thread_count(), live);
	}
	unsigned all = 0, any = 0;
	for (unsigned i = 0; i < WORKERS; i++) {
		thread_join(t[i], NULL);
		all += ran_under[i] == 0xF;
		any |= ran_under[i];
		printf("sched switch: worker %u finished; it ran under%s%s%s%s\n", i + 1, ran_under[i] & 1 ? " rr" : "",
		       ran_under[i] & 2 ? " stride" : "", ran_under[i] & 4 ? " prio" : "", ran_under[i] & 8 ? " edf" : "");
	}
	if (argc > 1) trace_dump();
	printf("sched switch: %u policy switches; %d of %d workers finished, %u ran under all four; "
	       "some worker ran under each policy: %s\n",
	       switches, finished, WORKERS, all, any == 0xF ? "yes" : "no");
	return finished == WORKERS && any == 0xF ? 0 : 1;
}
