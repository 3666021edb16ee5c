/*
 * `faulter KIND`: commit one Ring 3 fault of the given kind. With no handler
 * (upcalls arrive later) the kernel must destroy this env alone.
 */
#include "keel.h"

static const char rodata_byte = 1;
static volatile uint64_t sink;
/* Addresses hidden from the compiler, which would otherwise refuse to emit
 * the deliberate bad accesses. */
static volatile uint64_t low_addr = 0x10, noncanonical_addr = 0xdead000000000000ULL;

/* "deep": a #PF read three named calls below fault(), for gdb's backtrace
 * across the trap frame (tests/test_gdb.py). The empty asm after each call
 * keeps it a call (no tail call: every frame stays on the stack). */
__attribute__((noinline)) static void fault_at_the_bottom(void)
{
	sink = *(volatile uint64_t *)low_addr;
}

__attribute__((noinline)) static void one_call_above(void)
{
	fault_at_the_bottom();
	__asm__ volatile("");
}

__attribute__((noinline)) static void two_calls_above(void)
{
	one_call_above();
	__asm__ volatile("");
}

static void fault(const char *kind)
{
	if (!strcmp(kind, "deep"))
		two_calls_above();
	else if (!strcmp(kind, "pf-read"))
		sink = *(volatile uint64_t *)low_addr;
	else if (!strcmp(kind, "pf-write"))
		*(volatile char *)&rodata_byte = 2;
	else if (!strcmp(kind, "pf-exec")) {
		static uint8_t data_code[16] = { 0xC3 }; /* ret, in a non-executable page */
		((void (*)(void))data_code)();
	} else if (!strcmp(kind, "gp"))
		sink = *(volatile uint64_t *)noncanonical_addr; /* non-canonical: #GP */
	else if (!strcmp(kind, "ud"))
		__asm__ volatile("ud2");
	else if (!strcmp(kind, "de")) {
		volatile unsigned zero = 0;
		sink = 7 / zero;
	} else if (!strcmp(kind, "bp"))
		__asm__ volatile("int3");
	else if (!strcmp(kind, "ac"))
		__asm__ volatile("pushfq; orq $0x40000, (%%rsp); popfq\n\t"
				 "movl 1(%%rsp), %%eax" ::: "rax", "memory");
	else if (!strcmp(kind, "ss"))
		__asm__ volatile("movq $0x800000000008, %%rsp; pushq $0" ::: "memory"); /* non-canonical stack: #SS */
	else if (!strcmp(kind, "xm")) {
		uint32_t mxcsr = 0x1F80 & ~0x200u; /* unmask divide-by-zero */
		volatile float zero = 0.0f, one = 1.0f;
		__asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
		sink = (uint64_t)(one / zero);
		__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
		if (mxcsr & 0x4) /* ZE set, yet no #XM: QEMU's TCG does not raise SIMD exceptions */
			printf("faulter env %ld: xm: divide by zero flagged in MXCSR (%#x) but no #XM raised\n",
			       sys_env_id(), mxcsr);
	} else if (!strcmp(kind, "mf")) {
		uint16_t cw = 0x037F & ~0x4u; /* unmask x87 zero-divide */
		__asm__ volatile("fldcw %0\n\tfld1\n\tfldz\n\tfdivrp\n\tfwait" ::"m"(cw));
	} else if (!strcmp(kind, "hlt"))
		__asm__ volatile("hlt");
	else if (!strcmp(kind, "int"))
		__asm__ volatile("int $0x30");
	else if (!strcmp(kind, "io"))
		__asm__ volatile("inb $0x60, %%al" ::: "rax");
	else
		printf("faulter: unknown kind '%s'\n", kind);
}

int main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "pf-read";
	printf("faulter env %ld: committing %s\n", sys_env_id(), kind);
	fault(kind);
	printf("faulter env %ld: survived %s (it should not have)\n", sys_env_id(), kind);
	return 1;
}
