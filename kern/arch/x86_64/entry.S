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

	.cfi_sections .debug_frame /* unwind information: regs.inc says how */
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
/* The stubs have no unwind information of their own: gdb stopped in one
 * knows nothing of the frame above it until trap_entry. */
trap_entry:
	CFI_TRAP_START
	CFI_HW_FRAME TF_VECTOR
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
	.cfi_endproc

/* One of the syscall fast path's saves; \saved: the register whose value it
 * holds for the unwinder (RCX holds the user's RIP, R11 its RFLAGS). */
.macro FAST_PUSH reg, saved
	pushq %\reg
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset \saved, 0
.endm

.macro FAST_POP reg
	popq %\reg
	.cfi_adjust_cfa_offset -8
	.cfi_same_value %\reg
.endm

/* The syscall fast path's saves (pushed in the reverse order), back. */
.macro POP_FAST_SCRATCH
	FAST_POP r10
	FAST_POP r9
	FAST_POP r8
	FAST_POP rdx
	FAST_POP rsi
	FAST_POP rdi
	popq %r11
	.cfi_adjust_cfa_offset -8
	.cfi_register DW_RFLAGS, %r11
	popq %rcx
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rcx
.endm

/* Where `syscall` leaves things: the user's RIP in RCX, its RFLAGS in R11,
 * its RSP still loaded (the CFA, until the switch to the kernel stack). */
.macro CFI_SYSCALL_START
	CFI_TRAP_START
	.cfi_def_cfa %rsp, 0
	.cfi_register %rip, %rcx
	.cfi_register DW_RFLAGS, %r11
.endm

/* On the kernel stack's top, the user's RSP kept in the per-CPU data: the
 * CFA is the stack's top -- the end of the trap frame the slow paths build
 * there -- and the user's RSP is out of DWARF's reach (it cannot read
 * through GS) until SYSCALL_FRAME pushes it. */
.macro CFI_SYSCALL_KSTACK
	.cfi_def_cfa %rsp, 0
	.cfi_undefined %rsp
.endm

/* One word of a trap frame being built from the kernel stack's top down:
 * the assembler checks it lands at \off, and \dw (if any) is the register
 * whose value it holds. */
.macro PUSH_TF src, off, dw=
	pushq \src
	.cfi_adjust_cfa_offset 8
	.set .Ltf_at, .Ltf_at - 8
	.if \off != .Ltf_at
	.error "PUSH_TF: \src is not where struct trap_frame has it"
	.endif
	.ifnb \dw
	.cfi_offset \dw, \off - TF_SIZE
	.endif
.endm

/* The CPU's five words, as an interrupt from Ring 3 would push them, then
 * the error code and the vector: all of a trap frame but PUSH_REGS. */
.macro SYSCALL_FRAME
	.set .Ltf_at, TF_SIZE
	PUSH_TF $USER_SS, TF_SS, DW_SS
	PUSH_TF %gs:PERCPU_USER_RSP, TF_RSP, %rsp
	PUSH_TF %r11, TF_RFLAGS, DW_RFLAGS
	PUSH_TF $USER_CS, TF_CS, DW_CS
	PUSH_TF %rcx, TF_RIP, %rip
	PUSH_TF $0, TF_ERROR
	PUSH_TF $VEC_SYSCALL, TF_VECTOR
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
	CFI_SYSCALL_START
	swapgs
	lfence
	movq %rsp, %gs:PERCPU_USER_RSP
	.cfi_remember_state        /* (for .Lsyscall_maybe_switch) */
	cmpq $SYS_YIELD, %rax      /* the calls that switch envs: SYS_YIELD..SYS_PCT_REPLY (below) */
	jae .Lsyscall_maybe_switch
.Lsyscall_fast:
	movq %gs:PERCPU_KSTACK_TOP, %rsp
	CFI_SYSCALL_KSTACK
	FAST_PUSH rax, %rax
	FAST_PUSH rcx, %rip
	FAST_PUSH r11, DW_RFLAGS
	FAST_PUSH rdi, %rdi
	FAST_PUSH rsi, %rsi
	FAST_PUSH rdx, %rdx
	FAST_PUSH r8, %r8
	FAST_PUSH r9, %r9
	FAST_PUSH r10, %r10
	movq %rax, %rcx            /* syscall_fast(rdi, rsi, rdx, nr) */
	call syscall_fast          /* -> rax value, rdx status */
	cmpl $SYSCALL_FAST_SYSRET, %edx
	jne .Lsyscall_slow
	movabsq $SYSRET_RIP_LIMIT, %rcx
	cmpq %rcx, FAST_RCX(%rsp)  /* sysretq only below the last user page */
	jae .Lsyscall_slow_answered
	incq %gs:PERCPU_STATS_SYSRET
	.cfi_remember_state
	POP_FAST_SCRATCH
	movq %gs:PERCPU_USER_RSP, %rsp
	.cfi_def_cfa %rsp, 0
	.cfi_same_value %rsp
	swapgs
	sysretq
	.cfi_restore_state

.Lsyscall_slow_answered:
	movl $SYSCALL_FAST_EVENTS, %edx
.Lsyscall_slow:
	movq %rax, %gs:PERCPU_FAST_RESULT
	movq %rdx, %gs:PERCPU_FAST_STATUS
	POP_FAST_SCRATCH
	FAST_POP rax               /* every register as it was at the syscall */
	SYSCALL_FRAME
	PUSH_REGS
	movq %rsp, %rdi
	xorl %ebp, %ebp            /* the kernel's own backtrace ends here (gdb's goes on, by the CFI) */
	call syscall_from_user     /* reads the fast path's status; never returns */
	ud2

/*
 * The calls that switch envs (a yield, a protected control transfer and its reply):
 * the caller's registers go straight into its dispatcher's saved context --
 * the frame is built there, not on the kernel stack -- and syscall_switch
 * (C) makes the call on its fast path if it can, else the general one.
 * Safe before the kernel lock: this CPU runs the dispatcher, and another
 * CPU that ends its env waits for this one to let go of it, which it can
 * only do with interrupts on (spinning for the lock, in C).
 */
.Lsyscall_maybe_switch:
	.cfi_restore_state
	cmpq $SYS_PCT_REPLY, %rax
	ja .Lsyscall_fast
	movq %gs:PERCPU_DISP, %rsp
	leaq DISP_CTX+TF_SIZE(%rsp), %rsp
	CFI_SYSCALL_KSTACK
	SYSCALL_FRAME
	PUSH_REGS
	movq %rsp, %rdi            /* the dispatcher's ctx */
	movq %gs:PERCPU_KSTACK_TOP, %rsp
	.cfi_undefined %rip        /* (the frame is in the dispatcher now: gdb's backtrace ends here) */
	xorl %ebp, %ebp
	call syscall_switch        /* never returns */
	ud2
	.cfi_endproc

/*
 * `syscall` from compatibility mode lands here (MSR_CSTAR). Compatibility
 * mode is unreachable -- the 32-bit user code descriptor is not present and
 * there is no LDT -- but if it were reached, the env is killed, not served.
 */
	.global syscall_compat_entry
syscall_compat_entry:
	CFI_SYSCALL_START
	swapgs
	lfence
	movq %rsp, %gs:PERCPU_USER_RSP
	movq %gs:PERCPU_KSTACK_TOP, %rsp
	CFI_SYSCALL_KSTACK
	SYSCALL_FRAME
	cld
	CLAC
	PUSH_REGS
	movq %rsp, %rdi
	xorl %ebp, %ebp
	call syscall_compat_from_user
	ud2
	.cfi_endproc

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

/* Enter, with the four scratch registers pushed and RBX = the running dispatcher. */
.macro EVENT_ENTER
	swapgs
	lfence
	cld
	CLAC
	FAST_PUSH rax, %rax
	FAST_PUSH rbx, %rbx
	FAST_PUSH rcx, %rcx
	FAST_PUSH rdx, %rdx
	movq %gs:PERCPU_DISP, %rbx
.endm

/* Can the event (or the exception: entry=KUA_TRAP_ENTRY) be delivered here?
 * Else to \general. Leaves RAX = the area. */
.macro EVENT_CHECKS B, general, entry=KUA_EVENT_ENTRY
	movq DISP_KA(%rbx), %rax
	testq %rax, %rax
	jz \general
	cmpq $0, DISP_EVENTS(%rbx)  /* kernel-side events carry details: C writes them */
	jne \general
	cmpl $RESUME_CTX, DISP_RESUME(%rbx)
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
	movq \entry(%rax), %rcx
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

/* Disable, count, and turn the CPU's frame into the event entry's; out.
 * (From here on the unwinder's "interrupted context" is the event entry.) */
.macro EVENT_DELIVER B
	.cfi_remember_state
	movl $1, KUA_DISABLED(%rax)
	incq KUA_UPCALLS(%rax)
	incq %gs:PERCPU_STATS_UPCALLS
	TRACE_SITE_CALL trace_upcall_asm
	movq $0, DISP_DISABLED_NS(%rbx) /* it was enabled: the watchdog starts over */
	movb $0, DISP_WATCHDOG_FIRED(%rbx)
	incq %gs:PERCPU_STATS_IRET
	movq KUA_EVENT_ENTRY(%rax), %rcx
	movq %rcx, SELF_RIP+\B(%rsp)
	movq KUA_UPCALL_STACK(%rax), %rcx
	andq $-16, %rcx
	movq %rcx, SELF_RSP+\B(%rsp)
	movq $(RFLAGS_IF_BIT | RFLAGS_RESERVED1), SELF_RFLAGS+\B(%rsp) /* IF, nothing else */
	movq DISP_AREA(%rbx), %rdi  /* the entry's argument */
	FAST_POP rdx
	FAST_POP rcx
	FAST_POP rbx
	FAST_POP rax
	.if \B
	addq $\B, %rsp             /* the stub's error code and vector */
	.cfi_adjust_cfa_offset -\B
	.endif
	swapgs
	jmp user_iretq
	.cfi_restore_state
.endm

.macro EVENT_GENERAL
	FAST_POP rdx
	FAST_POP rcx
	FAST_POP rbx
	FAST_POP rax
	swapgs                     /* the user's GS again: trap_entry decides */
.endm

	.global self_event_entry
self_event_entry:
	CFI_TRAP_START
	CFI_HW_FRAME TF_RIP        /* the gate comes here: no stub */
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
	.cfi_adjust_cfa_offset 8
	pushq $VEC_SELF_EVENT
	.cfi_adjust_cfa_offset 8
	jmp trap_entry
	.cfi_endproc

/* Software vectors: their stubs pushed 0 and the vector, and come here. */
swvec_entry:
	CFI_TRAP_START
	CFI_HW_FRAME TF_VECTOR
	testb $3, TF_CS-TF_VECTOR(%rsp) /* CS (before the pushes): from Ring 3 */
	jz trap_entry
	EVENT_ENTER
	movq SWVEC_VECTOR(%rsp), %rcx
	subq $VEC_SOFT_BASE, %rcx
	movq DISP_ENV(%rbx), %rdx    /* what the env holds (RDX is saved) */
	cmpl $0, ENV_SWVEC_HELD(%rdx,%rcx,4)
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
	.cfi_endproc

/*
 * Page faults, on the same kind of assembly fast path: a fault in Ring 3 of
 * an env that is enabled and takes upcalls, with the conditions of the event
 * path (no kernel-side events, not in its critical range, a user trap entry
 * and stack), is delivered right here to its trap entry -- the registers
 * into the enabled save, the fault into the area's trap_vector, trap_error
 * and trap_cr2, the entry's arguments (RDI the area, RSI the vector, RDX the
 * error code, RCX CR2, R8 KEEL_SAVE_ENABLED) in registers -- as trap.c's
 * upcall_trap_fast does in C: keep the two in step. Anything else (a fault
 * in Ring 0 or on the Ring 3 iretq, which lacks PF_U) takes trap_entry. The
 * #PF gate comes here, or with DEBUG_FAST_PATHS KEEL_FASTPATH_ASM to the
 * ordinary stub (idt.c). The stack: the CPU's error code and the vector
 * pushed here, then, once inside, the four scratch pushes (B = 16).
 */
#define PF_ERROR (SELF_SCRATCH + 8) /* the CPU's error code, above the vector */
	.global pf_entry
pf_entry:
	CFI_TRAP_START
	CFI_HW_FRAME TF_ERROR      /* the gate comes here: no stub */
	pushq $VEC_PF              /* the frame the stub would make */
	.cfi_adjust_cfa_offset 8
	testb $3, TF_CS-TF_VECTOR(%rsp) /* CS: from Ring 3 */
	jz trap_entry
	testb $PF_U, TF_ERROR-TF_VECTOR(%rsp)
	jz trap_entry
	EVENT_ENTER
	EVENT_CHECKS SWVEC_B, .Lpf_general, KUA_TRAP_ENTRY
	EVENT_SAVE SWVEC_B
	.cfi_remember_state
	movq %cr2, %rcx
	movq PF_ERROR(%rsp), %rdx
	movl $1, KUA_DISABLED(%rax)
	movq $VEC_PF, KUA_TRAP_VECTOR(%rax)
	movq %rdx, KUA_TRAP_ERROR(%rax)
	movq %rcx, KUA_TRAP_CR2(%rax)
	incq KUA_TRAPS(%rax)
	movq $0, DISP_DISABLED_NS(%rbx) /* it was enabled: the watchdog starts over */
	movb $0, DISP_WATCHDOG_FIRED(%rbx)
	incq %gs:PERCPU_STATS_IRET
	incq %gs:PERCPU_STATS_TRAP_UPCALLS
	TRACE_SITE_CALL trace_pf_asm
	movq KUA_TRAP_ENTRY(%rax), %rsi
	movq %rsi, SELF_RIP+SWVEC_B(%rsp)
	movq KUA_UPCALL_STACK(%rax), %rsi
	andq $-16, %rsi
	movq %rsi, SELF_RSP+SWVEC_B(%rsp)
	movq $(RFLAGS_IF_BIT | RFLAGS_RESERVED1), SELF_RFLAGS+SWVEC_B(%rsp) /* IF, nothing else */
	movq DISP_AREA(%rbx), %rdi  /* the entry's arguments */
	movl $VEC_PF, %esi
	movl $KEEL_SAVE_ENABLED, %r8d
	addq $16, %rsp             /* RDX and RCX: the error code and CR2 now */
	.cfi_adjust_cfa_offset -16
	FAST_POP rbx
	FAST_POP rax
	addq $SWVEC_B, %rsp        /* the error code and the stub's vector */
	.cfi_adjust_cfa_offset -SWVEC_B
	swapgs
	jmp user_iretq
	.cfi_restore_state
.Lpf_general:
	EVENT_GENERAL
	jmp trap_entry
	.cfi_endproc

/*
 * The hardware floor, for benchmarks: the least a kernel can do for an
 * interrupt (floor_iretq, the gate of vector 0x81) and for a syscall
 * (floor_sysretq, LSTAR for an env that asked for it). Neither touches
 * memory or GS. The syscall one still refuses to sysretq into the last user
 * page (the SYSRET hazard); that costs three instructions.
 */
	.global floor_iretq, floor_sysretq
floor_iretq:
	CFI_TRAP_START
	CFI_HW_FRAME TF_RIP
	iretq
	.cfi_endproc
floor_sysretq:
	CFI_SYSCALL_START
	btq $47, %rcx            /* a non-canonical return address: the slow path */
	jc syscall_entry         /* deals with it (the env is killed, not the kernel) */
	sysretq
	.cfi_endproc

/* ---------------------------------------------------------------- #DB */
/*
 * Its stub pushed 0 and the vector on the #DB IST stack. From Ring 3 (single
 * step, icebp) it is an ordinary exception: the frame moves to the top of
 * the kernel stack -- empty, as at every entry from Ring 3 -- and goes the
 * ordinary way. From Ring 0: paranoid, whatever GS and RSP were.
 */
#define DB_FRAME (TF_SIZE-TF_VECTOR) /* vector, error code, rip cs rflags rsp ss */
db_entry:
	CFI_TRAP_START
	CFI_HW_FRAME TF_VECTOR       /* on the IST stack, then the copy on the kernel stack */
	testb $3, TF_CS-TF_VECTOR(%rsp) /* the saved CS */
	jz paranoid_entry
	swapgs
	lfence                       /* as at every conditional swapgs (CVE-2019-1125) */
	movq %rax, %gs:PERCPU_USER_RSP /* scratch: no syscall entry is in flight */
	.cfi_undefined %rax          /* (in the per-CPU data: out of DWARF's reach) */
	movq %gs:PERCPU_KSTACK_TOP, %rax
	subq $DB_FRAME, %rax
	.set .Loff, 0
	.rept DB_FRAME / 8
	pushq .Loff(%rsp)             /* (the address is taken before the push) */
	.cfi_adjust_cfa_offset 8
	popq .Loff(%rax)
	.cfi_adjust_cfa_offset -8
	.set .Loff, .Loff + 8
	.endr
	movq %rax, %rsp
	movq %gs:PERCPU_USER_RSP, %rax
	.cfi_same_value %rax
	swapgs                       /* the user's GS: trap_entry swaps by CS */
	jmp trap_entry
	.cfi_endproc

/* ----------------------------------------------- IST (paranoid) path */
paranoid_entry:
	CFI_TRAP_START
	CFI_HW_FRAME TF_VECTOR
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
	.cfi_adjust_cfa_offset -(TF_RIP-TF_VECTOR)
	iretq
	.cfi_endproc
