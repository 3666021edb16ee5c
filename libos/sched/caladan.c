/*
 * Core allocation in the style of Caladan (Fried et al., OSDI 2020): a
 * latency-critical env lends the CPUs it has no work for to a best-effort
 * env, and takes them back as soon as its requests queue. CPU 0 runs the
 * app's own threads (priority > 0: its load generator) and the allocator
 * (the policy's poll, once every sched_caladan_interval_ns -- Caladan's
 * IOKernel core); CPUs 1.. are workers serving requests (threads of
 * priority 0) from one FIFO queue, polling when idle.
 *
 * Each interval the allocator looks at the queue, as Caladan does:
 *  - a request has waited a whole interval (queueing delay): congestion --
 *    one lent worker is taken back (sched_cpu_reclaim: the borrower's
 *    capability for it deleted, and the kernel takes it off the CPU at once);
 *  - the queue is empty and a worker has had nothing to do for a whole
 *    interval: it is lent (sched_cpu_lend: a capability derived from this
 *    env's into sched_caladan_borrower, which is told with a post of the
 *    CPU's bit to its dispatcher on sched_caladan_borrower_cpu) -- never
 *    below sched_caladan_guaranteed workers kept.
 * One CPU moves per interval either way. Without a borrower (-1) nothing
 * is lent (and what was is taken back): the policy is then a FIFO over
 * polling workers.
 *
 * apps/sched/caladan.c runs it beside a best-effort env (tests/test_caladan.py);
 * docs/schedulers.md has the figures.
 */
#include "sched.h"

#define CPUS_MAX 64

uint64_t sched_caladan_interval_ns = 100000;
long sched_caladan_borrower = -1;
unsigned sched_caladan_borrower_cpu;
unsigned sched_caladan_guaranteed = 1;
struct sched_caladan_change *sched_caladan_log;
unsigned sched_caladan_log_size, sched_caladan_logged;
unsigned sched_caladan_owned;

static struct thread_queue queue; /* requests, FIFO */
static struct thread_queue own;   /* CPU 0's threads */
static bool sent[CPUS_MAX];       /* a request was sent to this free worker, not yet picked */
static uint64_t last_busy[CPUS_MAX]; /* keel_now() when it last took or ended a request */

static bool is_request(const struct thread *t) { return t->priority <= 0 && sched_ncpus() > 1; }

static void note(uint64_t now)
{
	if (sched_caladan_log && sched_caladan_logged < sched_caladan_log_size)
		sched_caladan_log[sched_caladan_logged] = (struct sched_caladan_change){ .at = now, .owned = sched_caladan_owned };
	sched_caladan_logged++;
}

static void cl_init(void)
{
	queue = own = (struct thread_queue){0};
	uint64_t now = keel_now();
	for (unsigned i = 0; i < CPUS_MAX; i++)
		sent[i] = false, last_busy[i] = now;
	sched_caladan_owned = sched_ncpus() - 1; /* (install() takes back any lent CPU once this returns) */
	note(now);
}

static unsigned cl_select(struct thread *t, enum sched_why why)
{
	(void)why;
	if (!is_request(t))
		return 0;
	for (unsigned i = 1; i < sched_ncpus(); i++)
		if (sched_cpu_idle(i) && !sent[i]) { /* (idle: not lent) */
			sent[i] = true;
			return i;
		}
	unsigned me = sched_cpu();
	return me && !sched_cpu_lent(me) ? me : 1; /* every worker busy: it waits its turn in the queue */
}

static void cl_ready(struct thread *t, enum sched_why why)
{
	(void)why;
	tq_push(is_request(t) ? &queue : &own, t);
}

static struct thread *cl_pick(void)
{
	unsigned me = sched_cpu();
	if (me == 0)
		return tq_pop(sched_ncpus() > 1 ? &own : (own.head ? &own : &queue));
	sent[me] = false;
	struct thread *t = tq_pop(&queue);
	if (t)
		last_busy[me] = keel_now();
	return t;
}

static void cl_blocked(struct thread *t)
{
	(void)t;
	last_busy[sched_cpu()] = keel_now();
}

/* The allocator, on CPU 0, once an interval. */
static uint64_t cl_poll(void)
{
	uint64_t now = keel_now(), iv = sched_caladan_interval_ns;
	if (sched_cpu() != 0 || sched_ncpus() == 1)
		return 0;
	if (sched_caladan_borrower < 0 && sched_caladan_owned < sched_ncpus() - 1) {
		for (unsigned i = 1; i < sched_ncpus(); i++) /* no borrower now: every lent worker back */
			if (sched_cpu_lent(i) && sched_cpu_reclaim(i) == 0)
				sched_caladan_owned++;
		note(now);
		return now + iv;
	}
	struct thread *head = queue.head;
	uint64_t next = now + iv;
	if (head && (int64_t)(now - head->runnable_since) < (int64_t)iv) {
		next = head->runnable_since + iv; /* (back when it will have waited an interval) */
	} else if (head) {
		for (unsigned i = 1; i < sched_ncpus(); i++)
			if (sched_cpu_lent(i) && sched_cpu_reclaim(i) == 0) {
				sched_caladan_owned++;
				note(now);
				break;
			}
	} else if (!head && sched_caladan_borrower >= 0 && sched_caladan_owned > sched_caladan_guaranteed) {
		for (unsigned i = sched_ncpus() - 1; i >= 1; i--)
			if (sched_cpu_idle(i) && !sent[i] &&
			    (int64_t)(now - last_busy[i]) >= (int64_t)iv &&
			    sched_cpu_lend(i, (uint32_t)sched_caladan_borrower, sched_caladan_borrower_cpu) == 0) {
				sched_caladan_owned--;
				note(now);
				break;
			}
	}
	return next;
}

static void cl_dump(void)
{
	printf("sched:   caladan interval %llu ns, %u workers owned of %u, %u changes\n",
	       (unsigned long long)sched_caladan_interval_ns, sched_caladan_owned, sched_ncpus() - 1,
	       sched_caladan_logged);
}

const struct sched_policy sched_caladan = {
	.name = "caladan",
	.init = cl_init,
	.ready = cl_ready,
	.pick = cl_pick,
	.blocked = cl_blocked,
	.dump = cl_dump,
	.select_cpu = cl_select,
	.poll = cl_poll,
	.idle_poll = true,
};
