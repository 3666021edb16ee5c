/* Round-robin: one FIFO; every thread runs for a quantum, then goes to the back. */
#include "sched.h"

static struct thread_queue queue;

static void rr_init(void) { queue = (struct thread_queue){0}; }

static void rr_ready(struct thread *t, enum sched_why why) { tq_push(&queue, t); }

static struct thread *rr_pick(void) { return tq_pop(&queue); }

const struct sched_policy sched_rr = {
	.name = "rr",
	.quantum_ns = 1000000, /* 1 ms */
	.init = rr_init,
	.ready = rr_ready,
	.pick = rr_pick,
};
