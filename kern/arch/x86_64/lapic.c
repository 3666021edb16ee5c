/*
 * The local APIC. Keel drives the timer in one-shot mode (TCG has no
 * TSC-deadline mode), with divider 1, so a tick is as fine as the hardware
 * allows; its rate is measured at boot against PIT channel 2, which is used
 * for nothing else.
 *
 * Every register access is an exit to the emulator. Under TCG without
 * icount it takes QEMU's global lock, and a write to the timer's LVT or
 * count that leaves it QEMU's earliest timer also wakes QEMU's main loop to
 * recompute its timeout -- microseconds each, milliseconds on a busy host
 * (docs/benchmarks.md). So the timer is reprogrammed with one write: the
 * LVT is unmasked once, and a zero count stops the timer (Intel SDM, "APIC
 * Timer").
 */
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/vectors.h"
#include "keel/errno.h"
#include "kva.h"
#include "layout.h"

#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0B0
#define LAPIC_SVR 0x0F0
#define LAPIC_ESR 0x280
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3E0

#define LVT_MASKED (1u << 16)
#define SVR_ENABLE (1u << 8)
#define DIV_BY_1 0xB

static volatile u32 *lapic;
u64 lapic_timer_hz;

static inline u32 rd(u32 reg) { return lapic[reg / 4]; }
static inline void wr(u32 reg, u32 v) { lapic[reg / 4] = v; }

int lapic_init(paddr_t pa)
{
	lapic = kva_map_phys(pa, PAGE_SIZE, true, PTE_PCD | PTE_PWT);
	if (!lapic)
		return -ENOMEM;
	lapic_enable();
	return 0;
}

/* Every CPU's LAPIC sits at the same address: each sees its own there. */
void lapic_enable(void)
{
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1u << 11)); /* globally enabled */
	wr(LAPIC_SVR, SVR_ENABLE | VEC_LAPIC_SPURIOUS);
	wr(LAPIC_TPR, 0);
	wr(LAPIC_LVT_LINT0, LVT_MASKED);
	wr(LAPIC_LVT_LINT1, LVT_MASKED);
	wr(LAPIC_LVT_ERROR, VEC_LAPIC_ERROR);
	wr(LAPIC_ESR, 0);
	wr(LAPIC_TIMER_DIV, DIV_BY_1);
	wr(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER); /* one-shot when unmasked */
	this_cpu()->lapic_timer_unmasked = false;
	wr(LAPIC_EOI, 0);
}

#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_PENDING (1u << 12) /* delivery status: send pending */

bool lapic_send_ipi(u32 apic_id, u32 icr_lo)
{
	wr(LAPIC_ESR, 0);
	wr(LAPIC_ICR_HI, apic_id << 24);
	wr(LAPIC_ICR_LO, icr_lo);
	for (u32 spins = 0; rd(LAPIC_ICR_LO) & ICR_PENDING; spins++) {
		if (spins == 1000000)
			return false;
		pause();
	}
	return true;
}

void lapic_eoi(void) { wr(LAPIC_EOI, 0); }
u32 lapic_id(void) { return rd(LAPIC_ID) >> 24; }

void lapic_timer_oneshot(u32 ticks)
{
	struct percpu *cpu = this_cpu(); /* the LVT as last written: masked until the first one-shot */
	if (!cpu->lapic_timer_unmasked) {
		wr(LAPIC_LVT_TIMER, VEC_TIMER); /* one-shot, unmasked: stays so */
		cpu->lapic_timer_unmasked = true;
	}
	wr(LAPIC_TIMER_INIT, ticks ? ticks : 1);
}

void lapic_timer_stop(void) { wr(LAPIC_TIMER_INIT, 0); }

u32 lapic_timer_current(void) { return rd(LAPIC_TIMER_CUR); }

/* PIT channel 2, gated through port 0x61, counts down once (mode 0); its
 * output (bit 5 of port 0x61) goes high at terminal count. */
#define PIT_HZ 1193182u

void lapic_calibrate(unsigned ms, u64 *tsc_hz)
{
	u32 count = PIT_HZ * ms / 1000;
	outb(0x61, (inb(0x61) & ~0x02) | 0x01); /* gate on, speaker off */
	outb(0x43, 0xB0);                       /* channel 2, lo/hi byte, mode 0 */
	outb(0x42, count & 0xFF);
	outb(0x42, count >> 8);
	/* Restart the count: drop and raise the gate. */
	outb(0x61, inb(0x61) & ~0x01);
	outb(0x61, inb(0x61) | 0x01);

	wr(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	this_cpu()->lapic_timer_unmasked = false;
	wr(LAPIC_TIMER_INIT, 0xFFFFFFFF);
	u64 t0 = rdtsc();
	while (!(inb(0x61) & 0x20))
		pause();
	u64 t1 = rdtsc();
	u32 elapsed = 0xFFFFFFFF - rd(LAPIC_TIMER_CUR);
	wr(LAPIC_TIMER_INIT, 0);

	/* The PIT ran exactly `count` ticks of 1193182 Hz. */
	lapic_timer_hz = (u64)elapsed * PIT_HZ / count;
	*tsc_hz = (t1 - t0) * PIT_HZ / count;
}
