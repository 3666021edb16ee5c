/* Boot tests of the kernel's crash paths and interrupt plumbing. */
#include "arch/x86_64/percpu.h"
#include "image.h"
#include "ktest.h"

/* Deliberately write to an address nothing maps (in the empty user half). */
__attribute__((noinline)) void fault_here_deliberately(volatile u64 *where)
{
	*where = 0xBAD;
	__asm__ volatile("" ::: "memory");
}

/* A kernel #PF gives a register dump, a backtrace naming this function's
 * callee and itself, and the panic exit. Does not return. */
KTEST(kernel_page_fault)
{
	ktest_log("writing to 0xdead000 from fault_here_deliberately()");
	fault_here_deliberately((volatile u64 *)0xdead000);
	KEXPECT(false, "the write returned");
}

/* Switch to a stack that is not mapped (the bootstrap stack's guard page) and
 * push: the #PF cannot be delivered on that stack, so the CPU raises #DF on
 * its IST stack, whose report must say the saved RSP is not mapped. */
KTEST(double_fault_unmapped_stack)
{
	ktest_log("switching RSP to %p (the guard page) and pushing", (void *)__boot_stack_bottom);
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "pushq $0\n\t" ::"r"(__boot_stack_bottom)
			 : "memory");
	KEXPECT(false, "the push returned");
}

/* Spurious PIC (IRQ 7, 15) and local APIC vectors are absorbed. */
KTEST(spurious_vectors_ignored)
{
	struct percpu *c = this_cpu();
	u64 pic0 = c->spurious_pic, lapic0 = c->spurious_lapic;
	__asm__ volatile("int $0x27\n\tint $0x2f\n\tint $0xff" ::: "memory");
	KEXPECT(c->spurious_pic == pic0 + 2, "2 spurious PIC interrupts counted, got %llu",
		(unsigned long long)(c->spurious_pic - pic0));
	KEXPECT(c->spurious_lapic == lapic0 + 1, "1 spurious LAPIC interrupt counted");
}
