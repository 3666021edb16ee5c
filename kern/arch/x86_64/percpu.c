/* Bringing up a CPU's own state: GDT, TSS with its stacks, IDT, GS base. */
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/idt.h"
#include "cpu_features.h"
#include "keel/abi.h"
#include "image.h"
#include "keel/errno.h"
#include "kva.h"
#include "lib/fmt.h"

struct percpu cpus[MAX_CPUS];
u32 cpus_up = 1;

#define IST_STACK_PAGES 4

/* Long-mode descriptors: base and limit are ignored except for the TSS. */
#define DESC_KCODE   0x00AF9A000000FFFFULL /* P, DPL 0, code, L */
#define DESC_KDATA   0x00CF92000000FFFFULL /* P, DPL 0, data, writable */
#define DESC_UCODE32 0x00CF7A000000FFFFULL /* NOT present, DPL 3, 32-bit code */
#define DESC_UDATA   0x00CFF2000000FFFFULL /* P, DPL 3, data, writable */
#define DESC_UCODE   0x00AFFA000000FFFFULL /* P, DPL 3, code, L */

/* This CPU's GDT and TSS, loaded, with CS and the data segments reloaded. */
_Static_assert(KEEL_CPU_SEL == (GDT_CPU | 3), "the ABI's CPU selector is the GDT's, RPL 3");

static void gdt_load(struct percpu *cpu)
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
	/* Present, DPL 3, data, read-only, accessed (so the CPU never writes
	 * it), base 0, byte-granular limit = this CPU's index: LSL reads it in
	 * Ring 3. Loaded into a data segment it allows nothing (64-bit mode
	 * ignores DS/ES bases and limits); as SS or CS the CPU refuses it. */
	g[GDT_CPU / 8] = (cpu->id & 0xFFFF) | 0xF1ULL << 40 | (u64)((cpu->id >> 16) & 0xF) << 48;

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

int percpu_prepare(unsigned id, u64 kstack_top)
{
	struct percpu *cpu = &cpus[id];
	static const char *const ist_names[4] = { "#DF", "NMI", "#MC", "#DB" };

	cpu->self = cpu;
	cpu->id = id;
	cpu->bit = 1ULL << id;
	cpu->kstack_top = kstack_top;
	cpu->tss.rsp[0] = cpu->kstack_top;

	for (int i = 0; i < 4; i++) {
		char name[32];
		uptr top;
		fmt_snprintf(name, sizeof name, "cpu%u %s IST stack", id, ist_names[i]);
		int err = kva_alloc_stack(IST_STACK_PAGES, name, &top);
		if (err) {
			percpu_release(id); /* the ones made so far */
			return err;
		}
		/* entry.S's paranoid path finds the per-CPU pointer just above
		 * the frame the CPU pushes at the IST top. */
		top -= 16;
		*(struct percpu **)top = cpu;
		cpu->ist_top[i] = top;
		cpu->tss.ist[i] = top; /* IST_DF, IST_NMI, IST_MC, IST_DB are 1, 2, 3, 4 */
	}
	_Static_assert(IST_DF == 1 && IST_NMI == 2 && IST_MC == 3 && IST_DB == 4, "IST slots");
	return 0;
}

size_t percpu_release(unsigned id)
{
	struct percpu *cpu = &cpus[id];
	size_t freed = 0;
	for (int i = 0; i < 4; i++) {
		if (cpu->ist_top[i])
			freed += kva_free_stack(cpu->ist_top[i] + 16, IST_STACK_PAGES);
		cpu->ist_top[i] = cpu->tss.ist[i] = 0;
	}
	cpu->kstack_top = cpu->tss.rsp[0] = 0;
	return freed;
}

void percpu_load(unsigned id)
{
	struct percpu *cpu = &cpus[id];
	gdt_load(cpu);
	idt_load();
	wrmsr(MSR_GS_BASE, (u64)cpu);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	if (cpu_has.rdtscp) /* RDTSCP's ECX and RDPID: this CPU's index in Ring 3 */
		wrmsr(MSR_TSC_AUX, id);
}

void exit_stats_sum(struct exit_stats *out)
{
	*out = (struct exit_stats){ 0 };
	for (u32 i = 0; i < cpus_up; i++) {
		const struct exit_stats *s = &cpus[i].stats;
		out->sysret += s->sysret;
		out->iret += s->iret;
		out->switches += s->switches;
		out->migrations += s->migrations;
		out->iret_emulated += s->iret_emulated;
		out->upcalls += s->upcalls;
		out->trap_upcalls += s->trap_upcalls;
		out->pct_upcalls += s->pct_upcalls;
	}
}

int percpu_init(unsigned id)
{
	/* CPU 0's kernel stack is the bootstrap stack it is running on: the
	 * kernel is not preemptible and keeps no state on it between entries. */
	int err = percpu_prepare(id, (u64)__boot_stack_top);
	if (!err)
		percpu_load(id);
	return err;
}
