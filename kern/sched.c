#include "sched.h"
#include "arch/x86_64/percpu.h"
#include "cap.h"
#include "clock.h"
#include "console.h"
#include "env.h"
#include "failpoint.h"
#include "frame.h"
#include "heap.h"
#include "keel/exit.h"
#include "ktest.h"
#include "panic.h"
#include "timer.h"
#include "upcall.h"
#include "vrange.h"
#include "irq.h"

void kstack_restart(void (*fn)(void)) __noreturn; /* entry.S */

u64 sched_slice_ns;
static struct env *rq_head, *rq_tail;
static struct timer slice_timer;
static bool slice_over;
static bool slice_extended; /* a donation already lengthened this slice */
static u64 started, failures, expected_failures;
static struct sched_baseline before;

static void slice_expired(struct timer *t)
{
	(void)t;
	slice_over = true;
}

void sched_init(u64 slice_ns)
{
	sched_slice_ns = slice_ns;
	slice_timer.fire = slice_expired;
}

void sched_add(struct env *e)
{
	e->rq_next = NULL;
	if (rq_tail)
		rq_tail->rq_next = e;
	else
		rq_head = e;
	rq_tail = e;
}

void sched_add_front(struct env *e)
{
	e->rq_next = rq_head;
	rq_head = e;
	if (!rq_tail)
		rq_tail = e;
}

void sched_remove(struct env *e)
{
	struct env *prev = NULL;
	for (struct env *q = rq_head; q; prev = q, q = q->rq_next) {
		if (q != e)
			continue;
		if (prev)
			prev->rq_next = q->rq_next;
		else
			rq_head = q->rq_next;
		if (rq_tail == q)
			rq_tail = prev;
		q->rq_next = NULL;
		return;
	}
}

void sched_start_slice(void)
{
	slice_over = false;
	slice_extended = false;
	timer_arm(&slice_timer, clock_ns() + sched_slice_ns);
}

void sched_note_failure(const struct env *e)
{
	/* A spawned env's end is its parent's business (the parent sees its
	 * ENV capability go GONE); the boot's verdict counts the boot's envs. */
	if (!e->parent)
		failures++;
}

void sched_note_started(void) { started++; }

bool sched_slice_over(void) { return slice_over; }

void sched_expect_failures(u64 n) { expected_failures = n; }

void sched_baseline_take(struct sched_baseline *b)
{
	b->frames_free = frames_free();
	heap_stats(&b->heap);
}

void sched_begin(u64 n_started, u64 n_failed, const struct sched_baseline *b)
{
	started = n_started;
	failures = n_failed;
	before = *b;
}

static __noreturn void all_done(void)
{
	timer_cancel(&slice_timer);
	/* Everything the envs held must be back, to the frame. */
	u64 after = frames_free();
	struct heap_stats heap;
	heap_stats(&heap);
	kprintf("envs: all ended: %llu started, %llu failed; frames free before %llu, after %llu; "
		"%llu vranges held; %llu capabilities alive\n",
		(unsigned long long)started, (unsigned long long)failures, (unsigned long long)before.frames_free,
		(unsigned long long)after, (unsigned long long)vrange_count(), (unsigned long long)caps_live);
	kprintf("envs: kernel heap objects live before %llu, after %llu (%llu bytes before, %llu after)\n",
		(unsigned long long)before.heap.live_objects, (unsigned long long)heap.live_objects,
		(unsigned long long)before.heap.live_bytes, (unsigned long long)heap.live_bytes);
	kprintf("envs: %llu env switches; exits to Ring 3: %llu sysretq, %llu iretq; %llu timer interrupts\n",
		(unsigned long long)exit_stats.switches, (unsigned long long)exit_stats.sysret,
		(unsigned long long)exit_stats.iret, (unsigned long long)timer_interrupts);
	if (exit_stats.iret_emulated)
		kprintf("envs: %llu Ring 3 iretqs completed by the kernel for the CPU (QEMU TCG with SMAP)\n",
			(unsigned long long)exit_stats.iret_emulated);
	failpoint_report();
	bool heap_leak = heap.live_objects != before.heap.live_objects || heap.live_bytes != before.heap.live_bytes;
	bool leak = after != before.frames_free || vrange_count() != 0 || caps_live != 0 || heap_leak;
	if (leak)
		kprintf("envs: LEAK: %lld frames, %lld kernel heap objects not returned\n",
			(long long)(before.frames_free - after), (long long)(heap.live_objects - before.heap.live_objects));
	bool ok = failures == expected_failures && !leak;
	if (ktest_running())
		ktest_finish(ok); /* a boot test that handed its envs to the scheduler */
	keel_exit(ok ? KEEL_EXIT_SUCCESS : KEEL_EXIT_FAILURE);
}

/*
 * Nothing to run, but envs wait for events: halt with interrupts on until
 * one arrives (the timer queue and the interrupt path post events, which
 * make their envs runnable), then schedule. The only place the kernel runs
 * with IF = 1 is the `sti; hlt` pair, so an interrupt is handled either
 * before the hlt (and the check runs again) or wakes it.
 */
static __noreturn void idle(void)
{
	timer_cancel(&slice_timer);
	for (;;) {
		if (rq_head)
			sched_next();
		if (!env_live_count())
			all_done();
		if (!timer_next_deadline() && !irq_can_wake()) {
			kprintf("sched: every env waits for an event and nothing can send one (no deadline, no "
				"interrupt that can fire): ending them\n");
			env_kill_waiting();
			continue; /* callers blocked on them are runnable now */
		}
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	}
}

__noreturn void sched_next(void)
{
	struct env *cur = env_current();
	if (cur && cur->state == ENV_RUNNING)
		sched_add(cur); /* round robin: to the back */
	struct env *next = rq_head;
	if (!next) {
		if (!env_live_count())
			all_done();
		kstack_restart(idle); /* every live env waits */
	}
	rq_head = next->rq_next;
	if (!rq_head)
		rq_tail = NULL;
	next->rq_next = NULL;
	next->dispatched_at = clock_ns();
	sched_start_slice();
	env_run(next);
}

/* A donated slice with less than this left is lengthened to it, once per
 * slice: the env it goes to gets to run rather than being preempted on
 * arrival, and envs handing the CPU back and forth cannot keep one slice
 * alive for ever (the others would starve). */
#define DONATION_MIN_NS 20000

__noreturn void sched_run_donated(struct env *e)
{
	u64 now = clock_ns();
	e->dispatched_at = now;
	if (!slice_extended && (slice_over || !slice_timer.armed || slice_timer.deadline < now + DONATION_MIN_NS)) {
		slice_extended = true;
		slice_over = false;
		timer_arm(&slice_timer, now + DONATION_MIN_NS);
	}
	env_run(e);
}

__noreturn void sched_tick(struct env *e)
{
	if (!slice_over)
		env_run(e);
	e->preemptions++;
	if (e->ctx.rip >= e->watch_lo && e->ctx.rip < e->watch_hi)
		e->preempt_in_watch++;
	upcall_deschedule(e);
	sched_next();
}
