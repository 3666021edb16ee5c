/*
 * Dispatchers: an env's threads of control as the kernel sees them. The
 * env is the protection domain -- address space, capabilities, quotas, the
 * CPUs it holds; a dispatcher is what runs it on a CPU: the registers it
 * left behind, its extended state and FS/GS bases, its upcall area and the
 * events bound for it, its run state and place in the run queue, its
 * deadline and its calls in progress (docs/upcalls.md, docs/smp.md).
 *
 * Every env has its first dispatcher inside it (env->d0): an env that never
 * asks for more is what an env was before dispatchers, and runs on any CPU
 * it holds. One that starts more (SYS_DISP_START, disp.c) has at most one
 * per CPU, each bound to its CPU -- d0 to the one it ran on then.
 */
#ifndef KEEL_DISPATCHER_H
#define KEEL_DISPATCHER_H

#include "arch/x86_64/trapframe.h"
#include "env_state.h"
#include "types.h"

struct env;
struct keel_upcall_area;

/* How a descheduled dispatcher with an upcall area continues when dispatched again. */
enum env_resume {
	RESUME_CTX,      /* from ctx (the kernel holds its registers) */
	RESUME_ACTIVATE, /* by upcall: its context is in the area's enabled save */
	RESUME_DISABLED, /* from the area's disabled save (sanitised), event pending */
	RESUME_WATCHDOG, /* disabled too long: ctx to the trap save, watchdog trap */
};

enum env_state {
	ENV_RUNNABLE, /* in the run queue */
	ENV_RUNNING,  /* on a CPU */
	ENV_BLOCKED,  /* waiting for an event (SYS_EVENT_WAIT) or a reply (SYS_PCT_CALL) */
	ENV_DEAD,     /* its env has ended */
	ENV_ENDED,    /* (a dispatcher) ended, its context handed to another of its env's: the env
		       * lives on; SYS_DISP_START may start it again */
};

struct dispatcher {
	/* first: what entry.S's event fast path reads (DISP_*, asm-offsets.c) */
	struct keel_upcall_area *ka; /* the upcall area, in the direct map (0: none) */
	u64 area;                /* its user address (upcall.c); 0: it takes no upcalls */
	u64 events;              /* KEEL_EV_* not yet written to the area */
	enum env_resume resume;
	bool watchdog_fired;
	u64 disabled_ns;         /* CPU time run while disabled since last seen enabled (0: not) */
	struct env *env;         /* the env it runs */

	struct trap_frame ctx;  /* registers while not running */
	bool ctx_from_syscall;  /* ctx saved at a `syscall` entry (RCX/R11 are scratch) */
	u64 fs_base, gs_base;   /* the user's FS and GS bases */
	void *fpu;              /* extended state save area */
	enum env_state state;
	struct dispatcher *rq_next, *rq_prev; /* run queue (doubly linked: taken off anywhere in O(1)) */
	bool queued;            /* on it */
	u32 loaded_on;          /* 1 + the CPU whose registers and CR3 hold it (running, or
				 * kept by that CPU's idle loop); 0: all of it is here */
	u64 may_run;            /* bit c: the scheduler may run it on CPU c (sched.c: the CPUs
				 * its env holds, cpu.held, narrowed by a debug pin) */
	u32 pin;                /* 1 + the only CPU it may run on (DEBUG_PIN, tests); 0: any */
	u32 bound;              /* 1 + the one CPU it runs on (every dispatcher of an env with
				 * more than one); 0: any its env holds (an env's only one) */
	struct dispatcher *next; /* its env's next dispatcher (env->d0 first) */
	u32 ran_on;             /* 1 + the CPU it last ran on; 0: none yet */
	u64 dispatched_at;      /* when the scheduler last gave it the CPU (sched.c) */
	bool waiting_events;    /* ENV_BLOCKED in SYS_EVENT_WAIT (sched.c) */
	struct upcall_state up; /* deadline and CPU-time accounting (upcall.c) */
	struct pct_state pct;   /* calls in progress (pct.c) */
};

 /* Each dispatcher of e, d0 first. */
#define for_each_disp(e, d) for (struct dispatcher *d = &(e)->d0; d; d = d->next)

#endif
