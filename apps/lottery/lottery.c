/* Lottery scheduling (Waldspurger and Weihl, 1994), written as
 * docs/schedulers.md describes: each quantum, a ticket is drawn among the
 * runnable threads' tickets, and its holder runs. */
#include "rand.h"
#include "sched.h"

static struct thread_queue queue;
static struct keel_rand rng;
static uint64_t total; /* tickets of the queued threads */

static void lottery_init(void)
{
	queue = (struct thread_queue){0};
	total = 0;
	rand_seed(&rng, 42);
}

static void lottery_ready(struct thread *t, enum sched_why why)
{
	tq_push(&queue, t);
	total += t->tickets;
}

static struct thread *lottery_pick(void)
{
	if (!queue.head)
		return NULL;
	uint64_t ticket = rand_below(&rng, total);
	struct thread **p = &queue.head, *prev = NULL;
	while (ticket >= (*p)->tickets) { /* walk to the holder */
		ticket -= (*p)->tickets;
		prev = *p;
		p = &(*p)->q_next;
	}
	struct thread *winner = *p;
	*p = winner->q_next;
	if (queue.tail == winner)
		queue.tail = prev;
	total -= winner->tickets;
	return winner;
}

const struct sched_policy sched_lottery = {
	.name = "lottery",
	.quantum_ns = 1000000,
	.init = lottery_init,
	.ready = lottery_ready,
	.pick = lottery_pick,
};
