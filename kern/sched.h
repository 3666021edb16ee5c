/*
 * The kernel scheduler: round-robin over runnable environments in time
 * slices (Meson option timeslice_us, command line timeslice_us=N). Yield
 * gives up the rest of a slice. The kernel itself is never preempted. One
 * run queue serves every CPU (under the kernel lock); each CPU has its own
 * slice timer and idle loop, an env runs on one CPU at a time, and an env
 * pinned to a CPU (pin=IDX:cpuN) runs only there.
 */
#ifndef KEEL_SCHED_H
#define KEEL_SCHED_H

#include "arch/x86_64/percpu.h" /* this_cpu(): sched_may_run_here */
#include "dispatcher.h"
#include "types.h"

struct env;
struct dispatcher;

/* slice_ns: the time slice; when_all_ended: what to do once no env is
 * left (main.c's verdict; it does not return). Registers sched's part in
 * an env's end, and makes the scheduler what runs after an env ends. */
void sched_init(u64 slice_ns, void (*when_all_ended)(void));

void sched_add(struct dispatcher *d);    /* append to the run queue */
void sched_unqueue(struct dispatcher *d); /* off it (queued) */
static inline void sched_remove(struct dispatcher *d) /* if queued */
{
	if (d->queued)
		sched_unqueue(d);
}
void sched_add_front(struct dispatcher *d); /* to run next */

/* May dispatcher d run on this CPU: does its env hold it (cpucap.h)? (A
 * macro: struct dispatcher and this_cpu() are the caller's, dispatcher.h
 * and arch/x86_64/percpu.h.) */
#define sched_may_run_here(d) (((d)->may_run & this_cpu()->bit) != 0)

/* The CPUs d holds changed (cpucap.c), or its debug pin: the CPUs it may
 * run on follow; queued, an idle CPU that may run it now is kicked;
 * running on a CPU it may no longer run on, that CPU is kicked, and the
 * kick takes it off (trap.c). */
void sched_cpus_changed(struct env *e);

/* A dispatcher bound to a CPU its env no longer holds is handed over: fn
 * (disp.c) gives its context to another of its env's dispatchers and ends
 * it, returning true, or returns false (it stands still). It happens when
 * the CPU goes, or at the latest when the dispatcher leaves the CPU (it
 * is never queued or left blocked with nowhere to run). */
void sched_set_lost(bool (*fn)(struct dispatcher *d));

/* Run d now for the rest of the current slice, given up by the env that
 * leaves the CPU (directed yield, protected control transfer). */
__noreturn void sched_run_donated(struct dispatcher *d);
/* sched_run_donated's bookkeeping for d, which may run here, without the
 * run: a fast path's (pct.c), which runs d itself (now: the kernel clock,
 * read once on the path). A donated slice with less than
 * SCHED_DONATION_MIN_NS left is lengthened to it, once per slice: the env
 * it goes to gets to run rather than being preempted on arrival, and envs
 * handing the CPU back and forth cannot keep one slice alive for ever (the
 * others would starve). */
#define SCHED_DONATION_MIN_NS 20000
void sched_donation_extend(u64 now); /* (the lengthening, out of line) */
static inline void sched_donated(struct dispatcher *d, u64 now)
{
	d->dispatched_at = now;
	const struct percpu_sched *s = &this_cpu()->sched;
	if (!s->extended && (s->over || !s->slice.armed || s->slice.deadline < now + SCHED_DONATION_MIN_NS))
		sched_donation_extend(now);
}
/* (An env pinned to another CPU is queued there instead, and this CPU
 * runs its next env.) */

/* The run begins (cpu0, once every boot env is queued): the kernel lock is
 * taken, the other CPUs are sent into the scheduler, and this one runs the
 * first env. */
__noreturn void sched_start(void);
/* An AP joins the scheduler: to its idle loop (smp.c, once sched_running). */
__noreturn void sched_idle_enter(void);
extern bool sched_running;

/* Run the next runnable env (the current one goes to the back if still
 * runnable). With none left, the run is over. */
__noreturn void sched_next(void);
/* sched_next's steps for a yield's fast path (pct.c), which has checked
 * that cur may run here: cur to the back, the next out, its slice begun
 * at now (the kernel clock the path read); returns it (cur itself if no
 * other waits) for the caller to run. */
struct dispatcher *sched_yielded(struct dispatcher *cur, u64 now);

/* The timer ended the slice of d, which was running: count the preemption
 * and run the next env. (Its upcall bookkeeping is done by the caller.) */
__noreturn void sched_preempt(struct dispatcher *d);

/* Has the running env's slice ended? */
bool sched_slice_over(void);

/* A new slice starts for the env being dispatched. */
void sched_start_slice(void);

/* Post events to d (KEEL_EV_*): they reach it by upcall; a blocked env
 * waiting for events becomes runnable. */
void sched_post(struct dispatcher *d, u64 events);

/* d blocks now (in SYS_EVENT_WAIT if `waiting`, else in a call); and d is
 * no longer blocked (wait over, call answered): blocked time is not time
 * spent disabled, so the watchdog's clock moves past it. */
void sched_lost(struct dispatcher *d); /* (sched_set_lost's hand-over) */
static inline void sched_block(struct dispatcher *d, bool waiting)
{
	d->state = ENV_BLOCKED;
	d->waiting_events = waiting;
	if (unlikely(d->bound && !d->may_run)) /* its CPU gone meanwhile: handed over rather than left blocked there */
		sched_lost(d);
}
static inline void sched_unblocked(struct dispatcher *d) { d->waiting_events = false; }

/* When every live env waits, the idle loop halts only if something can
 * still post an event: an armed deadline, or what a registered waker says
 * (a device interrupt bound and unmasked). Otherwise the waiters are ended,
 * as failures, and calls blocked on them fail. */
void sched_add_waker(bool (*can_wake)(void));

extern u64 sched_slice_ns;

#endif
