/*
 * Global EDF: one queue for every CPU, by absolute deadline (threads
 * without a period last, FIFO); the m CPUs run the m earliest-deadline jobs.
 * A released job goes to a free CPU if there is one, else it preempts the
 * CPU running the latest deadline if its own is earlier (a cross-CPU
 * event: sched_resched), else it waits its turn in the queue. Any CPU that
 * finishes a job takes the head of the queue, so a job may run on a
 * different CPU each time. No tick. One CPU: sched_edf.
 *
 * G-EDF is work-conserving and optimal for no one: Dhall's effect (m light
 * jobs released with a heavy one just behind them on deadlines make the
 * heavy one miss at a total utilisation just above 1) against a bound of
 * m - (m - 1) u_max that guarantees a set (Goossens, Funk and Baruah). See
 * sched_pedf for the partitioned alternative, docs/schedulers.md for when
 * to use which, and apps/sched/rt.c for both on the same sets.
 */
#include "sched.h"

#define CPUS_MAX 64

static struct thread_queue queue;         /* runnable, by absolute deadline */
static struct thread *running[CPUS_MAX];  /* what each CPU runs (NULL: free; cleared when it stops) */
static uint64_t sent[CPUS_MAX];           /* the deadline of a job sent to a free CPU that has not
					   * picked yet (0: none; a deadline, not the thread: another
					   * CPU may take that thread, which may end before this one
					   * looks) */

static void gedf_init(void)
{
	queue = (struct thread_queue){0};
	for (unsigned i = 0; i < CPUS_MAX; i++)
		running[i] = NULL, sent[i] = 0;
}

/* The deadline a CPU holds against a released job: its running job's; a
 * CPU a job was sent to, that job's; 0: free. */
static uint64_t held(unsigned i)
{
	return running[i] ? running[i]->abs_deadline : sent[i];
}

static unsigned gedf_select(struct thread *t, enum sched_why why)
{
	unsigned me = sched_cpu(), n = sched_ncpus();
	if (running[me] == t)
		running[me] = NULL; /* it stops here: back into the queue */
	if (why == SCHED_PREEMPTED || why == SCHED_YIELDED)
		return me; /* this CPU picks next: the queue decides */
	/* A free CPU, this one first; else the latest deadline held, whose
	 * thread preempt() weighs against t. */
	if (!held(me)) {
		sent[me] = t->abs_deadline;
		return me;
	}
	unsigned worst = me;
	for (unsigned i = 0; i < n; i++) {
		if (!held(i)) {
			sent[i] = t->abs_deadline;
			return i;
		}
		if (held(i) > held(worst))
			worst = i;
	}
	return worst;
}

static void gedf_ready(struct thread *t, enum sched_why why) { tq_insert(&queue, t, sched_deadline_before); }

static struct thread *gedf_pick(void)
{
	unsigned me = sched_cpu();
	sent[me] = 0;
	return running[me] = tq_pop(&queue);
}

static void gedf_blocked(struct thread *t)
{
	unsigned me = sched_cpu();
	if (running[me] == t)
		running[me] = NULL;
}

static bool gedf_preempt(struct thread *cur, struct thread *woken) { return sched_deadline_before(woken, cur); }

static void gedf_dump(void)
{
	printf("sched:   gedf running:");
	for (unsigned i = 0; i < sched_ncpus(); i++)
		printf(" cpu%u %d", i, running[i] ? running[i]->tid : 0);
	printf("; queue:");
	for (struct thread *t = queue.head; t; t = t->q_next)
		printf(" %d(deadline %llu)", t->tid, (unsigned long long)t->abs_deadline);
	printf("\n");
}

const struct sched_policy sched_gedf = {
	.name = "gedf",
	.init = gedf_init,
	.ready = gedf_ready,
	.pick = gedf_pick,
	.blocked = gedf_blocked,
	.preempt = gedf_preempt,
	.dump = gedf_dump,
	.select_cpu = gedf_select,
};
