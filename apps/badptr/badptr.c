/*
 * Pointers the kernel must refuse with -EFAULT.
 *   badptr          console writes into the kernel slot, non-canonical, null,
 *                   unmapped, wrapping and straddling buffers
 *   badptr window   every call taking a user pointer, pointed into the
 *                   page-table window where a self-map would reach the
 *                   kernel's tables (KEEL_PT_WINDOW_ENTRY of kernel
 *                   addresses); with uaccess_window=open on the command line
 *                   the kernel does not refuse the window's slot itself, so
 *                   -EFAULT then proves those addresses map nothing
 */
#include "keel.h"
#include "vm.h"

static int bad;

static void expect_efault(const char *call, uint64_t w, long r)
{
	bad += r != -EFAULT;
	printf("badptr: window %s %#llx -> %ld%s\n", call, (unsigned long long)w, r,
	       r == -EFAULT ? " (EFAULT)" : " WRONG");
}

static int window(void)
{
	static const uint64_t kernel[] = { 0xFFFFFF8000000000ULL, 0xFFFFFFC000000000ULL, 0xFFFFFFFF80000000ULL,
					   0xFFFFFF8040000000ULL };
	struct keel_spawn ok = { .image = "hello", .image_len = 5, .args = "x", .args_len = 1, .quota_frames = 64,
				 .quota_caps = 16 };
	uint64_t done = 0;
	long frame = sys_frame_alloc();
	printf("badptr: window begin\n");
	for (unsigned i = 0; i < ARRAY_SIZE(kernel); i++) {
		for (int level = 3; level >= 1; level--) {
			uint64_t w = KEEL_PT_WINDOW_ENTRY(kernel[i], level);
			struct keel_spawn req = ok;
			expect_efault("console_write", w, sys_console_write((const void *)w, 64));
			expect_efault("spawn", w, sys_env_spawn((const struct keel_spawn *)w));
			req.image = (const char *)w;
			expect_efault("spawn.image", w, sys_env_spawn(&req));
			req = ok;
			req.args = (const char *)w;
			expect_efault("spawn.args", w, sys_env_spawn(&req));
			expect_efault("mmu_update.ops", w, sys_mmu_update((const struct keel_mmu_op *)w, 1, &done));
			expect_efault("mmu_update.done", w, sys_mmu_update((const struct keel_mmu_op *)&ok, 0, (uint64_t *)w));
			expect_efault("cap_info", w, sys_cap_info((uint32_t)frame, (struct keel_cap_info *)w));
			expect_efault("quota_info", w, sys_quota_info((struct keel_quota_info *)w));
			expect_efault("exit_counts", w, sys_debug(DEBUG_EXIT_COUNTS, (long)w, 0));
			expect_efault("kernel_copy", w, sys_debug(DEBUG_KERNEL_COPY, (long)w, 8));
			expect_efault("upcall_setup", w,
				      keel_syscall3(SYS_UPCALL_SETUP, (long)(w & ~4095ULL), 0, 0));
		}
	}
	printf("badptr: window end\n");
	/* The control: this env's own entries, which the window does show. The
	 * window's top is a copy of its PML4's user half: slots 200 and 201 are
	 * empty, so the kernel (when it copies through the window at all) reads
	 * an all-zero operation and refuses that, not the pointer. */
	uint64_t own = KEEL_PT_WINDOW_ENTRY(200ULL << 39, 4);
	long r = sys_mmu_update((const struct keel_mmu_op *)own, 1, &done);
	printf("badptr: window control: an op read from the window's own top %#llx -> %ld (%s)\n",
	       (unsigned long long)own, r, r == -EFAULT ? "refused: the window's slot" : "read through the window");
	printf("badptr: window: %s\n", bad ? "FAILED" : "all refused");
	return bad;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "window"))
		return window();
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
