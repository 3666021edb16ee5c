/*
 * The syscall table. Entry: `syscall` (entry.S syscall_entry -> syscall_from_user)
 * or `int $0x80` (trap_dispatch). Every pointer from Ring 3 goes through
 * uaccess; every bad argument is a negative error, never a kernel fault.
 */
#include "arch/x86_64/idt.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "cap.h"
#include "clock.h"
#include "config.h"
#include "context.h"
#include "console.h"
#include "cpu_features.h"
#include "env.h"
#include "disp.h"
#include "event.h"
#include "keel/abi.h"
#include "lock.h"
#include "lib/string.h"
#include "pt.h"
#include "irq.h"
#include "pct.h"
#include "sched.h"
#include "syscall.h"
#include "spawn.h"
#include "timer.h"
#include "trace.h"
#include "trace_cap.h"
#include "uaccess.h"
#include "upcall.h"

u64 fast_paths_off;
bool fast_paths_forced_off;

void syscall_fast_paths(u64 off)
{
	fast_paths_off = off | (fast_paths_forced_off ? (u64)KEEL_FASTPATH_ALL : 0);
	idt_asm_fast_paths(!(fast_paths_off & KEEL_FASTPATH_ASM));
}

static i64 sys_console_write(u64 buf, u64 len)
{
	char chunk[256];
	if (len > CONSOLE_WRITE_MAX)
		len = CONSOLE_WRITE_MAX;
	if (!user_range_ok(buf, len))
		return -EFAULT;
	for (u64 done = 0; done < len;) {
		size_t n = MIN(len - done, sizeof chunk);
		if (copy_from_user(chunk, buf + done, n))
			return done ? (i64)done : -EFAULT;
		console_write(chunk, n);
		done += n;
	}
	return (i64)len;
}

/* The rest of the slice goes; the env returns 0 when it runs again. */

static i64 sys_debug(struct env *e, u64 op, u64 a, u64 b)
{
	switch (op) {
	case DEBUG_EXIT_COUNTS: {
		struct exit_stats exit_stats;
		exit_stats_sum(&exit_stats);
		struct keel_exit_counts c = { exit_stats.sysret, exit_stats.iret, exit_stats.switches,
					      timer_interrupts, timer_writes };
		return copy_to_user(a, &c, sizeof c);
	}
	case DEBUG_WATCH_RANGE:
		e->watch_lo = a;
		e->watch_hi = b;
		e->preempt_in_watch = 0;
		return 0;
	case DEBUG_PREEMPTIONS:
		return (i64)e->preempt_in_watch;
	case DEBUG_SMAP_PROBE:
		if (!KEEL_DEBUG)
			return -ENOSYS;
		if (!cpu_has.smap)
			return -ENOSYS;
		if (!user_range_ok(a, 1))
			return -EFAULT;
		return uaccess_probe_nosmap((const u8 *)a);
	case DEBUG_KERNEL_COPY: {
		/* A kernel string copy (rep movsb) of a pattern, then out. */
		u8 src[256], dst[256];
		if (b > sizeof dst)
			return -EINVAL;
		for (unsigned i = 0; i < sizeof src; i++)
			src[i] = (u8)i;
		memcpy(dst, src, b);
		return copy_to_user(a, dst, b);
	}
	case DEBUG_FLOOR_SYSCALL:
		env_set_floor_syscall(e, a != 0);
		return 0;
	case DEBUG_PT_AUDIT:
		return (i64)pt_audit(e);
	case DEBUG_TIMERS:
		return (i64)timer_queue_length();
	case DEBUG_FAST_PATHS: {
		/* Test only: every path must do what the general one does
		 * (tests/test_paths.py proves it with these switched off). */
		if (!KEEL_DEBUG)
			return -ENOSYS;
		if (a & ~(u64)KEEL_FASTPATH_ALL)
			return -EINVAL;
		syscall_fast_paths(a);
		return 0;
	}
	case DEBUG_DISP_RECORD: {
		if (!KEEL_DEBUG)
			return -ENOSYS;
		struct env *t = e;
		if (a != KEEL_SELF) {
			int err;
			struct cap *c = cap_lookup(e, a, KEEL_CAP_ENV, 0, &err);
			if (!c)
				return err;
			if (!(t = env_by_id((u32)c->base)))
				return -ENOENT;
		}
		const struct dispatcher *d = &t->d0;
		struct keel_disp_record r = {
			.state = d->state,
			.resume = d->resume,
			.waiting_events = d->waiting_events,
			.ctx_from_syscall = d->ctx_from_syscall,
			.serving = d->pct.serving,
			.was_waiting = d->pct.was_waiting,
			.caller = d->pct.caller ? d->pct.caller->env->id : 0,
			.callee = d->pct.callee ? d->pct.callee->env->id : 0,
			.events = d->events,
			.syscalls = t->syscalls,
			.activations = d->up.activations,
			.watchdog = (d->disabled_ns != 0) | (u64)d->watchdog_fired << 1,
		};
		_Static_assert(sizeof r.ctx == sizeof d->ctx, "keel_disp_record.ctx is a trap frame");
		if (t != e)
			memcpy(r.ctx, &d->ctx, sizeof r.ctx);
		return copy_to_user(b, &r, sizeof r);
	}
	case DEBUG_PIN:
		/* Test only: an env moved between CPUs at a point of its
		 * choosing (the shootdown tests' migration case), then as
		 * SYS_YIELD: it goes on only where it may run now. */
		if (!KEEL_DEBUG)
			return -ENOSYS;
		if (a >= cpus_up)
			return -ERANGE;
		e->d0.pin = (u32)a + 1; /* (the calling dispatcher's, once there are more) */
		sched_cpus_changed(e);
		pct_yield(this_cpu()->disp);
	default:
		return -EINVAL;
	}
}

i64 syscall_dispatch(u64 a0, u64 a1, u64 a2, u64 nr, struct dispatcher *d)
{
	struct env *e = d->env;
	e->syscalls++;
	TRACE(KEEL_TR_SYSCALL, e->id, nr, 0);
	switch (nr) {
	case SYS_CONSOLE_WRITE:
		return sys_console_write(a0, a1);
	case SYS_EXIT:
		env_exit(e, (int)a0);
	case SYS_YIELD:
		pct_yield(d);
	case SYS_ENV_ID:
		return e->id;
	case SYS_TIME:
		return (i64)clock_ns();
	case SYS_DEBUG:
		return sys_debug(e, a0, a1, a2);
	case SYS_UPCALL_SETUP:
		return upcall_setup(d, a0);
	case SYS_SET_DEADLINE:
		return upcall_set_deadline(d, a0);
	case SYS_RESUME:
		return upcall_resume(d, a0, a1);
	case SYS_CAP_INFO:
		return cap_info(e, a0, a1);
	case SYS_FRAME_ALLOC:
		return pt_frame_alloc(e);
	case SYS_VRANGE_ALLOC:
		return pt_vrange_alloc(e, a0, a1);
	case SYS_PT_RETYPE:
		return pt_retype(e, a0, a1, a2);
	case SYS_MMU_UPDATE:
		return pt_mmu_update(e, a0, a1, a2);
	case SYS_CAP_DERIVE:
		return cap_derive(e, a0, a1, a2);
	case SYS_CAP_REVOKE:
		return cap_revoke(e, a0);
	case SYS_CAP_DELETE:
		return cap_delete(e, a0);
	case SYS_QUOTA_INFO:
		return quota_info(e, a0);
	case SYS_EVENT_WAIT:
		return pct_event_wait(d);
	case SYS_IRQ_BIND:
		return irq_bind(d, a0);
	case SYS_IRQ_ACK:
		return irq_ack(e, a0);
	case SYS_YIELD_TO:
		return pct_yield_to(d, a0);
	case SYS_PCT_CALL:
		return pct_call(d);
	case SYS_PCT_REPLY:
		return pct_reply(d);
	case SYS_ENV_SPAWN:
		return sys_env_spawn(e, a0);
	case SYS_TRACE:
		return trace_syscall(e, a0, a1, a2);
	case SYS_EVENT_POST:
		return event_post(e, a0, a1, a2);
	case SYS_DISP_START:
		return disp_start(d, a0);
	default:
		return -ENOSYS;
	}
}

/*
 * The fast path (entry.S): the user's callee-saved registers are still live,
 * the rest on the kernel stack. Calls that need nothing but their answer,
 * for the env that made them, are answered here: {value, SYSCALL_FAST_SYSRET}
 * returns at once by sysretq. {value, SYSCALL_FAST_EVENTS}: answered, but the
 * env has events -- and {0, SYSCALL_FAST_NONE}: not a fast call -- take the
 * general path, syscall_from_user.
 */
struct fast_ret {
	u64 value, status;
};

/* SYSCALL_FAST_EVENTS if events wait for delivery (the general path), else
 * SYSCALL_FAST_SYSRET. An env seen
 * enabled here is not stuck: the watchdog starts over, as at every other
 * return to Ring 3 (upcall_before_resume) -- else a libOS whose only kernel
 * entries while enabled are fast calls, and which blocks disabled, would
 * be charged all its CPU time as disabled. */
static inline u64 fast_status(struct dispatcher *d)
{
	const struct keel_upcall_area *ka = d->ka;
	if (!ka)
		return d->events ? SYSCALL_FAST_EVENTS : SYSCALL_FAST_SYSRET;
	u32 disabled = ka->disabled, pending = ka->pending != 0;
	if (!disabled) {
		upcall_watchdog_reset(d);
	}
	return d->events || (pending && !disabled) ? SYSCALL_FAST_EVENTS : SYSCALL_FAST_SYSRET;
}

/* The fast calls that touch shared state: under the kernel lock. Spinning
 * for it may have let this CPU give its env up (it ended on another CPU):
 * the general path finds that out. Out of line, so that the unlocked calls
 * keep a frameless path. */
static __attribute__((noinline)) struct fast_ret fast_locked(u64 a0, u64 a1, u64 a2, u64 nr, struct dispatcher *d)
{
	kernel_lock_take();
	if (unlikely(this_disp() != d)) {
		kernel_lock_drop();
		return (struct fast_ret){ 0, SYSCALL_FAST_NONE };
	}
	u64 r = (u64)syscall_dispatch(a0, a1, a2, nr, d);
	u64 status = fast_status(d);
	kernel_lock_drop();
	return (struct fast_ret){ r, status };
}

/* The fast calls that do more than read a word: each out of line and
 * tail-called, so that syscall_fast itself keeps no register across a call
 * -- no frame, no callee-saved pushes -- for the calls that need none. */
/* A fast call's end, as syscall_dispatch's start does it: the trace site
 * (nr a constant where this is inlined), the count, the answer. */
static inline struct fast_ret fast_done(struct dispatcher *d, u64 nr, u64 r)
{
	TRACE(KEEL_TR_SYSCALL, d->env->id, nr, 0);
	d->env->syscalls++;
	return (struct fast_ret){ r, fast_status(d) };
}

static __attribute__((noinline)) struct fast_ret fast_time(struct dispatcher *d)
{
	return fast_done(d, SYS_TIME, clock_ns());
}

/* The deadline a libOS scheduler sets at every preemption: straight to
 * the timer queues, not through syscall_dispatch's switch. */
static __attribute__((noinline)) struct fast_ret fast_deadline(u64 when, struct dispatcher *d)
{
	if (cpus_up > 1)
		return fast_locked(when, 0, 0, SYS_SET_DEADLINE, d);
	return fast_done(d, SYS_SET_DEADLINE, (u64)upcall_set_deadline(d, when));
}

/* (Its arguments in syscall_fast's order: nothing moved before the jump.) */
static __attribute__((noinline, optimize("omit-frame-pointer"))) struct fast_ret fast_call(u64 a0, u64 a1, u64 a2, u64 nr, struct dispatcher *d)
{
	if (cpus_up > 1)
		return fast_locked(a0, a1, a2, nr, d);
	u64 r = (u64)syscall_dispatch(a0, a1, a2, nr, d); /* one CPU: no lock (lock.h) */
	return (struct fast_ret){ r, fast_status(d) };
}

__attribute__((optimize("omit-frame-pointer"))) struct fast_ret syscall_fast(u64 a0, u64 a1, u64 a2, u64 nr)
{
	struct dispatcher *d = this_disp();
	/* The calls libOSes make all the time first: the two that only read
	 * (SYS_ENV_ID answered here, without a call), then the deadline. */
	if (nr == SYS_ENV_ID) /* (entry.S counts the sysretq) */
		return fast_done(d, SYS_ENV_ID, d->env->id);
	if (nr == SYS_TIME)
		return fast_time(d);
	if (nr == SYS_SET_DEADLINE)
		return fast_deadline(a0, d);
	switch (nr) {
	/* Capabilities, page tables, interrupt bindings and posts: they never
	 * block, switch or kill the caller; what they do to other envs waits
	 * in their events. Named one by one: which calls come here must not
	 * depend on how the ABI numbers them. */
	case SYS_CAP_INFO:
	case SYS_FRAME_ALLOC:
	case SYS_VRANGE_ALLOC:
	case SYS_PT_RETYPE:
	case SYS_MMU_UPDATE:
	case SYS_CAP_DERIVE:
	case SYS_CAP_REVOKE:
	case SYS_CAP_DELETE:
	case SYS_QUOTA_INFO:
	case SYS_IRQ_BIND:
	case SYS_IRQ_ACK:
	case SYS_EVENT_POST:
		return fast_call(a0, a1, a2, nr, d);
	default:
		return (struct fast_ret){ 0, SYSCALL_FAST_NONE };
	}
}

/* Several CPUs: the kernel lock, and if this CPU's env ended on another
 * CPU while this one spun for it, on to the next env. Out of line: one CPU
 * does neither. */
static __attribute__((noinline)) void lock_for_entry(struct percpu *cpu)
{
	spin_lock(&kernel_lock);
	if (unlikely(!cpu->env))
		sched_next();
}

/* The general path, the kernel lock held. */
static __noreturn void syscall_general(struct percpu *cpu, struct trap_frame *tf)
{
	struct dispatcher *d = cpu->disp;
	u64 status = cpu->fast_status;
	cpu->fast_status = 0;
	env_save(d, tf, true);
	if (status == SYSCALL_FAST_EVENTS) /* answered on the fast path; events to deliver */
		d->ctx.rax = cpu->fast_result;
	else
		d->ctx.rax = (u64)syscall_dispatch(tf->rdi, tf->rsi, tf->rdx, tf->rax, d);
	env_run(d);
}

__noreturn void syscall_from_user(struct trap_frame *tf)
{
	struct percpu *cpu = this_cpu();
	if (unlikely(cpus_up > 1))
		lock_for_entry(cpu);
	syscall_general(cpu, tf);
}

/* entry.S's path for the calls that switch envs (SYS_YIELD, SYS_YIELD_TO,
 * SYS_PCT_CALL, SYS_PCT_REPLY): tf is the caller's dispatcher's ctx, where
 * the entry saved its registers. A fast path returns only when its common
 * case does not apply; then the general path, as for any other call. */
__noreturn void syscall_switch(struct trap_frame *tf)
{
	struct percpu *cpu = this_cpu();
	if (unlikely(cpus_up > 1))
		lock_for_entry(cpu);
	struct dispatcher *d = cpu->disp;
	d->ctx_from_syscall = true;
	u64 off = fast_paths_off;
	switch (tf->rax) {
	case SYS_PCT_CALL:
		if (likely(!(off & KEEL_FASTPATH_PCT)))
			pct_call_fast(d);
		break;
	case SYS_PCT_REPLY:
		if (likely(!(off & KEEL_FASTPATH_PCT)))
			pct_reply_fast(d);
		break;
	case SYS_YIELD:
		if (likely(!(off & KEEL_FASTPATH_YIELD)))
			pct_yield_fast(d);
		break;
	}
	syscall_general(cpu, tf); /* (the lock already held) */
}

__noreturn void syscall_compat_from_user(struct trap_frame *tf)
{
	kernel_lock_take();
	struct dispatcher *d = this_cpu()->disp;
	if (unlikely(!d))
		sched_next();
	env_save(d, tf, false);
	env_kill(d->env, "syscall from compatibility mode at rip %#llx", (unsigned long long)tf->rip);
}

static u64 entries[3]; /* syscall_init's arguments on cpu0, for the APs */

void syscall_init_like_cpu0(void) { syscall_init(entries[0], entries[1], entries[2]); }

void syscall_init(u64 entry, u64 compat_entry, u64 floor_entry)
{
	struct percpu *cpu = this_cpu();
	if (!entries[0]) {
		entries[0] = entry;
		entries[1] = compat_entry;
		entries[2] = floor_entry;
	}
	cpu->lstar[0] = entry;
	cpu->lstar[1] = floor_entry;
	/* STAR: kernel CS/SS from GDT_KCODE; user SS = base + 8, CS = base + 16. */
	wrmsr(MSR_STAR, ((u64)(GDT_UCODE32 | 3) << 48) | ((u64)GDT_KCODE << 32));
	wrmsr(MSR_LSTAR, entry);
	wrmsr(MSR_CSTAR, compat_entry);
	wrmsr(MSR_SYSENTER_CS, 0); /* `sysenter` from Ring 3: #GP (Intel) or #UD (AMD) */
	/* Cleared on entry: IF (the kernel is not preemptible), TF, DF, AC, NT,
	 * RF, IOPL -- nothing Ring 3 set in RFLAGS survives into the kernel. */
	wrmsr(MSR_FMASK, RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | RFLAGS_NT | RFLAGS_RF | RFLAGS_IOPL);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}
