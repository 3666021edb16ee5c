/* Memory probes that may fault: the trap handler (vm.c) sees RIP at
 * probe_insn, records the fault and continues at probe_resume, where the
 * probe returns PROBE_FAULTED in RAX. */
	.data
	.global probe_insn, probe_resume
probe_insn:   .quad 0
probe_resume: .quad 0

	.text
.macro ARM insn, resume
	leaq \insn(%rip), %rax
	movq %rax, probe_insn(%rip)
	leaq \resume(%rip), %rax
	movq %rax, probe_resume(%rip)
.endm

	/* uint64_t probe_read(uint64_t addr): the quadword, or PROBE_FAULTED */
	.global probe_read
probe_read:
	ARM 0f, 1f
0:	movq (%rdi), %rax
1:	ret

	/* uint64_t probe_write(uint64_t addr, uint64_t v): 0, or PROBE_FAULTED */
	.global probe_write
probe_write:
	ARM 0f, 1f
	xorl %eax, %eax
0:	movq %rsi, (%rdi)
1:	ret
