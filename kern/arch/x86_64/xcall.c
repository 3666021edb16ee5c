/* Cross-CPU calls and kicks (xcall.h; docs/smp.md). */
#include "arch/x86_64/xcall.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/vectors.h"
#include "clock.h"
#include "keel/errno.h"

static struct {
	void (*fn)(void *);
	void *arg;
	u32 posted, taken, done; /* pending while posted != taken; answered when done == posted */
	u32 kicked;       /* a kick is in flight (cleared by the kicked CPU) */
} __aligned(64) mailbox[MAX_CPUS];

bool xcall_serve(void)
{
	u32 me = this_cpu()->id;
	u32 posted = __atomic_load_n(&mailbox[me].posted, __ATOMIC_ACQUIRE);
	if (posted == mailbox[me].taken)
		return false; /* nothing new: a late or duplicate IPI */
	/* Taken before it runs: a spin inside it (a fault's report) must not
	 * run it again. */
	mailbox[me].taken = posted;
	mailbox[me].fn(mailbox[me].arg);
	__atomic_store_n(&mailbox[me].done, posted, __ATOMIC_RELEASE);
	return true;
}

void cpu_relax_serving(void)
{
	pause();
	xcall_serve();
}

bool wait_us(u64 us, volatile u32 *flag, u32 want)
{
	u64 end = rdtsc() + tsc_hz / 1000000 * us;
	do {
		if (flag && __atomic_load_n(flag, __ATOMIC_ACQUIRE) == want)
			return true;
		xcall_serve();
		for (int i = 0; i < 256; i++)
			pause();
	} while ((i64)(rdtsc() - end) < 0);
	return flag && __atomic_load_n(flag, __ATOMIC_ACQUIRE) == want;
}

int smp_call(u32 cpu, void (*fn)(void *), void *arg)
{
	if (cpu == this_cpu()->id) {
		fn(arg);
		return 0;
	}
	if (cpu >= cpus_up)
		return -EINVAL;
	mailbox[cpu].fn = fn;
	mailbox[cpu].arg = arg;
	u32 ticket = mailbox[cpu].posted + 1;
	__atomic_store_n(&mailbox[cpu].posted, ticket, __ATOMIC_RELEASE);
	if (!lapic_send_ipi(cpus[cpu].apic_id, VEC_CALL) || !wait_us(XCALL_WAIT_US, &mailbox[cpu].done, ticket))
		return -EBUSY;
	return 0;
}

void smp_post_many(struct xcall_batch *b, u64 cpus_mask, void (*fn)(void *), void *arg)
{
	b->mask = cpus_mask & ~(1ULL << this_cpu()->id);
	for (u64 m = b->mask; m; m &= m - 1) { /* post to all, then one IPI each */
		u32 c = (u32)__builtin_ctzll(m);
		mailbox[c].fn = fn;
		mailbox[c].arg = arg;
		b->ticket[c] = mailbox[c].posted + 1;
		__atomic_store_n(&mailbox[c].posted, b->ticket[c], __ATOMIC_RELEASE);
	}
	for (u64 m = b->mask; m; m &= m - 1)
		lapic_send_ipi(cpus[__builtin_ctzll(m)].apic_id, VEC_CALL);
}

int smp_wait_many(struct xcall_batch *b)
{
	int err = 0;
	for (u64 m = b->mask; m; m &= m - 1) {
		u32 c = (u32)__builtin_ctzll(m);
		if (!wait_us(XCALL_WAIT_US, &mailbox[c].done, b->ticket[c]))
			err = -EBUSY;
	}
	return err;
}

int smp_call_many(u64 cpus_mask, void (*fn)(void *), void *arg)
{
	if (cpus_mask >> cpus_up)
		return -EINVAL;
	struct xcall_batch b;
	smp_post_many(&b, cpus_mask, fn, arg);
	if (cpus_mask & (1ULL << this_cpu()->id))
		fn(arg);
	return smp_wait_many(&b);
}

void smp_kick(u32 cpu)
{
	if (cpu >= cpus_up)
		return;
	if (__atomic_exchange_n(&mailbox[cpu].kicked, 1, __ATOMIC_ACQ_REL))
		return; /* one in flight already: it will look at everything */
	lapic_send_ipi(cpus[cpu].apic_id, VEC_KICK);
}

void xcall_kicked(void) { __atomic_store_n(&mailbox[this_cpu()->id].kicked, 0, __ATOMIC_RELEASE); }
