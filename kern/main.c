/*
 * Keel's boot sequence, top to bottom. boot.S arrives here in long mode on the
 * bootstrap stack (already in slot 511), with throw-away page tables that
 * still identity-map the low 4 GiB.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/idt.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/metronome.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/pic.h"
#include "arch/x86_64/smp.h"
#include "clock.h"
#include "cap.h"
#include "cmdline.h"
#include "config.h"
#include "console.h"
#include "cpu_features.h"
#include "fbcon.h"
#include "failpoint.h"
#include "env.h"
#include "fpu.h"
#include "cpucap.h"
#include "grant.h"
#include "ioport.h"
#include "irq.h"
#include "frame.h"
#include "frame_type.h"
#include "image.h"
#include "spawn.h"
#include "keel/errno.h"
#include "keel/exit.h"
#include "ktest.h"
#include "kva.h"
#include "lib/errname.h"
#include "lib/string.h"
#include "mb2.h"
#include "panic.h"
#include "platform.h"
#include "pt.h"
#include "sched.h"
#include "slot.h"
#include "slot_audit.h"
#include "syscall.h"
#include "tlb.h"
#include "trace.h"
#include "trace_cap.h"
#include "tunables.h"
#include "uaccess.h"
#include "upcall.h"
#include "pct.h"
#include "disp.h"
#include "run.h"

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

/*
 * Start the programs named by `run=NAME[:ARG...],...`, each a module of that
 * name. Returns how many could not be started.
 */
static u64 start_envs(const char *spec, const char *grants, u64 *started)
{
	static struct env *set[64];
	u64 failed = 0;
	*started = 0;
	while (*spec) {
		char item[64], *arg;
		size_t n = 0;
		while (spec[n] && spec[n] != ',')
			n++;
		if (n == 0 || n >= sizeof item) {
			kprintf("env: bad run= item (empty or too long)\n");
			failed++;
		} else {
			memcpy(item, spec, n);
			item[n] = 0;
			/* NAME:ARG1:ARG2 -> program NAME with arguments "ARG1 ARG2" */
			arg = strchr(item, ':');
			if (arg) {
				*arg++ = 0;
				for (char *c = arg; *c; c++)
					if (*c == ':')
						*c = ' ';
			}
			const struct mb2_module *m = spawn_image(item);
			struct env *e;
			int err = m ? env_create(item, pa_to_va(m->start), m->end - m->start, arg, &e) : -ENOENT;
			if (err) {
				kprintf("env: cannot start %s: %s\n", item, m ? errname(err) : "no such module");
				failed++;
			} else {
				kprintf("env %u (%s): loaded at %#llx (%llu KiB), stack at %#llx, PML4 %#llx\n", e->id,
					e->name, (unsigned long long)e->image_base,
					(unsigned long long)(e->image_size >> 10), (unsigned long long)e->stack_base,
					(unsigned long long)e->pml4);
				debug_env_loaded(e);
				sched_add(&e->d0);
				if (*started < ARRAY_SIZE(set))
					set[*started] = e;
				(*started)++;
			}
		}
		spec += n;
		if (*spec == ',')
			spec++;
	}
	/* The programs of one boot may grant each other capabilities. */
	if (*started > ARRAY_SIZE(set))
		kprintf("warning: run= started %llu envs: only the first %u are introduced to each other, and "
			"take grant= and pin=\n", (unsigned long long)*started, (unsigned)ARRAY_SIZE(set));
	cap_introduce(set, MIN(*started, (u64)ARRAY_SIZE(set)));
	if (grants)
		failed += grant_apply(grants, set, MIN(*started, (u64)ARRAY_SIZE(set)));
	const char *pins = cmdline_get(&boot_cmdline, "pin");
	if (pins)
		failed += pin_apply(pins, set, MIN(*started, (u64)ARRAY_SIZE(set)));
	/* Every boot env that grant= gave no CPU holds them all. */
	int err = cpucap_grant_defaults();
	if (err < 0) {
		kprintf("env: cannot give the boot envs their CPUs: %s\n", errname(err));
		failed++;
	}
	return failed;
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

/*
 * Which firmware booted us, as the loader's tags tell it: GRUB's EFI platform
 * adds EFI tags, its BIOS platform none. Either way the kernel reads the
 * memory map, the RSDP and (later) the framebuffer only from multiboot2 tags
 * and never scans BIOS memory (EBDA, 0xE0000) -- UEFI machines need not have it.
 */
static void print_firmware(const struct mb2_efi *efi)
{
	if (!efi->seen) {
		kprintf("boot: firmware BIOS (no EFI tags)\n");
		return;
	}
	kprintf("boot: firmware UEFI (");
	if (efi->systab_bits)
		kprintf("EFI%u system table at %#llx, ", efi->systab_bits, (unsigned long long)efi->systab);
	else
		kprintf("no EFI system table, ");
	/* Keel's header does not ask GRUB to keep boot services: their
	 * memory is in the map as free RAM and the kernel uses it. */
	kprintf("boot services %s", efi->boot_services ? "NOT exited" : "exited");
	if (efi->mmap)
		kprintf(", EFI memory map of %u descriptors", efi->mmap_count);
	kprintf(")\n");
	if (efi->boot_services)
		kprintf("warning: the loader left EFI boot services running; Keel does not call them\n");
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
	print_firmware(&boot_info.efi);
	cmdline_parse(&boot_cmdline, boot_info.cmdline, CMDLINE_MAX * 2, &warn);
	const char *hold = cmdline_get(&boot_cmdline, "hold");
	exit_hold = hold && strcmp(hold, "0") != 0;
	const char *fail = cmdline_get(&boot_cmdline, "fail");
	if (fail)
		failpoint_configure(fail);
	find_symbols();

	boot_step(frame_init(&boot_info, mbi_pa), "building the frame allocator");
	boot_step(slot_init(), "building the kernel slot");
	kprintf("slot: kernel image, stacks and direct map in PML4[511]; identity map gone\n");
	kva_note((uptr)__boot_stack_guard, (uptr)__boot_stack_bottom, "guard page below the bootstrap stack");
	kva_note((uptr)__boot_stack_bottom, (uptr)__boot_stack_top, "bootstrap stack (cpu0 kernel stack)");

	extern const char vector_stubs[], self_event_entry[], self_event_slow[], floor_iretq[], pf_entry[];
	idt_init(&(struct idt_targets){ (u64)vector_stubs, (u64)self_event_entry, (u64)self_event_slow, (u64)floor_iretq,
					(u64)pf_entry });
	boot_step(percpu_init(0), "setting up cpu0 (GDT, TSS, IST stacks)");
	/* The screen starts once a fault in it would be reported (on COM1); its
	 * history ring still shows everything said before. */
	fbcon_start_boot(&boot_info);
	pic_init();
	int err = platform_init(&boot_info);
	if (err)
		kprintf("acpi: no usable MADT (%s): interrupt routing unknown\n", errname(err));

	u64 tsc_rate;
	boot_step(lapic_init(platform_have_madt ? platform_madt.lapic_pa : 0xFEE00000), "mapping the local APIC");
	lapic_calibrate(10, &tsc_rate);
	clock_init(tsc_rate);
	kprintf("time: TSC %llu kHz, LAPIC timer %llu kHz (measured against the PIT)\n",
		(unsigned long long)(tsc_rate / 1000), (unsigned long long)(lapic_timer_hz / 1000));
	fpu_init();
	extern const char syscall_entry[], syscall_compat_entry[], floor_sysretq[];
	syscall_init((u64)syscall_entry, (u64)syscall_compat_entry, (u64)floor_sysretq);
	cpu_entry_registers();
	const char *skip_s = cmdline_get(&boot_cmdline, "smp_skip"); /* test only: an AP left without a startup IPI */
	u64 skip = 0;
	if (skip_s && !parse_u64(skip_s, &skip))
		kprintf("warning: smp_skip=%s is not a number\n", skip_s);
	tunables_apply(&boot_cmdline); /* quotas, time slice, watchdog, ... (tunables.c); trampoline= for smp_start */
	metronome_start();             /* (metronome_us=) */
	syscall_fast_paths(0);         /* (all off with fastpaths=off) */
	if (fast_paths_forced_off)
		kprintf("boot: fastpaths=off: every fast path switched off, the general paths alone\n");
	tlb_init(); /* before any AP is up: a kernel page unmapped from now on is flushed on every CPU up */
	smp_start(&boot_info, mbi_pa, (u32)MIN(skip, (u64)UINT32_MAX));
	boot_step(frame_type_init(), "setting up frame types");
	/* Each subsystem's part in an env's life, registered in the order
	 * they build on one another (env.h): tables, ports, capabilities,
	 * upcalls, calls, then the scheduler and spawning (below). */
	pt_init();
	ioport_init();
	cap_init();
	upcall_init();
	pct_init();
	disp_init();
	boot_step(irq_init(), "setting up the IOAPIC");
	trace_cap_init();
	cpucap_init();
	trace_boot(cmdline_get(&boot_cmdline, "trace"), TRACE_BOOT_FRAMES);
	sched_init(timeslice_us * 1000, run_end);
	spawn_init(&boot_info);
	if (uaccess_window_open)
		kprintf("warning: uaccess_window=open: user copies may go through the page-table window (test "
			"only)\n");
	const char *plant = cmdline_get(&boot_cmdline, "audit_plant");
	if (plant)
		audit_plant(plant);
	if (slot_audit(slot_kernel_pml4(), "boot", true))
		panic("slot audit failed at boot");
	if (smp_audit_cpus())
		panic("slot audit failed on an AP");
	/* Interrupts stay off in Ring 0: the kernel is not preemptible. They
	 * arrive in Ring 3, or while the kernel idles (sti; hlt). */

	kprintf("boot: %llu frame allocations, %llu frames free\n",
		(unsigned long long)failpoint_calls(FAIL_FRAME), (unsigned long long)frames_free());
	const char *test = cmdline_get(&boot_cmdline, "test");
	if (test)
		ktest_run(test);

	const char *run = cmdline_get(&boot_cmdline, "run");
	if (!run) {
		kprintf("keel: boot ok\n");
		keel_exit(KEEL_EXIT_SUCCESS);
	}
	struct run_baseline before;
	run_baseline_take(&before);
	u64 started, failed = start_envs(run, cmdline_get(&boot_cmdline, "grant"), &started);
	kprintf("keel: %llu env%s started (time slice %llu us)\n", (unsigned long long)started,
		started == 1 ? "" : "s", (unsigned long long)timeslice_us);
	run_begin(started, failed, &before);
	failpoint_arm_random(); /* after the boot's envs are made: they get to run */
	sched_start();
}
