#include "timer.h"
#include "trace.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/percpu.h"
#include "clock.h"

/* A queue per CPU (percpu.timers), sorted by deadline, driving that CPU's
 * LAPIC timer; all of them under the kernel lock. A timer is armed on the
 * CPU that arms it and may be cancelled from any: the CPU it leaves may take
 * one early interrupt, which fires nothing and reprograms.
 *
 * The LAPIC is written only when the queue's head is due earlier than the
 * interrupt already set (percpu.timer_due): a later head -- a new slice at
 * every switch -- leaves the earlier interrupt in place, which fires
 * nothing and programs the head then (one early interrupt, not two LAPIC
 * writes and a clock read per switch). No timer fires late by it:
 * ktest timer_queue_fires_on_time; no env gains or loses time by it:
 * tests/test_sched_slices.py. */
static u64 ticks_per_ns_mult;  /* ticks = ns * mult >> 32 */
u64 timer_interrupts, timer_writes;

static __attribute__((noinline)) void program_write(struct percpu *cpu, struct timer *queue)
{
	if (!queue) {
		lapic_timer_stop();
		cpu->timer_due = 0;
		return;
	}
	if (!ticks_per_ns_mult)
		ticks_per_ns_mult = mult_frac32(lapic_timer_hz, 1000000000);
	u64 now = clock_ns();
	u64 ns = queue->deadline > now ? queue->deadline - now : 0;
	u64 ticks = mul_shift32(ns, ticks_per_ns_mult);
	/* A far deadline is reached in steps: each expiry reprograms. (Due
	 * at the deadline or before, then: never later.) */
	lapic_timer_oneshot(ticks == 0 ? 1 : ticks > 0xFFFFFFFFu ? 0xFFFFFFFFu : (u32)ticks);
	cpu->timer_due = queue->deadline ? queue->deadline : 1;
	timer_writes++;
}

/* The LAPIC timer for this queue: written only if its head is due before
 * the interrupt already set (or none is, or the queue is empty while one is). */
static inline void program(struct percpu *cpu, struct timer *queue)
{
	u64 due = cpu->timer_due;
	if (queue ? !due || queue->deadline < due : due != 0)
		program_write(cpu, queue);
}

static void unlink(struct timer *t)
{
	for (struct timer **p = &cpus[t->cpu].timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	t->next = NULL;
	t->armed = false;
}

void timer_arm(struct timer *t, u64 deadline_ns)
{
	struct percpu *cpu = this_cpu();
	bool was_head = cpu->timers == t; /* armed, at the head of this CPU's queue */
	if (was_head && (!t->next || deadline_ns < t->next->deadline)) {
		t->deadline = deadline_ns; /* still the head (the slice timer, re-armed): in place */
		program(cpu, t);
		return;
	}
	if (was_head)
		cpu->timers = t->next; /* popped: no walk (the slice timer, re-armed) */
	else if (t->armed)
		unlink(t);
	t->cpu = cpu->id;
	t->deadline = deadline_ns;
	struct timer **p = &cpu->timers;
	while (*p && (*p)->deadline <= deadline_ns)
		p = &(*p)->next;
	t->next = *p;
	*p = t;
	t->armed = true;
	if (cpu->timers == t || was_head)
		program(cpu, cpu->timers);
}

void timer_cancel(struct timer *t)
{
	if (!t->armed)
		return;
	struct percpu *cpu = this_cpu();
	bool was_head = cpu->timers == t;
	unlink(t);
	if (was_head)
		program(cpu, cpu->timers);
}

void timer_interrupt(void)
{
	timer_interrupts++;
	lapic_eoi();
	u64 now = clock_ns();
	struct percpu *cpu = this_cpu();
	cpu->timer_due = 0; /* (it has fired) */
	struct timer **queue = &cpu->timers;
	while (*queue && (*queue)->deadline <= now) {
		struct timer *t = *queue; /* the head: popped, no walk */
		*queue = t->next;
		t->next = NULL;
		t->armed = false;
		t->fire(t);
	}
	program(cpu, *queue);
	TRACE(KEEL_TR_TIMER, 0, 0, 0);
}

u64 timer_next_deadline(void)
{
	u64 first = 0;
	for (u32 c = 0; c < cpus_up; c++)
		if (cpus[c].timers && (!first || cpus[c].timers->deadline < first))
			first = cpus[c].timers->deadline;
	return first;
}

u64 timer_queue_length(void)
{
	u64 n = 0;
	for (u32 c = 0; c < cpus_up; c++)
		for (struct timer *t = cpus[c].timers; t; t = t->next)
			n++;
	return n;
}
