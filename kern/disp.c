#include "disp.h"
#include "arch/x86_64/percpu.h"
#include "cap.h"
#include "console.h"
#include "fpu.h"
#include "irq.h"
#include "lib/string.h"
#include "timer.h"
#include "env.h"
#include "keel/errno.h"
#include "layout.h"
#include "sched.h"
#include "uaccess.h"
#include "upcall.h"


/*
 * The scheduler-activations hand-over: dispatcher d, bound to a CPU its env
 * no longer holds, is off every CPU. Its context goes to its own area (the
 * enabled save if the area says enabled, else the disabled save -- a
 * disabled context, which may hold a libOS lock, included), its extended
 * state to the area's handed_xstate, and it ends; the env's first other
 * dispatcher that may run somewhere gets KEEL_EV_LOST with d's CPU in its
 * area's `lost`, to take the context over. Not if no other can run, d has
 * no area, or d is in a call (blocked in one, or serving one): then it
 * stands still until its CPU comes back.
 */
static bool hand_over(struct dispatcher *d)
{
	struct env *e = d->env;
	struct dispatcher *r = NULL;
	for_each_disp(e, o)
		if (o != d && o->state != ENV_ENDED && o->may_run && o->ka) {
			r = o;
			break;
		}
	if (!r || !d->ka || d->pct.serving || d->pct.callee)
		return false;
	env_disp_unload(d);
	if (!upcall_park(d))
		return false;
	_Static_assert(sizeof d->ka->handed_xstate >= 1024, "room for an XSAVE image of x87, SSE and AVX");
	if (fpu_state_size > sizeof d->ka->handed_xstate)
		return false; /* (never: fpu_init enables x87, SSE and AVX only, 832 bytes) */
	memcpy(d->ka->handed_xstate, d->fpu, fpu_state_size);
	d->ka->handed_xstate_size = fpu_state_size;
	u32 cpu = d->bound - 1;
	sched_remove(d);
	timer_cancel(&d->up.deadline);
	d->state = ENV_ENDED;
	d->ka = NULL;
	d->area = 0;
	d->events = 0;
	e->ndisp--;
	irq_dispatcher_handed(d, r); /* its interrupts follow its context */
	__atomic_fetch_or(&r->ka->lost, 1ULL << cpu, __ATOMIC_RELEASE);
	sched_post(r, KEEL_EV_LOST);
	kprintf("env %u (%s): its dispatcher on cpu%u lost the CPU: its context goes to the one on cpu%u\n", e->id,
		e->name, cpu, r->bound ? r->bound - 1 : this_cpu()->id);
	return true;
}

void disp_init(void) { sched_set_lost(hand_over); }

/*
 * The new dispatcher is made, charged one frame of its env's quota (its
 * state and extended-state buffer), given its area, and queued, bound to
 * its CPU; an env's only dispatcher, which ran on any CPU the env holds, is
 * bound first to the one it runs on now (the caller's). Nothing changes if
 * any step fails.
 */
i64 disp_start(struct dispatcher *d, u64 ureq)
{
	struct env *e = d->env;
	struct keel_disp_start req;
	if (copy_from_user(&req, ureq, sizeof req))
		return -EFAULT;
	if (req.reserved)
		return -EINVAL;
	if (req.cpu >= cpus_up)
		return -ERANGE; /* no such CPU, or not up */
	if (!(e->cpu.held & (1ULL << req.cpu)))
		return -ENOCPU;
	u32 here = this_cpu()->id;
	bool alone = !d->bound; /* its only dispatcher, not yet bound: bound here now */
	if (alone ? req.cpu == here : env_disp_on(e, req.cpu) != NULL)
		return -EEXIST; /* it has a dispatcher there (or will: its first, bound here) */
	if (!user_addr(req.entry) || !user_addr(req.stack))
		return -EINVAL;
	/* One frame of quota per dispatcher made; one that ended is reused. */
	bool reuse = false;
	for_each_disp(e, o)
		reuse |= o->state == ENV_ENDED;
	int err = reuse ? 0 : quota_charge_frames(e, 1);
	if (err)
		return err;
	struct dispatcher *n = env_disp_new(e);
	if (!n) {
		if (!reuse)
			quota_release_frames(e, 1);
		return -ENOMEM;
	}
	if ((err = upcall_setup(n, req.area))) {
		if (reuse) {
			n->state = ENV_ENDED;
			e->ndisp--;
		} else {
			env_disp_free(n);
			quota_release_frames(e, 1);
		}
		return err;
	}
	if (alone)
		d->bound = here + 1;
	n->bound = req.cpu + 1;
	n->ctx.rip = req.entry;
	n->ctx.rsp = req.stack;
	n->ctx.rdi = req.arg;
	sched_cpus_changed(e); /* each one's may_run */
	sched_add(n);
	kprintf("env %u (%s): dispatcher started on cpu%u (%u dispatchers)\n", e->id, e->name, req.cpu, e->ndisp);
	return 0;
}
