#include "arch/x86_64/gdt.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"

/* Long-mode descriptors: base and limit are ignored except for the TSS. */
#define DESC_KCODE   0x00AF9A000000FFFFULL /* P, DPL 0, code, L */
#define DESC_KDATA   0x00CF92000000FFFFULL /* P, DPL 0, data, writable */
#define DESC_UCODE32 0x00CF7A000000FFFFULL /* NOT present, DPL 3, 32-bit code */
#define DESC_UDATA   0x00CFF2000000FFFFULL /* P, DPL 3, data, writable */
#define DESC_UCODE   0x00AFFA000000FFFFULL /* P, DPL 3, code, L */

void gdt_init(struct percpu *cpu)
{
	u64 *g = cpu->gdt;
	/* The limit takes in the I/O bitmap and its terminating byte. */
	u64 base = (u64)&cpu->tss, limit = sizeof(struct tss) + sizeof(cpu->iomap) - 1;

	g[GDT_NULL / 8] = 0;
	g[GDT_KCODE / 8] = DESC_KCODE;
	g[GDT_KDATA / 8] = DESC_KDATA;
	g[GDT_UCODE32 / 8] = DESC_UCODE32;
	g[GDT_UDATA / 8] = DESC_UDATA;
	g[GDT_UCODE / 8] = DESC_UCODE;
	g[GDT_TSS / 8] = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x89ULL << 40 /* P, 64-bit TSS */ |
			 ((limit >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56;
	g[GDT_TSS / 8 + 1] = base >> 32;

	/* Every port forbidden until an env holding a port capability runs. */
	cpu->tss.iomap_base = sizeof(struct tss);
	for (size_t i = 0; i < sizeof(cpu->iomap); i++)
		cpu->iomap[i] = 0xFF;
	cpu->iomap_open = 0;

	struct descriptor_ptr p = { sizeof(cpu->gdt) - 1, (u64)g };
	lgdt(&p);
	/* Reload CS with a far return, then the data segments; FS/GS get the
	 * null selector (their bases are set through MSRs). */
	__asm__ volatile("pushq %[cs]\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movw %w[ds], %%ax\n\t"
			 "movw %%ax, %%ds\n\t"
			 "movw %%ax, %%es\n\t"
			 "movw %%ax, %%ss\n\t"
			 "xorl %%eax, %%eax\n\t"
			 "movw %%ax, %%fs\n\t"
			 "movw %%ax, %%gs\n\t"
			 :
			 : [cs] "i"(GDT_KCODE), [ds] "r"((u32)GDT_KDATA)
			 : "rax", "memory");
	ltr(GDT_TSS);
}
