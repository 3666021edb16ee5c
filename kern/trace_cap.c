/* The trace capability and SYS_TRACE (trace_cap.h; the ABI in keel/abi.h). */
#include "trace_cap.h"
#include "cap.h"
#include "env.h"
#include "keel/errno.h"
#include "trace.h"
#include "uaccess.h"

/* The capability through which the rings were switched on, whose holder
 * pays for them (NULL: no rings, or the boot's, which nobody pays for). */
static struct cap *payer_cap;
static u32 paid_frames;

static void give_back(void)
{
	if (trace_is_on())
		trace_switch(false);
	trace_rings_free();
	quota_release_frames(payer_cap->owner, paid_frames);
	payer_cap = NULL;
	paid_frames = 0;
}

static void trace_cap_gone(struct cap *c)
{
	if (c == payer_cap)
		give_back();
}

static const struct cap_type_ops trace_ops = { .gone = trace_cap_gone };

void trace_cap_init(void) { cap_register_type(KEEL_CAP_TRACE, &trace_ops); }

int trace_grant(struct env *e)
{
	int slot = cap_new_root(e, KEEL_CAP_TRACE, 0, 0);
	if (slot < 0)
		return slot;
	int err;
	struct cap *c = cap_lookup(e, (u64)slot, KEEL_CAP_TRACE, 0, &err);
	c->rights = KEEL_R_READ | KEEL_R_WRITE; /* never the grant right: it stays with its holder */
	return slot;
}

static i64 trace_on(struct env *e, struct cap *c, u64 frames)
{
	if (!frames || frames > KEEL_TRACE_FRAMES_MAX || (frames & (frames - 1)))
		return -EINVAL;
	if (trace_is_on() || payer_cap)
		return -EBUSY;
	if (trace_ring_frames()) { /* the boot's rings, switched off since: used as they are */
		trace_switch(true);
		return 0;
	}
	u32 n = (u32)frames; /* one ring: cpu0 (SMP: times the CPUs with a ring) */
	int err = quota_charge_frames(e, n);
	if (err)
		return err;
	if ((err = trace_rings_alloc(n))) {
		quota_release_frames(e, n);
		return err;
	}
	payer_cap = c;
	paid_frames = n;
	trace_switch(true);
	return 0;
}

static i64 trace_off(struct env *e, struct cap *c)
{
	(void)e;
	if (payer_cap && payer_cap != c)
		return -EBUSY; /* another holder's rings: theirs to switch off */
	if (payer_cap)
		give_back();
	else if (trace_is_on())
		trace_switch(false); /* the boot's rings stay for the end-of-run dump */
	return 0;
}

static i64 trace_read(struct cap *c, u64 ureq)
{
	(void)c;
	struct keel_trace_read req;
	if (copy_from_user(&req, ureq, sizeof req))
		return -EFAULT;
	i64 n = trace_read_user(req.cpu, req.buf, req.max, &req.dropped, &req.head);
	if (n < 0)
		return n;
	if (copy_to_user(ureq, &req, sizeof req))
		return -EFAULT;
	return n;
}

i64 trace_syscall(struct env *e, u64 slot, u64 op, u64 arg)
{
	int err;
	struct cap *c = cap_lookup(e, slot, KEEL_CAP_TRACE, 0, &err);
	if (!c)
		return err;
	switch (op) {
	case KEEL_TRACE_ON:
		if (!(c->rights & KEEL_R_WRITE))
			return -ERIGHTS;
		return trace_on(e, c, arg);
	case KEEL_TRACE_OFF:
		if (!(c->rights & KEEL_R_WRITE))
			return -ERIGHTS;
		if (arg)
			return -EINVAL;
		return trace_off(e, c);
	case KEEL_TRACE_READ:
		if (!(c->rights & KEEL_R_READ))
			return -ERIGHTS;
		return trace_read(c, arg);
	default:
		return -EINVAL;
	}
}
