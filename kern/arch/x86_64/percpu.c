/* Bringing up a CPU's own state: GDT, TSS with its stacks, IDT, GS base. */
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/idt.h"
#include "image.h"
#include "keel/errno.h"
#include "kva.h"
#include "lib/fmt.h"

struct percpu cpus[MAX_CPUS];

#define IST_STACK_PAGES 4

int percpu_init(unsigned id)
{
	struct percpu *cpu = &cpus[id];
	static const char *const ist_names[4] = { "#DF", "NMI", "#MC", "#DB" };

	cpu->self = cpu;
	cpu->id = id;
	/* CPU 0's kernel stack is the bootstrap stack it is running on: the
	 * kernel is not preemptible and keeps no state on it between entries. */
	cpu->kstack_top = (u64)__boot_stack_top;
	cpu->tss.rsp[0] = cpu->kstack_top;

	for (int i = 0; i < 4; i++) {
		char name[32];
		uptr top;
		fmt_snprintf(name, sizeof name, "cpu%u %s IST stack", id, ist_names[i]);
		int err = kva_alloc_stack(IST_STACK_PAGES, name, &top);
		if (err)
			return err;
		/* entry.S's paranoid path finds the per-CPU pointer just above
		 * the frame the CPU pushes at the IST top. */
		top -= 16;
		*(struct percpu **)top = cpu;
		cpu->ist_top[i] = top;
		cpu->tss.ist[i] = top; /* IST_DF, IST_NMI, IST_MC, IST_DB are 1, 2, 3, 4 */
	}
	_Static_assert(IST_DF == 1 && IST_NMI == 2 && IST_MC == 3 && IST_DB == 4, "IST slots");

	gdt_init(cpu);
	idt_load();
	wrmsr(MSR_GS_BASE, (u64)cpu);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	return 0;
}
