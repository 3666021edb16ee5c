#include "event.h"
#include "arch/x86_64/percpu.h"
#include "cap.h"
#include "env.h"
#include "keel/errno.h"
#include "sched.h"
#include "trace.h"

/*
 * The target is the env's dispatcher for `cpu`: the one bound there, or an
 * only dispatcher, which runs on any CPU the env holds (dispatcher.h). The
 * bits go straight into its area (its frame in the direct map, as
 * swvec_pending), under the kernel lock, with an atomic OR: the target
 * takes them with xchg from another CPU meanwhile.
 */
i64 event_post(struct env *e, u64 slot, u64 cpu, u64 bits)
{
	struct env *t = e;
	if (slot != KEEL_SELF) {
		int err;
		struct cap *c = cap_lookup(e, slot, KEEL_CAP_ENV, KEEL_R_WRITE, &err);
		if (!c)
			return err;
		if (!(t = env_by_id((u32)c->base)))
			return -ENOENT; /* it has ended */
	}
	if (!bits)
		return -EINVAL;
	if (cpu >= cpus_up)
		return -ERANGE; /* no such CPU, or not up */
	struct dispatcher *d = env_disp_on(t, (u32)cpu);
	if (!d)
		return -ENOCPU; /* the target has no dispatcher there (or does not hold the CPU) */
	if (!d->ka)
		return -ENOENT; /* it takes no upcalls: nowhere to post */
	__atomic_fetch_or(&d->ka->posted, bits, __ATOMIC_RELEASE);
	TRACE(KEEL_TR_POST, e->id, t->id, bits);
	sched_post(d, KEEL_EV_POST);
	return 0;
}
