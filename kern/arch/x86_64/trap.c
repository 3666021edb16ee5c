/*
 * trap_dispatch: where every interrupt and exception is decided -- handled by
 * the kernel, charged to the environment that caused it, or fatal.
 *
 * From Ring 3 the frame is first saved into the env (its registers live
 * there, not on the kernel stack); whatever happens next leaves through
 * env_run -> user_return, for this env or the next.
 */
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/pic.h"
#include "arch/x86_64/trapframe.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/vectors.h"
#include "arch/x86_64/xcall.h"
#include "console.h"
#include "env.h"
#include "irq.h"
#include "lock.h"
#include "panic.h"
#include "panic_trap.h"
#include "sched.h"
#include "syscall.h"
#include "timer.h"
#include "trace.h"
#include "uaccess.h"
#include "upcall.h"

extern const char user_iretq[];

/*
 * `int $N` on a software vector the env holds no capability for: the #GP
 * the CPU gives for a gate of lower privilege -- error code N * 8 + 2 (an
 * IDT index), RIP at the instruction (CD ib: two bytes back, checked).
 */
static void soft_vector_gp(struct trap_frame *tf)
{
	u8 insn[2];
	unsigned v = (unsigned)tf->vector;
	if (tf->rip >= 2 && !copy_from_user(insn, tf->rip - 2, 2) && insn[0] == 0xCD && insn[1] == v)
		tf->rip -= 2;
	tf->vector = VEC_GP;
	tf->error = v * 8 + 2;
}

/*
 * `int $N` through a gate of DPL 0: the CPU's #GP carries the gate's IDT
 * index, N * 8 + 2 (the IDT flag). QEMU's TCG (7.2) reports the gate's byte
 * offset instead, N * 16 + 2; Ring 3 gets the architectural code -- the one
 * soft_vector_gp gives for a software vector -- whatever runs the kernel.
 * (On hardware the two differ for every N > 0, so this never fires there.)
 */
static void int_gate_gp_error(struct trap_frame *tf)
{
	static bool announced;
	u8 insn[2];
	if ((tf->error & 7) != 2 || tf->error < 16 || copy_from_user(insn, tf->rip, 2) || insn[0] != 0xCD ||
	    tf->error != insn[1] * 16u + 2)
		return;
	if (!announced) {
		announced = true;
		kprintf("cpu: `int $%#x` raised #GP with error %#llx, the gate's byte offset (QEMU TCG); the kernel "
			"reports the IDT index, %#x, as CPUs do\n",
			insn[1], (unsigned long long)tf->error, insn[1] * 8u + 2);
	}
	tf->error = insn[1] * 8u + 2;
}

/*
 * From Ring 3. The common cases finish right on the trap frame and return
 * (trap_exit then resumes it): an interruption with nothing for the env, an
 * event or exception delivered as an upcall to an enabled env. Everything
 * else saves the frame into the env and leaves through env_run.
 */
__attribute__((optimize("omit-frame-pointer"))) static inline __attribute__((always_inline)) void
from_user(struct trap_frame *tf)
{
	struct dispatcher *d = this_cpu()->disp;
	unsigned v = (unsigned)tf->vector;

	if (v == VEC_SELF_EVENT) {
		if (!d->area)
			return; /* no upcalls taken: nothing to raise */
		d->events |= KEEL_EV_SELF;
		if (!(fast_paths_off & KEEL_FASTPATH_C) && upcall_event_fast(d, tf))
			return;
	} else if (v == VEC_TIMER) {
		timer_interrupt();
		if (!sched_slice_over()) {
			if (!d->events)
				return; /* not this env's business: resume it */
			if (upcall_event_fast(d, tf))
				return;
		}
	} else if (v < 32) {
		u64 cr2 = v == VEC_PF ? read_cr2() : 0;
		/* (A user-mode #PF is never the iretq's: decided here, not by a
		 * call with a stack frame on every fault of a libOS pager.) */
		if (v == VEC_PF && !(tf->error & PF_U)) {
			if (ring3_iret_complete(d->env, tf, cr2)) {
				/* Resumed where the iretq went -- with the events posted
				 * meanwhile delivered there, as at every other exit. */
				if (!d->events || upcall_event_fast(d, tf))
					return;
				env_save(d, tf, false);
				env_run(d);
			}
			/* ring3_iret.c may have made it the #GP/#NP/#SS the CPU would
			 * raise, or moved CR2 to the page a user-mode pop faults on. */
			cr2 = tf->vector == VEC_PF ? read_cr2() : 0;
		}
		if (v == VEC_GP)
			int_gate_gp_error(tf);
		/* (CR2 read again on the recording side: keeping cr2 for the
		 * site would cost the path a register.) */
		TRACE(KEEL_TR_FAULT, d->env->id, tf->vector, tf->vector == VEC_PF ? read_cr2() : tf->rip);
		if (!(fast_paths_off & KEEL_FASTPATH_C) && upcall_trap_fast(d, tf, cr2))
			return;
	} else if (v - VEC_IRQ_BASE < VEC_IRQ_COUNT) {
		irq_interrupt(v); /* for this env or another: it is posted */
		if (!d->events)
			return;
		if (upcall_event_fast(d, tf))
			return;
	} else if (v == VEC_KICK || v == VEC_CALL) {
		/* (acknowledged in smp_entry, below; with one CPU only a kick of
		 * its own comes, acknowledged here) another CPU posted events to this
		 * env, or wanted this CPU in the kernel a moment, or the env lost
		 * its capability for this CPU: off it goes (sched.c) */
		if (cpus_up == 1) {
			lapic_eoi();
			xcall_kicked();
		}
		if (unlikely(!sched_may_run_here(d))) {
			env_save(d, tf, false);
			upcall_deschedule(d);
			sched_next(); /* handed over on the way (bound: sched.c), or queued again for a CPU it may run on */
		}
		if (!d->events)
			return;
		if (upcall_event_fast(d, tf))
			return;
		env_save(d, tf, false);
		env_run(d);
	} else if (v - VEC_SOFT_BASE < VEC_SOFT_COUNT) {
		if (swvec_raise(d, v)) {
			if (upcall_event_fast(d, tf))
				return;
		} else {
			soft_vector_gp(tf);
			if (upcall_trap_fast(d, tf, 0))
				return;
			env_save(d, tf, false);
			upcall_exception(d, tf);
		}
	}

	env_save(d, tf, false);
	if (v < 32)
		upcall_exception(d, tf); /* to its trap entry, or it dies alone */
	if (v - VEC_IRQ_BASE < VEC_IRQ_COUNT || v - VEC_SOFT_BASE < VEC_SOFT_COUNT)
		env_run(d); /* its events go out on the way */
	if (v == VEC_TIMER) {
		if (!sched_slice_over())
			env_run(d);
		upcall_deschedule(d); /* its slice is over */
		sched_preempt(d);
	}
	if (v == VEC_SYSCALL_INT) {
		d->ctx.rax = (u64)syscall_dispatch(tf->rdi, tf->rsi, tf->rdx, tf->rax, d);
		env_run(d);
	}
	if (v == VEC_PIC_SPURIOUS_MASTER || v == VEC_PIC_SPURIOUS_SLAVE) {
		if (pic_handle_spurious(v))
			this_cpu()->spurious_pic++;
	} else if (v == VEC_LAPIC_SPURIOUS) {
		this_cpu()->spurious_lapic++;
	} else if (v != VEC_SELF_EVENT) {
		kprintf("trap: unexpected vector %u from Ring 3 at %#llx, ignored\n", v, (unsigned long long)tf->rip);
		if (v >= 0x30)
			lapic_eoi();
	}
	env_run(d);
}

static void from_kernel(struct trap_frame *tf);

/*
 * An entry from Ring 3 found that its env had been taken from this CPU
 * while it spun for the kernel lock (it ended on another CPU): the frame is
 * the dead env's. Acknowledge what the vector needs, and schedule.
 */
static __noreturn void orphaned_entry(struct trap_frame *tf)
{
	unsigned v = (unsigned)tf->vector;
	if (v == VEC_TIMER)
		timer_interrupt();
	else if (v - VEC_IRQ_BASE < VEC_IRQ_COUNT)
		irq_interrupt(v);
	else if (v == VEC_PIC_SPURIOUS_MASTER || v == VEC_PIC_SPURIOUS_SLAVE)
		pic_handle_spurious(v);
	sched_next();
}

/*
 * With several CPUs up, an entry from Ring 3 acknowledges a cross-CPU call
 * or kick first (the CPU that sent it may hold the kernel lock and wait for
 * the answer), then takes the lock. A call (a TLB flush, a park) touches
 * only this CPU: if it left this CPU's env here with no events to deliver,
 * the env goes straight back to Ring 3, without the lock (an event posted
 * meanwhile comes with a kick of its own). False: so it did. Out of line:
 * one CPU does none of this.
 */
static __attribute__((noinline)) bool smp_entry(struct trap_frame *tf)
{
	unsigned v = (unsigned)tf->vector;
	if (v == VEC_CALL) {
		lapic_eoi();
		xcall_serve();
		struct dispatcher *d = this_cpu()->disp;
		if (d && !__atomic_load_n(&d->events, __ATOMIC_RELAXED))
			return false;
	} else if (v == VEC_KICK) {
		lapic_eoi();
		xcall_kicked();
	}
	spin_lock(&kernel_lock);
	if (unlikely(!this_cpu()->env))
		orphaned_entry(tf);
	return true;
}

/*
 * Every entry from Ring 3 but the unlocked fast paths (docs/smp.md) takes
 * the kernel lock first and drops it on the way out (here, or in env_run).
 */
__attribute__((optimize("omit-frame-pointer"))) void trap_dispatch(struct trap_frame *tf)
{
	unsigned v = (unsigned)tf->vector;
	/* #DF, NMI and #MC come through the paranoid path, from anywhere. */
	if (likely(tf_from_user(tf)) && v != VEC_NMI && v != VEC_DF && v != VEC_MC) {
		if (unlikely(cpus_up > 1) && !smp_entry(tf))
			return;
		from_user(tf);
		kernel_lock_drop();
	} else {
		from_kernel(tf);
	}
}

static void from_kernel(struct trap_frame *tf)
{
	unsigned v = (unsigned)tf->vector;

	if (v == VEC_DF)
		panic_double_fault(tf);
	if (v == VEC_NMI) {
		smp_nmi(); /* a panic on another CPU: does not return */
		kprintf("trap: NMI at %#llx (ignored)\n", (unsigned long long)tf->rip);
		return;
	}
	if (v == VEC_MC)
		panic_trap(tf); /* a hardware error: never forwarded (the paranoid path
				 * holds the user's GS base only in a register) */
	if (v == VEC_DB) {
		/* A #DB in Ring 0 (on its IST stack, entry.S db_entry): the kernel
		 * never sets TF or a breakpoint, so this is Ring 3's single-step
		 * or breakpoint deferred by MOV SS / POP SS onto a kernel entry's
		 * first instruction. Nothing of the kernel's to debug: clear TF and
		 * DR6, and carry on (Ring 3 gets its own #DB when it resumes). */
		static bool announced;
		if (!announced) {
			announced = true;
			kprintf("trap: #DB in Ring 0 at %#llx <", (unsigned long long)tf->rip);
			print_symbol(tf->rip);
			kprintf("> (a debug trap deferred past a kernel entry): ignored\n");
		}
		this_cpu()->db_in_kernel++;
		tf->rflags &= ~RFLAGS_TF;
		__asm__ volatile("mov %0, %%db6" ::"r"(0xFFFF0FF0ULL));
		return;
	}

	/* From here on the kernel itself was interrupted. */
	if (v < 32) {
		if (tf->rip == (u64)user_iretq) {
			/* The return to Ring 3 faulted on the env's own frame:
			 * the env's fault. GS was swapped back on entry; this
			 * must not return, or trap_exit would leave with the
			 * kernel's GS. (env_run had dropped the kernel lock.) */
			if (!env_current())
				panic_trap(tf);
			kernel_lock_take();
			if (!env_current())
				orphaned_entry(tf); /* it ended meanwhile on another CPU */
			env_kill(env_current(), "%s returning to Ring 3 at rip %#llx",
				 exception_name(v), (unsigned long long)((u64 *)tf->rsp)[0]);
		}
		if (v == VEC_PF && extable_fixup(tf))
			return; /* a user copy hit a bad page: it returns -EFAULT */
		panic_trap(tf);
	}
	/* In the idle loop (or a boot test's wait), which dropped the kernel
	 * lock to halt: the lock is taken for what touches shared state. */
	if (v == VEC_TIMER) {
		kernel_lock_take();
		timer_interrupt();
		kernel_lock_drop();
		return;
	}
	if (v == VEC_CALL) {
		lapic_eoi();
		xcall_serve();
		return;
	}
	if (v == VEC_KICK) {
		lapic_eoi();
		xcall_kicked(); /* the idle loop looks again */
		return;
	}
	if (v - VEC_IRQ_BASE < VEC_IRQ_COUNT) {
		kernel_lock_take();
		irq_interrupt(v); /* in the idle loop: it wakes the holder */
		kernel_lock_drop();
		return;
	}
	if (v == VEC_PIC_SPURIOUS_MASTER || v == VEC_PIC_SPURIOUS_SLAVE) {
		if (pic_handle_spurious(v)) {
			this_cpu()->spurious_pic++;
			return;
		}
	} else if (v == VEC_LAPIC_SPURIOUS) {
		this_cpu()->spurious_lapic++; /* no EOI for the spurious vector */
		return;
	}
	kprintf("trap: unexpected vector %u at %#llx, ignored\n", v, (unsigned long long)tf->rip);
}
