/*
 * Interrupt and exception entry, and the one exit through iretq.
 *
 * Each vector has a 16-byte stub that makes the frame uniform (a zero error
 * code where the CPU pushes none), pushes the vector number and jumps to a
 * common path. The common path saves all general registers, forming a
 * struct trap_frame (trapframe.h), and calls trap_dispatch(frame).
 *
 * GS: the kernel runs with GS base = its per-CPU data. Ordinary vectors swap
 * GS when they interrupt Ring 3 -- decided by the saved CS -- and also when
 * they interrupt the user iretq itself (saved CS is the kernel's, but GS was
 * already swapped back to the user's). #DF, NMI and #MC run on IST stacks and
 * may arrive anywhere, including between `syscall` and its `swapgs`, so their
 * "paranoid" path saves the GS base MSR, loads the per-CPU pointer stored at
 * the top of its IST stack, and restores the saved base on the way out.
 * That stays correct if Ring 3 is given FSGSBASE (docs/architecture.md).
 */
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smap.h"
#include "arch/x86_64/trapframe.h"
#include "arch/x86_64/vectors.h"
#include "layout.h"

#define MSR_GS_BASE 0xC0000101
#define SYSRET_RIP_LIMIT (USER_END - PAGE_SIZE) /* context.h */

.macro PUSH_REGS
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
.endm

.macro POP_REGS
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
.endm

	.text

/* ------------------------------------------------------------ the stubs */
.macro STUB n
.Lstub_\n:
	.if (\n == 8 || \n == 10 || \n == 11 || \n == 12 || \n == 13 || \n == 14 || \n == 17 || \n == 21 || \n == 29 || \n == 30)
	/* the CPU pushed an error code */
	.else
	pushq $0
	.endif
	pushq $\n
	.if (\n == 2 || \n == 8 || \n == 18)
	jmp paranoid_entry
	.else
	jmp trap_entry
	.endif
	/* exactly 16 bytes: the IDT computes vector_stubs + 16 * n (an
	 * overlong stub makes .org move backwards: an assembly error) */
	.org .Lstub_\n + 16, 0xcc
.endm

	.balign 16
	.global vector_stubs
vector_stubs:
	.altmacro
	.set vec, 0
	.rept 256
	STUB %vec
	.set vec, vec + 1
	.endr
	.noaltmacro

/* ------------------------------------------------------- ordinary path */
trap_entry:
	cld
	CLAC
	PUSH_REGS
	testb $3, TF_CS(%rsp)
	jnz 1f
	leaq user_iretq(%rip), %rax
	cmpq %rax, TF_RIP(%rsp)
	jne 2f
1:	swapgs
	/* lfence on both paths: no speculation past a mispredicted swapgs
	 * decision with the user's GS base (CVE-2019-1125). */
2:	lfence
	movq %rsp, %rdi
	call trap_dispatch
	/* fall through */

/*
 * The one exit from a trap frame at %rsp, to whatever it interrupted. The
 * label user_iretq is the only iretq to Ring 3; a fault on it (bad frame
 * contents) is recognised by its RIP and is the environment's fault.
 */
	.global trap_exit, user_iretq
trap_exit:
	POP_REGS
	addq $16, %rsp /* vector, error code */
	testb $3, 8(%rsp)
	jz 3f
	swapgs
user_iretq:
	iretq
3:	iretq

/*
 * The one exit to Ring 3: user_return(frame, sysret) with a sanitised frame
 * (env_run) at the top of the kernel stack. iretq goes through trap_exit's
 * labelled user_iretq; sysretq is taken only when env_run decided it is safe
 * (a context saved by `syscall`, RIP below the last user page; RCX = RIP,
 * R11 = RFLAGS).
 */
	.global user_return, user_sysretq
user_return:
	movq %rdi, %rsp
	testl %esi, %esi
	jz trap_exit
	/* Second line of defence against the SYSRET hazard: sysretq only to a
	 * RIP below the last user page, whatever the caller decided. */
	movq TF_RIP(%rsp), %rax
	movabsq $SYSRET_RIP_LIMIT, %rcx
	cmpq %rcx, %rax
	jae trap_exit
	POP_REGS
	addq $16, %rsp          /* vector, error code */
	movq 24(%rsp), %rsp     /* the user's RSP (frame: rip cs rflags rsp ss) */
	swapgs                  /* an NMI from here on takes the paranoid path */
user_sysretq:
	sysretq

/*
 * `syscall`: RCX = user RIP, R11 = user RFLAGS, FMASK has cleared IF, DF, AC,
 * TF, ... Build a trap frame on this CPU's kernel stack (vector VEC_SYSCALL)
 * so the context is saved like any other, then go to C, which never returns
 * here: it leaves through user_return.
 */
	.global syscall_entry
syscall_entry:
	swapgs
	lfence
	movq %rsp, %gs:PERCPU_USER_RSP
	movq %gs:PERCPU_KSTACK_TOP, %rsp
	pushq $USER_SS
	pushq %gs:PERCPU_USER_RSP
	pushq %r11
	pushq $USER_CS
	pushq %rcx
	pushq $0                /* error code */
	pushq $VEC_SYSCALL
	cld
	CLAC
	PUSH_REGS
	movq %rsp, %rdi
	xorl %ebp, %ebp         /* the backtrace ends here */
	call syscall_from_user
	ud2

/*
 * `syscall` from compatibility mode lands here (MSR_CSTAR). Compatibility
 * mode is unreachable -- the 32-bit user code descriptor is not present and
 * there is no LDT -- but if it were reached, the env is killed, not served.
 */
	.global syscall_compat_entry
syscall_compat_entry:
	swapgs
	lfence
	movq %rsp, %gs:PERCPU_USER_RSP
	movq %gs:PERCPU_KSTACK_TOP, %rsp
	pushq $USER_SS
	pushq %gs:PERCPU_USER_RSP
	pushq %r11
	pushq $USER_CS
	pushq %rcx
	pushq $0
	pushq $VEC_SYSCALL
	cld
	CLAC
	PUSH_REGS
	movq %rsp, %rdi
	xorl %ebp, %ebp
	call syscall_compat_from_user
	ud2

/*
 * kstack_restart(fn): continue in fn(), which never returns, on this CPU's
 * kernel stack from the top -- dropping whatever the current kernel path had
 * on it. Nothing lives on a kernel stack between entries, so after an env
 * dies the scheduler starts afresh instead of nesting (one level per death).
 */
	.global kstack_restart
kstack_restart:
	movq %gs:PERCPU_KSTACK_TOP, %rsp
	subq $TF_SIZE + 16, %rsp   /* below where env_run builds the return frame */
	xorl %ebp, %ebp
	call *%rdi
	ud2

/*
 * The hardware floor, for benchmarks: the least a kernel can do for an
 * interrupt (floor_iretq, the gate of vector 0x81) and for a syscall
 * (floor_sysretq, LSTAR for an env that asked for it). Neither touches
 * memory or GS. The syscall one still refuses to sysretq into the last user
 * page (the SYSRET hazard); that costs three instructions.
 */
	.global floor_iretq, floor_sysretq
floor_iretq:
	iretq
floor_sysretq:
	btq $47, %rcx            /* a non-canonical return address: the slow path */
	jc syscall_entry         /* deals with it (the env is killed, not the kernel) */
	sysretq

/* ----------------------------------------------- IST (paranoid) path */
paranoid_entry:
	cld
	CLAC
	PUSH_REGS
	movl $MSR_GS_BASE, %ecx
	rdmsr
	movl %eax, %r12d
	shlq $32, %rdx
	orq %rdx, %r12          /* r12 (callee-saved): interrupted GS base */
	movq TF_SIZE(%rsp), %rax /* top of this IST stack: the per-CPU pointer */
	movq %rax, %rdx
	shrq $32, %rdx
	wrmsr
	movq %rsp, %rdi
	call trap_dispatch
	movl $MSR_GS_BASE, %ecx
	movl %r12d, %eax
	movq %r12, %rdx
	shrq $32, %rdx
	wrmsr
	POP_REGS
	addq $16, %rsp
	iretq
