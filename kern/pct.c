#include "pct.h"
#include "cap.h"
#include "clock.h"
#include "env.h"
#include "keel/abi.h"
#include "keel/errno.h"
#include "layout.h"
#include "sched.h"
#include "trace.h"
#include "upcall.h"

/* The env an ENV capability in e's space names, alive and not e. */
static struct env *named_env(struct env *e, u64 slot, i64 *err)
{
	int lerr;
	struct cap *c = cap_lookup(e, slot, KEEL_CAP_ENV, 0, &lerr);
	if (!c) {
		*err = lerr;
		return NULL;
	}
	struct env *t = env_by_id((u32)c->base);
	*err = !t ? -ENOENT : t == e ? -EINVAL : 0;
	return *err ? NULL : t;
}

/* Its dispatcher that a transfer from this CPU runs: the one bound here,
 * or its only one; NULL: none (ENOCPU). */
static struct dispatcher *disp_for_here(struct env *t) { return env_disp_on(t, this_cpu()->id); }

/* r, entered (upcall_pct_enter), serves d's call: off the run queue or
 * out of its wait; d blocks until the reply. */
static __always_inline void begin_serving(struct dispatcher *d, struct dispatcher *r)
{
	r->pct.was_waiting = r->state == ENV_BLOCKED;
	if (r->state == ENV_BLOCKED)
		sched_unblocked(r);
	else
		sched_remove(r);
	r->pct.serving = true;
	r->pct.caller = d;
	d->pct.callee = r;
	TRACE(KEEL_TR_PCT_CALL, d->env->id, r->env->id, 0);
	sched_block(d, false); /* until the reply, or r's end */
}

/* d, which has just stopped serving, replies to its caller c: c gets the
 * results and may run; d waits again if it was waiting and nothing arrived
 * meanwhile, else it is runnable. Returns the kernel clock it read. */
static __always_inline u64 end_serving(struct dispatcher *d, struct dispatcher *c)
{
	u64 now = clock_ns();
	c->pct.callee = NULL;
	TRACE(KEEL_TR_PCT_REPLY, d->env->id, c->env->id, 0);
	sched_unblocked(c);
	c->ctx.rax = 0;
	c->ctx.rdi = d->ctx.rdi;
	c->ctx.rsi = d->ctx.rsi;
	c->ctx.rdx = d->ctx.rdx;
	c->ctx.r10 = d->ctx.r10;
	c->state = ENV_RUNNABLE;
	d->ctx.rax = 0;
	upcall_pct_leave(d, now);
	struct keel_upcall_area *ka = d->ka;
	if (d->pct.was_waiting && ka && !d->events &&
	    !(ka->pending || ka->irq_pending || ka->swvec_pending || ka->posted)) {
		sched_block(d, true);
	} else {
		d->state = ENV_RUNNABLE;
		sched_add(d);
	}
	d->pct.was_waiting = false;
	return now;
}

i64 pct_call(struct dispatcher *d)
{
	i64 err;
	struct env *re = named_env(d->env, d->ctx.rdi, &err);
	if (!re)
		return err;
	struct dispatcher *r = disp_for_here(re);
	if (!r)
		return -ENOCPU; /* no dispatcher of it for this CPU: the call cannot run here */
	if (!r->area)
		return -ENOENT; /* takes no upcalls, so no calls */
	/* One call at a time per receiver, and none into an env blocked in a
	 * call of its own: a chain of calls never closes into a cycle. */
	if (r->pct.serving || r->pct.callee)
		return -EBUSY;
	if (r->state == ENV_RUNNING)
		return -EAGAIN; /* on another CPU now: like a disabled receiver, try again */
	if (r->state != ENV_RUNNABLE && !(r->state == ENV_BLOCKED && r->waiting_events))
		return -EBUSY;
	if (!sched_may_run_here(r))
		return -ENOCPU; /* it holds no capability for this CPU: the call cannot run here */
	u64 arg[4] = { d->ctx.rsi, d->ctx.rdx, d->ctx.r10, d->ctx.r8 };
	if ((err = upcall_pct_enter(r, d->env->id, arg)))
		return err; /* r untouched */
	begin_serving(d, r);
	sched_run_donated(r);
}

i64 pct_reply(struct dispatcher *d)
{
	if (!d->pct.serving)
		return -EINVAL;
	struct dispatcher *c = d->pct.caller;
	d->pct.serving = false;
	d->pct.caller = NULL;
	if (!c)
		return -EPIPE; /* the caller ended: the handler resumes itself */
	end_serving(d, c);
	sched_run_donated(c); /* the rest of the slice goes back */
}

/*
 * The fast paths (seL4's fastpath, L4's direct process switch). A call's
 * common case: a receiver for this CPU, waiting for events or queued,
 * parked for an activation, nothing for it pending; a reply's: a caller
 * that may run here. Each checks all of that first and returns if anything
 * differs, having changed nothing (the general path then makes the call);
 * else it does what pct_call or pct_reply does, step for step in the same
 * order -- the same records, counters and trace -- in one function: every
 * step is inline (cap_at, env_by_id, upcall_pct_enter_parked,
 * begin_serving, sched_donated, upcall_resume_plain), the registers are
 * already in the dispatcher (entry.S), the run queue is not walked, and
 * the one they switch to leaves by env_run_plain when it has nothing to
 * deliver. tests/test_paths.py proves both paths leave the same state.
 * Keep them in step with the above.
 */
/* A fast path's run of d, which may run here, at now: sched_run_donated's
 * bookkeeping, and without the resume hook when it has nothing to do. */
static __always_inline __noreturn void run_donated_fast(struct dispatcher *d, u64 now)
{
	sched_donated(d, now);
	if (upcall_resume_plain(d))
		env_run_plain(d);
	env_run(d);
}

void pct_call_fast(struct dispatcher *d)
{
	struct env *e = d->env;
	struct percpu *cpu = this_cpu();
	u64 mine = cpu->bit;
	struct cap *cap = cap_at(&e->cs, d->ctx.rdi);
	if (!cap || cap->type != KEEL_CAP_ENV)
		return;
	struct env *re = env_by_id((u32)cap->base);
	if (!re || re == e)
		return;
	struct dispatcher *r = env_disp_on(re, cpu->id); /* (disp_for_here, this_cpu() read once) */
	if (!r || !r->area || r->resume != RESUME_ACTIVATE || r->events || r->pct.serving || r->pct.callee ||
	    !(r->may_run & mine) || !(d->may_run & mine))
		return;
	if (!(r->state == ENV_BLOCKED && r->waiting_events) && r->state != ENV_RUNNABLE)
		return;
	const struct keel_upcall_area *ka = r->ka;
	u64 entry = ka->pct_entry, stack = ka->pct_stack;
	if (!user_addr(entry) || !user_addr(stack))
		return;

	e->syscalls++; /* (syscall_dispatch's part) */
	TRACE(KEEL_TR_SYSCALL, e->id, SYS_PCT_CALL, 0);
	upcall_pct_enter_parked(r, entry, stack, e->id, d->ctx.rsi, d->ctx.rdx, d->ctx.r10, d->ctx.r8);
	begin_serving(d, r);
	sched_donated(r, clock_ns());
	/* upcall_resume_plain(r), whose answer is known: r has just been
	 * entered (RESUME_CTX, disabled, no events: checked above), so all it
	 * would do is the watchdog's look at the entry. */
	if (upcall_in_crit(ka->crit_start, ka->crit_end, entry))
		upcall_watchdog_reset(r);
	env_run_plain(r);
}

void pct_reply_fast(struct dispatcher *d)
{
	struct dispatcher *c = d->pct.caller;
	u64 mine = this_cpu()->bit;
	if (!d->pct.serving || !c || !(c->may_run & mine) || !(d->may_run & mine))
		return;

	d->env->syscalls++;
	TRACE(KEEL_TR_SYSCALL, d->env->id, SYS_PCT_REPLY, 0);
	d->pct.serving = false;
	d->pct.caller = NULL;
	run_donated_fast(c, end_serving(d, c));
}

/* A yield's deschedule at now: in place if it asked (and can be), else as any. */
static __always_inline void yield_deschedule(struct dispatcher *d, u64 now)
{
	d->ctx.rax = 0;
	if (!upcall_deschedule_in_place(d, now))
		upcall_deschedule_at(d, now);
}

__noreturn void pct_yield(struct dispatcher *d)
{
	yield_deschedule(d, clock_ns());
	sched_next();
}

/* The yield's fast path: the general one's steps (syscall_dispatch's
 * count and trace, pct_yield) for a yield whose env may run here, without
 * its detours (the registers are in the dispatcher already, one clock
 * read, the resume hook skipped when it has nothing to do). */
void pct_yield_fast(struct dispatcher *d)
{
	if (!(d->may_run & this_cpu()->bit))
		return;
	d->env->syscalls++;
	TRACE(KEEL_TR_SYSCALL, d->env->id, SYS_YIELD, 0);
	u64 now = clock_ns(); /* (one read: the deschedule's and the next one's dispatch) */
	yield_deschedule(d, now);
	struct dispatcher *next = sched_yielded(d, now);
	if (upcall_resume_plain(next))
		env_run_plain(next);
	env_run(next);
}

i64 pct_yield_to(struct dispatcher *d, u64 env_slot)
{
	i64 err;
	struct env *te = named_env(d->env, env_slot, &err);
	if (!te)
		return err;
	struct dispatcher *t = disp_for_here(te);
	if (!t)
		return -ENOCPU; /* no dispatcher of it for this CPU */
	if (t->state != ENV_RUNNABLE)
		return -EAGAIN; /* blocked or running elsewhere: it could not run now */
	if (!sched_may_run_here(t))
		return -ENOCPU; /* it holds no capability for this CPU */
	d->ctx.rax = 0;
	upcall_deschedule(d);
	sched_remove(t);
	d->state = ENV_RUNNABLE; /* first: sched_add may hand it over (its CPU gone), which ends it */
	sched_add(d);
	sched_run_donated(t);
}

i64 pct_event_wait(struct dispatcher *d)
{
	if (!d->area)
		return -EINVAL; /* events arrive by upcall */
	/* The device words count too: a driver that took an event but not yet
	 * its interrupt bits must not sleep on them. */
	if (d->events || d->ka->pending || d->ka->irq_pending || d->ka->swvec_pending || d->ka->posted)
		return 0;
	d->ctx.rax = 0;
	/* Waiting gives the CPU up: the time blocked is not time spent
	 * disabled (the watchdog bounds how long an env holds the CPU with
	 * upcalls off; sched_unblocked moves its clock past the wait), and a
	 * dispatcher that waits is not stuck: its watchdog starts over. A
	 * libOS waits disabled, as it must to lose no wake-up (docs/abi.md
	 * "Waiting"); an idle one may wake and wait again many times without
	 * ever running enabled. */
	upcall_watchdog_reset(d);
	upcall_deschedule(d);
	sched_block(d, true);
	sched_next();
}

static void pct_disp_fini(struct dispatcher *d)
{
	if (d->pct.caller) {
		struct dispatcher *c = d->pct.caller;
		c->pct.callee = NULL;
		if (c->state != ENV_DEAD) { /* (it may be ending too: the parent of e) */
			sched_unblocked(c);
			c->ctx.rax = (u64)-EPIPE;
			c->state = ENV_RUNNABLE;
			sched_add_front(c); /* it gets the CPU back first */
		}
		d->pct.caller = NULL;
	}
	if (d->pct.callee) {
		d->pct.callee->pct.caller = NULL; /* its reply will find no one */
		d->pct.callee = NULL;
	}
	d->pct.serving = false;
}

static void pct_env_fini(struct env *e)
{
	for_each_disp(e, d)
		pct_disp_fini(d);
}

static const struct env_hooks pct_hooks = { .fini = pct_env_fini };

void pct_init(void) { env_register(&pct_hooks); }
