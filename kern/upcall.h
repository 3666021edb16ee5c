/*
 * Upcalls: how the kernel hands events, exceptions and CPU time to the
 * environment's own code (its libOS), through the upcall area it registers
 * (keel/abi.h, docs/upcalls.md). An env without an area is served as before:
 * the kernel keeps its registers and an exception kills it.
 */
#ifndef KEEL_UPCALL_H
#define KEEL_UPCALL_H

#include "arch/x86_64/percpu.h"
#include "context.h"
#include "env.h"
#include "keel/abi.h"
#include "trace.h"
#include "types.h"

struct env;
struct trap_frame;

/* At boot: the upcall area ends with its env, events go out on the way
 * back to Ring 3, and an area whose page is unmapped is dropped. */
void upcall_init(void);

int upcall_setup(struct dispatcher *d, u64 area);
int upcall_set_deadline(struct dispatcher *d, u64 deadline_ns);

/* SYS_RESUME: continue from a save area (sanitised). Returns only an error. */
i64 upcall_resume(struct dispatcher *d, u64 slot, u64 flags);
/* The area is gone (unmapped by a revocation, or the env is ending). */
void upcall_area_lost(struct dispatcher *d);

/* A Ring 3 exception: to the env's trap entry, or the env dies. */
__noreturn void upcall_exception(struct dispatcher *d, const struct trap_frame *tf);

/* The env leaves the CPU (slice over, or yielding): put its context where its
 * libOS expects it -- the enabled save (then an activation), or the disabled
 * save (then the kernel resumes it). */
void upcall_deschedule(struct dispatcher *d);
void upcall_deschedule_at(struct dispatcher *d, u64 now); /* (the kernel clock read already) */
/* The same for a yield of an env that takes no upcalls, or asked to be
 * resumed in place (KEEL_AREA_YIELD_IN_PLACE): its context stays where the
 * kernel holds it (no activation), its time is charged. False, having done
 * nothing: it did not ask, or it is disabled (or its area unreadable), so
 * upcall_deschedule. */
bool upcall_deschedule_in_place(struct dispatcher *d, u64 now);

/* d is off every CPU, for good (its context is handed to another of its
 * env's dispatchers, disp.c): its context goes into its area, to the
 * enabled save if the area says enabled, else the disabled save (where
 * upcall_deschedule put it, or from the kernel's copy). False: it has no
 * usable area. */
bool upcall_park(struct dispatcher *d);

/* Fast deliveries from a trap frame (trap.c): the env's pending events, or
 * the exception in the frame, to its entry -- true if done (the frame now
 * enters the upcall); false: use the general path. */
bool upcall_event_fast(struct dispatcher *d, struct trap_frame *tf);
bool upcall_trap_fast(struct dispatcher *d, struct trap_frame *tf, u64 cr2);

/* On the way back to Ring 3 (env_run): finish a dispatch, deliver events.
 * (upcall_resume_plain, below, says when it would do nothing.) */
void upcall_before_resume(struct dispatcher *d);

/* Protected control transfer (pct.c). Enter r's registered call entry
 * (pct_entry on pct_stack, disabled) with the caller's id and four
 * arguments; r's own context goes to its enabled save as for an event
 * upcall. 0, -ENOENT (r registered no entry) or -EAGAIN (r is disabled:
 * its context is not one an upcall may interrupt); on an error r's
 * registers are untouched. */
int upcall_pct_enter(struct dispatcher *r, u64 caller_id, const u64 arg[4]);
/* (Its common case, upcall_pct_enter_parked, and upcall_pct_leave: below.) */

/* The longest critical range the kernel honours (bytes): a declared range
 * longer than a resume routine could be is ignored, or an env could look
 * enabled to the kernel (and to the watchdog) everywhere. entry.S's event
 * fast path applies it too. */
#define UPCALL_CRIT_MAX 256

/* The watchdog bound (ns): disabled longer gets a watchdog trap; twice as
 * long, and the env is destroyed. */
extern u64 upcall_watchdog_ns;

/* The one test of "inside the resume routine's critical range"
 * (docs/upcalls.md). entry.S's fast path makes the same test;
 * tests/test_paths.py proves the two agree. */
static inline bool upcall_in_crit(u64 crit_start, u64 crit_end, u64 rip)
{
	return crit_end - crit_start <= UPCALL_CRIT_MAX && rip >= crit_start && rip < crit_end;
}

/* The env was seen enabled (or stopped being charged: it blocked): the
 * watchdog's count of time spent disabled starts over. The one place that
 * says what that means (entry.S's fast path does the same two stores). */
static inline void upcall_watchdog_reset(struct dispatcher *d)
{
	d->disabled_ns = 0;
	d->watchdog_fired = false;
}

/* ------------------------------------------------------------------
 * Inline for the control-transfer fast paths (pct.c), which are these
 * steps and no calls: the general paths use the same functions.
 */

/* d starts at a Ring 3 entry on its upcall stack (event, trap or call),
 * its area's address in RDI. */
static inline void upcall_enter(struct dispatcher *d, u64 entry, u64 stack)
{
	d->ctx.rip = entry;
	d->ctx.rsp = stack & ~15ULL;
	d->ctx.rflags = RFLAGS_IF_BIT | RFLAGS_RESERVED1;
	d->ctx.rdi = d->area;
	d->ctx_from_syscall = true; /* RCX and R11 are undefined at an entry */
}

/* The rest of upcall_pct_enter once r's own context is in its enabled save
 * (it was parked for an activation, or has just been put there), its entry
 * and stack read from its area and checked user addresses: it cannot refuse. */
static inline void upcall_pct_enter_parked(struct dispatcher *r, u64 entry, u64 stack, u64 caller_id,
					   u64 a0, u64 a1, u64 a2, u64 a3)
{
	struct keel_upcall_area *ka = r->ka;
	ka->disabled = 1;
	r->resume = RESUME_CTX;
	upcall_enter(r, entry, stack);
	r->ctx.rsi = caller_id;
	r->ctx.rdx = a0;
	r->ctx.rcx = a1;
	r->ctx.r8 = a2;
	r->ctx.r9 = a3;
	r->ctx_from_syscall = false; /* RCX carries an argument */
	ka->pct_calls++;
	this_cpu()->stats.pct_upcalls++;
	TRACE(KEEL_TR_UPCALL, r->env->id, KEEL_TR_UP_PCT, r->ctx.rsi); /* the caller's id, from memory */
}

/* The call is over, at now: r leaves its handler, enabled again, and
 * continues from its enabled save by activation when next dispatched. */
static inline void upcall_pct_leave(struct dispatcher *r, u64 now)
{
	if (!r->ka)
		return; /* it dropped its area inside the handler: it goes on from
			 * its reply call, as an env without upcalls */
	r->ka->disabled = 0;
	r->resume = RESUME_ACTIVATE;
	r->up.descheduled_at = now;
	r->up.ran_ns = now - r->dispatched_at;
	r->up.ran_total_ns += r->up.ran_ns;
	upcall_watchdog_reset(r);
}

/* Would upcall_before_resume leave d's context as it is -- no activation,
 * no event to deliver or to write to the area? Then true, having done the
 * one thing it does besides: the watchdog's look. The fast paths ask this
 * and run d by env_run_plain; false: env_run (which does it all). */
static inline bool upcall_resume_plain(struct dispatcher *d)
{
	const struct keel_upcall_area *a = d->ka;
	if (!d->area)
		return true;
	u32 disabled = a->disabled;
	if (d->resume != RESUME_CTX || d->events || (a->pending && !disabled))
		return false;
	if (!disabled || upcall_in_crit(a->crit_start, a->crit_end, d->ctx.rip))
		upcall_watchdog_reset(d);
	return true;
}

#endif
