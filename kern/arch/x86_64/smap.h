/*
 * clac/stac, recorded in .smap_sites so that smap_patch_sites() can turn them
 * into NOPs on a CPU without SMAP (where they are #UD). Every kernel entry
 * executes CLAC; user copies bracket their access with STAC ... CLAC.
 */
#ifndef KEEL_X86_SMAP_H
#define KEEL_X86_SMAP_H

#ifdef __ASSEMBLER__
.macro SMAP_SITE insn
661:	\insn
	.pushsection .smap_sites, "a"
	.balign 8
	.quad 661b
	.popsection
.endm
#define CLAC SMAP_SITE clac
#define STAC SMAP_SITE stac
#else
#define SMAP_SITE_ASM(insn) \
	"661: " insn "\n .pushsection .smap_sites, \"a\"\n .balign 8\n .quad 661b\n .popsection\n"
static inline void clac(void) { __asm__ volatile(SMAP_SITE_ASM("clac") ::: "memory"); }
static inline void stac(void) { __asm__ volatile(SMAP_SITE_ASM("stac") ::: "memory"); }
#endif

#endif
