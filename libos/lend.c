/*
 * Lending CPUs to another env and taking them back (docs/schedulers.md
 * "Core allocation between envs: Caladan"). The env keeps its own
 * capability for the CPU: a lend derives one from it into this env (the
 * lend's own, so taking it back touches nothing else derived from the
 * CPU's -- a child's, given at spawn), and from that one into the
 * borrower, without the grant right; the CPU's dispatcher here stops
 * running threads and waits in the kernel, so the kernel runs the borrower
 * there. Taking it back deletes the lend's capability, and with it the
 * borrower's: the kernel takes the borrower off the CPU (its dispatcher
 * there is handed to another of its own, KEEL_EV_LOST), whatever it does --
 * the capability, not its good will, says whose the CPU is -- and this
 * env's dispatcher there, woken just before, runs threads again.
 *
 * A policy decides, in its callbacks (locked): sched_cpu_lend and
 * sched_cpu_reclaim change only the library's record. The kernel calls --
 * which may wait for the kernel lock -- are made after the lock is let go
 * (dispatch_lend_settle): a lend by the lent CPU itself, once it runs
 * nothing, just before it waits (no lock of this env is held on a CPU the
 * borrower may run on); a taking back by the CPU that decided it. Whoever
 * settles brings the kernel's side of each CPU named in line with the
 * latest decision, one CPU at a time: decisions made meanwhile, on any CPU,
 * are settled by whoever comes after, in order.
 */
#include "dispatch.h"
#include "ipc.h"
#include "vm.h"

uint64_t sched_lends, sched_reclaims, sched_lend_failures;

static uint32_t settling;     /* a CPU is settling (the lock of the kernel's side) */
static uint64_t settle_wanted; /* CPUs (by idx) to settle: taken by whoever settles next */

int sched_cpu_lend(unsigned cpu, uint32_t env_slot, unsigned tell_cpu)
{
	if (!dispatch_multi || cpu >= dispatch_ncpus)
		return -EINVAL;
	struct dcpu *c = &dispatch_cpus[cpu];
	if (c == dispatch_here() || !c->idle || c->lent || c->kicked)
		return -EBUSY; /* (only an idle CPU no work was sent to, and not the caller's own) */
	c->lent = true;
	c->lend_env = env_slot;
	c->lend_tell = tell_cpu;
	sched_lends++;
	if (c->polling) /* out of its poll: it runs nothing now, gives itself and waits */
		__atomic_store_n(&c->poke, 1, __ATOMIC_RELEASE);
	else
		dispatch_kick(c);
	return 0;
}

int sched_cpu_reclaim(unsigned cpu)
{
	if (!dispatch_multi || cpu >= dispatch_ncpus || !dispatch_cpus[cpu].lent)
		return -EINVAL;
	struct dcpu *c = &dispatch_cpus[cpu];
	c->lent = false;
	c->idle_since = keel_now();
	sched_reclaims++;
	dispatch_here()->lend_owed |= 1ULL << cpu; /* (settled by this CPU once it lets go of the lock) */
	return 0;
}

bool sched_cpu_lent(unsigned cpu) { return cpu < dispatch_ncpus && dispatch_cpus[cpu].lent; }

/* The kernel's side of c, as now decided (under `settling`). */
static void settle_one(struct dcpu *c)
{
	bool want = __atomic_load_n(&c->lent, __ATOMIC_ACQUIRE);
	uint32_t env = c->lend_env;
	unsigned tell = c->lend_tell;
	if (c->parked && (!want || env != c->given_env)) {
		/* Taken back (or lent elsewhere): its dispatcher here is woken
		 * first, then the borrower's capability goes -- the CPU passes
		 * straight from one to the other (woken after, it would find the
		 * CPU idle, halted, and need waking itself). */
		if (!want)
			sys_event_post(KEEL_SELF, c->cpu, 1);
		if (c->mid_slot) {
			long r = sys_cap_delete(c->mid_slot - 1);
			if (r < 0)
				printf("libos: taking cpu%u back: %s\n", c->cpu, errname(r));
		}
		c->mid_slot = 0;
		c->parked = false;
	}
	if (!want || c->parked)
		return;
	c->parked = true; /* (lent, to the borrower if the kernel lets it) */
	c->given_env = env;
	long r = 0;
	if (!c->cap_slot) {
		struct keel_cap_info info;
		r = vm_find_cpu_cap(c->cpu, &info);
		if (r >= 0) {
			c->cap_slot = (uint32_t)r + 1;
			c->cap_rights = info.rights;
		}
	}
	long mid = r < 0 ? r : sys_cap_derive(c->cap_slot - 1, c->cap_rights, KEEL_SELF);
	r = mid < 0 ? mid : sys_cap_derive((uint32_t)mid, c->cap_rights & ~KEEL_R_GRANT, env);
	if (r < 0) { /* (it stays lent, to nobody, until taken back) */
		if (mid >= 0)
			sys_cap_delete((uint32_t)mid);
		sched_lend_failures++;
		printf("libos: lending cpu%u: %s\n", c->cpu, errname(r));
		return;
	}
	c->mid_slot = (uint32_t)mid + 1;
	sys_event_post(env, tell, 1ULL << c->cpu); /* (lent even if it cannot be told) */
}

void dispatch_lend_settle(uint64_t cpus)
{
	__atomic_fetch_or(&settle_wanted, cpus, __ATOMIC_RELEASE);
	/* One CPU settles at a time; one that finds another at it leaves its
	 * CPUs to it, which looks again after letting go. (Upcalls are off:
	 * the settling CPU is not preempted by this env's handler.) */
	while (__atomic_load_n(&settle_wanted, __ATOMIC_ACQUIRE) &&
	       !__atomic_exchange_n(&settling, 1, __ATOMIC_ACQUIRE)) {
		for (uint64_t m = __atomic_exchange_n(&settle_wanted, 0, __ATOMIC_ACQ_REL); m; m &= m - 1)
			settle_one(&dispatch_cpus[__builtin_ctzll(m)]);
		/* Sequentially consistent: the look at settle_wanted above must
		 * not pass this store (x86 lets a load overtake an earlier store),
		 * or a CPU that added its bits and found `settling` still taken
		 * would leave them for no one. */
		__atomic_store_n(&settling, 0, __ATOMIC_SEQ_CST);
	}
}
