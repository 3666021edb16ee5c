/*
 * Keel's boot sequence, top to bottom. boot.S arrives here in long mode on the
 * bootstrap stack (already in slot 511), with throw-away page tables that
 * still identity-map the low 4 GiB.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/idt.h"
#include "arch/x86_64/pic.h"
#include "cmdline.h"
#include "config.h"
#include "console.h"
#include "cpu_features.h"
#include "failpoint.h"
#include "frame.h"
#include "image.h"
#include "keel/errno.h"
#include "keel/exit.h"
#include "ktest.h"
#include "kva.h"
#include "lib/errname.h"
#include "lib/string.h"
#include "mb2.h"
#include "panic.h"
#include "platform.h"
#include "slot.h"

void audit_plant(const char *what); /* ktests/audit_plant.c: test-only */

static struct mb2_info boot_info;
static struct cmdline boot_cmdline;

static void print_warning(void *ctx, const char *line)
{
	(void)ctx;
	kprintf("warning: %s\n", line);
}

/* A boot step that fails stops the boot cleanly, with the reason. */
static void boot_step(int err, const char *what)
{
	if (!err)
		return;
	kprintf("boot: %s failed: %s (%d)\nboot: stopped\n", what, errname(err), err);
	keel_exit(KEEL_EXIT_FAILURE);
}

static void find_symbols(void)
{
	for (size_t i = 0; i < boot_info.nmodules; i++) {
		const struct mb2_module *m = &boot_info.modules[i];
		if (strcmp(m->cmdline, "ksyms") == 0) {
			panic_set_symbols(pa_to_va(m->start), m->end - m->start);
			return;
		}
	}
	kprintf("warning: no ksyms module: backtraces will show addresses only\n");
}

__noreturn void kmain(u32 magic, u32 mbi_pa)
{
	struct diag warn = { print_warning, NULL, 0 };

	console_init();
	kprintf("\nKeel %s: an exokernel for x86_64\n", KEEL_VERSION);
	if (magic != MB2_BOOT_MAGIC)
		boot_step(-EINVAL, "checking the multiboot2 magic");

	cpu_detect();
	smap_patch_sites();
	cpu_enable_protections();

	boot_step(mb2_parse(pa_to_va(mbi_pa), MB2_MAX_INFO_SIZE, &boot_info, &warn),
		  "reading the multiboot2 boot information");
	kprintf("boot: loader \"%s\", command line \"%s\", %zu module%s\n",
		boot_info.loader ? boot_info.loader : "?", boot_info.cmdline ? boot_info.cmdline : "",
		boot_info.nmodules, boot_info.nmodules == 1 ? "" : "s");
	cmdline_parse(&boot_cmdline, boot_info.cmdline, CMDLINE_MAX * 2, &warn);
	const char *fail = cmdline_get(&boot_cmdline, "fail");
	if (fail)
		failpoint_configure(fail);
	find_symbols();

	boot_step(frame_init(&boot_info, mbi_pa), "building the frame allocator");
	boot_step(slot_init(), "building the kernel slot");
	kprintf("slot: kernel image, stacks and direct map in PML4[511]; identity map gone\n");
	kva_note((uptr)__boot_stack_guard, (uptr)__boot_stack_bottom, "guard page below the bootstrap stack");
	kva_note((uptr)__boot_stack_bottom, (uptr)__boot_stack_top, "bootstrap stack (cpu0 kernel stack)");

	idt_init();
	boot_step(percpu_init(0), "setting up cpu0 (GDT, TSS, IST stacks)");
	pic_init();
	int err = platform_init(&boot_info);
	if (err)
		kprintf("acpi: no usable MADT (%s): interrupt routing unknown\n", errname(err));

	const char *plant = cmdline_get(&boot_cmdline, "audit_plant");
	if (plant)
		audit_plant(plant);
	if (slot_audit(slot_kernel_pml4(), "boot", true))
		panic("slot audit failed at boot");
	sti();

	kprintf("boot: %llu frame allocations, %llu frames free\n",
		(unsigned long long)failpoint_calls(FAIL_FRAME), (unsigned long long)frames_free());
	const char *test = cmdline_get(&boot_cmdline, "test");
	if (test)
		ktest_run(test);

	kprintf("keel: boot ok\n");
	keel_exit(KEEL_EXIT_SUCCESS);
}
