/*
 * The thread switch, entirely in Ring 3 (dispatch.c calls it with upcalls
 * disabled):
 *
 *   void libos_switch(struct keel_context *from, void *from_xstate,
 *                     struct keel_context *to, const void *to_xstate,
 *                     struct keel_upcall_area *area);
 *
 * Saves the caller as `from` -- callee-saved registers, RSP and RIP of this
 * call's return, RFLAGS, and the whole extended state -- then loads `to`'s
 * extended state and resumes `to` through keel_resume, which enables
 * upcalls and iretqs (taking any event that came in the meantime). `from`
 * continues, enabled, when some later switch or upcall resumes it: the call
 * then returns. Caller-saved registers need not survive a call, but `to`
 * may be a thread preempted anywhere: keel_resume restores all sixteen.
 */
#include "keel/abi.h"
#include "asm-offsets.h" /* KCTX_*, KUA_*, JMP_* (libos/asm-offsets.c) */
#include "context.inc"

	.text
	.global libos_switch
	.type libos_switch, @function
libos_switch:
	CAPTURE_CALLER                   /* from: continues at our return */
	movq %rdx, %r9                   /* to */
	movq %rcx, %r10                  /* to_xstate */
	XSTATE_SAVE %rsi
	XSTATE_LOAD %r10
	movq %r9, %rdi
	movq %r8, %rsi
	jmp keel_resume
	.size libos_switch, . - libos_switch

/* int libos_setjmp(struct libos_jmp *j): saves rbx rbp r12 r13 r14 r15, RSP
 * and RIP after the call (dispatch.h); returns 0. dispatch.c resumes a
 * trapped context at it (rax = 1) to abandon a policy callback that faulted
 * or spun. */
	.global libos_setjmp
	.type libos_setjmp, @function
libos_setjmp:
	movq %rbx, JMP_RBX(%rdi)
	movq %rbp, JMP_RBP(%rdi)
	movq %r12, JMP_R12(%rdi)
	movq %r13, JMP_R13(%rdi)
	movq %r14, JMP_R14(%rdi)
	movq %r15, JMP_R15(%rdi)
	leaq 8(%rsp), %rax
	movq %rax, JMP_RSP(%rdi)
	movq (%rsp), %rax
	movq %rax, JMP_RIP(%rdi)
	xorl %eax, %eax
	ret
	.size libos_setjmp, . - libos_setjmp

/* Where a new thread starts (its context's RIP): R12 the function, R13
 * its argument, RSP 16-byte aligned. */
	.global libos_thread_start
	.type libos_thread_start, @function
libos_thread_start:
	xorl %ebp, %ebp                  /* ends backtraces */
	movq %r13, %rdi
	call *%r12
	movq %rax, %rdi
	call thread_exit
	ud2
	.size libos_thread_start, . - libos_thread_start

/* void thread_burn(uint64_t n): n guest instructions, two per turn. */
	.global thread_burn
	.type thread_burn, @function
thread_burn:
	movq %rdi, %rcx
	shrq $1, %rcx
	jz 2f
1:	subq $1, %rcx
	jnz 1b
2:	ret
	.size thread_burn, . - thread_burn

	.section .note.GNU-stack, "", @progbits
