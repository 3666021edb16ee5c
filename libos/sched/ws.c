/*
 * Per-CPU round-robin with work stealing: each CPU runs the threads of its
 * own FIFO for a quantum each; a CPU whose queue is empty takes half of
 * the longest other queue, from its tail (the threads queued last there,
 * which would have waited longest). A thread becomes runnable on the CPU
 * it last ran on (a new one on its creator's), so it keeps its cache
 * unless it is stolen; an idle CPU is kicked when work is queued where it
 * would wait (the dispatcher's rule), and steals it. One CPU: sched_rr.
 * docs/schedulers.md walks through it.
 */
#include "sched.h"

#define CPUS_MAX 64

struct wsq {
	struct thread_queue q;
	unsigned n;
};
static struct wsq queues[CPUS_MAX];
static uint64_t steals;
uint64_t sched_ws_stolen; /* threads taken from another CPU's queue since the policy started */

static void ws_init(void)
{
	for (unsigned i = 0; i < CPUS_MAX; i++)
		queues[i] = (struct wsq){0};
	steals = sched_ws_stolen = 0;
}

static void ws_ready(struct thread *t, enum sched_why why)
{
	struct wsq *w = &queues[t->cpu];
	tq_push(&w->q, t);
	w->n++;
}

/* The thread at the tail of q (unlinked), or NULL. */
static struct thread *take_tail(struct wsq *w)
{
	struct thread *prev = NULL, *t = w->q.head;
	if (!t)
		return NULL;
	while (t->q_next) {
		prev = t;
		t = t->q_next;
	}
	if (prev)
		prev->q_next = NULL;
	else
		w->q.head = NULL;
	w->q.tail = prev;
	w->n--;
	return t;
}

/* Half (rounded up) of the longest other queue comes here. */
static void steal(unsigned me)
{
	unsigned victim = me, most = 0;
	for (unsigned i = 0; i < sched_ncpus(); i++)
		if (i != me && queues[i].n > most) {
			most = queues[i].n;
			victim = i;
		}
	if (!most)
		return;
	steals++;
	for (unsigned k = 0; k < (most + 1) / 2; k++) {
		struct thread *t = take_tail(&queues[victim]);
		t->cpu = me;
		tq_push(&queues[me].q, t);
		queues[me].n++;
		sched_ws_stolen++;
	}
}

static struct thread *ws_pick(void)
{
	unsigned me = sched_cpu();
	if (!queues[me].n)
		steal(me);
	struct thread *t = tq_pop(&queues[me].q);
	if (t)
		queues[me].n--;
	return t;
}

static void ws_dump(void)
{
	printf("sched:   ws: %llu steals took %llu threads; queues:", (unsigned long long)steals,
	       (unsigned long long)sched_ws_stolen);
	for (unsigned i = 0; i < sched_ncpus(); i++)
		printf(" cpu%u %u", i, queues[i].n);
	printf("\n");
}

const struct sched_policy sched_ws = {
	.name = "ws",
	.quantum_ns = 1000000, /* 1 ms */
	.init = ws_init,
	.ready = ws_ready,
	.pick = ws_pick,
	.dump = ws_dump,
};
