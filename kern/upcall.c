/*
 * Upcalls (docs/design.md "Upcalls, with three save areas" and "CPU time";
 * docs/upcalls.md explains the protocol and its races).
 *
 * The area is the env's own memory (reached through d->env->ka, its frame in the
 * direct map): nothing the kernel reads there is trusted, and a context the
 * kernel resumes from it is sanitised first. Entries and stacks that are not
 * user addresses make the env die alone.
 */
#include "arch/x86_64/percpu.h"
#include "upcall.h"
#include "arch/x86_64/trapframe.h"
#include "arch/x86_64/vectors.h"
#include "arch/x86_64/cpu.h"
#include "clock.h"
#include "console.h"
#include "context.h"
#include "env.h"
#include "keel/abi.h"
#include "keel/errno.h"
#include "lib/string.h"
#include "panic.h"
#include "pt.h"
#include "sched.h"
#include "trace.h"
#include "frame.h"
#include "uvm.h"

u64 upcall_watchdog_ns = 100000000; /* 100 ms; command line watchdog_ms= */

/* The part of the area the env writes: read in one go. */
struct area_head {
	u32 disabled, flags;
	u64 pending;
	u64 event_entry, trap_entry;
	u64 upcall_stack, trap_stack, trap_stack_size;
	u64 crit_start, crit_end;
};
_Static_assert(sizeof(struct area_head) == offsetof(struct keel_upcall_area, crit_end) + 8, "area head");

#define AREA_FIELD(f) offsetof(struct keel_upcall_area, f)

/*
 * The area is reached through d->env->ka, its frame in the direct map, found at
 * SYS_UPCALL_SETUP (mapped user and writable at every level). An env owns
 * its frames until it dies, so the frame cannot change under it. (When
 * envs can unmap their own pages -- raw page tables -- unmapping the area
 * must clear d->env->ka and d->env->area.) The env cannot run while the kernel does,
 * so a snapshot of its fields is stable.
 */
static bool head_read(struct dispatcher *d, struct area_head *h)
{
	memcpy(h, d->ka, sizeof *h);
	return true;
}

static bool area_put(struct dispatcher *d, size_t off, const void *v, size_t n)
{
	memcpy((u8 *)d->ka + off, v, n);
	return true;
}

static bool area_put64(struct dispatcher *d, size_t off, u64 v)
{
	*(u64 *)((u8 *)d->ka + off) = v;
	return true;
}

static bool in_crit(const struct area_head *h, u64 rip) { return upcall_in_crit(h->crit_start, h->crit_end, rip); }

/* Running on the trap stack, top included (where a trap entry starts). */
static bool on_trap_stack(const struct area_head *h, u64 rsp)
{
	u64 size = MIN(h->trap_stack_size, h->trap_stack);
	return size && rsp <= h->trap_stack && rsp >= h->trap_stack - size;
}

/* A trap stack the kernel may enter: a user address, with a size. Without
 * one on_trap_stack could not tell a fault on the trap path from a first
 * fault, and a trap entry that faults at once would fault for ever (until
 * the watchdog). */
static bool trap_stack_ok(const struct area_head *h)
{
	return h->trap_stack >= USER_BASE && h->trap_stack < USER_END && h->trap_stack_size;
}

/* RSP inside the area itself: a resume routine is restoring a save slot
 * (its iret frame is there), which must not be overwritten now. */
static bool restoring_from_area(struct dispatcher *d, u64 rsp) { return rsp - d->area < sizeof(struct keel_upcall_area); }

static void ctx_from_frame(struct keel_context *c, const struct trap_frame *f)
{
	memcpy(c, f, 15 * 8); /* r15 .. rax: same order */
	c->rip = f->rip;
	c->cs = f->cs;
	c->rflags = f->rflags;
	c->rsp = f->rsp;
	c->ss = f->ss;
}

static void frame_from_ctx(struct trap_frame *f, const struct keel_context *c)
{
	memcpy(f, c, 15 * 8);
	f->vector = f->error = 0;
	f->rip = c->rip;
	f->cs = c->cs;
	f->rflags = c->rflags;
	f->rsp = c->rsp;
	f->ss = c->ss;
}

/* A save slot of the area (KEEL_SAVE_*), in place. */
static struct keel_context *area_ctx(struct dispatcher *d, unsigned slot)
{
	return (struct keel_context *)((u8 *)d->ka + AREA_FIELD(enabled_save) + slot * sizeof(struct keel_context));
}

static bool put_ctx(struct dispatcher *d, unsigned slot, const struct keel_context *c)
{
	*area_ctx(d, slot) = *c;
	return true;
}

static bool get_ctx(struct dispatcher *d, unsigned slot, struct keel_context *c)
{
	*c = *area_ctx(d, slot);
	return true;
}

/* The context a Ring 3 interruption stands for. Inside the resume routine's
 * critical range it is the one being resumed, whose iret frame RSP points at
 * (Xen-style fixup); elsewhere, the registers themselves. */
static bool interrupted_ctx(struct dispatcher *d, const struct area_head *h, struct keel_context *c)
{
	if (!in_crit(h, d->ctx.rip)) {
		ctx_from_frame(c, &d->ctx);
		return true;
	}
	d->ka->crit_fixups++;
	return uvm_peek(d->env->pml4, d->ctx.rsp - offsetof(struct keel_context, rip), c, sizeof *c) == 0;
}

/*
 * The one way the kernel's events reach the area, on every path -- fast or
 * general, delivered now or left pending for a disabled env: they join
 * `pending`, and a timer event brings its deadline and the time it was
 * posted. (A timer bit already pending brings nothing new.)
 */
static inline void events_to_area(struct dispatcher *d, struct keel_upcall_area *a)
{
	u64 ev = d->events;
	d->events = 0;
	a->pending |= ev;
	if (ev & KEEL_EV_TIMER) {
		a->deadline = d->up.fired_deadline;
		a->delivered_at = clock_ns();
	}
}

/* Deliver pending events now: the interrupted context is already in the
 * enabled save. */
static void upcall_event(struct dispatcher *d, const struct area_head *h)
{
	if (!user_addr(h->event_entry) || !user_addr(h->upcall_stack))
		env_kill(d->env, "upcall: event entry %#llx or upcall stack %#llx is not a user address",
			 (unsigned long long)h->event_entry, (unsigned long long)h->upcall_stack);
	d->ka->disabled = 1;
	events_to_area(d, d->ka);
	d->ka->upcalls++;
	this_cpu()->stats.upcalls++;
	TRACE(KEEL_TR_UPCALL, d->env->id, KEEL_TR_UP_EVENT, d->ka->pending);
	upcall_enter(d, h->event_entry, h->upcall_stack);
}

static void write_activation(struct dispatcher *d)
{
	u64 now = clock_ns();
	d->up.waited_total_ns += now - d->up.descheduled_at;
	d->up.activations++;
	area_put64(d, AREA_FIELD(descheduled_at), d->up.descheduled_at);
	area_put64(d, AREA_FIELD(ran_ns), d->up.ran_ns);
	area_put64(d, AREA_FIELD(activations), d->up.activations);
	area_put64(d, AREA_FIELD(ran_total_ns), d->up.ran_total_ns);
	area_put64(d, AREA_FIELD(waited_total_ns), d->up.waited_total_ns);
	d->events |= KEEL_EV_ACTIVATION;
}

/*
 * A context in the area, about to be resumed by the kernel: sanitised.
 * `strict` (one Ring 3 chose, through SYS_RESUME) also requires a user RSP;
 * the disabled save after a deschedule holds what the CPU had, and a CPU may
 * hold any RSP (context.h).
 */
static bool take_user_ctx(struct dispatcher *d, unsigned slot, bool strict)
{
	struct keel_context c;
	if (!get_ctx(d, slot, &c))
		return false;
	frame_from_ctx(&d->ctx, &c);
	d->ctx_from_syscall = false;
	return context_sanitize(&d->ctx, strict) == 0;
}

static __noreturn void trap_to_env(struct dispatcher *d, const struct area_head *h, unsigned slot, u64 stack, u64 vector,
				   u64 error, u64 cr2)
{
	d->ka->trap_vector = vector;
	d->ka->trap_error = error;
	d->ka->trap_cr2 = cr2;
	d->ka->traps++;
	this_cpu()->stats.trap_upcalls++;
	TRACE(KEEL_TR_UPCALL, d->env->id, KEEL_TR_UP_TRAP, d->ka->trap_vector);
	upcall_enter(d, h->trap_entry, stack);
	d->ctx.rsi = vector;
	d->ctx.rdx = error;
	d->ctx.rcx = cr2;
	d->ctx.r8 = slot;
	d->ctx_from_syscall = false; /* RCX carries an argument: not through sysretq */
	env_run(d);
}

/*
 * The fast deliveries, straight from the trap frame of an interruption: the
 * env is enabled, outside its critical range, with usable entries and stack;
 * its registers go from the frame to the enabled save and the frame is
 * turned into the upcall's entry, which trap_exit then returns to -- no trip
 * through env_save and env_run. Each returns false when any condition fails;
 * the general path then does it all.
 */
static inline bool fast_ok(struct dispatcher *d, const struct trap_frame *tf, u64 entry, u64 stack)
{
	const struct keel_upcall_area *a = d->ka;
	return d->resume == RESUME_CTX && !a->disabled && user_addr(entry) && user_addr(stack) &&
	       !upcall_in_crit(a->crit_start, a->crit_end, tf->rip);
}

static inline void copy_qwords(void *dst, const void *src, u64 n)
{
	__asm__ volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

static inline void frame_to_enabled_save(struct keel_upcall_area *a, struct trap_frame *tf, u64 entry, u64 stack)
{
	struct keel_context *c = &a->enabled_save;
	_Static_assert(offsetof(struct trap_frame, rax) == offsetof(struct keel_context, rax) &&
			       offsetof(struct trap_frame, rip) == offsetof(struct keel_context, rip) + 16,
		       "a context is a trap frame without vector and error");
	copy_qwords(c, tf, 15);              /* r15 .. rax */
	copy_qwords(&c->rip, &tf->rip, 5);   /* rip cs rflags rsp ss */
	a->disabled = 1;
	tf->rip = entry;
	tf->rsp = stack & ~15ULL;
	tf->rflags = RFLAGS_IF_BIT | RFLAGS_RESERVED1;
}

__attribute__((optimize("omit-frame-pointer"))) bool upcall_event_fast(struct dispatcher *d, struct trap_frame *tf)
{
	struct keel_upcall_area *a = d->ka;
	if (!a)
		return false;
	u64 entry = a->event_entry, stack = a->upcall_stack;
	if (!fast_ok(d, tf, entry, stack))
		return false;
	frame_to_enabled_save(a, tf, entry, stack);
	tf->rdi = d->area;
	events_to_area(d, a);
	a->upcalls++;
	upcall_watchdog_reset(d); /* it was enabled */
	this_cpu()->stats.iret++;
	this_cpu()->stats.upcalls++;
	TRACE(KEEL_TR_UPCALL, d->env->id, KEEL_TR_UP_EVENT, a->pending);
	return true;
}

__attribute__((optimize("omit-frame-pointer"))) bool upcall_trap_fast(struct dispatcher *d, struct trap_frame *tf, u64 cr2)
{
	struct keel_upcall_area *a = d->ka;
	if (!a)
		return false;
	u64 entry = a->trap_entry, stack = a->upcall_stack;
	if (!fast_ok(d, tf, entry, stack))
		return false;
	u64 vector = tf->vector, error = tf->error;
	frame_to_enabled_save(a, tf, entry, stack);
	tf->rdi = d->area;
	tf->rsi = vector;
	tf->rdx = error;
	tf->rcx = cr2;
	tf->r8 = KEEL_SAVE_ENABLED;
	a->trap_vector = vector;
	a->trap_error = error;
	a->trap_cr2 = cr2;
	a->traps++;
	upcall_watchdog_reset(d);
	this_cpu()->stats.iret++;
	this_cpu()->stats.trap_upcalls++;
	TRACE(KEEL_TR_UPCALL, d->env->id, KEEL_TR_UP_TRAP, a->trap_vector); /* from memory: nothing kept live */
	return true;
}

void upcall_before_resume(struct dispatcher *d)
{
	struct area_head h;
	if (!head_read(d, &h))
		env_kill(d->env, "upcall: area at %#llx is not readable", (unsigned long long)d->area);
	/* Seen enabled at any kernel entry: not stuck (the watchdog samples
	 * every entry, not only deschedules, which can phase-lock with the
	 * env's own deadlines and always find it in its event handler). */
	if (!h.disabled || in_crit(&h, d->ctx.rip)) {
		upcall_watchdog_reset(d);
	}

	switch (d->resume) {
	case RESUME_CTX:
		break;
	case RESUME_ACTIVATE: /* its context waits in the enabled save */
		d->resume = RESUME_CTX;
		write_activation(d);
		upcall_event(d, &h);
		return;
	case RESUME_DISABLED:
		d->resume = RESUME_CTX;
		if (!take_user_ctx(d, KEEL_SAVE_DISABLED, false))
			env_kill(d->env, "upcall: cannot resume its disabled save (unreadable, or RIP not a user address)");
		write_activation(d);
		break;
	case RESUME_WATCHDOG: {
		d->resume = RESUME_CTX;
		struct keel_context c;
		ctx_from_frame(&c, &d->ctx);
		if (!user_addr(h.trap_entry) || !trap_stack_ok(&h) || !put_ctx(d, KEEL_SAVE_TRAP, &c))
			env_kill(d->env, "watchdog: disabled for too long, and no usable trap entry");
		kprintf("env %u (%s): watchdog: disabled for more than %llu ms\n", d->env->id, d->env->name,
			(unsigned long long)(upcall_watchdog_ns / 1000000));
		write_activation(d);
		events_to_area(d, d->ka);
		trap_to_env(d, &h, KEEL_SAVE_TRAP, h.trap_stack, KEEL_TRAP_WATCHDOG, 0, 0);
	}
	}

	if (!d->events && !(h.pending && !h.disabled))
		return;
	if (h.disabled && !in_crit(&h, d->ctx.rip)) {
		/* It will see them when it enables itself. */
		events_to_area(d, d->ka);
		return;
	}
	struct keel_context c;
	if (!interrupted_ctx(d, &h, &c) || !put_ctx(d, KEEL_SAVE_ENABLED, &c))
		env_kill(d->env, "upcall: cannot save the interrupted context (area %#llx, rsp %#llx)",
			 (unsigned long long)d->area, (unsigned long long)d->ctx.rsp);
	upcall_event(d, &h);
}

__noreturn void upcall_exception(struct dispatcher *d, const struct trap_frame *tf)
{
	u64 cr2 = tf->vector == VEC_PF ? read_cr2() : 0;
	/* The context that trapped is d->env->ctx (saved on entry) but for the vector
	 * and error code, which tf may have corrected (ring3_iret.c). */
	struct area_head h;
	if (!d->area || !head_read(d, &h) || !h.trap_entry) {
		if (tf->vector == VEC_PF)
			env_kill(d->env, "%s at rip %#llx (error %#llx, cr2 %#llx)", exception_name(tf->vector),
				 (unsigned long long)tf->rip, (unsigned long long)tf->error, (unsigned long long)cr2);
		env_kill(d->env, "%s at rip %#llx (error %#llx)", exception_name(tf->vector), (unsigned long long)tf->rip,
			 (unsigned long long)tf->error);
	}
	if (!user_addr(h.trap_entry))
		env_kill(d->env, "%s at rip %#llx, and trap entry %#llx is not a user address", exception_name(tf->vector),
			 (unsigned long long)tf->rip, (unsigned long long)h.trap_entry);
	struct keel_context c;
	ctx_from_frame(&c, tf);
	if (h.disabled || in_crit(&h, tf->rip)) {
		/* Disabled: the thread's context in the enabled save stays intact. */
		if (on_trap_stack(&h, tf->rsp))
			env_kill(d->env, "%s at rip %#llx on the trap path (error %#llx, cr2 %#llx)",
				 exception_name(tf->vector), (unsigned long long)tf->rip, (unsigned long long)tf->error,
				 (unsigned long long)cr2);
		u32 one = 1; /* in the critical range `disabled` may already be clear */
		if (!trap_stack_ok(&h) || !put_ctx(d, KEEL_SAVE_TRAP, &c) || !area_put(d, AREA_FIELD(disabled), &one, 4))
			env_kill(d->env, "%s at rip %#llx while disabled: trap stack %#llx (size %#llx) or area unusable",
				 exception_name(tf->vector), (unsigned long long)tf->rip, (unsigned long long)h.trap_stack,
				 (unsigned long long)h.trap_stack_size);
		trap_to_env(d, &h, KEEL_SAVE_TRAP, h.trap_stack, tf->vector, tf->error, cr2);
	}
	u32 one = 1;
	if (!user_addr(h.upcall_stack) || !put_ctx(d, KEEL_SAVE_ENABLED, &c) || !area_put(d, AREA_FIELD(disabled), &one, 4))
		env_kill(d->env, "%s at rip %#llx: upcall stack %#llx or area unusable", exception_name(tf->vector),
			 (unsigned long long)tf->rip, (unsigned long long)h.upcall_stack);
	upcall_watchdog_reset(d); /* it was enabled (as upcall_trap_fast) */
	trap_to_env(d, &h, KEEL_SAVE_ENABLED, h.upcall_stack, tf->vector, tf->error, cr2);
}

/* A dispatch of d ends at now: its time, and the watchdog's count of time
 * spent disabled (h: its area's head, as read at the deschedule). */
static void charge(struct dispatcher *d, const struct area_head *h, u64 now, bool disabled)
{
	d->up.descheduled_at = now;
	d->up.ran_ns = now - d->dispatched_at;
	d->up.ran_total_ns += d->up.ran_ns;

	/* The watchdog: disabled at every kernel entry for too long -- too
	 * long of its own CPU time, so an env idling disabled in
	 * SYS_EVENT_WAIT or waiting its turn behind others is not stuck. A
	 * dispatch that ends disabled is charged whole -- unless the env was
	 * seen enabled since it last was (disabled_ns reset to 0): then the
	 * clock only starts. An env that spends much of its time in handlers
	 * (an echo of cross-CPU events) is found in one at many a slice end,
	 * and whole slices charged for a handler entered just before would
	 * add up to a kill; and under MTTCG a host that stops the vCPU's
	 * thread in the handler stretches that slice in wall time. Either way
	 * the bound errs late by at most one time slice. */
	if (!disabled) {
		upcall_watchdog_reset(d);
		return;
	}
	d->disabled_ns = d->disabled_ns ? d->disabled_ns + MAX(d->up.ran_ns, 1) : 1;
	if (d->disabled_ns > 2 * upcall_watchdog_ns) {
		env_kill(d->env, "watchdog: disabled for more than %llu ms",
			 (unsigned long long)(2 * upcall_watchdog_ns / 1000000));
	} else if (d->disabled_ns > upcall_watchdog_ns && !d->watchdog_fired &&
		   !on_trap_stack(h, d->ctx.rsp) && !restoring_from_area(d, d->ctx.rsp)) {
		/* Not while it runs its trap path, nor while it restores a
		 * save slot (the trap save is about to be overwritten). */
		d->watchdog_fired = true;
		d->resume = RESUME_WATCHDOG; /* its context stays in ctx */
	}
}

void upcall_deschedule(struct dispatcher *d) { upcall_deschedule_at(d, clock_ns()); }

void upcall_deschedule_at(struct dispatcher *d, u64 now)
{
	if (!d->area)
		return;
	struct area_head h;
	if (!head_read(d, &h))
		env_kill(d->env, "upcall: area at %#llx is not readable", (unsigned long long)d->area);

	/* Enabled (or resuming): re-dispatch by activation upcall. Disabled
	 * (a preemption or a yield alike): the kernel resumes it from the
	 * disabled save. */
	struct keel_context c;
	bool disabled = h.disabled && !in_crit(&h, d->ctx.rip);
	if (!disabled) {
		if (!in_crit(&h, d->ctx.rip)) /* (interrupted_ctx's common case, straight into the area) */
			ctx_from_frame(area_ctx(d, KEEL_SAVE_ENABLED), &d->ctx);
		else if (!interrupted_ctx(d, &h, &c) || !put_ctx(d, KEEL_SAVE_ENABLED, &c))
			env_kill(d->env, "upcall: cannot save its context at a deschedule");
		d->resume = RESUME_ACTIVATE;
	} else {
		ctx_from_frame(area_ctx(d, KEEL_SAVE_DISABLED), &d->ctx);
		d->resume = RESUME_DISABLED;
	}
	charge(d, &h, now, disabled);
}

bool upcall_deschedule_in_place(struct dispatcher *d, u64 now)
{
	if (!d->area)
		return true;
	if (!(d->ka->flags & KEEL_AREA_YIELD_IN_PLACE))
		return false; /* (upcall_deschedule: the activation) */
	struct area_head h;
	if (!head_read(d, &h) || !(h.flags & KEEL_AREA_YIELD_IN_PLACE) || (h.disabled && !in_crit(&h, d->ctx.rip)))
		return false; /* (upcall_deschedule: the kill, the activation, the disabled save) */
	charge(d, &h, now, false); /* its context stays in ctx: RESUME_CTX */
	return true;
}

bool upcall_park(struct dispatcher *d)
{
	struct area_head h;
	if (!d->ka || !head_read(d, &h))
		return false;
	if (d->resume == RESUME_ACTIVATE || d->resume == RESUME_DISABLED)
		return true; /* there already (upcall_deschedule) */
	/* The kernel holds it (RESUME_CTX, RESUME_WATCHDOG): into the save the
	 * area's `disabled` names. */
	struct keel_context c;
	ctx_from_frame(&c, &d->ctx);
	if (!put_ctx(d, h.disabled ? KEEL_SAVE_DISABLED : KEEL_SAVE_ENABLED, &c))
		return false;
	d->resume = h.disabled ? RESUME_DISABLED : RESUME_ACTIVATE;
	return true;
}

static void deadline_fired(struct timer *t)
{
	struct dispatcher *d = (struct dispatcher *)((u8 *)t - offsetof(struct dispatcher, up.deadline));
	d->up.fired_deadline = t->deadline;
	sched_post(d, KEEL_EV_TIMER);
}

int upcall_set_deadline(struct dispatcher *d, u64 deadline_ns)
{
	if (!d->area)
		return -EINVAL;
	d->up.deadline.fire = deadline_fired;
	if (deadline_ns == 0) {
		timer_cancel(&d->up.deadline);
		return 0;
	}
	if (deadline_ns <= clock_ns()) {
		/* Already due: fire now, never through the LAPIC timer (arming
		 * and cancelling it would be two emulator exits and a stray
		 * interrupt). It replaces a deadline still armed. */
		timer_cancel(&d->up.deadline);
		d->up.deadline.deadline = deadline_ns;
		deadline_fired(&d->up.deadline);
		return 0;
	}
	timer_arm(&d->up.deadline, deadline_ns);
	return 0;
}

void upcall_area_lost(struct dispatcher *d)
{
	/* It continues from ctx, as an env without upcalls. Parked for an
	 * activation, its context is the enabled save (ctx may be older: a
	 * call's handler that has replied): take it while the frame is still
	 * readable, sanitised; if it cannot be, ctx stays. */
	if (d->ka && d->resume == RESUME_ACTIVATE && d->state != ENV_DEAD) {
		struct trap_frame saved = d->ctx;
		bool saved_sys = d->ctx_from_syscall;
		if (!take_user_ctx(d, KEEL_SAVE_ENABLED, false)) {
			d->ctx = saved;
			d->ctx_from_syscall = saved_sys;
		}
	}
	d->area = 0;
	d->ka = NULL;
	d->events = 0;
	timer_cancel(&d->up.deadline);
	d->resume = RESUME_CTX;
	upcall_watchdog_reset(d);
	if (d->state == ENV_BLOCKED && d->waiting_events) {
		/* Nothing can be posted to it any more: its wait returns. */
		sched_unblocked(d);
		d->state = ENV_RUNNABLE;
		sched_add(d);
	}
}

/* A mapping of frame pa (0: of a page table) went away or lost its write
 * right: an env whose area is no longer its own writable page at that
 * address -- it, or a table above it, was unmapped, revoked, shared
 * read-only -- takes no more upcalls: the kernel reached the area through
 * that frame, and must not write there for it any more. */
static void upcall_areas_check(paddr_t pa)
{
	for (struct env *e = env_list(); e; e = e->all_next)
		for_each_disp(e, d) {
			paddr_t now;
			if (d->ka && (!pa || direct_va_to_pa(d->ka) == pa) &&
			    (uvm_translate(e->pml4, d->area, true, &now) || now != direct_va_to_pa(d->ka)))
				upcall_area_lost(d);
		}
}

/* On every return to Ring 3 through env_run: frameless, a tail call. */
__attribute__((optimize("omit-frame-pointer"))) static void upcall_env_resume(struct dispatcher *d)
{
	if (d->area)
		upcall_before_resume(d); /* may redirect ctx to an upcall entry */
}

/* An env's end loses its area like any other way (it is ENV_DEAD by then:
 * no context is taken, nothing wakes). */
static void upcall_env_fini(struct env *e)
{
	for_each_disp(e, d)
		upcall_area_lost(d);
}
static const struct env_hooks upcall_hooks = { .fini = upcall_env_fini, .resume = upcall_env_resume };

void upcall_init(void)
{
	env_register(&upcall_hooks);
	pt_on_unmap(upcall_areas_check);
}

int upcall_setup(struct dispatcher *d, u64 area)
{
	if (area % PAGE_SIZE || !user_addr(area))
		return -EINVAL;
	paddr_t pa;
	/* The page must be the env's own, user-accessible and writable. */
	if (uvm_translate(d->env->pml4, area, true, &pa))
		return -EFAULT;
	/* ... and serve no other dispatcher, of this env or another. */
	for (struct env *o = env_list(); o; o = o->all_next)
		for_each_disp(o, od)
			if (od != d && od->ka && direct_va_to_pa(od->ka) == pa)
				return -EBUSY;
	d->ka = pa_to_va(pa);
	d->area = area;
	u64 base, mult;
	clock_params(&base, &mult);
	area_put64(d, AREA_FIELD(clock_tsc_base), base);
	area_put64(d, AREA_FIELD(clock_mult), mult);
	area_put64(d, AREA_FIELD(revoked), d->env->revoked);
	return 0;
}

i64 upcall_resume(struct dispatcher *d, u64 slot, u64 flags)
{
	if (!d->area || slot > KEEL_SAVE_TRAP || flags & ~(u64)KEEL_RESUME_ENABLE)
		return -EINVAL;
	struct trap_frame saved = d->ctx;
	bool saved_by_syscall = d->ctx_from_syscall;
	if (!take_user_ctx(d, (unsigned)slot, true)) {
		d->ctx = saved; /* refused: the call returns an error, by the way it came */
		d->ctx_from_syscall = saved_by_syscall;
		return -EINVAL;
	}
	u32 zero = 0;
	if ((flags & KEEL_RESUME_ENABLE) && !area_put(d, AREA_FIELD(disabled), &zero, 4))
		env_kill(d->env, "upcall: area at %#llx is not writable", (unsigned long long)d->area);
	env_run(d);
}

int upcall_pct_enter(struct dispatcher *r, u64 caller_id, const u64 arg[4])
{
	u64 entry = r->ka->pct_entry, stack = r->ka->pct_stack;
	if (!user_addr(entry) || !user_addr(stack))
		return -ENOENT; /* takes no calls */
	switch (r->resume) {
	case RESUME_ACTIVATE: /* its context already waits in the enabled save */
		break;
	case RESUME_CTX: {
		/* Enabled (or resuming): its context goes to the enabled save,
		 * as an event upcall would put it. */
		struct area_head h;
		struct keel_context c;
		head_read(r, &h);
		if (h.disabled && !in_crit(&h, r->ctx.rip))
			return -EAGAIN;
		if (!interrupted_ctx(r, &h, &c) || !put_ctx(r, KEEL_SAVE_ENABLED, &c))
			return -EAGAIN;
		r->up.descheduled_at = clock_ns();
		r->up.ran_ns = 0;
		break;
	}
	default: /* disabled: its context is in the disabled save */
		return -EAGAIN;
	}
	upcall_pct_enter_parked(r, entry, stack, caller_id, arg[0], arg[1], arg[2], arg[3]);
	return 0;
}

/* entry.S's page-fault delivery, when the trace is on: the two events
 * trap.c's path records, the fault and its upcall (the area's fields are set). */
void trace_pf_asm(struct dispatcher *d)
{
	trace_record(KEEL_TR_FAULT, d->env->id, d->ka->trap_vector, d->ka->trap_cr2);
	trace_record(KEEL_TR_UPCALL, d->env->id, KEEL_TR_UP_TRAP, d->ka->trap_vector);
}

/* entry.S's event delivery, when the trace is on: its site jumps to code
 * that calls this with the env (the area's pending bits are set). */
void trace_upcall_asm(struct dispatcher *d)
{
	trace_record(KEEL_TR_UPCALL, d->env->id, KEEL_TR_UP_EVENT, d->ka->pending);
}
