/*
 * Kernel symbols for backtraces. The ISO carries `nm -n` output of the kernel
 * (text symbols only) as the multiboot2 module "ksyms"; lines look like
 *   ffffffff80101234 T kmain
 * Pure and defensive: malformed lines are skipped.
 */
#ifndef KEEL_KSYMS_H
#define KEEL_KSYMS_H

#include "types.h"

struct ksym {
	const char *name; /* not NUL-terminated: name_len bytes */
	size_t name_len;
	u64 addr;
};

/* The symbol with the greatest address <= addr, among [text, text+len).
 * Returns false if there is none. */
bool ksyms_lookup(const char *text, size_t len, u64 addr, struct ksym *out);

/* The address of a symbol by name; false if absent. */
bool ksyms_find(const char *text, size_t len, const char *name, u64 *addr);

#endif
