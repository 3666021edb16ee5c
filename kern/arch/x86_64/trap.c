/*
 * trap_dispatch: where every interrupt and exception is decided -- handled by
 * the kernel, or fatal. (Ring 3 exceptions and interrupts that become upcalls
 * are decided here too once environments exist.)
 */
#include "arch/x86_64/trapframe.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/pic.h"
#include "arch/x86_64/vectors.h"
#include "console.h"
#include "panic.h"

void trap_dispatch(struct trap_frame *tf)
{
	unsigned v = (unsigned)tf->vector;

	if (v == VEC_DF)
		panic_double_fault(tf);
	if (v == VEC_NMI) {
		kprintf("trap: NMI at %#llx (ignored)\n", (unsigned long long)tf->rip);
		return;
	}
	if (v < 32)
		panic_trap(tf); /* no Ring 3 yet: any exception is a kernel fault */

	if (v == VEC_PIC_SPURIOUS_MASTER || v == VEC_PIC_SPURIOUS_SLAVE) {
		if (pic_handle_spurious(v)) {
			this_cpu()->spurious_pic++;
			return;
		}
	} else if (v == VEC_LAPIC_SPURIOUS) {
		this_cpu()->spurious_lapic++; /* no EOI for the spurious vector */
		return;
	}
	kprintf("trap: unexpected vector %u at %#llx, ignored\n", v, (unsigned long long)tf->rip);
}
