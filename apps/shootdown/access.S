/* The reader's one access to the page under test, where its trap handler
 * (shootdown.c) can name it: a fault at access_*_at continues at the
 * access_*_next after it with RAX = the handler's marker. */
	.text
	.global access_read, access_read_at, access_read_next
	.global access_write, access_write_at, access_write_next

	/* uint64_t access_read(const volatile uint64_t *p): *p */
access_read:
access_read_at:
	movq (%rdi), %rax
access_read_next:
	ret

	/* uint64_t access_write(volatile uint64_t *p, uint64_t v): 0 */
access_write:
	xorl %eax, %eax
access_write_at:
	movq %rsi, (%rdi)
access_write_next:
	ret
