#include "disp.h"
#include "arch/x86_64/percpu.h"
#include "cap.h"
#include "console.h"
#include "env.h"
#include "keel/errno.h"
#include "layout.h"
#include "sched.h"
#include "uaccess.h"
#include "upcall.h"

static bool user_addr(u64 a) { return a >= USER_BASE && a < USER_END; }

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
	bool alone = e->ndisp == 1;
	if (alone ? req.cpu == here : env_disp_on(e, req.cpu) != NULL)
		return -EEXIST; /* it has a dispatcher there (or will: its first, bound here) */
	if (!user_addr(req.entry) || !user_addr(req.stack))
		return -EINVAL;
	int err = quota_charge_frames(e, 1);
	if (err)
		return err;
	struct dispatcher *n = env_disp_new(e);
	if (!n) {
		quota_release_frames(e, 1);
		return -ENOMEM;
	}
	if ((err = upcall_setup(n, req.area))) {
		env_disp_free(n);
		quota_release_frames(e, 1);
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
