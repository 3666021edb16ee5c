/*
 * One timed operation each: u64 op_X(void) returns the TSC ticks between
 * two rdtsc around the operation (under -icount: guest instructions). The
 * same frame with nothing inside is op_empty; its minimum is subtracted.
 */
#include "keel/abi.h"
#include "asm-offsets.h" /* KCTX_*, KUA_*: the ABI structs' offsets (libos/asm-offsets.c) */

.macro T0
	pushq %rbx
	pushq %rbp
	rdtsc
	shlq $32, %rdx
	orq %rax, %rdx
	movq %rdx, %rbx
.endm
.macro T1
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	subq %rbx, %rax
	popq %rbp
	popq %rbx
	ret
.endm

	.text
	.global op_empty, op_floor_int, op_syscall, op_null_syscall, op_self_upcall, op_swvec, op_trap
op_empty:
	T0
	T1
op_floor_int:           /* int $0x81: a gate whose handler is a bare iretq */
	T0
	int $KEEL_VEC_FLOOR
	T1
op_syscall:             /* syscall to the bare sysretq (floor mode on) */
	T0
	syscall
	T1
op_null_syscall:        /* a real syscall that does nothing: SYS_ENV_ID */
	T0
	movl $SYS_ENV_ID, %eax
	syscall
	T1
op_self_upcall:         /* int $0x82 -> upcall -> handler -> Ring 3 resume */
	T0
	int $KEEL_VEC_SELF
	T1
op_swvec:               /* int $0xA0 (held: a software-vector capability) -> upcall -> resume */
	T0
	int $KEEL_VEC_SOFT_BASE
	T1
op_trap:                /* #PF -> trap upcall -> handler skips it -> resume */
	T0
	.global op_trap_insn
op_trap_insn:
	movb 0x10, %al          /* 7 bytes: 8a 04 25 10 00 00 00 */
	T1

/* Lean entries: take the events, resume the enabled save. No extended
 * state is saved: nothing here touches it. */
	.data
	.global bench_events, bench_traps
bench_events: .quad 0
bench_traps:  .quad 0
	.text
	.global bench_event_entry, bench_trap_entry
bench_event_entry:      /* RDI = area */
	xorl %eax, %eax
	xchgq %rax, KUA_PENDING(%rdi)
	xorl %eax, %eax
	xchgq %rax, KUA_SWVEC_PENDING(%rdi)
	incq bench_events(%rip)
	movq %rdi, %rsi
	leaq KUA_ENABLED_SAVE(%rdi), %rdi
	jmp keel_resume
bench_trap_entry:       /* RDI area; the trap was op_trap_insn's, while enabled */
	incq bench_traps(%rip)
	addq $7, KUA_ENABLED_SAVE + KCTX_RIP(%rdi)
	movq %rdi, %rsi
	leaq KUA_ENABLED_SAVE(%rdi), %rdi
	jmp keel_resume

/* u64 timer_spin(volatile u64 *flag, u64 *start): spin reading the TSC
 * until *flag is set; store the first reading at *start and return the gap
 * the flag was set in: the larger of the last loop interval and the one
 * from the last reading to the exit (the interrupt falls in one of them,
 * depending on whether it came before or after the flag was read). Earlier
 * intervals are left out: a stall of the host there is not the interrupt. */
	.global timer_spin
timer_spin:
	rdtsc
	shlq $32, %rdx
	orq %rax, %rdx
	movq %rdx, %r8          /* previous reading */
	movq %rdx, (%rsi)
	xorl %r9d, %r9d         /* the last loop interval */
1:	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	movq %rax, %r9
	subq %r8, %r9
	movq %rax, %r8
	cmpq $0, (%rdi)
	je 1b
	rdtsc                   /* the interval the flag was seen in counts too */
	shlq $32, %rdx
	orq %rdx, %rax
	subq %r8, %rax
	cmpq %r9, %rax
	cmovbq %r9, %rax
	ret

	.section .note.GNU-stack, "", @progbits
