#include "ioport.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/xcall.h"
#include "cap.h"
#include "env.h"
#include "heap.h"
#include "keel/errno.h"
#include "keel/exit.h"
#include "lib/string.h"
#include "panic.h"

/* The kernel's ports: the ISA DMA controllers and page registers (DMA
 * reaches any low physical memory), the PICs, the PIT and its gate, the
 * keyboard controller (a reset line), the RTC/NMI mask, fast A20/reset, the
 * ELCR, COM1 (the console), PCI configuration, the QEMU exit device. */
static const struct {
	u32 lo, hi; /* inclusive */
} reserved[] = {
	{ 0x00, 0x1F }, { 0x20, 0x21 }, { 0x40, 0x43 }, { 0x81, 0x8F }, { 0xC0, 0xDF }, { 0x60, 0x64 }, { 0x70, 0x71 }, { 0x92, 0x92 }, { 0xA0, 0xA1 },
	{ 0x3F8, 0x3FF }, { 0x4D0, 0x4D1 }, { 0xCF8, 0xCFF }, { KEEL_EXIT_PORT, KEEL_EXIT_PORT + 3 },
};

int ioport_grant(struct env *e, u32 base, u32 count)
{
	if (count == 0 || base >= IOPORTS || count > IOPORTS - base)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++)
		if (base <= reserved[i].hi && reserved[i].lo <= base + count - 1)
			return -EPERM;
	return cap_new_root(e, KEEL_CAP_IOPORT, base, count);
}

static int ioport_prepare(struct env *e)
{
	if (e->io.ncaps >= IOPORT_CAPS_MAX)
		return -EDQUOT;
	if (!e->io.bitmap) {
		e->io.bitmap = kmalloc(IOPORTS / 8);
		e->io.count = kzalloc(IOPORTS);
		if (!e->io.bitmap || !e->io.count) {
			kfree(e->io.bitmap);
			kfree(e->io.count);
			e->io.bitmap = NULL;
			e->io.count = NULL;
			return -ENOMEM;
		}
		memset(e->io.bitmap, 0xFF, IOPORTS / 8);
	}
	return 0;
}

/* The holder's bitmap follows its capabilities port by port (a count per
 * port of the capabilities allowing it): each change costs its own range,
 * never a rebuild of everything. Only the first io.bytes bytes of the
 * bitmap allow anything; only they are ever copied into a TSS. */
static void refresh_call(void *arg)
{
	struct percpu *cpu = this_cpu();
	if (cpu->env == arg)
		ioport_switch(cpu, arg);
}

/* Every CPU running e (or keeping it, idle) copies its bitmap again: a port
 * taken away is closed there before this returns, not at its next switch --
 * e may run on another CPU, or on several through its dispatchers. */
static void refresh(struct env *e)
{
	struct percpu *cpu = this_cpu();
	u64 others = 0;
	for (u32 c = 0; c < cpus_up; c++)
		if (cpus[c].env == e && c != cpu->id)
			others |= 1ULL << c;
	if (cpu->env == e)
		ioport_switch(cpu, e);
	if (others && smp_call_many(others, refresh_call, e))
		panic("ioport: a CPU running env %u did not answer within 5 s", e->id);
}

static void ioport_cap_placed(struct cap *c)
{
	struct env *e = c->owner;
	e->io.ncaps++;
	for (u64 p = c->base; p < c->base + c->size; p++)
		if (e->io.count[p]++ == 0)
			e->io.bitmap[p / 8] &= (u8)~(1u << (p % 8));
	e->io.bytes = MAX(e->io.bytes, (u32)((c->base + c->size + 7) / 8));
	refresh(e);
}

static void ioport_cap_gone(struct cap *c)
{
	struct env *e = c->owner;
	e->io.ncaps--;
	for (u64 p = c->base; p < c->base + c->size; p++)
		if (--e->io.count[p] == 0)
			e->io.bitmap[p / 8] |= (u8)(1u << (p % 8));
	while (e->io.bytes && e->io.bitmap[e->io.bytes - 1] == 0xFF)
		e->io.bytes--;
	refresh(e);
}

__attribute__((noinline)) void ioport_switch(struct percpu *cpu, struct env *next)
{
	/* Forbid again what the last env was allowed, then allow next's. */
	if (cpu->iomap_open)
		memset(cpu->iomap, 0xFF, cpu->iomap_open);
	cpu->iomap_open = 0;
	if (next && next->io.bytes) {
		memcpy(cpu->iomap, next->io.bitmap, next->io.bytes);
		cpu->iomap_open = next->io.bytes;
	}
}

static void ioport_env_fini(struct env *e)
{
	kfree(e->io.bitmap);
	kfree(e->io.count);
	e->io.count = NULL;
	e->io.bitmap = NULL;
	e->io.bytes = 0;
}

static const struct cap_type_ops ioport_ops = {
	.prepare = ioport_prepare, /* its bitmap, before the first is placed */
	.placed = ioport_cap_placed,
	.gone = ioport_cap_gone, /* its ports are forbidden again */
};

/* The CPU switches envs: only the one running may use its ports. env.c
 * calls it only when ports are involved (its bitmap open, or next holding
 * some: env.h). */
static const struct env_hooks ioport_hooks = { .fini = ioport_env_fini, .switch_to = ioport_switch };

void ioport_init(void)
{
	env_register(&ioport_hooks);
	cap_register_type(KEEL_CAP_IOPORT, &ioport_ops);
}
