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

/* Recurse until the kernel stack runs into the guard page below it: the #PF
 * cannot be delivered on that stack, so the CPU raises #DF on its IST stack,
 * whose report must say it was a kernel stack overflow. Does not return. */
static volatile u64 overflow_depth;

__attribute__((noinline)) static u64 overflow_recurse(u64 n)
{
	volatile u64 frame[32]; /* 256 bytes a call */
	frame[0] = n;
	overflow_depth = n;
	if (n == ~0ULL) /* never: keeps the recursion finite to the compiler */
		return 0;
	return overflow_recurse(n + 1) + frame[0]; /* not a tail call */
}

KTEST(kernel_stack_overflow)
{
	ktest_log("recursing on the kernel stack (%p..%p) until it reaches its guard page",
		  (void *)__boot_stack_bottom, (void *)__boot_stack_top);
	overflow_recurse(0);
	KEXPECT(false, "the recursion returned after %llu calls", (unsigned long long)overflow_depth);
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
