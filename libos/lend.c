/*
 * Lending CPUs to another env and taking them back (docs/schedulers.md
 * "Core allocation: Caladan"). The env keeps its own capability for the
 * CPU and derives one from it into the borrower; the CPU's dispatcher here
 * stops running threads and waits in the kernel, so the kernel runs the
 * borrower there. Taking it back revokes what was derived: the kernel
 * takes the borrower off the CPU at once (its dispatcher there is handed
 * to another of its own, KEEL_EV_LOST), whatever the borrower does -- the
 * capability, not its good will, says whose the CPU is -- and this
 * dispatcher, woken just before, runs threads there again.
 *
 * A policy decides, in its callbacks (locked); the kernel calls -- a
 * derive and a post, or a post and a revoke, each of which may wait for
 * the kernel lock -- are made by the deciding CPU once it has let go of the
 * scheduler lock (dispatch_lend_settle), never holding up the others.
 */
#include "dispatch.h"
#include "ipc.h"
#include "vm.h"

uint64_t sched_lends, sched_reclaims, sched_lend_failures;

static int is_cpu(const struct keel_cap_info *info, uint64_t cpu) { return info->base == cpu; }

/* The slot of this env's capability for c's CPU (looked up once). */
static long cap_slot(struct dcpu *c)
{
	if (!c->cap_slot) {
		long s = vm_find_cap(0, KEEL_CAP_CPU, is_cpu, c->cpu, NULL);
		if (s < 0)
			return s;
		c->cap_slot = (uint32_t)s + 1;
	}
	return (long)c->cap_slot - 1;
}

int sched_cpu_lend(unsigned cpu, uint32_t env_slot, unsigned tell_cpu)
{
	if (!dispatch_multi || cpu >= dispatch_ncpus)
		return -EINVAL;
	struct dcpu *c = &dispatch_cpus[cpu], *here = dispatch_here();
	if (c == here || !c->idle || c->lent)
		return -EBUSY; /* (only an idle CPU, and not the caller's own) */
	uint64_t bit = 1ULL << cpu;
	c->lent = true;
	sched_lends++;
	if (here->reclaim_owed & bit) {
		here->reclaim_owed &= ~bit; /* (taken back and lent again before settling: the borrower keeps it) */
	} else {
		c->lend_env = env_slot;
		c->lend_tell = tell_cpu;
		here->lend_owed |= bit;
	}
	if (c->polling)
		__atomic_store_n(&c->poke, 1, __ATOMIC_RELEASE); /* out of its poll, into the kernel */
	return 0;
}

int sched_cpu_reclaim(unsigned cpu)
{
	if (!dispatch_multi || cpu >= dispatch_ncpus || !dispatch_cpus[cpu].lent)
		return -EINVAL;
	struct dcpu *c = &dispatch_cpus[cpu], *here = dispatch_here();
	uint64_t bit = 1ULL << cpu;
	c->lent = false;
	sched_reclaims++;
	c->idle_since = keel_now();
	if (here->lend_owed & bit) { /* (lent and taken back before settling: the borrower never had it) */
		here->lend_owed &= ~bit;
		dispatch_kick(c);
		return 0;
	}
	/* Its dispatcher is woken first, then the borrower's taken off: the
	 * CPU goes straight from one to the other (woken after, it would find
	 * the CPU idle, halted, and need waking itself). */
	c->reclaim_kick = !c->kicked;
	if (!c->kicked) {
		c->kicked = true;
		c->kicks++;
	}
	here->reclaim_owed |= bit;
	return 0;
}

bool sched_cpu_lent(unsigned cpu) { return cpu < dispatch_ncpus && dispatch_cpus[cpu].lent; }

void dispatch_lend_settle(uint64_t lend, uint64_t reclaim)
{
	for (; reclaim; reclaim &= reclaim - 1) {
		struct dcpu *c = &dispatch_cpus[__builtin_ctzll(reclaim)];
		if (c->reclaim_kick)
			sys_event_post(KEEL_SELF, c->cpu, 1);
		long r = sys_cap_revoke(c->cap_slot - 1); /* (the kernel takes the borrower off: a kick if it runs there) */
		if (r < 0)
			printf("libos: taking cpu%u back: %s\n", c->cpu, errname(r));
	}
	for (; lend; lend &= lend - 1) {
		struct dcpu *c = &dispatch_cpus[__builtin_ctzll(lend)];
		long s = cap_slot(c);
		long r = s < 0 ? s : sys_cap_derive((uint32_t)s, KEEL_R_ALL & ~KEEL_R_GRANT, c->lend_env);
		if (r < 0) { /* (it stays lent, to nobody, until taken back) */
			sched_lend_failures++;
			printf("libos: lending cpu%u: %s\n", c->cpu, errname(r));
			continue;
		}
		sys_event_post(c->lend_env, c->lend_tell, 1ULL << c->cpu); /* (lent even if it cannot be told) */
	}
}
