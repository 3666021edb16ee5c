/*
 * Application-processor bring-up (docs/smp.md, "Bring-up").
 *
 * An AP starts in real mode at a page below 1 MiB (the startup IPI's vector
 * is its page number), so trampoline.S is copied to such a page, chosen from
 * the memory map's RAM minus the kernel image, the boot information and the
 * modules (under OVMF GRUB puts those low), or freed by moving a module out
 * of the way when no such page is left. The AP enters long mode through
 * a boot-only top-level table below 4 GiB (CR3 is loaded in 32-bit mode)
 * that maps the trampoline page (identity, non-global, executable) and slot
 * 511 -- the kernel's shared PDPT -- and nothing else; it jumps to ap_entry
 * in slot 511 on the kernel stack handed over in the trampoline's fields,
 * and loads the kernel's own CR3 at once. When every AP runs, the boot-only
 * table is freed: from then on every address space any CPU can be in holds
 * only slot 511 and the user half (docs/design.md, invariant 1).
 */
#include "arch/x86_64/smp.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/vectors.h"
#include "arch/x86_64/xcall.h"
#include "clock.h"
#include "console.h"
#include "cpu_features.h"
#include "fbcon.h"
#include "fpu.h"
#include "frame.h"
#include "image.h"
#include "keel/errno.h"
#include "kva.h"
#include "lib/fmt.h"
#include "lib/string.h"
#include "panic.h"
#include "platform.h"
#include "sched.h"
#include "slot.h"
#include "slot_audit.h"
#include "syscall.h"

#define LOW_MEMORY 0xA0000 /* real-mode RAM ends here (the VGA window follows) */
#define AP_REPORT_US XCALL_WAIT_US /* xcall.h: why five seconds */

extern const char ap_trampoline[], ap_trampoline_end[], tr_gdt[], tr_pm32[], tr_lm64[];
extern const char tr_gdt_ptr[], tr_far32[], tr_far64[], tr_cr3[], tr_efer[], tr_stack[], tr_entry[], tr_arg[];

static volatile u32 ap_reported; /* an AP's index, stored by it once it runs */

static bool overlaps(u64 a0, u64 a1, u64 b0, u64 b1) { return a0 < b1 && b0 < a1; }

bool smp_trampoline_move;

/* Can page p hold the trampoline if module `except` (SIZE_MAX: none) is
 * left out of the count: RAM, and none of the kernel image, the boot
 * information or a module on it? */
static bool page_free(const struct mb2_info *mb, paddr_t mbi_pa, paddr_t p, size_t except)
{
	if (!range_set_covers(&boot_ram, p, p + PAGE_SIZE) || overlaps(p, p + PAGE_SIZE, image_phys_start(), image_phys_end()) ||
	    overlaps(p, p + PAGE_SIZE, mbi_pa, mbi_pa + mb->total_size))
		return false;
	for (size_t i = 0; i < mb->nmodules; i++)
		if (i != except && overlaps(p, p + PAGE_SIZE, mb->modules[i].start, mb->modules[i].end))
			return false;
	return true;
}

/* The highest page below LOW_MEMORY that is RAM and holds nothing GRUB or
 * the kernel put there; 0 if there is none. Page 0 (the real-mode interrupt
 * table and BIOS data) is never taken. */
static paddr_t choose_page(const struct mb2_info *mb, paddr_t mbi_pa)
{
	for (paddr_t p = LOW_MEMORY - PAGE_SIZE; p >= PAGE_SIZE; p -= PAGE_SIZE)
		if (page_free(mb, mbi_pa, p, SIZE_MAX))
			return p;
	return 0;
}

/* The one module on page p, SIZE_MAX if none or several. */
static size_t module_on(const struct mb2_info *mb, paddr_t p)
{
	size_t found = SIZE_MAX;
	for (size_t i = 0; i < mb->nmodules; i++)
		if (overlaps(p, p + PAGE_SIZE, mb->modules[i].start, mb->modules[i].end)) {
			if (found != SIZE_MAX)
				return SIZE_MAX;
			found = i;
		}
	return found;
}

/* Module i may move: RAM below 1 MiB (never the allocator's: see below),
 * sharing no byte with the image, the boot information or another module
 * (its old copy is zeroed). */
static bool module_movable(const struct mb2_info *mb, paddr_t mbi_pa, size_t i)
{
	const struct mb2_module *m = &mb->modules[i];
	if (m->end > MiB(1) || !range_set_covers(&boot_ram, m->start, m->end) ||
	    overlaps(m->start, m->end, image_phys_start(), image_phys_end()) ||
	    overlaps(m->start, m->end, mbi_pa, mbi_pa + mb->total_size))
		return false;
	for (size_t j = 0; j < mb->nmodules; j++)
		if (j != i && overlaps(m->start, m->end, mb->modules[j].start, mb->modules[j].end))
			return false;
	return true;
}

/* FNV-1a, 64 bits: the moved copy's hash, which a test compares with the file's. */
static u64 fnv1a64(const u8 *p, u64 len)
{
	u64 h = 0xcbf29ce484222325ull;
	while (len--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

/*
 * No page is free (under OVMF GRUB fills low memory with modules): move a
 * module out of the way. The highest page below LOW_MEMORY that is RAM and
 * holds one module and nothing else is taken; that module is copied to
 * contiguous frames from the allocator, above 1 MiB and below 4 GiB (its
 * record holds 32-bit addresses), at the same offset in its first page, and
 * its record in *mb changes: everything that reads a module later finds it
 * there (run= and SYS_ENV_SPAWN look it up by name in *mb each time, the
 * frame allocator holds the new frames as allocated), and the two readers
 * that keep a pointer into a module from earlier in the boot -- the
 * backtrace symbols (ksyms) and the screen's font -- follow it. Only a
 * module lying wholly below 1 MiB moves: frame_init never gave that memory
 * to the allocator ("first MiB (firmware)"), so its old frames are neither
 * free nor leaked -- they stay out of use, one of them the trampoline's.
 * The old copy is zeroed, so nothing can go on reading it unnoticed. The
 * boot information never moves: every module's name, the command line and
 * the EFI memory map point into it. Returns the page freed, or 0 (said why).
 */
static paddr_t move_a_module(struct mb2_info *mb, paddr_t mbi_pa)
{
	for (paddr_t p = LOW_MEMORY - PAGE_SIZE; p >= PAGE_SIZE; p -= PAGE_SIZE) {
		size_t i = module_on(mb, p);
		if (i == SIZE_MAX || !page_free(mb, mbi_pa, p, i) || !module_movable(mb, mbi_pa, i))
			continue;
		struct mb2_module *m = &mb->modules[i];
		u64 off = m->start % PAGE_SIZE, len = m->end - m->start;
		u64 pages = ALIGN_UP(off + len, PAGE_SIZE) / PAGE_SIZE;
		paddr_t to = frame_alloc_contig(pages, MiB(1), GiB(4));
		if (!to) {
			kprintf("smp: no %llu contiguous frames below 4 GiB to move module %s to\n",
				(unsigned long long)pages, m->cmdline);
			return 0;
		}
		void *old = pa_to_va(m->start), *new = pa_to_va(to + off);
		memcpy(new, old, len);
		panic_symbols_moved(old, new, len);
		fbcon_font_moved(old, new, len);
		u32 from = m->start;
		m->start = (u32)(to + off);
		m->end = (u32)(to + off + len);
		memset(old, 0, len);
		kprintf("smp: moved module %s from %#x-%#x to %#x-%#x (%llu frames) to free page %#llx for the trampoline "
			"(fnv1a64 of the new copy %#llx)\n",
			m->cmdline, from, from + (u32)len, m->start, m->end, (unsigned long long)pages,
			(unsigned long long)p, (unsigned long long)fnv1a64(new, len));
		return p;
	}
	kprintf("smp: no module below 640 KiB can move out of the way\n");
	return 0;
}

/* The boot-only top-level table and the three below it that map the page. */
static paddr_t boot_tables[4];

static bool build_boot_tables(paddr_t page)
{
	boot_tables[0] = frame_alloc_in(PAGE_SIZE, GiB(4)); /* CR3 is loaded in 32-bit mode */
	for (int i = 1; i < 4; i++)
		boot_tables[i] = frame_alloc();
	for (int i = 0; i < 4; i++) {
		if (!boot_tables[i])
			return false;
		memset(pa_to_va(boot_tables[i]), 0, PAGE_SIZE);
	}
	for (int level = 4; level > 1; level--) {
		u64 *t = pa_to_va(boot_tables[4 - level]);
		t[pt_index(page, level)] = boot_tables[5 - level] | PTE_P | PTE_W;
	}
	((u64 *)pa_to_va(boot_tables[3]))[pt_index(page, 1)] = page | PTE_P | PTE_W; /* not global, executable */
	((u64 *)pa_to_va(boot_tables[0]))[KERNEL_SLOT] = slot_pdpt() | PTE_P | PTE_W;
	return true;
}

static void free_boot_tables(void)
{
	for (int i = 0; i < 4; i++)
		if (boot_tables[i])
			frame_free(boot_tables[i]);
}

/* A field of the trampoline as copied to the page. */
static void *field(u8 *copy, const char *sym) { return copy + (sym - ap_trampoline); }

static __noreturn void ap_entry(u64 id)
{
	write_cr3(slot_kernel_pml4()); /* the boot-only table is left at once */
	cpu_protections_apply();
	fpu_cpu_setup();
	percpu_load((unsigned)id);
	syscall_init_like_cpu0();
	cpu_entry_registers();
	lapic_enable();
	__atomic_store_n(&ap_reported, (u32)id, __ATOMIC_RELEASE);
	/* Halted until the run starts, woken by cross-CPU calls and by the
	 * kick that starts the run (nothing else is routed here: the LAPIC
	 * timer and LINTs are masked, the IOAPIC delivers to cpu0). */
	while (!__atomic_load_n(&sched_running, __ATOMIC_ACQUIRE)) {
		sti();
		hlt();
		cli();
	}
	sched_idle_enter();
}

/* Startup IPI (twice if the first is not answered in 200 us), then up to
 * 200 ms for the AP to report in. The AP has had its INIT. */
static bool start_ap(u32 apic_id, u32 id, u8 vector, bool skip_sipi)
{
	__atomic_store_n(&ap_reported, UINT32_MAX, __ATOMIC_RELAXED);
	for (int sipi = 0; sipi < 2 && !skip_sipi; sipi++) {
		if (!lapic_send_ipi(apic_id, ICR_STARTUP | vector))
			return false;
		if (wait_us(200, &ap_reported, id))
			return true;
	}
	return wait_us(AP_REPORT_US, &ap_reported, id);
}

static void stop_others(void);
static bool console_enter(void);
static void console_leave(void);

void smp_start(struct mb2_info *mb, paddr_t mbi_pa, u32 skip)
{
	u32 me = lapic_id(), listed = 0;
	cpus[0].apic_id = me;
	for (size_t i = 0; i < platform_madt.ncpus; i++)
		listed += platform_madt.cpu[i].enabled;
	if (!platform_have_madt || listed <= 1) {
		kprintf("smp: 1 CPU\n");
		return;
	}
	paddr_t page = choose_page(mb, mbi_pa);
	if (smp_trampoline_move) {
		char highest[32] = "there is none";
		if (page)
			fmt_snprintf(highest, sizeof highest, "the highest is %#llx", (unsigned long long)page);
		kprintf("smp: trampoline=move (test only): every free page below 640 KiB is taken as held (%s)\n",
			highest);
		page = 0;
	}
	if (!page)
		page = move_a_module(mb, mbi_pa);
	if (!page || !build_boot_tables(page)) {
		kprintf("smp: %s: running on 1 CPU of %u\n",
			page ? "no memory for the boot-only page table" : "no free RAM page below 640 KiB for the trampoline",
			listed);
		free_boot_tables();
		return;
	}
	u8 *copy = pa_to_va(page);
	size_t len = (size_t)(ap_trampoline_end - ap_trampoline);
	memcpy(copy, ap_trampoline, len);
	/* The absolute addresses the trampoline needs, now that its page is known. */
	u32 base = (u32)page;
	u8 *gdt_ptr = field(copy, tr_gdt_ptr);
	u32 gdt_at = base + (u32)(tr_gdt - ap_trampoline), pm32 = base + (u32)(tr_pm32 - ap_trampoline),
	    lm64 = base + (u32)(tr_lm64 - ap_trampoline);
	memcpy(gdt_ptr + 2, &gdt_at, 4);
	memcpy(field(copy, tr_far32), &pm32, 4);
	memcpy(field(copy, tr_far64), &lm64, 4);
	u64 cr3 = boot_tables[0], efer = EFER_LME | (cpu_has.nx ? EFER_NXE : 0), entry = (u64)ap_entry;
	memcpy(field(copy, tr_cr3), &cr3, 8);
	memcpy(field(copy, tr_efer), &efer, 8);
	memcpy(field(copy, tr_entry), &entry, 8);

	/* INIT to every AP, then the architectural 10 ms, once. */
	for (size_t i = 0; i < platform_madt.ncpus; i++)
		if (platform_madt.cpu[i].enabled && platform_madt.cpu[i].apic_id != me)
			lapic_send_ipi(platform_madt.cpu[i].apic_id, ICR_INIT);
	wait_us(10000, NULL, 0);

	u32 n = 1, ap = 0;
	for (size_t i = 0; i < platform_madt.ncpus; i++) {
		u32 apic = platform_madt.cpu[i].apic_id;
		if (!platform_madt.cpu[i].enabled || apic == me)
			continue;
		ap++;
		if (n == MAX_CPUS) {
			kprintf("smp: more than %u CPUs: APIC id %u and later left out\n", MAX_CPUS, apic);
			break;
		}
		char name[32];
		fmt_snprintf(name, sizeof name, "cpu%u kernel stack", n);
		uptr top;
		u64 free_before = frames_free();
		if (kva_alloc_stack(AP_KSTACK_PAGES, name, &top)) {
			kprintf("smp: no memory for cpu%u's stacks: APIC id %u left out\n", n, apic);
			continue;
		}
		if (percpu_prepare(n, top)) { /* it freed its own part */
			kva_free_stack(top, AP_KSTACK_PAGES);
			kprintf("smp: no memory for cpu%u's stacks: APIC id %u left out\n", n, apic);
			continue;
		}
		cpus[n].apic_id = apic;
		u64 stack = top, arg = n;
		memcpy(field(copy, tr_stack), &stack, 8);
		memcpy(field(copy, tr_arg), &arg, 8);
		if (start_ap(apic, n, (u8)(page >> 12), ap == skip)) {
			cpus_up = ++n; /* cross-CPU calls reach it now: a kernel page unmapped is flushed there too */
			continue;
		}
		kprintf("smp: cpu%u (APIC id %u) did not answer%s: left out\n", n, apic,
			ap == skip ? " (no startup IPI sent: smp_skip)" : "");
		/* Back to waiting for a startup IPI: it never runs the trampoline
		 * after this, nor anything on the stacks made for it, which go back
		 * (the next AP is prepared as cpu<n> afresh). */
		if (!lapic_send_ipi(apic, ICR_INIT)) {
			kprintf("smp: APIC id %u did not take the INIT: its stacks are kept\n", apic);
			continue;
		}
		size_t freed = kva_free_stack(top, AP_KSTACK_PAGES) + percpu_release(n);
		kprintf("smp: cpu%u's kernel and IST stacks freed: %zu frames (frames free %llu before they were "
			"made, %llu now)\n", n, freed, (unsigned long long)free_before, (unsigned long long)frames_free());
	}
	if (n > 1) {
		panic_hook = stop_others;
		console_set_lock(console_enter, console_leave);
	}
	memset(copy, 0, len);
	free_boot_tables();
	kprintf("smp: %u of %u CPUs up (trampoline page %#llx; its boot-only page table freed)\n", n, listed,
		(unsigned long long)page);
}

/* ------------------------------------------------------- the console */

/*
 * The console's lock once APs run (console_set_lock): a CPU holds it for a
 * kprintf, nested ones too (a fault while printing is reported). It spins
 * serving cross-CPU calls, as every kernel spin does, and takes the console
 * over after CONSOLE_WAIT_SPINS: a CPU stopped by a panic's NMI may have held
 * it, and the panic report must come out.
 */
#define CONSOLE_WAIT_SPINS (1u << 22) /* ~0.1-1 s of pause + check */
static u32 console_owner; /* 1 + the CPU writing; 0: none */
static u32 console_depth;

static bool console_enter(void)
{
	u32 me = this_cpu()->id + 1;
	if (__atomic_load_n(&console_owner, __ATOMIC_ACQUIRE) == me) {
		console_depth++;
		return true;
	}
	for (u32 spins = 0;; spins++) {
		u32 none = 0;
		if (__atomic_compare_exchange_n(&console_owner, &none, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			break;
		if (spins == CONSOLE_WAIT_SPINS) {
			__atomic_store_n(&console_owner, me, __ATOMIC_RELEASE); /* its holder is stopped */
			break;
		}
		cpu_relax_serving();
	}
	console_depth = 1;
	return true;
}

static void console_leave(void)
{
	if (!--console_depth)
		__atomic_store_n(&console_owner, 0, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------- the audit on every CPU */

struct cpu_audit {
	int problems;
	u64 cr3;
};

static void audit_this_cpu(void *arg)
{
	struct cpu_audit *r = arg;
	char who[16];
	fmt_snprintf(who, sizeof who, "cpu%u", this_cpu()->id);
	r->cr3 = read_cr3() & PTE_ADDR;
	r->problems = slot_audit_quiet(r->cr3, who, true);
}

int smp_audit_cpus(void)
{
	int problems = 0;
	for (u32 i = 1; i < cpus_up; i++) {
		struct cpu_audit r = { -1, 0 };
		int err = smp_call(i, audit_this_cpu, &r);
		if (err)
			kprintf("slot audit: FAILED (cpu%u): it did not run the audit within 5 s\n", i);
		if (err || r.problems) {
			problems += r.problems > 0 ? r.problems : 1;
			continue;
		}
		if (r.cr3 != slot_kernel_pml4()) {
			kprintf("slot audit: FAILED (cpu%u): CR3 %#llx is not the kernel's %#llx\n", i,
				(unsigned long long)r.cr3, (unsigned long long)slot_kernel_pml4());
			problems++;
		}
	}
	if (cpus_up > 1 && !problems)
		kprintf("slot audit: ok on %s%u too: each one's CR3, GDT, IDT, TSS, RSP0 and IST stacks, "
			"RSP and per-CPU data in slot 511, checked on that CPU\n", cpus_up > 2 ? "cpu1..cpu" : "cpu",
			cpus_up - 1);
	return problems;
}

/* ------------------------------------------------------------ a panic stops the rest */

static u32 panic_owner = UINT32_MAX; /* the CPU whose panic report is being written */
static u32 stopped;                  /* CPUs that took the panic's NMI and halted */

static __noreturn void halt_for_good(void)
{
	for (;;) {
		cli();
		hlt();
	}
}

/* The first CPU to get here sends every other CPU an NMI and waits for
 * them to stop; one that gets here later halts silently (true: this CPU
 * stopped the others now). */
static bool stop_others_by_nmi(void)
{
	u32 me = this_cpu()->id, none = UINT32_MAX;
	if (!__atomic_compare_exchange_n(&panic_owner, &none, me, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		if (none == me)
			return false;
		halt_for_good();
	}
	lapic_send_ipi(0, ICR_NMI_OTHERS);
	wait_us(AP_REPORT_US, &stopped, cpus_up - 1);
	return true;
}

/* panic_hook: the first CPU to panic stops the others and says how many
 * stopped; a CPU that panics while another reports halts silently; a
 * panic within a panic goes on to panic_enter's own check. */
static void stop_others(void)
{
	if (!stop_others_by_nmi())
		return;
	u32 n = __atomic_load_n(&stopped, __ATOMIC_ACQUIRE);
	kprintf("\npanic: cpu%u stopped the other %u CPU%s by NMI%s\n", this_cpu()->id, n, n == 1 ? "" : "s",
		n == cpus_up - 1 ? "" : " (some did not answer in 5 s)");
}

u32 smp_stop_others(void)
{
	if (cpus_up == 1 || !stop_others_by_nmi())
		return 0;
	return __atomic_load_n(&stopped, __ATOMIC_ACQUIRE);
}

void smp_nmi(void)
{
	u32 owner = __atomic_load_n(&panic_owner, __ATOMIC_ACQUIRE);
	if (owner == UINT32_MAX || owner == this_cpu()->id)
		return;
	__atomic_fetch_add(&stopped, 1, __ATOMIC_ACQ_REL);
	halt_for_good(); /* NMIs stay blocked: no iretq */
}
