/*
 * A centralised dispatcher in the style of Shinjuku (Kaffes et al., NSDI
 * 2019): CPU 0 is the dispatcher, every other CPU a worker. Requests --
 * threads of priority 0 -- wait in one FIFO queue and a free worker takes
 * the head; a request that has held its worker for sched_shinjuku_quantum_ns
 * while another waits is preempted by the dispatcher (sched_resched: a
 * cross-CPU event) and queued again at the tail. Short requests stuck
 * behind long ones are what it is for: run to completion (quantum 0), a
 * few long requests on every worker hold up everything queued behind them.
 *
 * The dispatcher CPU runs only the app's own threads (priority > 0: its
 * load generator, its network), and watches the workers with the policy's
 * poll: its timer is set for the next quantum's end (never later than one
 * quantum ahead, so a request that starts meanwhile is not missed). It
 * preempts no more requests than wait for a worker, those that have had
 * the most service first (a request's service since it arrived: a long
 * one past its first quantum goes before a short one just over it), and a
 * request arriving while every worker is busy preempts one at once if any
 * is over its quantum. Workers (and the dispatcher, between its own
 * threads) poll when idle (idle_poll): a request handed to an idle worker
 * is a store it sees, not a kernel event.
 *
 * apps/sched/shinjuku.c drives it with a bimodal load (tests/test_shinjuku.py);
 * docs/schedulers.md has the figures.
 */
#include "sched.h"

#define CPUS_MAX 64
#define SERVED(t) ((t)->pol[0]) /* a request's service before its current turn, ns */
#define GEN(t) ((t)->pol[1])    /* the install that set SERVED (pol[] from an older one is stale) */

uint64_t sched_shinjuku_quantum_ns;
uint64_t sched_shinjuku_preemptions;

static struct thread_queue queue; /* requests, FIFO: new, woken and preempted ones at the tail */
static struct thread_queue own;   /* the dispatcher CPU's threads */
static struct thread *running[CPUS_MAX]; /* each worker's request (NULL: none) */
static uint64_t started[CPUS_MAX];       /* keel_now() when it took it */
static bool told[CPUS_MAX];              /* its preemption is sent */
static bool sent[CPUS_MAX];              /* a request was sent to it, free, and it has not picked yet */
static unsigned waiting;                 /* requests in the queue */
static uint64_t generation;              /* this install's */

static bool is_request(const struct thread *t) { return t->priority <= 0 && sched_ncpus() > 1; }

static void sj_init(void)
{
	queue = own = (struct thread_queue){0};
	waiting = 0;
	generation++;
	sched_shinjuku_preemptions = 0;
	for (unsigned i = 0; i < CPUS_MAX; i++)
		running[i] = NULL, told[i] = sent[i] = false;
}

/* Worker i's request stops running there: its turn counts as service. */
static void stopped(unsigned i)
{
	if (running[i])
		SERVED(running[i]) += keel_now() - started[i];
	running[i] = NULL;
}

/* Preempt up to `room` requests past their quantum, the most served
 * first; returns how many it preempted. */
static unsigned preempt_overdue(unsigned room, uint64_t now)
{
	uint64_t q = sched_shinjuku_quantum_ns;
	unsigned done = 0;
	for (; q && done < room; done++) {
		unsigned best = 0;
		uint64_t most = 0;
		for (unsigned i = 1; i < sched_ncpus(); i++) {
			if (!running[i] || told[i] || (int64_t)(now - started[i]) < (int64_t)q)
				continue; /* (signed: another CPU's clock may read a little ahead) */
			uint64_t served = SERVED(running[i]) + (now - started[i]);
			if (!best || served > most)
				best = i, most = served;
		}
		if (!best)
			break;
		told[best] = true;
		sched_shinjuku_preemptions++;
		sched_resched(best);
	}
	return done;
}

/* Requests waiting that no worker will take without a preemption: not
 * those a free worker was sent for, nor those a preemption already sent
 * makes room for. */
static unsigned unserved(void)
{
	unsigned room = 0;
	for (unsigned i = 1; i < sched_ncpus(); i++)
		room += (running[i] && told[i]) || sent[i];
	return waiting > room ? waiting - room : 0;
}

static unsigned sj_select(struct thread *t, enum sched_why why)
{
	unsigned me = sched_cpu();
	if (running[me] == t)
		stopped(me); /* it stops here */
	if (!is_request(t))
		return 0;
	if (why == SCHED_PREEMPTED || why == SCHED_YIELDED)
		return me ? me : 1; /* this worker picks next: the queue's head (the dispatcher CPU takes none) */
	for (unsigned i = 1; i < sched_ncpus(); i++)
		if (!running[i] && !sent[i]) {
			sent[i] = true;
			return i;
		}
	return me ? me : 1; /* every worker busy: it waits its turn in the queue */
}

static void sj_ready(struct thread *t, enum sched_why why)
{
	if (!is_request(t)) {
		tq_push(&own, t);
		return;
	}
	if ((why != SCHED_PREEMPTED && why != SCHED_YIELDED) || GEN(t) != generation)
		SERVED(t) = 0, GEN(t) = generation; /* a new request (a pool thread woken for one), or new here */
	tq_push(&queue, t);
	waiting++;
	/* Queued with no worker free: one past its quantum makes room now. */
	if (why != SCHED_PREEMPTED && why != SCHED_YIELDED)
		preempt_overdue(unserved(), keel_now());
}

static struct thread *sj_pick(void)
{
	unsigned me = sched_cpu();
	if (me == 0 && sched_ncpus() > 1)
		return tq_pop(&own);
	sent[me] = false;
	struct thread *t = tq_pop(&queue);
	if (!t && sched_ncpus() == 1)
		return tq_pop(&own);
	if (t)
		waiting--;
	running[me] = t;
	started[me] = keel_now();
	told[me] = false;
	return t;
}

static void sj_blocked(struct thread *t)
{
	unsigned me = sched_cpu();
	if (running[me] == t)
		stopped(me);
}

/* The dispatcher's watch, on CPU 0: preempt requests past their quantum
 * while others wait; come back at the next quantum's end, and at least
 * once a quantum (a request that starts before then ends its quantum
 * later). */
static uint64_t sj_poll(void)
{
	uint64_t q = sched_shinjuku_quantum_ns, now = keel_now();
	if (sched_cpu() != 0 || sched_ncpus() == 1)
		return 0;
	if (!q)
		return now + 1000000; /* (run to completion: nothing to watch; a quantum may be set meanwhile) */
	preempt_overdue(unserved(), now);
	uint64_t next = now + q;
	for (unsigned i = 1; i < sched_ncpus(); i++)
		if (running[i] && !told[i] && started[i] + q > now && started[i] + q < next)
			next = started[i] + q;
	return next;
}

static void sj_dump(void)
{
	printf("sched:   shinjuku quantum %llu ns, %u waiting, %llu preemptions; workers:",
	       (unsigned long long)sched_shinjuku_quantum_ns, waiting, (unsigned long long)sched_shinjuku_preemptions);
	for (unsigned i = 1; i < sched_ncpus(); i++)
		printf(" cpu%u %d", i, running[i] ? running[i]->tid : 0);
	printf("\n");
}

const struct sched_policy sched_shinjuku = {
	.name = "shinjuku",
	.init = sj_init,
	.ready = sj_ready,
	.pick = sj_pick,
	.blocked = sj_blocked,
	.dump = sj_dump,
	.select_cpu = sj_select,
	.poll = sj_poll,
	.idle_poll = true,
};
