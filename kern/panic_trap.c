/*
 * What the kernel says when it faults in Ring 0: the exception, its error
 * code decoded, every register, a backtrace -- and for a double fault the
 * diagnosis of Keel's founding bug (docs/design.md): is the stack the CPU
 * pushed onto mapped in the CR3 that was loaded, or was it a guard page?
 */
#include "panic_trap.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/trapframe.h"
#include "arch/x86_64/vectors.h"
#include "console.h"
#include "keel/exit.h"
#include "kva.h"
#include "lib/string.h"
#include "panic.h"

static void decode_error(const struct trap_frame *tf)
{
	u64 e = tf->error;
	if (tf->vector == VEC_PF) {
		kprintf("error code %#llx: %s, %s, %s-mode%s%s%s\n", (unsigned long long)e,
			e & PF_P ? "protection violation" : "page not present",
			e & PF_I ? "instruction fetch" : e & PF_W ? "write" : "read", e & PF_U ? "user" : "supervisor",
			e & PF_RSVD ? ", reserved bit set" : "", e & PF_PK ? ", protection key" : "",
			e & PF_SS ? ", shadow stack" : "");
		kprintf("CR2 (faulting address) = %#llx\n", (unsigned long long)read_cr2());
	} else if (tf->vector == VEC_GP || tf->vector == VEC_TS || tf->vector == VEC_NP ||
		   tf->vector == VEC_SS || tf->vector == VEC_AC) {
		if (e == 0)
			kprintf("error code 0\n");
		else
			kprintf("error code %#llx: %s selector index %llu%s\n", (unsigned long long)e,
				e & 2 ? "IDT" : e & 4 ? "LDT" : "GDT", (unsigned long long)(e >> 3),
				e & 1 ? " (external event)" : "");
	} else {
		kprintf("error code %#llx\n", (unsigned long long)e);
	}
}

static void dump_registers(const struct trap_frame *tf)
{
	u64 f = tf->rflags;
	kprintf("RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n", (unsigned long long)tf->rax,
		(unsigned long long)tf->rbx, (unsigned long long)tf->rcx, (unsigned long long)tf->rdx);
	kprintf("RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n", (unsigned long long)tf->rsi,
		(unsigned long long)tf->rdi, (unsigned long long)tf->rbp, (unsigned long long)tf->rsp);
	kprintf("R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n", (unsigned long long)tf->r8,
		(unsigned long long)tf->r9, (unsigned long long)tf->r10, (unsigned long long)tf->r11);
	kprintf("R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n", (unsigned long long)tf->r12,
		(unsigned long long)tf->r13, (unsigned long long)tf->r14, (unsigned long long)tf->r15);
	kprintf("RIP=%016llx <", (unsigned long long)tf->rip);
	print_symbol(tf->rip);
	kprintf(">  CS=%04llx SS=%04llx\n", (unsigned long long)tf->cs, (unsigned long long)tf->ss);
	kprintf("RFLAGS=%016llx [%s%s%s%s%s%s%s%s%s%s IOPL=%llu]\n", (unsigned long long)f,
		f & RFLAGS_CF ? "CF " : "", f & RFLAGS_PF ? "PF " : "", f & RFLAGS_ZF ? "ZF " : "",
		f & RFLAGS_SF ? "SF " : "", f & RFLAGS_TF ? "TF " : "", f & RFLAGS_IF ? "IF " : "",
		f & RFLAGS_DF ? "DF " : "", f & RFLAGS_OF ? "OF " : "", f & RFLAGS_RF ? "RF " : "",
		f & RFLAGS_AC ? "AC" : "", (unsigned long long)((f >> 12) & 3));
	kprintf("CR0=%016llx CR2=%016llx CR3=%016llx CR4=%016llx\n", (unsigned long long)read_cr0(),
		(unsigned long long)read_cr2(), (unsigned long long)read_cr3(), (unsigned long long)read_cr4());
	kprintf("EFER=%016llx GS.base=%016llx KERNEL_GS.base=%016llx\n", (unsigned long long)rdmsr(MSR_EFER),
		(unsigned long long)rdmsr(MSR_GS_BASE), (unsigned long long)rdmsr(MSR_KERNEL_GS_BASE));
}

/* With more than one CPU up, which one this is. */
static void report_cpu(void)
{
	if (cpus_up > 1)
		kprintf("on cpu%u (APIC id %u) of %u\n", this_cpu()->id, this_cpu()->apic_id, cpus_up);
}

__noreturn void panic_trap(const struct trap_frame *tf)
{
	panic_enter();
	kprintf("\nPANIC: %s (vector %llu) in %s mode at %#llx <", exception_name(tf->vector),
		(unsigned long long)tf->vector, tf_from_user(tf) ? "user" : "kernel", (unsigned long long)tf->rip);
	print_symbol(tf->rip);
	kprintf(">\n");
	report_cpu();
	decode_error(tf);
	dump_registers(tf);
	panic_backtrace(tf->rip, tf->rbp, tf->rsp);
	keel_exit(KEEL_EXIT_PANIC);
}

static void report_mapped(const char *what, u64 va)
{
	u64 cr3 = read_cr3() & PTE_ADDR;
	bool mapped = paging_lookup(cr3, va, NULL, NULL);
	const char *desc = kva_describe(va);
	kprintf("  %s %#llx is %s in CR3 %#llx%s%s%s\n", what, (unsigned long long)va,
		mapped ? "mapped" : "NOT mapped", (unsigned long long)cr3, desc ? " (" : "", desc ? desc : "",
		desc ? ")" : "");
}

/* A kernel stack pointer in, or a push about to land in, the guard page
 * below a kernel stack (kva.c names them "guard page below ..."): the stack
 * overflowed, and the #PF could not be delivered on it. */
static void report_stack_overflow(u64 rsp, u64 cr2)
{
	static const char guard[] = "guard page below ";
	const struct {
		const char *what;
		u64 va;
	} at[] = { { "RSP", rsp }, { "RSP-8", rsp - 8 }, { "CR2", cr2 } };
	for (size_t i = 0; i < ARRAY_SIZE(at); i++) {
		const char *desc = kva_describe(at[i].va);
		if (desc && !strncmp(desc, guard, sizeof guard - 1)) {
			kprintf("  => kernel stack overflow: %s %#llx is in the guard page of %s\n", at[i].what,
				(unsigned long long)at[i].va, desc + sizeof guard - 1);
			return;
		}
	}
}

__noreturn void panic_double_fault(const struct trap_frame *tf)
{
	panic_enter();
	kprintf("\nPANIC: #DF double fault (a fault while delivering a fault)\n");
	report_cpu();
	kprintf("diagnosis (best effort: the SDM leaves the saved CS:RIP undefined):\n");
	/* The classic cause: the stack the CPU pushed onto is not mapped here. */
	report_mapped("saved RSP", tf->rsp);
	report_mapped("saved RSP-8", tf->rsp - 8);
	report_mapped("CR2", read_cr2());
	report_stack_overflow(tf->rsp, read_cr2());
	dump_registers(tf);
	panic_backtrace(tf->rip, tf->rbp, tf->rsp);
	keel_exit(KEEL_EXIT_PANIC);
}
