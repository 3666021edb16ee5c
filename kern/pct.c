#include "pct.h"
#include "cap.h"
#include "clock.h"
#include "env.h"
#include "keel/errno.h"
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

i64 pct_call(struct env *e)
{
	i64 err;
	struct env *r = named_env(e, e->d0.ctx.rdi, &err);
	if (!r)
		return err;
	if (!r->d0.area)
		return -ENOENT; /* takes no upcalls, so no calls */
	/* One call at a time per receiver, and none into an env blocked in a
	 * call of its own: a chain of calls never closes into a cycle. */
	if (r->d0.pct.serving || r->d0.pct.callee)
		return -EBUSY;
	if (r->d0.state == ENV_RUNNING)
		return -EAGAIN; /* on another CPU now: like a disabled receiver, try again */
	if (r->d0.state != ENV_RUNNABLE && !(r->d0.state == ENV_BLOCKED && r->d0.waiting_events))
		return -EBUSY;
	if (!sched_may_run_here(r))
		return -ENOCPU; /* it holds no capability for this CPU: the call cannot run here */
	u64 arg[4] = { e->d0.ctx.rsi, e->d0.ctx.rdx, e->d0.ctx.r10, e->d0.ctx.r8 };
	if ((err = upcall_pct_enter(r, e->id, arg)))
		return err; /* r untouched */
	r->d0.pct.was_waiting = r->d0.state == ENV_BLOCKED;
	if (r->d0.state == ENV_BLOCKED)
		sched_unblocked(r);
	else
		sched_remove(r);
	r->d0.pct.serving = true;
	r->d0.pct.caller = e;
	e->d0.pct.callee = r;
	TRACE(KEEL_TR_PCT_CALL, e->id, r->id, 0);
	sched_block(e, false); /* until the reply, or r's end */
	sched_run_donated(r);
}

i64 pct_reply(struct env *e)
{
	if (!e->d0.pct.serving)
		return -EINVAL;
	struct env *c = e->d0.pct.caller;
	e->d0.pct.serving = false;
	e->d0.pct.caller = NULL;
	if (!c)
		return -EPIPE; /* the caller ended: the handler resumes itself */
	c->d0.pct.callee = NULL;
	TRACE(KEEL_TR_PCT_REPLY, e->id, c->id, 0);
	sched_unblocked(c);
	c->d0.ctx.rax = 0;
	c->d0.ctx.rdi = e->d0.ctx.rdi;
	c->d0.ctx.rsi = e->d0.ctx.rsi;
	c->d0.ctx.rdx = e->d0.ctx.rdx;
	c->d0.ctx.r10 = e->d0.ctx.r10;
	c->d0.state = ENV_RUNNABLE;

	/* The receiver leaves its handler; it waits again if it was waiting
	 * and nothing arrived meanwhile, else it is runnable. */
	e->d0.ctx.rax = 0;
	upcall_pct_leave(e);
	if (e->d0.pct.was_waiting && e->d0.ka && !e->d0.events &&
	    !(e->d0.ka->pending || e->d0.ka->irq_pending || e->d0.ka->swvec_pending)) {
		sched_block(e, true);
	} else {
		e->d0.state = ENV_RUNNABLE;
		sched_add(e);
	}
	e->d0.pct.was_waiting = false;
	sched_run_donated(c); /* the rest of the slice goes back */
}

i64 pct_yield_to(struct env *e, u64 env_slot)
{
	i64 err;
	struct env *t = named_env(e, env_slot, &err);
	if (!t)
		return err;
	if (t->d0.state != ENV_RUNNABLE)
		return -EAGAIN; /* blocked or running elsewhere: it could not run now */
	if (!sched_may_run_here(t))
		return -ENOCPU; /* it holds no capability for this CPU */
	e->d0.ctx.rax = 0;
	upcall_deschedule(e);
	sched_remove(t);
	sched_add(e);
	e->d0.state = ENV_RUNNABLE;
	sched_run_donated(t);
}

i64 pct_event_wait(struct env *e)
{
	if (!e->d0.area)
		return -EINVAL; /* events arrive by upcall */
	/* The device words count too: a driver that took an event but not yet
	 * its interrupt bits must not sleep on them. */
	if (e->d0.events || e->d0.ka->pending || e->d0.ka->irq_pending || e->d0.ka->swvec_pending)
		return 0;
	e->d0.ctx.rax = 0;
	/* Waiting gives the CPU up: the time blocked is not time spent
	 * disabled (the watchdog bounds how long an env holds the CPU with
	 * upcalls off; sched_unblocked moves its clock past the wait). */
	upcall_deschedule(e);
	sched_block(e, true);
	sched_next();
}

static void pct_env_fini(struct env *e)
{
	if (e->d0.pct.caller) {
		struct env *c = e->d0.pct.caller;
		c->d0.pct.callee = NULL;
		if (c->d0.state != ENV_DEAD) { /* (it may be ending too: the parent of e) */
			sched_unblocked(c);
			c->d0.ctx.rax = (u64)-EPIPE;
			c->d0.state = ENV_RUNNABLE;
			sched_add_front(c); /* it gets the CPU back first */
		}
		e->d0.pct.caller = NULL;
	}
	if (e->d0.pct.callee) {
		e->d0.pct.callee->d0.pct.caller = NULL; /* its reply will find no one */
		e->d0.pct.callee = NULL;
	}
	e->d0.pct.serving = false;
}

static const struct env_hooks pct_hooks = { .fini = pct_env_fini };

void pct_init(void) { env_register(&pct_hooks); }
