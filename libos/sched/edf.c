/*
 * Earliest deadline first: the runnable thread whose current job has the
 * earliest absolute deadline runs (threads without a period last, FIFO); a
 * released job with an earlier deadline preempts at once. No tick: a
 * thread runs until it completes its job, blocks or is preempted. The
 * dispatcher counts each thread's deadline misses at job completion
 * (thread_next_job); the dump lists them.
 */
#include "sched.h"

static struct thread_queue queue; /* by absolute deadline, earliest first */

static void edf_init(void) { queue = (struct thread_queue){0}; }

static void edf_ready(struct thread *t, enum sched_why why) { tq_insert(&queue, t, sched_deadline_before); }

static struct thread *edf_pick(void) { return tq_pop(&queue); }

static bool edf_preempt(struct thread *cur, struct thread *woken) { return sched_deadline_before(woken, cur); }

static void edf_dump(void)
{
	printf("sched:   edf queue:");
	for (struct thread *t = queue.head; t; t = t->q_next)
		printf(" %d(deadline %llu, %llu misses)", t->tid, (unsigned long long)t->abs_deadline,
		       (unsigned long long)t->misses);
	printf("\n");
}

const struct sched_policy sched_edf = {
	.name = "edf",
	.init = edf_init,
	.ready = edf_ready,
	.pick = edf_pick,
	.preempt = edf_preempt,
	.dump = edf_dump,
};
