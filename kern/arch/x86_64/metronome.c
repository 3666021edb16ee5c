/*
 * The metronome (metronome_us=N; 0, the default: off): PIT channel 0
 * counting periodically, every N us (mode 2, the rate generator), its
 * interrupt never delivered -- IRQ 0 stays masked at the PIC (pic.c) and
 * at the IOAPIC, and no env is ever granted it (irq.c: the kernel's line)
 * -- so the guest sees nothing of it.
 *
 * It is for QEMU under -icount with several CPUs. QEMU runs the vCPUs in
 * turn on one instruction clock, each for a share of the time to the
 * earliest timer deadline it knows of when the round starts; a deadline
 * armed during a round (a CPU's LAPIC one-shot a few microseconds ahead)
 * is noticed only when the round ends, and with every CPU busy -- a libOS
 * whose idle CPUs spin (sched_shinjuku) -- that is the deadline known at
 * the round's start: the next 10 ms time slice. Each count of the PIT is
 * a deadline QEMU knows of every N us, so rounds are that short and a
 * one-shot fires about that late (not always: one 10 ms turn in 50 ms was
 * still seen, which test_shinjuku.py's timeslice_us=100 bounds). It costs
 * QEMU a timer callback every
 * N us and the guest nothing. tests/test_shinjuku.py boots with it.
 *
 * Only where no CPU halts: with it, a CPU idle in the kernel (`hlt`) was
 * seen to take its LAPIC deadline up to 17 ms late (docs/schedulers.md,
 * "Real time on many CPUs"); not understood yet.
 */
#include "metronome.h"
#include "console.h"
#include "arch/x86_64/cpu.h"

#define PIT_HZ 1193182u

u64 metronome_us;

void metronome_start(void)
{
	if (!metronome_us)
		return;
	u32 count = (u32)(PIT_HZ * metronome_us / 1000000);
	if (count < 2)
		count = 2; /* (mode 2 counts to 1) */
	outb(0x43, 0x34); /* channel 0, lo/hi byte, mode 2 */
	outb(0x40, count & 0xFF);
	outb(0x40, count >> 8);
	kprintf("metronome: PIT channel 0 counts every %llu us, IRQ 0 masked (QEMU -icount: short vCPU turns)\n",
		(unsigned long long)metronome_us);
}
