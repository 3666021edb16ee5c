/*
 * Everything the kernel's assembly (entry.S, boot.S, uaccess.S, kernel.ld.S)
 * knows of C: structure offsets and constants, each defined once in a C
 * header and exported from here. The build compiles this file with -S and
 * never links it; boot/asm_offsets.py turns the markers into
 * build/kern/asm-offsets.h, the one header kernel assembly includes
 * (lib/asmdefs.h says how; docs/architecture.md why).
 *
 * The asserts below are the widths the instructions assume (a cmpl on a
 * 4-byte field, a movb on a bool): an offset alone does not say them.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/idt.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/trapframe.h"
#include "arch/x86_64/vectors.h"
#include "context.h"
#include "env.h"
#include "keel/abi.h"
#include "keel/errno.h"
#include "keel/exit.h"
#include "layout.h"
#include "lib/asmdefs.h"
#include "mb2.h"
#include "syscall.h"
#include "upcall.h"

#define FIELD_SIZE(type, field) sizeof(((struct type *)0)->field)

_Static_assert(FIELD_SIZE(dispatcher, resume) == 4, "entry.S compares dispatcher.resume as 32 bits");
_Static_assert(FIELD_SIZE(dispatcher, watchdog_fired) == 1, "entry.S clears dispatcher.watchdog_fired as a byte");
_Static_assert(FIELD_SIZE(env, swvec_held[0]) == 4, "entry.S indexes env.swvec_held by 4");
_Static_assert(FIELD_SIZE(keel_upcall_area, disabled) == 4, "entry.S reads and sets `disabled` as 32 bits");

void asm_offsets(void);
void asm_offsets(void)
{
	COMMENT("struct trap_frame (arch/x86_64/trapframe.h)");
	OFFSET(TF_R15, trap_frame, r15);
	OFFSET(TF_R14, trap_frame, r14);
	OFFSET(TF_R13, trap_frame, r13);
	OFFSET(TF_R12, trap_frame, r12);
	OFFSET(TF_R11, trap_frame, r11);
	OFFSET(TF_R10, trap_frame, r10);
	OFFSET(TF_R9, trap_frame, r9);
	OFFSET(TF_R8, trap_frame, r8);
	OFFSET(TF_RBP, trap_frame, rbp);
	OFFSET(TF_RDI, trap_frame, rdi);
	OFFSET(TF_RSI, trap_frame, rsi);
	OFFSET(TF_RDX, trap_frame, rdx);
	OFFSET(TF_RCX, trap_frame, rcx);
	OFFSET(TF_RBX, trap_frame, rbx);
	OFFSET(TF_RAX, trap_frame, rax);
	OFFSET(TF_VECTOR, trap_frame, vector);
	OFFSET(TF_ERROR, trap_frame, error);
	OFFSET(TF_RIP, trap_frame, rip);
	OFFSET(TF_CS, trap_frame, cs);
	OFFSET(TF_RFLAGS, trap_frame, rflags);
	OFFSET(TF_RSP, trap_frame, rsp);
	OFFSET(TF_SS, trap_frame, ss);
	SIZE(TF_SIZE, trap_frame);

	COMMENT("struct percpu (arch/x86_64/percpu.h), through %gs");
	OFFSET(PERCPU_KSTACK_TOP, percpu, kstack_top);
	OFFSET(PERCPU_USER_RSP, percpu, user_rsp);
	OFFSET(PERCPU_FAST_RESULT, percpu, fast_result);
	OFFSET(PERCPU_FAST_STATUS, percpu, fast_status);
	OFFSET(PERCPU_DISP, percpu, disp);

	COMMENT("struct dispatcher (dispatcher.h): what the event fast path reads");
	OFFSET(DISP_KA, dispatcher, ka);
	OFFSET(DISP_AREA, dispatcher, area);
	OFFSET(DISP_EVENTS, dispatcher, events);
	OFFSET(DISP_RESUME, dispatcher, resume);
	CONST(RESUME_CTX);
	OFFSET(DISP_WATCHDOG_FIRED, dispatcher, watchdog_fired);
	OFFSET(DISP_DISABLED_NS, dispatcher, disabled_ns);
	OFFSET(DISP_ENV, dispatcher, env);
	OFFSET(DISP_CTX, dispatcher, ctx);
	COMMENT("struct env (env.h): the software vectors it holds");
	OFFSET(ENV_SWVEC_HELD, env, swvec_held);

	COMMENT("this CPU's struct exit_stats (percpu.h), through %gs");
	OFFSET(PERCPU_STATS_SYSRET, percpu, stats.sysret);
	OFFSET(PERCPU_STATS_IRET, percpu, stats.iret);
	OFFSET(PERCPU_STATS_UPCALLS, percpu, stats.upcalls);
	OFFSET(PERCPU_STATS_TRAP_UPCALLS, percpu, stats.trap_upcalls);

	asm_offsets_abi();

	COMMENT("the syscall entry: syscall_fast's answers (syscall.h), the SYSRET limit (context.h)");
	CONST(SYSCALL_FAST_SYSRET);
	CONST(SYSCALL_FAST_EVENTS);
	CONST(SYS_YIELD);
	CONST(SYS_PCT_CALL);
	CONST(SYS_PCT_REPLY);
	CONST(SYSRET_RIP_LIMIT);
	CONST(MSR_GS_BASE);

	COMMENT("Ring 3 (gdt.h, layout.h, context.h, upcall.h)");
	CONST(USER_CS);
	CONST(USER_SS);
	CONST(USER_BASE);
	CONST(USER_END);
	CONST(RFLAGS_IF_BIT);
	CONST(RFLAGS_RESERVED1);
	CONST(UPCALL_CRIT_MAX);
	CONST(KEEL_EV_SELF);
	CONST(KEEL_EV_SWVEC);
	CONST(KEEL_SAVE_ENABLED);
	CONST(PF_U);

	COMMENT("vectors (arch/x86_64/vectors.h)");
	CONST(VEC_DB);
	CONST(VEC_NMI);
	CONST(VEC_DF);
	CONST(VEC_TS);
	CONST(VEC_NP);
	CONST(VEC_SS);
	CONST(VEC_GP);
	CONST(VEC_PF);
	CONST(VEC_AC);
	CONST(VEC_MC);
	CONST(VEC_CP);
	CONST(VEC_VC);
	CONST(VEC_SX);
	CONST(VEC_SOFT_BASE);
	CONST(VEC_SOFT_COUNT);
	CONST(VEC_SELF_EVENT);
	CONST(VEC_SYSCALL);
	CONST(IDT_STUB_SIZE);

	COMMENT("boot.S and the linker script (layout.h, cpu.h, paging.h, mb2.h, keel/exit.h)");
	CONST(KERNEL_PHYS);
	CONST(KERNEL_VMA);
	CONST(KERNEL_SLOT);
	CONST(BOOT_STACK_SIZE);
	CONST(MB2_BOOT_MAGIC);
	CONST(CR0_PE);
	CONST(CR0_PG);
	CONST(CR0_WP);
	CONST(CR4_PAE);
	CONST(MSR_EFER);
	CONST(EFER_LME);
	CONST(PTE_P);
	CONST(PTE_W);
	CONST(PTE_PS);
	CONST(KEEL_EXIT_PORT);
	CONST(KEEL_EXIT_FAILURE);

	COMMENT("uaccess.S (keel/errno.h)");
	CONST(EFAULT);
}
