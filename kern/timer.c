#include "timer.h"
#include "trace.h"
#include "arch/x86_64/lapic.h"
#include "clock.h"

static struct timer *queue; /* sorted by deadline */
static u64 ticks_per_ns_mult;  /* ticks = ns * mult >> 32 */
u64 timer_interrupts;

static void program(void)
{
	if (!queue) {
		lapic_timer_stop();
		return;
	}
	if (!ticks_per_ns_mult)
		ticks_per_ns_mult = mult_frac32(lapic_timer_hz, 1000000000);
	u64 now = clock_ns();
	u64 ns = queue->deadline > now ? queue->deadline - now : 0;
	u64 ticks = mul_shift32(ns, ticks_per_ns_mult);
	/* A far deadline is reached in steps: each expiry reprograms. */
	lapic_timer_oneshot(ticks == 0 ? 1 : ticks > 0xFFFFFFFFu ? 0xFFFFFFFFu : (u32)ticks);
}

static void unlink(struct timer *t)
{
	for (struct timer **p = &queue; *p; p = &(*p)->next) {
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
	bool was_head = queue == t;
	if (t->armed)
		unlink(t);
	t->deadline = deadline_ns;
	struct timer **p = &queue;
	while (*p && (*p)->deadline <= deadline_ns)
		p = &(*p)->next;
	t->next = *p;
	*p = t;
	t->armed = true;
	if (queue == t || was_head)
		program();
}

void timer_cancel(struct timer *t)
{
	if (!t->armed)
		return;
	bool was_head = queue == t;
	unlink(t);
	if (was_head)
		program();
}

void timer_interrupt(void)
{
	timer_interrupts++;
	lapic_eoi();
	u64 now = clock_ns();
	while (queue && queue->deadline <= now) {
		struct timer *t = queue;
		unlink(t);
		t->fire(t);
	}
	program();
	TRACE(KEEL_TR_TIMER, 0, 0, 0);
}

u64 timer_next_deadline(void) { return queue ? queue->deadline : 0; }

u64 timer_queue_length(void)
{
	u64 n = 0;
	for (struct timer *t = queue; t; t = t->next)
		n++;
	return n;
}
