/*
 * What libos's and the apps' assembly knows of C: the user ABI's layouts
 * (keel/abi.h) -- the same list the kernel's asm-offsets.h carries -- and
 * libos's own. Compiled with -S by the build, never linked, and turned into
 * build/libos/asm-offsets.h by boot/asm_offsets.py (lib/asmdefs.h,
 * docs/architecture.md).
 */
#include "dispatch.h"
#include "keel/abi.h"
#include "lib/asmdefs.h"

void asm_offsets(void);
void asm_offsets(void)
{
	asm_offsets_abi();

	COMMENT("struct libos_jmp (dispatch.h): libos_setjmp's buffer");
	OFFSET(JMP_RBX, libos_jmp, rbx);
	OFFSET(JMP_RBP, libos_jmp, rbp);
	OFFSET(JMP_R12, libos_jmp, r12);
	OFFSET(JMP_R13, libos_jmp, r13);
	OFFSET(JMP_R14, libos_jmp, r14);
	OFFSET(JMP_R15, libos_jmp, r15);
	OFFSET(JMP_RSP, libos_jmp, rsp);
	OFFSET(JMP_RIP, libos_jmp, rip);
}
