/* CPU features Keel uses, detected with CPUID (never assumed: -cpu qemu64 has
 * almost none of them, -cpu max most). */
#ifndef KEEL_CPU_FEATURES_H
#define KEEL_CPU_FEATURES_H

#include "types.h"

struct cpu_features {
	char vendor[13];
	u32 max_leaf, max_ext_leaf;
	bool nx, page1g, pge, pat;
	bool smep, smap, umip, fsgsbase;
	bool fxsr, xsave, avx, pku;
	bool rdtscp, rdpid;
	bool apic, x2apic, tsc_deadline, invariant_tsc;
	u8 phys_bits; /* physical address width (CPUID 0x80000008; 36 if the CPU does not say) */
};

extern struct cpu_features cpu_has;

/* Read CPUID into cpu_has; print one line. */
void cpu_detect(void);

/* Patch `clac`/`stac` sites to NOPs when the CPU has no SMAP (they would be
 * #UD). Runs while the early page tables still map the text writable. */
void smap_patch_sites(void);

/* Turn on NX, write protection, global pages and, when present, SMEP, SMAP
 * and UMIP; program the PAT. Prints what is on. */
void cpu_enable_protections(void);
/* The same on this CPU, silently (an AP). */
void cpu_protections_apply(void);

/* DR7 and DEBUGCTL cleared, CR4.FSGSBASE where the CPU has it: what the
 * entry paths and Ring 3 rely on, on every CPU. */
void cpu_entry_registers(void);

/* Page-table bits the CPU has, set by cpu_enable_protections(). */
extern u64 pte_nx; /* PTE_NX if the CPU has NX (EFER.NXE set), else 0 */
extern u64 pte_g;  /* PTE_G if the CPU has global pages (CR4.PGE set), else 0 */
extern u64 pte_wc; /* write-combining (PAT entry 1: PTE_PWT), or uncacheable without a PAT */

#endif
