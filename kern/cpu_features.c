#include "cpu_features.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "console.h"
#include "lib/string.h"

struct cpu_features cpu_has;

void cpu_detect(void)
{
	u32 a, b, c, d;
	cpuid(0, 0, &a, &b, &c, &d);
	cpu_has.max_leaf = a;
	memcpy(cpu_has.vendor + 0, &b, 4);
	memcpy(cpu_has.vendor + 4, &d, 4);
	memcpy(cpu_has.vendor + 8, &c, 4);
	cpu_has.vendor[12] = 0;

	cpuid(1, 0, &a, &b, &c, &d);
	cpu_has.pge = d & (1u << 13);
	cpu_has.pat = d & (1u << 16);
	cpu_has.fxsr = d & (1u << 24);
	cpu_has.apic = d & (1u << 9);
	cpu_has.x2apic = c & (1u << 21);
	cpu_has.tsc_deadline = c & (1u << 24);
	cpu_has.xsave = c & (1u << 26);
	cpu_has.avx = c & (1u << 28);

	if (cpu_has.max_leaf >= 7) {
		cpuid(7, 0, &a, &b, &c, &d);
		cpu_has.fsgsbase = b & (1u << 0);
		cpu_has.smep = b & (1u << 7);
		cpu_has.smap = b & (1u << 20);
		cpu_has.umip = c & (1u << 2);
		cpu_has.pku = c & (1u << 3);
		cpu_has.rdpid = c & (1u << 22);
	}

	cpuid(0x80000000, 0, &a, &b, &c, &d);
	cpu_has.max_ext_leaf = a;
	if (a >= 0x80000001) {
		cpuid(0x80000001, 0, &a, &b, &c, &d);
		cpu_has.nx = d & (1u << 20);
		cpu_has.page1g = d & (1u << 26);
		cpu_has.rdtscp = d & (1u << 27);
	}
	cpu_has.phys_bits = 36;
	if (cpu_has.max_ext_leaf >= 0x80000008) {
		cpuid(0x80000008, 0, &a, &b, &c, &d);
		cpu_has.phys_bits = (u8)a;
	}
	if (cpu_has.max_ext_leaf >= 0x80000007) {
		cpuid(0x80000007, 0, &a, &b, &c, &d);
		cpu_has.invariant_tsc = d & (1u << 8);
	}

	kprintf("cpu: %s;%s%s%s%s%s%s%s%s%s%s%s%s\n", cpu_has.vendor, cpu_has.nx ? " nx" : "",
		cpu_has.page1g ? " 1g-pages" : "", cpu_has.pge ? " pge" : "", cpu_has.smep ? " smep" : "",
		cpu_has.smap ? " smap" : "", cpu_has.umip ? " umip" : "", cpu_has.fsgsbase ? " fsgsbase" : "",
		cpu_has.xsave ? " xsave" : "", cpu_has.avx ? " avx" : "", cpu_has.pku ? " pku" : "",
		cpu_has.x2apic ? " x2apic" : "", cpu_has.tsc_deadline ? " tsc-deadline" : "");
}

extern const u64 __smap_sites_start[], __smap_sites_end[];

void smap_patch_sites(void)
{
	if (cpu_has.smap)
		return;
	static const u8 nop3[3] = { 0x0F, 0x1F, 0x00 }; /* nopl (%rax) */
	for (const u64 *s = __smap_sites_start; s < __smap_sites_end; s++)
		memcpy((void *)*s, nop3, 3);
}

u64 pte_nx;
u64 pte_g;
u64 pte_wc = PTE_PCD | PTE_PWT;

/*
 * The page attribute table (WB, WC, UC-, UC, twice: Linux's layout before
 * 4.2, which now puts WP and WT in entries 5 and 7): entry 1 (PWT alone) becomes
 * write-combining, the memory type for a framebuffer (kernel writes stream
 * to the device in bursts, never cached); entries 0, 2 and 3 keep their
 * reset values, so 0 still means write-back and PCD|PWT uncacheable. Only
 * the kernel chooses memory types: Ring 3's PCD and PWT are refused
 * (KEEL_MAP_PCD/PWT), so no RAM frame is ever mapped WC beside its WB
 * direct-map alias. Nothing maps with PWT alone before this runs.
 */
#define PAT_UC 0x00
#define PAT_WC 0x01
#define PAT_WB 0x06
#define PAT_UC_MINUS 0x07
#define PAT_HALF ((u64)PAT_WB | (u64)PAT_WC << 8 | (u64)PAT_UC_MINUS << 16 | (u64)PAT_UC << 24)

static void pat_init(void)
{
	if (!cpu_has.pat)
		return; /* pte_wc stays uncacheable: slower, never wrong */
	wrmsr(MSR_PAT, PAT_HALF | PAT_HALF << 32);
	pte_wc = PTE_PWT;
}

void cpu_protections_apply(void)
{
	if (cpu_has.nx) {
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
		pte_nx = PTE_NX;
	}
	u64 cr4 = read_cr4();
	if (cpu_has.pge) {
		cr4 |= CR4_PGE;
		pte_g = PTE_G;
	}
	if (cpu_has.smep)
		cr4 |= CR4_SMEP;
	if (cpu_has.smap)
		cr4 |= CR4_SMAP;
	if (cpu_has.umip)
		cr4 |= CR4_UMIP;
	write_cr4(cr4);
	pat_init();
	/* AM: Ring 3 may turn on alignment checking (RFLAGS.AC) for itself. */
	write_cr0(read_cr0() | CR0_WP | CR0_AM);
}

void cpu_enable_protections(void)
{
	cpu_protections_apply();
	if (cpu_has.pat)
		kprintf("cpu: PAT %#llx: write-back, write-combining (PWT), uncached-minus, uncacheable\n",
			(unsigned long long)rdmsr(MSR_PAT));
	else
		kprintf("cpu: no PAT: device memory that wants write-combining is mapped uncacheable\n");
	kprintf("cpu: protections on: write-protect%s%s%s%s%s\n", cpu_has.nx ? " nx" : "",
		cpu_has.pge ? " global-pages" : "", cpu_has.smep ? " smep" : "", cpu_has.smap ? " smap" : "",
		cpu_has.umip ? " umip" : "");
}

void cpu_entry_registers(void)
{
	/* No hardware breakpoints or branch tracing: nothing may raise #DB in
	 * the syscall entry window, where the stack is still the user's. */
	__asm__ volatile("mov %0, %%dr7" ::"r"(0x400UL));
	wrmsr(MSR_DEBUGCTL, 0);
	if (cpu_has.fsgsbase) /* Ring 3 may switch its own FS/GS bases (docs/architecture.md) */
		write_cr4(read_cr4() | CR4_FSGSBASE);
}
