/*
 * The thread switch, entirely in Ring 3 (dispatch.c calls it with upcalls
 * disabled):
 *
 *   void libos_switch(struct keel_context *from, void *from_xstate,
 *                     struct keel_context *to, const void *to_xstate,
 *                     struct keel_upcall_area *area, uint32_t *from_saved);
 *
 * Saves the caller as `from` -- callee-saved registers, RSP and RIP of this
 * call's return, RFLAGS, and the whole extended state -- stores 0 in
 * *from_saved (from that store on, another CPU may resume `from`; nothing
 * touches from's stack after it), then loads `to`'s
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
	movq %rdx, %rdi                  /* to: from is saved but for its extended state */
	movq %rcx, %r10                  /* to_xstate */
	XSTATE_SAVE %rsi
	movl $0, (%r9)                   /* *from_saved = 0: another CPU may resume from now on */
	XSTATE_LOAD %r10
	movq %r8, %rsi
	jmp keel_resume
	.size libos_switch, . - libos_switch

/* void libos_switch_idle(struct keel_context *from, void *from_xstate,
 *                        uint32_t *from_saved, void *stack_top, struct dcpu *c):
 * save the caller as libos_switch does, then dispatch_idle(c) on a stack of
 * its own (dcpu.c): nothing runs on from's stack once it may be resumed
 * elsewhere. */
	.global libos_switch_idle
	.type libos_switch_idle, @function
libos_switch_idle:
	CAPTURE_CALLER
	movq %rdx, %r9                   /* (XSTATE_SAVE clobbers RDX) */
	XSTATE_SAVE %rsi
	movl $0, (%r9)
	movq %rcx, %rsp
	movq %r8, %rdi
	call dispatch_idle               /* never returns */
	ud2
	.size libos_switch_idle, . - libos_switch_idle

/* noreturn void libos_load(const struct keel_context *to, const void *to_xstate,
 * struct keel_upcall_area *area): the extended state, then keel_resume. */
	.global libos_load
	.type libos_load, @function
libos_load:
	movq %rdx, %r8                   /* (XSTATE_LOAD clobbers RDX) */
	XSTATE_LOAD %rsi
	movq %r8, %rsi
	jmp keel_resume
	.size libos_load, . - libos_load

/* struct dcpu_disabled dispatch_disable(void) (dispatch.h): upcalls off on
 * the CPU the caller runs on; that CPU's struct dcpu (RAX) and whether they
 * were off already (RDX). With several CPUs a thread may be moved between
 * any two instructions while enabled, so finding the CPU and disabling it
 * are one restartable sequence: the event handler (dispatch.c) moves an
 * interrupted RIP inside [start, end) back to start. The store that
 * disables is its last instruction: once it ran, no upcall comes to move
 * the thread. */
	.global dispatch_disable, dispatch_disable_seq_start, dispatch_disable_seq_end
	.type dispatch_disable, @function
dispatch_disable:
	cmpb $0, dispatch_multi(%rip)
	je 1f
dispatch_disable_seq_start:              /* (a restart reads nothing the sequence wrote) */
	leaq dispatch_by_cpu(%rip), %rdx
	movl $KEEL_CPU_SEL, %eax
	lsl %ax, %eax                    /* this CPU's index (docs/abi.md "CPUs") */
	movq (%rdx,%rax,8), %rax         /* its struct dcpu */
	movq (%rax), %rcx                /* ->area (offset 0) */
	movl KUA_DISABLED(%rcx), %edx
	movl $1, KUA_DISABLED(%rcx)
dispatch_disable_seq_end:
	ret
1:	leaq dispatch_cpus(%rip), %rax   /* one CPU: dispatch_cpus[0], wherever it runs */
	movq (%rax), %rcx
	movl KUA_DISABLED(%rcx), %edx
	movl $1, KUA_DISABLED(%rcx)
	ret
	.size dispatch_disable, . - dispatch_disable

/* noreturn void libos_idle_on(void *stack_top, struct dcpu *c):
 * dispatch_idle(c) on that stack (from an upcall's, abandoned). */
	.global libos_idle_on
	.type libos_idle_on, @function
libos_idle_on:
	movq %rdi, %rsp
	movq %rsi, %rdi
	call dispatch_idle
	ud2
	.size libos_idle_on, . - libos_idle_on

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
