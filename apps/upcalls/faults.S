/* Deliberate faults with a known place to resume (fault_resume_at), and the
 * planted-context probes, for apps/upcalls. */
#include "keel/abi.h"
#include "asm-offsets.h" /* KCTX_*, KUA_*: the ABI structs' offsets (libos/asm-offsets.c) */

	.data
	.global fault_resume_at, fault_insn_at, fault_rsp
fault_resume_at: .quad 0   /* where to continue */
fault_insn_at:   .quad 0   /* the faulting instruction */
fault_rsp:       .quad 0   /* RSP at it */

	.text
.macro RESUME_AT label, insn
	leaq \label(%rip), %rax
	movq %rax, fault_resume_at(%rip)
	leaq \insn(%rip), %rax
	movq %rax, fault_insn_at(%rip)
	movq %rsp, fault_rsp(%rip)
.endm

	.global fault_pf_read, fault_pf_write, fault_jump, fault_ud, fault_de, fault_bp
fault_pf_read:
	RESUME_AT 1f, 0f
0:	movb (%rdi), %al
1:	ret
fault_pf_write:
	RESUME_AT 1f, 0f
0:	movb $1, (%rdi)
1:	ret
fault_jump:
	RESUME_AT 1f, 0f
0:	jmp *%rdi
1:	ret
fault_ud:
	RESUME_AT 1f, 0f
0:	ud2
1:	ret
fault_de:
	xorl %ecx, %ecx
	movl $1, %eax
	xorl %edx, %edx
	RESUME_AT 1f, 0f
	movl $1, %eax
0:	divl %ecx
1:	ret
fault_bp:
	RESUME_AT 1f, 0f
0:	int3
1:	ret

/*
 * Write into ctx a context that continues at the label below (or at `rip`
 * when non-zero) with IOPL 3, NT, IF clear, kernel CS and null SS, then ask
 * the kernel to resume it (plant_resume: SYS_RESUME slot; plant_yield: a
 * disabled SYS_YIELD). Returns the RFLAGS it resumed with and stores CS and
 * SS in cs_ss[0..1]; or the syscall's error if the kernel refused.
 */
#define BAD_RFLAGS (0x3000 | 0x4000 | 0x2)

.macro PLANT nr
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rdx, %r12                 /* cs_ss, kept in the planted context */
	movq %r15, KCTX_R15(%rdi)
	movq %r14, KCTX_R14(%rdi)
	movq %r13, KCTX_R13(%rdi)
	movq %r12, KCTX_R12(%rdi)
	movq %rbp, KCTX_RBP(%rdi)
	movq %rbx, KCTX_RBX(%rdi)
	leaq 1f(%rip), %rax
	testq %rcx, %rcx
	cmovnzq %rcx, %rax
	movq %rax, KCTX_RIP(%rdi)
	movq %rsp, KCTX_RSP(%rdi)
	movq $0x08, KCTX_CS(%rdi)       /* the kernel's code selector */
	movq $0, KCTX_SS(%rdi)
	movq $BAD_RFLAGS, KCTX_RFLAGS(%rdi)
	movq %rsi, %rdi                 /* slot (ignored by SYS_YIELD) */
	xorl %esi, %esi
	movl $\nr, %eax
	syscall
	jmp 2f                          /* refused: RAX holds the error */
1:	movl %cs, %eax
	movq %rax, (%r12)
	movl %ss, %eax
	movq %rax, 8(%r12)
	pushfq
	popq %rax
2:	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret
.endm

	.global planted_resume
planted_resume:     /* (ctx, slot, cs_ss, rip) */
	PLANT SYS_RESUME

	.section .note.GNU-stack, "", @progbits

/* u64 crit_probe(struct keel_context *ctx, struct keel_upcall_area *a): put
 * known values in every callee-saved register, pass through keel_resume
 * (keel_capture_resume), and count the registers that came back changed. */
	.text
	.global crit_probe
crit_probe:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movabsq $0x1111222233334444, %rbx
	movabsq $0x5555666677778888, %rbp
	movabsq $0x99990000aaaabbbb, %r12
	movabsq $0xccccddddeeeeffff, %r13
	movabsq $0x0123456789abcdef, %r14
	movabsq $0xfedcba9876543210, %r15
	call keel_capture_resume
	xorl %eax, %eax
	movabsq $0x1111222233334444, %rcx
	cmpq %rcx, %rbx
	setne %al
	movzbl %al, %edx
	movabsq $0x5555666677778888, %rcx
	cmpq %rcx, %rbp
	setne %al
	addl %eax, %edx
	movabsq $0x99990000aaaabbbb, %rcx
	cmpq %rcx, %r12
	setne %al
	addl %eax, %edx
	movabsq $0xccccddddeeeeffff, %rcx
	cmpq %rcx, %r13
	setne %al
	addl %eax, %edx
	movabsq $0x0123456789abcdef, %rcx
	cmpq %rcx, %r14
	setne %al
	addl %eax, %edx
	movabsq $0xfedcba9876543210, %rcx
	cmpq %rcx, %r15
	setne %al
	addl %eax, %edx
	movl %edx, %eax
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret
	.section .note.GNU-stack, "", @progbits

/* u64 self_probe(void), swvec_probe(void): every general register but RSP
 * (and R14, the probe's scratch) holds a known value across `int $0x82` /
 * `int $0xA0` (an upcall and a Ring 3 resume); returns how many came back
 * changed. */
.macro PROBE reg, val
	movabsq $\val, %r14
	cmpq %r14, \reg
	setne %r14b
	movzbq %r14b, %r14
	addq %r14, %r15
.endm
.macro REGPROBE name, vec
	.global \name
\name:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movabsq $0x0101010101010101, %rax
	movabsq $0x0202020202020202, %rbx
	movabsq $0x0303030303030303, %rcx
	movabsq $0x0404040404040404, %rdx
	movabsq $0x0505050505050505, %rsi
	movabsq $0x0606060606060606, %rdi
	movabsq $0x0707070707070707, %rbp
	movabsq $0x0808080808080808, %r8
	movabsq $0x0909090909090909, %r9
	movabsq $0x0a0a0a0a0a0a0a0a, %r10
	movabsq $0x0b0b0b0b0b0b0b0b, %r11
	movabsq $0x0c0c0c0c0c0c0c0c, %r12
	movabsq $0x0d0d0d0d0d0d0d0d, %r13
	movabsq $0x0e0e0e0e0e0e0e0e, %r14
	movabsq $0x0f0f0f0f0f0f0f0f, %r15
	int $\vec
	pushq %r15
	xorl %r15d, %r15d
	PROBE %rax, 0x0101010101010101
	PROBE %rbx, 0x0202020202020202
	PROBE %rcx, 0x0303030303030303
	PROBE %rdx, 0x0404040404040404
	PROBE %rsi, 0x0505050505050505
	PROBE %rdi, 0x0606060606060606
	PROBE %rbp, 0x0707070707070707
	PROBE %r8, 0x0808080808080808
	PROBE %r9, 0x0909090909090909
	PROBE %r10, 0x0a0a0a0a0a0a0a0a
	PROBE %r11, 0x0b0b0b0b0b0b0b0b
	PROBE %r12, 0x0c0c0c0c0c0c0c0c
	PROBE %r13, 0x0d0d0d0d0d0d0d0d
	popq %rax                          /* the r15 that came back */
	movabsq $0x0f0f0f0f0f0f0f0f, %r14
	cmpq %r14, %rax
	setne %r14b
	movzbq %r14b, %r14
	addq %r14, %r15
	movq %r15, %rax
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret
.endm
	.text
	REGPROBE self_probe, KEEL_VEC_SELF
	REGPROBE swvec_probe, KEEL_VEC_SOFT_BASE
	.section .note.GNU-stack, "", @progbits
