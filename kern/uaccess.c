#include "uaccess.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/trapframe.h"
#include "keel/abi.h"
#include "keel/errno.h"
#include "layout.h"

long uaccess_copy(void *dst, const void *src, size_t n);

struct extable_entry {
	u64 insn, fixup;
};
extern const struct extable_entry __extable_start[], __extable_end[];

bool uaccess_window_open;

/* The page-table window's slot (PML4 254, docs/memory-map.md). */
#define WINDOW_LO ((u64)KEEL_PT_WINDOW_SLOT << 39)
#define WINDOW_HI (WINDOW_LO + (1ULL << 39))

bool user_range_ok(u64 p, u64 n)
{
	if (p < USER_BASE || p > USER_END || n > USER_END - p)
		return false;
	/* Defence in depth: the kernel never reads or writes through the
	 * page-table window for Ring 3, whatever the window maps. */
	return uaccess_window_open || p + n <= WINDOW_LO || p >= WINDOW_HI;
}

int copy_from_user(void *dst, u64 usrc, size_t n)
{
	if (!user_range_ok(usrc, n))
		return -EFAULT;
	return (int)uaccess_copy(dst, (const void *)usrc, n);
}

int copy_to_user(u64 udst, const void *src, size_t n)
{
	if (!user_range_ok(udst, n))
		return -EFAULT;
	return (int)uaccess_copy((void *)udst, src, n);
}

bool extable_fixup(struct trap_frame *tf)
{
	/* Only a fault on the user side of a copy is the user's: a bad kernel
	 * buffer stays a kernel bug (and a panic). */
	if (read_cr2() >= USER_END)
		return false;
	for (const struct extable_entry *e = __extable_start; e < __extable_end; e++) {
		if (e->insn == tf->rip) {
			tf->rip = e->fixup;
			return true;
		}
	}
	return false;
}
