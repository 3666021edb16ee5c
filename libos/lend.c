/*
 * Lending CPUs to another env and taking them back (docs/schedulers.md
 * "Core allocation: Caladan"). The env keeps its own capability for the
 * CPU and derives one from it into the borrower; the CPU's dispatcher here
 * stops running threads and waits in the kernel, so the kernel runs the
 * borrower there. Taking it back revokes what was derived: the kernel
 * takes the borrower off the CPU at once (its dispatcher there is handed
 * to another of its own, KEEL_EV_LOST), whatever the borrower does -- the
 * capability, not its good will, says whose the CPU is -- and this
 * dispatcher is kicked to run threads there again.
 *
 * Called by a policy, in its callbacks (locked); docs/schedulers.md.
 */
#include "dispatch.h"
#include "ipc.h"
#include "vm.h"

uint64_t sched_lends, sched_reclaims;

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
	struct dcpu *c = &dispatch_cpus[cpu];
	if (c == dispatch_here() || !c->idle || c->lent)
		return -EBUSY; /* (only an idle CPU, and not the caller's own) */
	long slot = cap_slot(c);
	if (slot < 0)
		return (int)slot;
	long r = sys_cap_derive((uint32_t)slot, KEEL_R_ALL & ~KEEL_R_GRANT, env_slot);
	if (r < 0)
		return (int)r;
	c->lent = true;
	sched_lends++;
	if (c->polling)
		__atomic_store_n(&c->poke, 1, __ATOMIC_RELEASE); /* out of its poll, into the kernel */
	r = sys_event_post(env_slot, tell_cpu, 1ULL << c->cpu);
	return r < 0 ? (int)r : 0; /* (lent even if the borrower could not be told: it holds the CPU) */
}

int sched_cpu_reclaim(unsigned cpu)
{
	if (!dispatch_multi || cpu >= dispatch_ncpus || !dispatch_cpus[cpu].lent)
		return -EINVAL;
	struct dcpu *c = &dispatch_cpus[cpu];
	long r = sys_cap_revoke(c->cap_slot - 1); /* (the kernel takes the borrower off it: a kick if it runs there) */
	if (r < 0)
		return (int)r;
	c->lent = false;
	sched_reclaims++;
	c->idle_since = keel_now();
	dispatch_kick(c);
	return 0;
}

bool sched_cpu_lent(unsigned cpu) { return cpu < dispatch_ncpus && dispatch_cpus[cpu].lent; }
