/*
 * Cross-CPU calls and kicks (docs/smp.md, "Cross-CPU calls"). Low in the
 * layers so that every spin loop in the kernel -- a lock, a shootdown's
 * wait -- can serve this CPU's pending call while it spins: the CPU that
 * posted it holds the kernel lock and waits for the answer.
 */
#ifndef KEEL_X86_XCALL_H
#define KEEL_X86_XCALL_H

#include "arch/x86_64/percpu.h"
#include "types.h"

/* An AP reports within microseconds of its startup IPI, and a call is
 * answered as fast; a virtual CPU may wait for a host thread on a loaded
 * host (QEMU runs one thread per vCPU): five seconds before giving up, as
 * Linux waits. */
#define XCALL_WAIT_US 5000000

/*
 * Run fn(arg) on CPU `cpu` (an index into cpus[]) and wait until it has run:
 * the call is posted in that CPU's mailbox and a VEC_CALL IPI sent; that CPU
 * runs it from the interrupt, or from the spin loop it is in. On this CPU, a
 * plain call. 0; -EINVAL for a CPU that is not up; -EBUSY if it did not run
 * within XCALL_WAIT_US (the caller reports it). The caller holds the kernel
 * lock (or runs before the APs join the scheduler): no two calls race for
 * one mailbox.
 */
int smp_call(u32 cpu, void (*fn)(void *), void *arg);

/* The same on every CPU in the mask (bit N: cpuN), this one included if
 * its bit is set: posted to all, one IPI each, then every answer awaited --
 * the calls run in parallel. 0, -EINVAL, or -EBUSY if one did not answer. */
int smp_call_many(u64 cpus_mask, void (*fn)(void *), void *arg);

/* The two halves, for a caller that works while the calls run (a
 * rendezvous: the calls wait for it): post to every CPU of the mask but
 * this one, then wait for every answer (0 or -EBUSY). */
struct xcall_batch {
	u64 mask;
	u32 ticket[MAX_CPUS];
};
void smp_post_many(struct xcall_batch *b, u64 cpus_mask, void (*fn)(void *), void *arg);
int smp_wait_many(struct xcall_batch *b);

/* Run this CPU's pending call, if one is posted (VEC_CALL's handler, and
 * every spin loop). True if one ran. */
bool xcall_serve(void);

/* Make CPU `cpu` enter the kernel and look again (VEC_KICK, no wait): an
 * env it runs has events, or it idles and there is work, or its env may no
 * longer run there. At most one kick is in flight per target: a CPU already
 * kicked is not sent another. This CPU's own kick arrives once it runs with
 * interrupts on (back in Ring 3, or halted). */
void smp_kick(u32 cpu);
void xcall_kicked(void); /* trap.c: VEC_KICK arrived (after its EOI) */

/* Spin up to `us` microseconds, or until *flag == want if flag is given,
 * serving this CPU's calls meanwhile. The TSC is read only every 256
 * pauses: under -icount a TSC read ends a translation block and costs far
 * more than the pauses, which count as one instruction each. */
bool wait_us(u64 us, volatile u32 *flag, u32 want);

/* Spin-loop body: `pause`, and this CPU's pending call if any. */
void cpu_relax_serving(void);

#endif
