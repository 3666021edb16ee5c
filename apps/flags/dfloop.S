/*
 * u64 df_ac_loop(u64 n): set DF and AC, spin n times checking they are
 * still set (a preemption must bring them back exactly), clear them and
 * return how many checks failed.
 */
	.text
	.global df_ac_loop, df_ac_loop_start, df_ac_loop_end
df_ac_loop:
	xorl %eax, %eax
	pushfq
	orq $0x40400, (%rsp)    /* AC | DF */
	popfq
df_ac_loop_start:
1:	pushfq
	popq %rdx
	andq $0x40400, %rdx
	cmpq $0x40400, %rdx
	je 2f
	incq %rax
2:	decq %rdi
	jnz 1b
df_ac_loop_end:
	cld
	pushfq
	andq $~0x40000, (%rsp)
	popfq
	ret
	.section .note.GNU-stack, "", @progbits
