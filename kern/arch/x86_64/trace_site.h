/*
 * A trace site in assembly (kern/trace.h has the C one): a 5-byte NOP,
 * recorded in .trace_sites with the address of out-of-line code that saves
 * the registers C may clobber, calls `fn` with RBX as its argument (the env,
 * on the event paths) and jumps back past the NOP. Switched on, the NOP
 * becomes `jmp` to that code; off, the path pays the NOP alone. RFLAGS is
 * clobbered: use a site only where the flags are dead.
 */
#ifndef KEEL_X86_TRACE_SITE_H
#define KEEL_X86_TRACE_SITE_H

#ifdef __ASSEMBLER__
.macro TRACE_SITE_CALL fn
771:	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00 /* nopl 0(%rax,%rax,1) */
772:
	.pushsection .trace_sites, "a"
	.balign 8
	.quad 771b, 773f
	.popsection
	.pushsection .text.trace_out, "ax"
773:	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %rbp
	movq %rsp, %rbp
	andq $-16, %rsp            /* the C ABI's alignment at the call */
	movq %rbx, %rdi
	call \fn
	movq %rbp, %rsp
	popq %rbp
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	jmp 772b
	.popsection
.endm
#endif

#endif
