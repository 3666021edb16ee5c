/* Boot tests of the kernel's crash paths and interrupt plumbing. */
#include "arch/x86_64/cpu.h"
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

/*
 * A #DB in Ring 0 on a hostile stack. On hardware Ring 3 can make one: TF
 * (or a breakpoint) with MOV SS / POP SS defers the debug trap past the next
 * instruction, and if that is `syscall` the trap fires on the kernel's first
 * instruction -- in Ring 0, with the user's RSP and GS still loaded. (QEMU's
 * TCG drops such a deferred trap, so no Ring 3 program can show it here.)
 * This test does the same from the kernel: user GS (swapgs), TF set, RSP in
 * a guard page. #DB must run on its own IST stack, and ignore it.
 */
KTEST(debug_trap_in_ring0_on_a_hostile_stack)
{
	u64 before = this_cpu()->db_in_kernel, after, flags;
	ktest_log("TF set in Ring 0 with RSP = %p (a guard page) and the user's GS", (void *)__boot_stack_guard);
	__asm__ volatile("pushfq\n\t"
			 "cli\n\t"
			 "movq %%rsp, %%rbx\n\t"
			 "swapgs\n\t"
			 "pushfq\n\t"
			 "orq $0x100, (%%rsp)\n\t"
			 "popfq\n\t"                /* TF: a #DB after the next instruction */
			 "movq %[bad], %%rsp\n\t"  /* ... which is this one */
			 "movq %%rbx, %%rsp\n\t"
			 "swapgs\n\t"
			 "pushfq\n\t"
			 "popq %[flags]\n\t"
			 "popfq"
			 : [flags] "=r"(flags)
			 : [bad] "r"(__boot_stack_guard + 2048)
			 : "rbx", "memory", "cc");
	after = this_cpu()->db_in_kernel;
	KEXPECT(after == before + 1, "one #DB in Ring 0 counted, got %llu", (unsigned long long)(after - before));
	KEXPECT(!(flags & RFLAGS_TF), "TF cleared by the #DB handler, rflags %#llx", (unsigned long long)flags);
	ktest_log("%llu #DB in Ring 0, ignored; TF %s after", (unsigned long long)(after - before),
		  flags & RFLAGS_TF ? "still set" : "cleared");
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
