/*
 * Interrupt, exception and syscall entry (the way back is exit.S).
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
 *
 * #DB has an IST stack too, for the one from Ring 0: MOV SS / POP SS defers
 * a debug trap (TF, or a breakpoint) past the next instruction, so Ring 3
 * can have it fire on the first instruction of `syscall_entry` -- in Ring 0,
 * with its own RSP and GS still loaded -- or of an interrupt stub. Without
 * IST the CPU would push that #DB's frame wherever the user's RSP points.
 * db_entry sends a #DB from Ring 3 down the ordinary path on the kernel stack,
 * and one from Ring 0 down the paranoid path (trap.c ignores it).
 */
#include "asm-offsets.h" /* every offset and constant shared with C (asm-offsets.c) */
#include "arch/x86_64/smap.h"
#include "arch/x86_64/trace_site.h"

#include "arch/x86_64/regs.inc"

	.text

/* ------------------------------------------------------------ the stubs */
.macro STUB n
.Lstub_\n:
	.if (\n == VEC_DF || \n == VEC_TS || \n == VEC_NP || \n == VEC_SS || \n == VEC_GP || \n == VEC_PF || \n == VEC_AC || \n == VEC_CP || \n == VEC_VC || \n == VEC_SX)
	/* the CPU pushed an error code */
	.else
	pushq $0
	.endif
	pushq $\n
	.if (\n == VEC_NMI || \n == VEC_DF || \n == VEC_MC)
	jmp paranoid_entry
	.elseif (\n == VEC_DB)
	jmp db_entry
	.elseif ((\n >= VEC_SOFT_BASE) && (\n < (VEC_SOFT_BASE + VEC_SOFT_COUNT)))
	jmp swvec_entry            /* its fast path, with trap_entry behind */
	.else
	jmp trap_entry
	.endif
	/* exactly IDT_STUB_SIZE bytes: the IDT computes vector_stubs +
	 * IDT_STUB_SIZE * n (an overlong stub makes .org move backwards: an
	 * assembly error) */
	.org .Lstub_\n + IDT_STUB_SIZE, 0xcc
.endm

	.balign IDT_STUB_SIZE
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
	jmp trap_exit                /* exit.S */

/* The syscall fast path's saves (pushed in the reverse order), back. */
.macro POP_FAST_SCRATCH
	popq %r10
	popq %r9
	popq %r8
	popq %rdx
	popq %rsi
	popq %rdi
	popq %r11
	popq %rcx
.endm

/*
 * `syscall`: RCX = user RIP, R11 = user RFLAGS, FMASK has cleared IF, DF, AC,
 * TF, ... (so no cld/clac here).
 *
 * Fast path: save what C may clobber -- the syscall number, the argument
 * registers, RIP and RFLAGS -- and call syscall_fast(a0, a1, a2, nr) with the
 * callee-saved registers still the user's (C preserves them). A simple call
 * for the env that made it returns {result, 1} and leaves by sysretq.
 * Otherwise ({_, 0}: not a fast call; {result, 2}: answered, but the env
 * has events) the registers are put back as they were at the syscall and a
 * full trap frame is built, which the general path saves into the env; it
 * leaves through user_return like every other path.
 */
#define FAST_RAX 64   /* the fast path's stack, from RSP: r10 r9 r8 rdx rsi rdi r11 rcx rax */
#define FAST_RCX 56
	.global syscall_entry
syscall_entry:
	swapgs
	lfence
	movq %rsp, %gs:PERCPU_USER_RSP
	movq %gs:PERCPU_KSTACK_TOP, %rsp
	pushq %rax
	pushq %rcx
	pushq %r11
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %r8
	pushq %r9
	pushq %r10
	movq %rax, %rcx            /* syscall_fast(rdi, rsi, rdx, nr) */
	call syscall_fast          /* -> rax value, rdx status */
	cmpl $SYSCALL_FAST_SYSRET, %edx
	jne .Lsyscall_slow
	movabsq $SYSRET_RIP_LIMIT, %rcx
	cmpq %rcx, FAST_RCX(%rsp)  /* sysretq only below the last user page */
	jae .Lsyscall_slow_answered
	incq exit_stats+EXIT_STATS_SYSRET(%rip)
	POP_FAST_SCRATCH
	movq %gs:PERCPU_USER_RSP, %rsp
	swapgs
	sysretq

.Lsyscall_slow_answered:
	movl $SYSCALL_FAST_EVENTS, %edx
.Lsyscall_slow:
	movq %rax, %gs:PERCPU_FAST_RESULT
	movq %rdx, %gs:PERCPU_FAST_STATUS
	POP_FAST_SCRATCH
	popq %rax                  /* every register as it was at the syscall */
	pushq $USER_SS
	pushq %gs:PERCPU_USER_RSP
	pushq %r11
	pushq $USER_CS
	pushq %rcx
	pushq $0
	pushq $VEC_SYSCALL
	PUSH_REGS
	movq %rsp, %rdi
	xorl %ebp, %ebp            /* the backtrace ends here */
	call syscall_from_user     /* reads the fast path's status; never returns */
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
 * Software interrupts delivered as events, on an assembly fast path:
 * `int $0x82` (KEEL_EV_SELF for the env itself -- the upcall benchmark) and
 * `int $N` on a software vector 0xA0..0xBF that the env holds
 * (KEEL_EV_SWVEC, bit N - 0xA0 of swvec_pending). The common case (an
 * enabled env with an upcall area, no kernel-side events, not in its
 * critical range, a user entry and stack) is delivered right here: the
 * registers go straight to the area's enabled save and the CPU's frame
 * becomes the event entry's. Anything else -- a vector not held (#GP) too --
 * takes the general path (trap_entry -> from_user -> upcall_event_fast /
 * upcall.c), which does the same in C: keep the two in step. The only iretq
 * used is the labelled user_iretq.
 *
 * The stack after the four scratch pushes, B = 0 for `int $0x82` (its gate
 * comes here directly) or 16 for a software vector (its stub pushed an
 * error code and the vector, ready for trap_entry):
 */
#define SELF_RDX 0
#define SELF_RCX 8
#define SELF_RBX 16
#define SELF_RAX 24
#define SELF_SCRATCH 32 /* the four pushes (EVENT_ENTER) */
#define SELF_RIP SELF_SCRATCH /* + B from here on: the CPU's frame */
#define SELF_CS (SELF_RIP+TF_CS-TF_RIP)
#define SELF_RFLAGS (SELF_RIP+TF_RFLAGS-TF_RIP)
#define SELF_RSP (SELF_RIP+TF_RSP-TF_RIP)
#define SELF_SS (SELF_RIP+TF_SS-TF_RIP)
#define SWVEC_B (TF_RIP-TF_VECTOR) /* B for a software vector: its stub's two pushes */
#define SWVEC_VECTOR SELF_SCRATCH /* the vector the stub pushed */
#define SAVE(r) (KUA_ENABLED_SAVE + KCTX_##r)

/* Enter, with the four scratch registers pushed and RBX = the env. */
.macro EVENT_ENTER
	swapgs
	lfence
	cld
	CLAC
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	movq %gs:PERCPU_ENV, %rbx
.endm

/* Can the event be delivered here? Else to \general. Leaves RAX = the area. */
.macro EVENT_CHECKS B, general
	movq ENV_KA(%rbx), %rax
	testq %rax, %rax
	jz \general
	cmpq $0, ENV_EVENTS(%rbx)  /* kernel-side events carry details: C writes them */
	jne \general
	cmpl $RESUME_CTX, ENV_RESUME(%rbx)
	jne \general
	cmpl $0, KUA_DISABLED(%rax)
	jne \general
	movq SELF_RIP+\B(%rsp), %rcx  /* inside a plausible critical range? */
	subq KUA_CRIT_START(%rax), %rcx
	movq KUA_CRIT_END(%rax), %rdx
	subq KUA_CRIT_START(%rax), %rdx
	cmpq $UPCALL_CRIT_MAX, %rdx
	ja 1f
	cmpq %rdx, %rcx
	jb \general
1:	movabsq $(USER_END - USER_BASE), %rdx   /* entry and stack: user addresses */
	movq KUA_EVENT_ENTRY(%rax), %rcx
	subq $USER_BASE, %rcx
	cmpq %rdx, %rcx
	jae \general
	movq KUA_UPCALL_STACK(%rax), %rcx
	subq $USER_BASE, %rcx
	cmpq %rdx, %rcx
	jae \general
.endm

/* Every register of the interrupted context into the area's enabled save. */
.macro EVENT_SAVE B
	movq %r15, SAVE(R15)(%rax)
	movq %r14, SAVE(R14)(%rax)
	movq %r13, SAVE(R13)(%rax)
	movq %r12, SAVE(R12)(%rax)
	movq %r11, SAVE(R11)(%rax)
	movq %r10, SAVE(R10)(%rax)
	movq %r9, SAVE(R9)(%rax)
	movq %r8, SAVE(R8)(%rax)
	movq %rbp, SAVE(RBP)(%rax)
	movq %rdi, SAVE(RDI)(%rax)
	movq %rsi, SAVE(RSI)(%rax)
	movq SELF_RDX(%rsp), %rcx
	movq %rcx, SAVE(RDX)(%rax)
	movq SELF_RCX(%rsp), %rcx
	movq %rcx, SAVE(RCX)(%rax)
	movq SELF_RBX(%rsp), %rcx
	movq %rcx, SAVE(RBX)(%rax)
	movq SELF_RAX(%rsp), %rcx
	movq %rcx, SAVE(RAX)(%rax)
	movq SELF_RIP+\B(%rsp), %rcx
	movq %rcx, SAVE(RIP)(%rax)
	movq SELF_CS+\B(%rsp), %rcx
	movq %rcx, SAVE(CS)(%rax)
	movq SELF_RFLAGS+\B(%rsp), %rcx
	movq %rcx, SAVE(RFLAGS)(%rax)
	movq SELF_RSP+\B(%rsp), %rcx
	movq %rcx, SAVE(RSP)(%rax)
	movq SELF_SS+\B(%rsp), %rcx
	movq %rcx, SAVE(SS)(%rax)
.endm

/* Disable, count, and turn the CPU's frame into the event entry's; out. */
.macro EVENT_DELIVER B
	movl $1, KUA_DISABLED(%rax)
	incq KUA_UPCALLS(%rax)
	incq exit_stats+EXIT_STATS_UPCALLS(%rip)
	TRACE_SITE_CALL trace_upcall_asm
	movq $0, ENV_DISABLED_NS(%rbx) /* it was enabled: the watchdog starts over */
	movb $0, ENV_WATCHDOG_FIRED(%rbx)
	incq exit_stats+EXIT_STATS_IRET(%rip)
	movq KUA_EVENT_ENTRY(%rax), %rcx
	movq %rcx, SELF_RIP+\B(%rsp)
	movq KUA_UPCALL_STACK(%rax), %rcx
	andq $-16, %rcx
	movq %rcx, SELF_RSP+\B(%rsp)
	movq $(RFLAGS_IF_BIT | RFLAGS_RESERVED1), SELF_RFLAGS+\B(%rsp) /* IF, nothing else */
	movq ENV_AREA(%rbx), %rdi  /* the entry's argument */
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	.if \B
	addq $\B, %rsp             /* the stub's error code and vector */
	.endif
	swapgs
	jmp user_iretq
.endm

.macro EVENT_GENERAL
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	swapgs                     /* the user's GS again: trap_entry decides */
.endm

	.global self_event_entry
self_event_entry:
	testb $3, TF_CS-TF_RIP(%rsp) /* CS: from Ring 3 (the gate is DPL 3; be sure) */
	jz .Lself_general_gs_ok
	EVENT_ENTER
	EVENT_CHECKS 0, .Lself_general
	EVENT_SAVE 0
	orq $KEEL_EV_SELF, KUA_PENDING(%rax)
	EVENT_DELIVER 0
.Lself_general:
	EVENT_GENERAL
	.global self_event_slow        /* the gate's target with the fast path off (DEBUG_FAST_PATHS) */
self_event_slow:
.Lself_general_gs_ok:
	pushq $0
	pushq $VEC_SELF_EVENT
	jmp trap_entry

/* Software vectors: their stubs pushed 0 and the vector, and come here. */
swvec_entry:
	testb $3, TF_CS-TF_VECTOR(%rsp) /* CS (before the pushes): from Ring 3 */
	jz trap_entry
	EVENT_ENTER
	movq SWVEC_VECTOR(%rsp), %rcx
	subq $VEC_SOFT_BASE, %rcx
	cmpl $0, ENV_SWVEC_HELD(%rbx,%rcx,4)
	je .Lswvec_general         /* not held: #GP, from C */
	EVENT_CHECKS SWVEC_B, .Lswvec_general
	EVENT_SAVE SWVEC_B
	orq $KEEL_EV_SWVEC, KUA_PENDING(%rax)
	movq SWVEC_VECTOR(%rsp), %rcx
	subq $VEC_SOFT_BASE, %rcx
	btsq %rcx, KUA_SWVEC_PENDING(%rax)
	EVENT_DELIVER SWVEC_B
.Lswvec_general:
	EVENT_GENERAL
	jmp trap_entry

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

/* ---------------------------------------------------------------- #DB */
/*
 * Its stub pushed 0 and the vector on the #DB IST stack. From Ring 3 (single
 * step, icebp) it is an ordinary exception: the frame moves to the top of
 * the kernel stack -- empty, as at every entry from Ring 3 -- and goes the
 * ordinary way. From Ring 0: paranoid, whatever GS and RSP were.
 */
#define DB_FRAME (TF_SIZE-TF_VECTOR) /* vector, error code, rip cs rflags rsp ss */
db_entry:
	testb $3, TF_CS-TF_VECTOR(%rsp) /* the saved CS */
	jz paranoid_entry
	swapgs
	lfence                       /* as at every conditional swapgs (CVE-2019-1125) */
	movq %rax, %gs:PERCPU_USER_RSP /* scratch: no syscall entry is in flight */
	movq %gs:PERCPU_KSTACK_TOP, %rax
	subq $DB_FRAME, %rax
	.set .Loff, 0
	.rept DB_FRAME / 8
	pushq .Loff(%rsp)             /* (the address is taken before the push) */
	popq .Loff(%rax)
	.set .Loff, .Loff + 8
	.endr
	movq %rax, %rsp
	movq %gs:PERCPU_USER_RSP, %rax
	swapgs                       /* the user's GS: trap_entry swaps by CS */
	jmp trap_entry

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
	addq $TF_RIP-TF_VECTOR, %rsp
	iretq
