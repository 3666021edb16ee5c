/*
 * libos control transfer between envs (docs/abi.md "Control transfer"):
 * waiting for events, directed yield, and protected control transfer -- a
 * synchronous call into another env's registered entry with four register
 * arguments each way, on the caller's time slice.
 */
#ifndef LIBOS_IPC_H
#define LIBOS_IPC_H

#include "keel.h"

/* 0 once an event is pending (at once if one is); events still arrive by
 * upcall. -EINVAL without an upcall area. */
static inline long sys_event_wait(void) { return keel_syscall3(SYS_EVENT_WAIT, 0, 0, 0); }
/*
 * Wait in the kernel while *word == value, where *word is changed by this
 * dispatcher's event handler (area a: keel_area, or a second dispatcher's).
 * `while (*word == value) sys_event_wait();` loses a wake-up: the upcall
 * can come between the look and the call, change the word and take the
 * event, and the call then sleeps until the next one. Here upcalls are off
 * for both (what comes meanwhile waits in `pending`, and SYS_EVENT_WAIT
 * returns at once while anything is pending), then on again, which runs
 * the handler. Not from inside a handler; while it waits, a protected
 * control transfer into the env gets -EAGAIN (it is disabled).
 */
void keel_wait_while(struct keel_upcall_area *a, const volatile uint64_t *word, uint64_t value);
/* Run the env an ENV capability names now, on the rest of this slice.
 * 0 when this env runs again; -EAGAIN if that env cannot run (blocked). */
static inline long sys_yield_to(uint32_t env_slot) { return keel_syscall3(SYS_YIELD_TO, env_slot, 0, 0); }
/* Post bits to the env an ENV capability names (KEEL_SELF: this env), on
 * its dispatcher for `cpu`: they are ORed into its area's `posted` and it
 * gets KEEL_EV_POST. 0, or -errno (docs/abi.md "Events between envs"). */
static inline long sys_event_post(uint32_t env_slot, unsigned cpu, uint64_t bits)
{
	return keel_syscall3(SYS_EVENT_POST, env_slot, cpu, (long)bits);
}

/* One call: 0 and r[0..3], or -errno (-EAGAIN: the receiver is disabled
 * now; -EBUSY: it serves another call or waits in one; -ENOENT: it takes no
 * calls or is gone; -EPIPE: it ended during the call). */
static inline long sys_pct_call(uint32_t env_slot, const uint64_t a[4], uint64_t r[4])
{
	long ret;
	register uint64_t rdi __asm__("rdi") = env_slot;
	register uint64_t rsi __asm__("rsi") = a[0];
	register uint64_t rdx __asm__("rdx") = a[1];
	register uint64_t r10 __asm__("r10") = a[2];
	register uint64_t r8 __asm__("r8") = a[3];
	__asm__ volatile("syscall"
			 : "=a"(ret), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10), "+r"(r8)
			 : "a"((long)SYS_PCT_CALL)
			 : "rcx", "r11", "r9", "memory");
	if (ret == 0) {
		r[0] = rdi;
		r[1] = rsi;
		r[2] = rdx;
		r[3] = r10;
	}
	return ret;
}

/* sys_pct_call, retried while the receiver is disabled (yielding to it so
 * that it can finish what it is doing). */
long keel_pct_call(uint32_t env_slot, const uint64_t a[4], uint64_t r[4]);

/* The receiving side. The handler runs disabled on its own stack with the
 * caller's env id and arguments in msg[0..3]; what it leaves in msg[0..3]
 * is the reply. The env's interrupted context continues afterwards, by
 * activation, as after an event upcall. Needs keel_upcalls_init() first. */
typedef void (*keel_pct_fn)(struct keel_upcall_area *a, uint64_t caller, uint64_t msg[4]);
int keel_pct_serve(keel_pct_fn fn);

#endif
