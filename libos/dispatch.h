/* libos internals shared by the dispatcher (dispatch.c), its CPUs
 * (dcpu.c), the thread lifecycle (thread.c) and synchronisation (sync.c).
 * Not for apps. */
#ifndef LIBOS_DISPATCH_H
#define LIBOS_DISPATCH_H

#include "sched.h"

#define THREAD_MAGIC 0x74687264u /* "thrd" */

/* What libos_setjmp (switch.S, through JMP_* of asm-offsets.h) saves of its
 * caller: the callee-saved registers, and RSP and RIP after the call, so a
 * context resumed with them returns from it again. */
struct libos_jmp {
	uint64_t rbx, rbp, r12, r13, r14, r15;
	uint64_t rsp, rip;
};

/*
 * One CPU of the thread library: a kernel dispatcher of this env, bound to
 * one CPU once there are several (docs/schedulers.md "Many CPUs"). What is
 * here belongs to that CPU and is touched only by code running on it with
 * its upcalls disabled; what is shared between CPUs (every thread's state,
 * the policy's queues, `idle`) only under the scheduler lock.
 */
struct dcpu {
	struct keel_upcall_area *area; /* first: switch.S's disable sequence reads it at offset 0 */
	unsigned idx;                  /* 0 .. sched_ncpus() - 1: what policies call a CPU */
	unsigned cpu;                  /* the kernel's index of the CPU (keel_cpu()) */
	struct thread *cur;            /* the thread it runs; NULL while it idles */
	int last_tid;                  /* the thread that ran before it idled (the trace's "before") */
	struct thread *sleepers;       /* its sleeping threads, by wake_at, earliest first */
	uint64_t armed;                /* the kernel deadline set now; 0 if none */
	uint64_t turn_end;             /* dispatch_vnow() at which cur's turn ends; 0: none */
	uint64_t last_watch;           /* dispatch_vnow() of its last watchdog scan */
	uint64_t waited_seen;          /* the area's waited_total_ns at its last activation */
	int in_policy;                 /* 1 + the callback it runs, guarded (dispatch.c) */
	bool spinning;                 /* waiting for the scheduler lock with upcalls off */
	struct libos_jmp guard_jmp;
	bool idle;                     /* (locked) waiting in the kernel for work */
	uint64_t idle_since;           /* (locked) keel_now() when it last stopped running threads */
	bool kicked;                   /* (locked) a kick is posted and not yet taken */
	bool resched;                  /* (locked) its running thread's turn is to end at once */
	bool polling;                  /* (locked) idle, spinning on `poke` (a policy's idle_poll) */
	volatile uint32_t poke;        /* set to make a polling CPU look at the scheduler again */
	uint64_t poll_at;              /* (locked) when the policy's poll is due here; 0: never */
	bool lent;                     /* (locked) lent to another env (lend.c): runs nothing, waits in the kernel */
	uint32_t lend_env;             /* (locked) lent: the borrower's ENV capability slot ... */
	unsigned lend_tell;            /* ... and the kernel CPU of its dispatcher told */
	/* The kernel's side of lending, as lend.c last made it (under its own lock) */
	bool parked;                   /* the CPU is lent as far as the kernel calls go */
	uint32_t given_env;            /* the env a capability was derived into ... */
	uint32_t mid_slot;             /* ... 1 + the slot of this env's own capability it came from; 0: none */
	uint32_t cap_slot;             /* 1 + the slot of this env's capability for the CPU; 0: not looked up */
	uint32_t cap_rights;           /* that capability's rights */
	uint64_t kicks_owed;           /* CPUs (by idx) it is to kick when it lets go of the lock */
	uint64_t lend_owed;            /* CPUs (by idx) whose lending it is to settle with the kernel, then (lend.c) */
	uint8_t *idle_stack;           /* where it idles (dcpu.c), never on a thread's stack */
	uint64_t dispatches, idles, kicks;
	uint64_t restarts;             /* threads stopped inside dispatch_disable's sequence, restarted */
};

#define DISPATCH_CPUS_MAX 64

extern struct dcpu dispatch_cpus[DISPATCH_CPUS_MAX];
extern unsigned dispatch_ncpus;               /* CPUs the thread library runs on */
extern struct dcpu *dispatch_by_cpu[DISPATCH_CPUS_MAX]; /* by keel_cpu(), once several */
extern bool dispatch_multi;                   /* several: every dispatcher bound to its CPU */
extern struct thread *dispatch_all;           /* every thread not yet joined (all_next) */

/* This CPU's upcalls off, atomically wherever the calling thread runs or
 * moves to: the CPU it is on then. switch.S: a restartable sequence (the
 * event handler moves an interrupted RIP inside it back to its start). */
struct dcpu_disabled {
	struct dcpu *c;
	uint64_t was; /* they were off already */
};
struct dcpu_disabled dispatch_disable(void);
extern char dispatch_disable_seq_start[], dispatch_disable_seq_end[];
static inline struct dcpu *dispatch_disable_here(void) { return dispatch_disable().c; }
/* This CPU, with upcalls off already. */
static inline struct dcpu *dispatch_here(void)
{
	if (!dispatch_multi)
		return &dispatch_cpus[0];
	uint32_t cpu;
	__asm__ volatile("lsl %w1, %0" : "=r"(cpu) : "r"((uint32_t)KEEL_CPU_SEL)); /* keel_cpu_by(LSL), inline */
	return dispatch_by_cpu[cpu];
}
/* The running thread (upcalls off). */
#define dispatch_cur (dispatch_here()->cur)

/* Enter and leave the dispatcher: this CPU's upcalls off and the scheduler
 * lock taken; then the lock dropped and upcalls on again (taking any event
 * that came meanwhile). */
struct dcpu *dispatch_lock(void);
void dispatch_unlock(void);
/* The scheduler lock alone (upcalls already off). */
void dispatch_spin_lock(void);
void dispatch_spin_unlock(void);
/* Locked: the running thread stops (its state already set to BLOCKED,
 * SLEEPING or DONE, or RUNNABLE: queued again with `why`); another runs.
 * Returns, unlocked, when it is resumed. */
void dispatch_stop(enum sched_why why);
/* Locked: t becomes runnable. True if the policy wants it to preempt the
 * thread running here (then call dispatch_stop(SCHED_PREEMPTED)). */
bool dispatch_wake(struct thread *t);
/* Locked: a new thread is handed to the policy. */
bool dispatch_add(struct thread *t);
/* Locked: unlock, first letting a woken thread preempt the caller. */
void dispatch_unlock_after_wake(bool preempt);
/* This CPU's own clock: the kernel clock minus the time its dispatcher was
 * descheduled. */
uint64_t dispatch_vnow(void);
/* Is t a thread not yet joined? Any pointer may be asked: no fault. */
bool thread_valid(const struct thread *t);
/* Set up the upcall handlers and the main thread. */
int dispatch_init(const struct sched_policy *policy, struct thread *main);
/* Wait until no CPU is still saving t's registers (it stopped on one). */
void dispatch_wait_saved(struct thread *t);

/* Nothing to run on c: wait in the kernel for work, on c's idle stack
 * (upcalls off, the lock not held; never returns). */
__attribute__((noreturn)) void dispatch_idle(struct dcpu *c);

/* dcpu.c: each CPU's pages, starting the other CPUs (threads_init_cpus),
 * kicking one, the memory lock. */
int dispatch_cpu_prepare(struct dcpu *c, unsigned idx);
int dispatch_start_cpus(unsigned max);
/* Locked: make c look at the scheduler again (a post to its dispatcher). */
void dispatch_kick(struct dcpu *c);
/* lend.c: bring the kernel's side of lending CPUs (by idx) in line with
 * what was decided under the lock (sched_cpu_lend, sched_cpu_reclaim):
 * called with upcalls off once the deciding CPU -- or, for a lend, the
 * lent CPU itself, just before it waits -- has let go of the lock, so the
 * derives, deletes and posts, which may wait for the kernel lock, never
 * hold up the other CPUs. */
void dispatch_lend_settle(uint64_t cpus);
/* Locked: the policy installed again (init, every runnable thread ready):
 * once the CPUs are up, so it knows them all. */
void sched_restart_policy(void);
extern const struct libos_mem_lock dispatch_mem_lock;

#endif
