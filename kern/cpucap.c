/*
 * CPUs as capabilities (cpucap.h; docs/smp.md "CPUs as capabilities").
 * What an env holds is kept per env as a count per CPU and a mask of the
 * CPUs with a non-zero count (env->cpu, env_state.h), updated as its CPU
 * capabilities are placed and go; the scheduler runs an env only where the
 * mask says (sched_cpus_changed).
 */
#include "cpucap.h"
#include "arch/x86_64/percpu.h"
#include "cap.h"
#include "console.h"
#include "env.h"
#include "keel/errno.h"
#include "sched.h"

_Static_assert(CPUCAP_MAX == MAX_CPUS, "a count per CPU the kernel can run");

static void cpu_cap_placed(struct cap *c)
{
	struct cpucap_state *s = &c->owner->cpu;
	hnode_add(&s->caps, &c->in_holder);
	if (s->count[c->base]++ == 0) {
		s->held |= 1ULL << c->base;
		sched_cpus_changed(c->owner);
	}
}

static void cpu_cap_gone(struct cap *c)
{
	struct cpucap_state *s = &c->owner->cpu;
	hnode_del(&c->in_holder);
	if (--s->count[c->base] == 0) {
		s->held &= ~(1ULL << c->base);
		sched_cpus_changed(c->owner);
	}
}

static const struct cap_type_ops cpu_ops = { .placed = cpu_cap_placed, .gone = cpu_cap_gone };

void cpucap_init(void) { cap_register_type(KEEL_CAP_CPU, &cpu_ops); }

int cpucap_grant(struct env *e, u32 cpu)
{
	if (cpu >= cpus_up)
		return -ERANGE; /* no such CPU running */
	return cap_new_root(e, KEEL_CAP_CPU, cpu, 1);
}

int cpucap_grant_defaults(void)
{
	int n = 0;
	for (struct env *e = env_list(); e; e = e->all_next) {
		if (e->parent || e->cpu.held)
			continue;
		for (u32 c = 0; c < cpus_up; c++) {
			int s = cpucap_grant(e, c);
			if (s < 0)
				return s;
		}
		n++;
	}
	return n;
}

u32 cpucap_count(const struct env *e)
{
	u32 n = 0;
	for (u64 m = e->cpu.held; m; m &= m - 1) /* (no libgcc: no popcount call) */
		n++;
	return n;
}

int cpucap_spawn(struct env *parent, struct env *child)
{
	u64 done = 0;
	for (struct hnode *n = parent->cpu.caps; n; n = n->next) {
		struct cap *c = container_of(n, struct cap, in_holder);
		if (!(c->rights & KEEL_R_GRANT) || (done & (1ULL << c->base)))
			continue;
		int s = cap_derive_into(c, c->rights, child, parent);
		if (s < 0)
			return s;
		done |= 1ULL << c->base;
	}
	return 0;
}
