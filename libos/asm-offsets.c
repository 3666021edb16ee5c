/*
 * What libos's and the apps' assembly knows of C: the user ABI's layouts
 * (keel/abi.h). Compiled with -S by the build, never linked, and turned into
 * build/libos/asm-offsets.h by boot/asm_offsets.py -- the same list the
 * kernel's asm-offsets.h carries (lib/asmdefs.h, docs/architecture.md).
 */
#include "keel/abi.h"
#include "lib/asmdefs.h"

void asm_offsets(void);
void asm_offsets(void)
{
	asm_offsets_abi();
}
