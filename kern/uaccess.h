/*
 * Reading and writing Ring 3 memory from the kernel. A user pointer is never
 * dereferenced directly: these check the range is inside the user half (so a
 * pointer into slot 511 or a non-canonical one is refused before any access)
 * and not in the page-table window
 * and copy with SMAP opened just for the copy; an unmapped or read-only page
 * faults into the exception table and the call returns -EFAULT.
 */
#ifndef KEEL_UACCESS_H
#define KEEL_UACCESS_H

#include "types.h"

struct trap_frame;

/* [p, p + n) lies inside the user half (and does not wrap), and outside
 * the page-table window's slot: the kernel copies nothing through the
 * window on a caller's behalf. */
bool user_range_ok(u64 p, u64 n);

/* Test only (uaccess_window=open, debug builds): user copies may touch the
 * window, so that tests prove the window itself maps nothing of the kernel
 * rather than pass on the refusal alone. */
extern bool uaccess_window_open;

int copy_from_user(void *dst, u64 usrc, size_t n);
int copy_to_user(u64 udst, const void *src, size_t n);

/* For a kernel-mode fault: if it hit a user-access instruction, redirect the
 * frame to its fixup and return true. */
bool extable_fixup(struct trap_frame *tf);

long uaccess_probe_nosmap(const u8 *p);

#endif
