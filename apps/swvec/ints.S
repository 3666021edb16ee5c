/* int_table + 4 * N: `int $N; ret` (CD N C3, padded to 4 bytes) for every N. */
	.text
	.balign 4
	.global int_table
int_table:
	.set v, 0
	.rept 256
	.byte 0xCD, v, 0xC3, 0x90
	.set v, v + 1
	.endr
