#include "sched.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/xcall.h"
#include "clock.h"
#include "console.h"
#include "env.h"
#include "lock.h"
#include "panic.h"
#include "timer.h"
#include "trace.h"

void kstack_restart(void (*fn)(void)) __noreturn; /* entry.S */

u64 sched_slice_ns;
bool sched_running;
/* One run queue for every CPU, under the kernel lock; a CPU takes only the
 * envs that hold it (may_run: cpucap.c). */
static struct dispatcher *rq_head, *rq_tail;
/* Each CPU's slice and idle flag: percpu.sched. */
static inline struct percpu_sched *mine(void) { return &this_cpu()->sched; }
static void (*all_ended)(void);
#define WAKERS_MAX 4
static bool (*wakers[WAKERS_MAX])(void);
static unsigned nwakers;

static void slice_expired(struct timer *t)
{
	((struct percpu_sched *)((u8 *)t - offsetof(struct percpu_sched, slice)))->over = true;
}

static void sched_env_fini(struct env *e)
{
	for_each_disp(e, d)
		sched_remove(d);
}
static const struct env_hooks sched_hooks = { .fini = sched_env_fini };

void sched_init(u64 slice_ns, void (*when_all_ended)(void))
{
	sched_slice_ns = slice_ns;
	for (u32 c = 0; c < MAX_CPUS; c++)
		cpus[c].sched.slice.fire = slice_expired;
	all_ended = when_all_ended;
	env_register(&sched_hooks);
	env_set_continuation(sched_next); /* after an env ends */
}

void sched_add_waker(bool (*can_wake)(void))
{
	ASSERT(nwakers < WAKERS_MAX);
	wakers[nwakers++] = can_wake;
}

static bool anything_can_wake(void)
{
	if (timer_next_deadline())
		return true;
	for (unsigned i = 0; i < nwakers; i++)
		if (wakers[i]())
			return true;
	return false;
}

/* Every env has ended: the boot's verdict (main.c's), never to return. */
static __noreturn void end_of_run(void)
{
	timer_cancel(&mine()->slice);
	all_ended();
	__builtin_unreachable();
}

/* ------------------------------------------------- waiting and waking */

static bool (*lost_fn)(struct dispatcher *d);

void sched_set_lost(bool (*fn)(struct dispatcher *d)) { lost_fn = fn; }

/*
 * A bound dispatcher that may run nowhere now is handed over (disp.c), if
 * it can be; true if it was (it has ended). Besides the revocation's own
 * look (sched_cpus_changed), it is never queued nor blocked: that look
 * misses one that was running, whose kick can find it already on its way
 * off its CPU -- preempted at its slice end, yielding, blocking in a wait
 * -- which would queue or block it with nowhere to run and nobody told.
 */
static inline bool lost(struct dispatcher *d)
{
	return unlikely(d->bound && !d->may_run) && lost_fn && lost_fn(d);
}

void sched_lost(struct dispatcher *d) { lost(d); }

void sched_post(struct dispatcher *d, u64 events)
{
	d->events |= events;
	if (d->state == ENV_BLOCKED && d->waiting_events) {
		sched_unblocked(d);
		d->state = ENV_RUNNABLE;
		sched_add(d);
	} else if (cpus_up > 1 && d->state == ENV_RUNNING && d->loaded_on != this_cpu()->id + 1) {
		smp_kick(d->loaded_on - 1); /* it runs there: in to deliver them */
	}
}

/* Can a CPU that is up run d? */
static bool runnable_somewhere(const struct dispatcher *d) { return d->may_run & (~0ULL >> (64 - cpus_up)); }

static void kill_waiting(void)
{
	for (struct env *e = env_list(); e;) {
		bool waits = false, stopped = false;
		for_each_disp(e, d) {
			waits |= d->state == ENV_BLOCKED && d->waiting_events;
			stopped |= d->state == ENV_RUNNABLE && !runnable_somewhere(d);
		}
		if (!waits && !stopped) {
			e = e->all_next;
			continue;
		}
		kprintf("env %u (%s): killed: %s\n", e->id, e->name,
			waits ? "waits for an event that nothing can send" : "holds no CPU and no env that runs can give it one");
		env_note_failure(e);
		env_destroy(e);
		e = env_list(); /* the list changed */
	}
}

/* ------------------------------------------------------- the run queue */

/* An idle CPU that may run d is kicked to come and take it. */
static __attribute__((noinline)) void kick_idle_for(const struct dispatcher *d)
{
	u32 me = this_cpu()->id;
	for (u32 c = 0; c < cpus_up; c++) {
		if (c == me || !cpus[c].sched.idle || !(d->may_run & cpus[c].bit))
			continue;
		cpus[c].sched.idle = false; /* it says so again if it finds nothing */
		smp_kick(c);
		return;
	}
}

static inline void wake_idle_for(const struct dispatcher *d)
{
	if (cpus_up > 1 && sched_running)
		kick_idle_for(d);
}

static inline void rq_push_back(struct dispatcher *d)
{
	if (lost(d))
		return;
	d->rq_next = NULL;
	d->rq_prev = rq_tail;
	if (rq_tail)
		rq_tail->rq_next = d;
	else
		rq_head = d;
	rq_tail = d;
	d->queued = true;
	wake_idle_for(d);
}

void sched_add(struct dispatcher *d) { rq_push_back(d); }

void sched_add_front(struct dispatcher *d)
{
	if (lost(d))
		return;
	d->rq_next = rq_head;
	d->rq_prev = NULL;
	if (rq_head)
		rq_head->rq_prev = d;
	else
		rq_tail = d;
	rq_head = d;
	d->queued = true;
	wake_idle_for(d);
}

/* Take d, which is queued, off the run queue. */
static struct dispatcher *unqueue(struct dispatcher *d)
{
	if (d->rq_prev)
		d->rq_prev->rq_next = d->rq_next;
	else
		rq_head = d->rq_next;
	if (d->rq_next)
		d->rq_next->rq_prev = d->rq_prev;
	else
		rq_tail = d->rq_prev;
	d->rq_next = d->rq_prev = NULL;
	d->queued = false;
	return d;
}

/* The first queued dispatcher this CPU may run, taken off the queue; NULL:
 * none. The head, unpinned, is the common case: taken without a walk. */
static __attribute__((noinline)) struct dispatcher *take_next_walk(u64 mine)
{
	for (struct dispatcher *d = rq_head; d; d = d->rq_next)
		if (d->may_run & mine)
			return unqueue(d);
	return NULL;
}

static inline struct dispatcher *take_next(void)
{
	struct dispatcher *d = rq_head;
	u64 mine = this_cpu()->bit;
	if (likely(d && (d->may_run & mine)))
		return unqueue(d);
	return take_next_walk(mine);
}

/* Does a queued dispatcher wait for a CPU that is up (not only for one its
 * env may be given)? */
static bool queue_runnable(void)
{
	for (struct dispatcher *d = rq_head; d; d = d->rq_next)
		if (runnable_somewhere(d))
			return true;
	return false;
}

/* The CPUs d may run on: the ones its env holds, narrowed to its own if it
 * is bound, and by a debug pin (ignored if it names a CPU not held). */
static u64 may_run_of(const struct dispatcher *d)
{
	u64 held = d->env->cpu.held;
	u64 m = d->bound ? held & (1ULL << (d->bound - 1)) : held;
	u64 pinned = d->pin ? m & (1ULL << (d->pin - 1)) : m;
	return pinned ? pinned : m;
}

void sched_cpus_changed(struct env *e)
{
	for_each_disp(e, d) {
		if (d->state == ENV_ENDED)
			continue;
		u64 was = d->may_run;
		d->may_run = may_run_of(d);
		if (d->may_run == was || !sched_running)
			continue;
		if ((d->state == ENV_RUNNABLE || d->state == ENV_BLOCKED) && lost(d))
			continue; /* off the run queue: another dispatcher has its context */
		if (d->state == ENV_RUNNABLE) {
			wake_idle_for(d); /* queued: an idle CPU it may run on now comes for it */
		} else if (d->state == ENV_RUNNING) {
			/* Running, on a CPU it may no longer run on: a kick takes
			 * it off there (trap.c) -- this CPU's own once it returns
			 * to Ring 3. */
			u32 c = cpus_up > 1 ? d->loaded_on - 1 : 0;
			if (!(d->may_run & cpus[c].bit))
				smp_kick(c);
		}
	}
}

void sched_unqueue(struct dispatcher *d) { unqueue(d); }

/* A new slice on this CPU, from now. */
static void start_slice(u64 now)
{
	struct percpu_sched *s = mine();
	s->over = false;
	s->extended = false;
	timer_arm(&s->slice, now + sched_slice_ns);
}

void sched_start_slice(void) { start_slice(clock_ns()); }

bool sched_slice_over(void) { return mine()->over; }

/* Does an env run on another CPU? (It may still post, spawn, end.) */
static bool others_run_envs(void)
{
	u32 me = this_cpu()->id;
	for (u32 c = 0; c < cpus_up; c++)
		if (c != me && cpus[c].disp && cpus[c].disp->state == ENV_RUNNING)
			return true;
	return false;
}

/* next runs from now, on a new slice. */
static void dispatched(struct dispatcher *next, u64 now)
{
	next->dispatched_at = now;
	start_slice(now);
}

static __noreturn void dispatch(struct dispatcher *next)
{
	dispatched(next, clock_ns());
	env_run(next);
}

/*
 * Nothing to run here, but envs live: halt with interrupts on until
 * something arrives (the timer queue and the interrupt path post events,
 * which make their envs runnable; another CPU kicks this one when it queues
 * an env this one may run), then look again. The kernel lock is dropped
 * for the halt. The only place the kernel runs with IF = 1 is the `sti;
 * hlt` pair, so an interrupt is handled either before the hlt (and the
 * check runs again) or wakes it. Only when no CPU runs an env and nothing
 * can post an event are the waiters ended.
 */
static __noreturn void idle(void)
{
	struct percpu_sched *s = mine();
	timer_cancel(&s->slice);
	TRACE(KEEL_TR_IDLE, 0, 0, 0);
	for (;;) {
		struct dispatcher *next = take_next();
		if (next) {
			s->idle = false;
			TRACE(KEEL_TR_IDLE, 0, 1, 0);
			dispatch(next);
		}
		if (!env_live_count())
			end_of_run();
		if (!others_run_envs() && !queue_runnable() && !anything_can_wake()) {
			kprintf("sched: every env waits for an event and nothing can send one (no deadline, no "
				"interrupt that can fire), or for a CPU no env can give: ending them\n");
			kill_waiting();
			continue; /* callers blocked on them are runnable now */
		}
		s->idle = true;
		kernel_lock_drop();
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		kernel_lock_take();
	}
}

__noreturn void sched_next(void)
{
	struct dispatcher *cur = this_cpu()->disp;
	if (cur && cur->state == ENV_RUNNING) {
		/* Round robin: to the back. Runnable from here, though this CPU
		 * keeps its registers until another is loaded: a CPU that idles
		 * beside it must not count as running an env. */
		cur->state = ENV_RUNNABLE;
		rq_push_back(cur);
	}
	struct dispatcher *next = take_next();
	if (!next) {
		if (!env_live_count())
			end_of_run();
		kstack_restart(idle); /* nothing this CPU may run */
	}
	dispatch(next);
}

struct dispatcher *sched_yielded(struct dispatcher *cur, u64 now)
{
	cur->state = ENV_RUNNABLE;
	rq_push_back(cur);
	struct dispatcher *next = take_next(); /* (cur at least) */
	dispatched(next, now);
	return next;
}

__noreturn void sched_start(void)
{
	kernel_lock_take();
	sched_running = true;
	for (u32 c = 1; c < cpus_up; c++)
		smp_kick(c); /* waiting in smp.c for the run to start: into idle */
	sched_next();
}

__noreturn void sched_idle_enter(void)
{
	kernel_lock_take();
	kstack_restart(idle);
}

__noreturn void sched_run_donated(struct dispatcher *d)
{
	if (unlikely(!sched_may_run_here(d))) { /* pinned elsewhere: it waits its turn there */
		d->state = ENV_RUNNABLE;
		sched_add(d);
		sched_next();
	}
	sched_donated(d, clock_ns());
	env_run(d);
}

void sched_donation_extend(u64 now)
{
	struct percpu_sched *s = mine();
	s->extended = true;
	s->over = false;
	timer_arm(&s->slice, now + SCHED_DONATION_MIN_NS);
}

__noreturn void sched_preempt(struct dispatcher *d)
{
	d->env->preemptions++;
	if (d->ctx.rip >= d->env->watch_lo && d->ctx.rip < d->env->watch_hi)
		d->env->preempt_in_watch++;
	sched_next();
}
