/*
 * libos upcall entries and the Ring 3 resume routine (docs/upcalls.md).
 *
 * keel_event_entry / keel_trap_entry: the kernel enters here, disabled, on
 * the upcall (or trap) stack. The extended state in the registers is the
 * interrupted context's: save it (XSAVE or FXSAVE) before any C runs, and
 * restore it before resuming.
 *
 * keel_resume(ctx, area): restore a saved context entirely in Ring 3. From
 * clearing `disabled` to the iretq is the declared critical range; RSP points
 * at ctx's iret frame throughout it, so the kernel finds the context being
 * resumed at RSP - KCTX_RIP if an event arrives inside.
 */
#include "keel/abi.h"
#include "asm-offsets.h" /* KCTX_*, KUA_*: the ABI structs' offsets (libos/asm-offsets.c) */
#include "context.inc"

	.section .rodata
libos_mxcsr_default: .long 0x1F80

	.text

/* Save the extended state below the current stack into a 64-byte aligned
 * buffer left in %rbx; clobbers rax, rdx, rcx, rdi. */
.macro SAVE_EXTENDED
	subq libos_xsave_size(%rip), %rsp
	andq $-64, %rsp
	movq %rsp, %rbx
	XSAVE_AT_RBX
.endm

/* The same into the buffer the library armed in the area at \area
 * (env_words[0]: the running thread's own, libos/dispatch.c), taken with
 * xchg so that an entry nested in the handler saves on its stack; none
 * armed: on the stack. Saves the copy a thread switch would make. */
.macro SAVE_EXTENDED_ARMED area
	xorl %eax, %eax
	xchgq %rax, KUA_ENV_WORDS(\area)
	movq %rax, %rbx
	testq %rax, %rax
	jnz 3f
	subq libos_xsave_size(%rip), %rsp
	andq $-64, %rsp
	movq %rsp, %rbx
3:	XSAVE_AT_RBX
.endm

.macro XSAVE_AT_RBX
	/* XRSTOR checks the XSAVE header: start from a clean one (FXSAVE's
	 * buffers have the room and ignore it: keel_xstate_size). */
	xorl %eax, %eax
	movq %rax, 512(%rbx)
	movq %rax, 520(%rbx)
	movq %rax, 528(%rbx)
	movq %rax, 536(%rbx)
	movq %rax, 544(%rbx)
	movq %rax, 552(%rbx)
	movq %rax, 560(%rbx)
	movq %rax, 568(%rbx)
	XSTATE_SAVE %rbx
	/* C starts from the default control state, whatever the interrupted
	 * code had (unmasked exceptions, another rounding mode). */
	fninit
	ldmxcsr libos_mxcsr_default(%rip)
.endm

/* Restore the extended state from where it is now (\from: the one saved
 * to, or the next thread's after a switch: keel_upcall_xstate_set); a
 * buffer not on this stack is armed for the next entry: the context resumed
 * saves there. */
.macro RESTORE_EXTENDED_ARMED area, from
	movq \from, %rbx
	XSTATE_LOAD %rbx
	cmpq %rsp, %rbx
	je 4f
	movq %rbx, KUA_ENV_WORDS(\area)
4:
.endm

/* Every general register from the context at RDI (RDI last). */
.macro LOAD_GPRS
	movq KCTX_R15(%rdi), %r15
	movq KCTX_R14(%rdi), %r14
	movq KCTX_R13(%rdi), %r13
	movq KCTX_R12(%rdi), %r12
	movq KCTX_R11(%rdi), %r11
	movq KCTX_R10(%rdi), %r10
	movq KCTX_R9(%rdi), %r9
	movq KCTX_R8(%rdi), %r8
	movq KCTX_RBP(%rdi), %rbp
	movq KCTX_RDX(%rdi), %rdx
	movq KCTX_RCX(%rdi), %rcx
	movq KCTX_RBX(%rdi), %rbx
	movq KCTX_RAX(%rdi), %rax
	movq KCTX_RSI(%rdi), %rsi
	movq KCTX_RDI(%rdi), %rdi
.endm

.macro RESTORE_EXTENDED
	XSTATE_LOAD %rbx
.endm

/* RDI = area. The interrupted context is in area->enabled_save; its
 * extended state in the buffer handed to C (also in env_words[1]; a handler
 * that switches threads replaces both: keel_upcall_xstate_set). */
	.global keel_event_entry
	.type keel_event_entry, @function
keel_event_entry:
	cld
	movq %rdi, %r12
	SAVE_EXTENDED_ARMED %r12
	movq %rbx, KUA_ENV_WORDS+8(%r12) /* where the extended state is */
	movq %r12, %rdi
	movq %rbx, %rsi
	call libos_event
	RESTORE_EXTENDED_ARMED %r12, KUA_ENV_WORDS+8(%r12)
	leaq KUA_ENABLED_SAVE(%r12), %rdi
	movq %r12, %rsi
	jmp keel_resume
	.size keel_event_entry, . - keel_event_entry

/* RDI area, RSI vector, RDX error, RCX cr2, R8 slot holding the context. */
	.global keel_trap_entry
	.type keel_trap_entry, @function
keel_trap_entry:
	cld
	movq %rdi, %r12          /* callee-saved across the C call */
	movq %r8, %r13
	movq %rsi, %r14
	movq %rdx, %r15
	movq %rcx, %rbp
	SAVE_EXTENDED_ARMED %r12
	movq %r12, %rdi
	movq %r14, %rsi
	movq %r15, %rdx
	movq %rbp, %rcx
	movq %r13, %r8
	movq %rbx, %r9
	call libos_trap          /* returns only if the context may be resumed: where from, in RAX */
	RESTORE_EXTENDED_ARMED %r12, %rax
	cmpq $KEEL_SAVE_TRAP, %r13
	je 1f
	leaq KUA_ENABLED_SAVE(%r12), %rdi
	movq %r12, %rsi
	jmp keel_resume
1:	leaq KUA_TRAP_SAVE(%r12), %rdi
	jmp keel_resume_disabled
	.size keel_trap_entry, . - keel_trap_entry

/* A protected control transfer (ipc.c): RDI area, RSI caller id, RDX RCX R8
 * R9 the arguments; disabled, on the pct stack, the env's own context in
 * the enabled save. The message (arguments in, results out) lives on this
 * stack; the reply ends the handler. Should it return (the caller is gone),
 * the env resumes its context itself. */
	.global keel_pct_entry
	.type keel_pct_entry, @function
keel_pct_entry:
	cld
	subq $32, %rsp
	movq %rdx, 0(%rsp)
	movq %rcx, 8(%rsp)
	movq %r8, 16(%rsp)
	movq %r9, 24(%rsp)
	movq %rdi, %r12
	movq %rsi, %r14
	movq %rsp, %r13
	SAVE_EXTENDED
	movq %r12, %rdi
	movq %r14, %rsi
	movq %r13, %rdx
	call libos_pct
	RESTORE_EXTENDED
	movq 0(%r13), %rdi
	movq 8(%r13), %rsi
	movq 16(%r13), %rdx
	movq 24(%r13), %r10
	movl $SYS_PCT_REPLY, %eax
	syscall
	leaq KUA_ENABLED_SAVE(%r12), %rdi
	movq %r12, %rsi
	jmp keel_resume
	.size keel_pct_entry, . - keel_pct_entry

/* noreturn void keel_resume(struct keel_context *ctx, struct keel_upcall_area *a) */
	.global keel_resume, keel_resume_crit_start, keel_resume_crit_end
	.type keel_resume, @function
keel_resume:
	leaq KCTX_RIP(%rdi), %rsp    /* RSP = ctx's iret frame, all through the range */
keel_resume_crit_start:
	movl $0, KUA_DISABLED(%rsi)
	cmpq $0, KUA_PENDING(%rsi)
	jne .Lpending
	LOAD_GPRS
	iretq                        /* Ring 3 to Ring 3 */
.Lpending:
	/* Events arrived while disabled: take them now, with ctx as the
	 * interrupted context (moved to the enabled save if it is not there).
	 * Re-disabling is still inside the range: until it, an event must be
	 * taken with ctx as the interrupted context too. */
	movl $1, KUA_DISABLED(%rsi)
keel_resume_crit_end:
	cld
	leaq KUA_ENABLED_SAVE(%rsi), %rax
	cmpq %rax, %rdi
	je 2f
	movq %rsi, %rdx
	movq %rdi, %rsi
	movq %rax, %rdi
	movl $KCTX_SIZE / 8, %ecx
	rep movsq
	movq %rdx, %rsi
2:	movq %rsi, %rdi
	movq KUA_UPCALL_STACK(%rdi), %rsp
	andq $-16, %rsp
	jmp keel_event_entry
	.size keel_resume, . - keel_resume

/* noreturn void keel_resume_disabled(struct keel_context *ctx): stays
 * disabled (e.g. back into an upcall handler after a trap). */
	.global keel_resume_disabled
	.type keel_resume_disabled, @function
keel_resume_disabled:
	leaq KCTX_RIP(%rdi), %rsp
	LOAD_GPRS
	iretq
	.size keel_resume_disabled, . - keel_resume_disabled

/* void keel_capture_resume(struct keel_context *ctx, struct keel_upcall_area *a):
 * save the caller's context into ctx (continuing at this call's return) and
 * resume it through keel_resume: a full trip through the critical range that
 * returns like a function. Callee-saved registers and RSP are what matter. */
	.global keel_capture_resume
	.type keel_capture_resume, @function
keel_capture_resume:
	CAPTURE_CALLER
	jmp keel_resume
	.size keel_capture_resume, . - keel_capture_resume

	.section .note.GNU-stack, "", @progbits
