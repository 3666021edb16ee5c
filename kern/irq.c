#include "irq.h"
#include "arch/x86_64/ioapic.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/vectors.h"
#include "cap.h"
#include "console.h"
#include "env.h"
#include "heap.h"
#include "keel/errno.h"
#include "platform.h"
#include "sched.h"
#include "trace.h"

/* Per GSI: how its line is driven, and who has it bound through which cap. */
static struct {
	bool known, level, active_low, kernel;
	bool masked; /* bound, and waiting for its holder's acknowledgement */
	struct cap *bound; /* the capability it was bound through */
	struct dispatcher *disp; /* ... by this dispatcher of its owner, which gets it */
} gsi_state[VEC_IRQ_COUNT];

static void irq_cap_placed(struct cap *c);
static void irq_cap_gone(struct cap *c);
static bool irq_can_wake(void);
static const struct cap_type_ops irq_ops = { .gone = irq_cap_gone }; /* unbound and masked */
static const struct cap_type_ops swvec_ops = { .placed = irq_cap_placed, .gone = irq_cap_gone };

int irq_init(void)
{
	cap_register_type(KEEL_CAP_IRQ, &irq_ops);
	cap_register_type(KEEL_CAP_SWVEC, &swvec_ops);
	sched_add_waker(irq_can_wake);
	int err = ioapic_init();
	if (err)
		return err;
	/* ISA IRQs: edge-triggered, active high unless an override says not
	 * (MPS INTI flags: polarity bits 0-1, 3 = low; trigger bits 2-3, 3 = level). */
	for (u8 isa = 0; isa < 16; isa++) {
		u16 flags = 0;
		u32 g = platform_have_madt ? madt_isa_gsi(&platform_madt, isa, &flags) : isa;
		if (g >= VEC_IRQ_COUNT)
			continue;
		gsi_state[g].known = true;
		gsi_state[g].active_low = (flags & 3) == 3;
		gsi_state[g].level = ((flags >> 2) & 3) == 3;
		/* The kernel's own lines, never granted: the PIT (ISA 0), the
		 * cascade (2), COM1, its console (4). */
		gsi_state[g].kernel = isa == 0 || isa == 2 || isa == 4;
	}
	return 0;
}

int irq_grant(struct env *e, u32 n, bool isa)
{
	u32 gsi = n;
	if (isa) {
		if (n >= 16)
			return -ENOENT;
		u16 flags;
		gsi = platform_have_madt ? madt_isa_gsi(&platform_madt, (u8)n, &flags) : n;
	}
	if (gsi >= VEC_IRQ_COUNT || gsi >= ioapic_gsi_count())
		return -ENOENT;
	if (gsi_state[gsi].kernel)
		return -EPERM;
	if (!gsi_state[gsi].known) { /* not an ISA line: PCI's convention */
		gsi_state[gsi].known = true;
		gsi_state[gsi].level = gsi_state[gsi].active_low = true;
	}
	return cap_new_root(e, KEEL_CAP_IRQ, gsi, 1);
}

int swvec_grant(struct env *e, u32 vector)
{
	if (vector < VEC_SOFT_BASE || vector >= VEC_SOFT_BASE + VEC_SOFT_COUNT)
		return -EINVAL;
	return cap_new_root(e, KEEL_CAP_SWVEC, vector, 1);
}

i64 irq_bind(struct dispatcher *d, u64 slot)
{
	int err;
	struct cap *c = cap_lookup(d->env, slot, KEEL_CAP_IRQ, KEEL_R_READ, &err);
	if (!c)
		return err;
	if (!d->area)
		return -EINVAL; /* it would arrive as an upcall */
	u32 g = (u32)c->base;
	if (gsi_state[g].bound)
		return gsi_state[g].bound == c ? 0 : -EBUSY;
	if ((err = ioapic_route(g, (u8)(VEC_IRQ_BASE + g), gsi_state[g].level, gsi_state[g].active_low)))
		return err;
	gsi_state[g].bound = c;
	gsi_state[g].disp = d;
	gsi_state[g].masked = false;
	ioapic_set_masked(g, false);
	return 0;
}

i64 irq_ack(struct env *e, u64 slot)
{
	int err;
	struct cap *c = cap_lookup(e, slot, KEEL_CAP_IRQ, KEEL_R_READ, &err);
	if (!c)
		return err;
	if (gsi_state[c->base].bound != c)
		return -EINVAL; /* not bound through this capability */
	gsi_state[c->base].masked = false;
	ioapic_set_masked((u32)c->base, false);
	return 0;
}

void irq_dispatcher_handed(struct dispatcher *from, struct dispatcher *to)
{
	for (u32 g = 0; g < VEC_IRQ_COUNT; g++)
		if (gsi_state[g].bound && gsi_state[g].disp == from)
			gsi_state[g].disp = to;
}

u64 irq_interrupts;

void irq_interrupt(unsigned vector)
{
	u32 g = vector - VEC_IRQ_BASE;
	irq_interrupts++;
	ioapic_set_masked(g, true); /* until the holder acknowledges */
	gsi_state[g].masked = true;
	lapic_eoi();
	struct cap *c = gsi_state[g].bound;
	TRACE(KEEL_TR_IRQ, c ? c->owner->id : 0, vector, g);
	struct dispatcher *d = gsi_state[g].disp;
	if (!c || !d->ka)
		return; /* unbound (or its dispatcher took no upcalls any more): stays masked */
	d->ka->irq_pending |= 1ULL << g;
	sched_post(d, KEEL_EV_IRQ);
}

bool swvec_raise(struct dispatcher *d, unsigned vector)
{
	unsigned n = vector - VEC_SOFT_BASE;
	if (!d->env->swvec_held[n] || !d->ka)
		return false;
	d->ka->swvec_pending |= 1ULL << n;
	sched_post(d, KEEL_EV_SWVEC);
	return true;
}

static void irq_cap_placed(struct cap *c)
{
	if (c->type == KEEL_CAP_SWVEC)
		c->owner->swvec_held[c->base - VEC_SOFT_BASE]++;
}

static void irq_cap_gone(struct cap *c)
{
	if (c->type == KEEL_CAP_SWVEC) {
		c->owner->swvec_held[c->base - VEC_SOFT_BASE]--;
	} else if (c->type == KEEL_CAP_IRQ && gsi_state[c->base].bound == c) {
		ioapic_set_masked((u32)c->base, true);
		gsi_state[c->base].bound = NULL;
		gsi_state[c->base].disp = NULL;
	}
}

static bool irq_can_wake(void)
{
	for (u32 g = 0; g < VEC_IRQ_COUNT; g++) {
		struct cap *c = gsi_state[g].bound;
		if (c && !gsi_state[g].masked && gsi_state[g].disp->ka)
			return true; /* it can fire, and be posted */
	}
	return false;
}
