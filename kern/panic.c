#include "panic.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "console.h"
#include "image.h"
#include "keel/exit.h"
#include "ksyms.h"
#include "layout.h"
#include "lib/string.h"

static const char *sym_text;
static size_t sym_len;
static int panicking;

void panic_set_symbols(const char *text, size_t len)
{
	sym_text = text;
	sym_len = len;
}

void panic_symbols_moved(const void *from, const void *to, size_t len)
{
	uptr off = (uptr)sym_text - (uptr)from;
	if (sym_text && off < len)
		sym_text = (const char *)to + off;
}

bool exit_hold;

__noreturn void keel_exit(int code)
{
	if (exit_hold) {
		const char *v = code == KEEL_EXIT_SUCCESS ? "success" : code == KEEL_EXIT_FAILURE ? "failure"
							 : code == KEEL_EXIT_PANIC	? "panic" : "?";
		kprintf("keel: exit %s (%#x) held (hold=1): the machine stays up until stopped\n", v, code);
	} else {
		outb(KEEL_EXIT_PORT, (u8)code);
	}
	for (;;) {
		cli();
		hlt();
	}
}

void print_symbol(u64 addr)
{
	struct ksym s;
	if (sym_text && ksyms_lookup(sym_text, sym_len, addr, &s) && addr - s.addr < 0x100000)
		kprintf("%.*s+0x%llx", (int)s.name_len, s.name, (unsigned long long)(addr - s.addr));
	else
		kprintf("?");
}

static const char *const exception_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
	"#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
	"#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved (15)", "#MF x87 error", "#AC alignment check", "#MC machine check",
	"#XM SIMD exception", "#VE virtualization", "#CP control protection",
};

const char *exception_name(u64 v)
{
	return v < 32 && exception_names[v] ? exception_names[v] : "reserved exception";
}

static bool is_return_address(u64 a)
{
	/* In the kernel's text, just after a `call rel32` (E8 xx xx xx xx). */
	return a >= (u64)__text_start + 5 && a < (u64)__text_end && *(const u8 *)(a - 5) == 0xE8;
}

/*
 * Walk the frame-pointer chain, touching only mapped kernel stack memory.
 * rsp (0 if unknown) is the stack pointer at rip: GCC sets up no frame in a
 * leaf function that needs no stack, so when the word at rsp is a return
 * address it is shown too -- the caller the rbp chain would skip.
 */
void panic_backtrace(u64 rip, u64 rbp, u64 rsp)
{
	int depth = 1;
	kprintf("backtrace:\n  #0  %016llx ", (unsigned long long)rip);
	print_symbol(rip);
	kprintf("\n");
	if (rsp >= KERNEL_SLOT_BASE && rsp % 8 == 0 && paging_mapped(rsp, 8)) {
		u64 top = *(const u64 *)rsp;
		bool chained = rbp >= KERNEL_SLOT_BASE && rbp % 8 == 0 && paging_mapped(rbp, 16) &&
			       ((u64 *)rbp)[1] == top;
		if (is_return_address(top) && !chained) {
			kprintf("  #%-2d %016llx ", depth++, (unsigned long long)top);
			print_symbol(top - 1);
			kprintf("  (from the stack top: %#llx was a leaf)\n", (unsigned long long)rip);
		}
	}
	for (; depth < 32; depth++) {
		if (!rbp || rbp % 8 || rbp < KERNEL_SLOT_BASE || !paging_mapped(rbp, 16))
			break;
		u64 next = ((u64 *)rbp)[0], ret = ((u64 *)rbp)[1];
		if (!ret)
			break;
		kprintf("  #%-2d %016llx ", depth, (unsigned long long)ret);
		print_symbol(ret - 1); /* the call, not the instruction after it */
		kprintf("\n");
		if (next <= rbp)
			break;
		rbp = next;
	}
}

void (*panic_hook)(void);

void panic_enter(void)
{
	cli();
	if (panic_hook)
		panic_hook(); /* smp.c: the first CPU to panic stops the others */
	if (panicking++) {
		kprintf("\nPANIC while panicking: giving up\n");
		keel_exit(KEEL_EXIT_PANIC);
	}
}

__noreturn void panic(const char *fmt, ...)
{
	panic_enter();
	va_list ap;
	va_start(ap, fmt);
	kprintf("\nPANIC: ");
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
	const u64 *fp = __builtin_frame_address(0); /* panic's frame: [0] caller's rbp, [1] return */
	panic_backtrace(fp[1], fp[0], 0);
	keel_exit(KEEL_EXIT_PANIC);
}

