/* Console writes with pointers the kernel must refuse with -EFAULT. */
#include "keel.h"

int main(int argc, char **argv)
{
	static const struct {
		const char *what;
		uint64_t ptr, len;
	} cases[] = {
		{ "kernel-slot", 0xFFFFFFFF80100000ULL, 8 },
		{ "kernel-direct-map", 0xFFFFFF8000100000ULL, 8 },
		{ "non-canonical", 0x0000800000000000ULL, 8 },
		{ "non-canonical-high", 0xdead000000000000ULL, 8 },
		{ "null", 0x0, 8 },
		{ "unmapped", 0x1000, 8 },
		{ "wrapping", 0x7FFFFFFFF000ULL, 0xFFFFFFFFFFFFF000ULL },
		{ "straddling-end", 0x7FFFFFFFFFF8ULL, 16 },
	};
	int bad = 0;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		long r = sys_console_write((const void *)cases[i].ptr, cases[i].len);
		bad += r != -EFAULT;
		printf("badptr: %s %#llx -> %ld%s\n", cases[i].what, (unsigned long long)cases[i].ptr, r,
		       r == -EFAULT ? " (EFAULT)" : " WRONG");
	}
	/* A buffer whose tail runs off the end of the stack: part-mapped. */
	uint64_t stack_end = keel_start_info->stack_base + keel_start_info->stack_size;
	long r = sys_console_write((const void *)(stack_end - 4), 4096);
	printf("\nbadptr: straddling-unmapped -> %ld%s\n", r, r == 4 || r == -EFAULT ? " (refused past the end)" : " WRONG");
	bad += !(r == 4 || r == -EFAULT);
	long e = keel_syscall3(999, 0, 0, 0);
	printf("badptr: syscall 999 -> %ld%s\n", e, e == -ENOSYS ? " (ENOSYS)" : " WRONG");
	bad += e != -ENOSYS;
	printf("badptr: %s\n", bad ? "FAILED" : "all refused");
	return bad;
}
