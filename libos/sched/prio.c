/* Fixed priority: the runnable thread with the highest `priority` runs; a
 * woken thread of higher priority preempts the running one at once; equal
 * priorities share the CPU round-robin, a quantum each. */
#include "sched.h"

static struct thread_queue queue; /* highest priority first, FIFO within one */

static void prio_init(void) { queue = (struct thread_queue){0}; }

static bool higher(const struct thread *a, const struct thread *b) { return a->priority > b->priority; }

static void prio_ready(struct thread *t, enum sched_why why) { tq_insert(&queue, t, higher); }

static struct thread *prio_pick(void) { return tq_pop(&queue); }

static bool prio_preempt(struct thread *cur, struct thread *woken) { return woken->priority > cur->priority; }

static void prio_dump(void)
{
	printf("sched:   prio queue:");
	for (struct thread *t = queue.head; t; t = t->q_next)
		printf(" %d(p%d)", t->tid, t->priority);
	printf("\n");
}

const struct sched_policy sched_prio = {
	.name = "prio",
	.quantum_ns = 1000000,
	.init = prio_init,
	.ready = prio_ready,
	.pick = prio_pick,
	.preempt = prio_preempt,
	.dump = prio_dump,
};
