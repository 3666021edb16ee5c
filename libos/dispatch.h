/* libos internals shared by the dispatcher (dispatch.c), the thread
 * lifecycle (thread.c) and synchronisation (sync.c). Not for apps. */
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

extern struct thread *dispatch_cur;        /* the running thread */
extern struct thread *dispatch_all;        /* every thread not yet joined (all_next) */

/* Enter and leave the dispatcher: upcalls off, then on again (taking any
 * event that came meanwhile). */
void dispatch_lock(void);
void dispatch_unlock(void);
/* Locked: the running thread stops (its state already set to BLOCKED,
 * SLEEPING or DONE, or RUNNABLE: queued again with `why`); another runs.
 * Returns, unlocked, when it is resumed. */
void dispatch_stop(enum sched_why why);
/* Locked: t becomes runnable. True if the policy wants it to preempt the
 * running thread (then call dispatch_stop(SCHED_PREEMPTED)). */
bool dispatch_wake(struct thread *t);
/* Locked: a new thread is handed to the policy. */
bool dispatch_add(struct thread *t);
/* Locked: unlock, first letting a woken thread preempt the caller. */
void dispatch_unlock_after_wake(bool preempt);
/* The env's own CPU clock: the kernel clock minus the time it was descheduled. */
uint64_t dispatch_vnow(void);
/* Is t a thread not yet joined? Any pointer may be asked: no fault. */
bool thread_valid(const struct thread *t);
/* Set up the upcall handlers and the main thread. */
int dispatch_init(const struct sched_policy *policy, struct thread *main);

#endif
