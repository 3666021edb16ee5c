/*
 * Stride scheduling (Waldspurger and Weihl, 1995): each thread has
 * `tickets`; its stride is STRIDE1 / tickets; the thread with the smallest
 * pass runs, and its pass advances by its stride for every quantum of CPU it
 * used (charged exactly, in ns). A thread that joins (new, woken, moved)
 * starts at the current global pass, so sleeping earns no credit. Over time
 * each thread's CPU share is proportional to its tickets.
 */
#include "sched.h"

#define STRIDE1 (1ULL << 20)
#define pass pol[0]

static struct thread_queue queue; /* by pass, smallest first */
static uint64_t global_pass;      /* the pass of the last thread picked */
static uint64_t quantum = 1000000;

static void stride_init(void)
{
	queue = (struct thread_queue){0};
	global_pass = 0;
}

static uint64_t stride_of(const struct thread *t) { return STRIDE1 / (t->tickets ? t->tickets : 1); }

static bool less_pass(const struct thread *a, const struct thread *b) { return a->pass < b->pass; }

static void stride_ready(struct thread *t, enum sched_why why)
{
	if (why == SCHED_PREEMPTED || why == SCHED_YIELDED)
		t->pass += stride_of(t) * t->last_ran_ns / quantum;
	else if (t->pass < global_pass)
		t->pass = global_pass;
	tq_insert(&queue, t, less_pass);
}

static struct thread *stride_pick(void)
{
	struct thread *t = tq_pop(&queue);
	if (t)
		global_pass = t->pass;
	return t;
}

static void stride_dump(void)
{
	printf("sched:   stride queue (global pass %llu):", (unsigned long long)global_pass);
	for (struct thread *t = queue.head; t; t = t->q_next)
		printf(" %d(%u tickets, pass %llu)", t->tid, t->tickets, (unsigned long long)t->pass);
	printf("\n");
}

const struct sched_policy sched_stride = {
	.name = "stride",
	.quantum_ns = 1000000,
	.init = stride_init,
	.ready = stride_ready,
	.pick = stride_pick,
	.dump = stride_dump,
};
