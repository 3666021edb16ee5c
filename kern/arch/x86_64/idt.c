/*
 * The IDT: one gate per vector, pointing at entry.S's 16-byte stubs -- but
 * the self event's and #PF's, which go to their assembly fast paths (or,
 * with DEBUG_FAST_PATHS KEEL_FASTPATH_ASM, to the general entry).
 * Interrupt gates (IF cleared on entry: the kernel is not preemptible).
 * #DF, NMI and #MC switch to their own IST stacks, and so does #DB: one can
 * arrive on a kernel entry's first instruction with the user's RSP still
 * loaded (entry.S, db_entry). From Ring 3 only #BP and
 * #OF (`int3`, `into`), the syscall vector 0x80, the floor 0x81, the self
 * event 0x82 and the software vectors 0xA0..0xBF are reachable with an `int`
 * instruction (DPL 3); any other `int $N` from Ring 3 is #GP. A software
 * vector's DPL is global, so trap.c gives #GP to an env that does not hold
 * its capability, as the CPU would have.
 */
#include "arch/x86_64/idt.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/vectors.h"

struct __packed idt_gate {
	u16 off_lo;
	u16 sel;
	u8 ist;
	u8 type_attr; /* P | DPL | 0 | type (0xE: 64-bit interrupt gate) */
	u16 off_mid;
	u32 off_hi;
	u32 reserved;
};
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate layout");

static struct idt_gate idt[256] __aligned(4096);
static struct idt_targets targets; /* entry.S's, from main.c */

static void set_gate_to(unsigned v, unsigned dpl, unsigned ist, u64 off)
{
	idt[v] = (struct idt_gate){
		.off_lo = (u16)off,
		.sel = GDT_KCODE,
		.ist = (u8)ist,
		.type_attr = (u8)(0x80 | dpl << 5 | 0xE),
		.off_mid = (u16)(off >> 16),
		.off_hi = (u32)(off >> 32),
	};
}

static void set_gate(unsigned v, unsigned dpl, unsigned ist) { set_gate_to(v, dpl, ist, targets.stubs + IDT_STUB_SIZE * v); }

void idt_init(const struct idt_targets *t)
{
	targets = *t;
	for (unsigned v = 0; v < 256; v++)
		set_gate(v, 0, 0);
	set_gate(VEC_BP, 3, 0);
	set_gate(VEC_OF, 3, 0);
	set_gate(VEC_SYSCALL_INT, 3, 0);
	for (unsigned v = VEC_SOFT_BASE; v < VEC_SOFT_BASE + VEC_SOFT_COUNT; v++)
		set_gate(v, 3, 0);
	set_gate_to(VEC_SELF_EVENT, 3, 0, t->self_event); /* with its own fast path */
	set_gate_to(VEC_PF, 0, 0, t->pf);                 /* ditto */
	set_gate_to(VEC_FLOOR_INT, 3, 0, t->floor_int); /* benchmarks: the bare iretq */
	set_gate(VEC_DF, 0, IST_DF);
	set_gate(VEC_NMI, 0, IST_NMI);
	set_gate(VEC_MC, 0, IST_MC);
	set_gate(VEC_DB, 0, IST_DB);
}

void idt_asm_fast_paths(bool on)
{
	set_gate_to(VEC_SELF_EVENT, 3, 0, on ? targets.self_event : targets.self_event_slow);
	if (on)
		set_gate_to(VEC_PF, 0, 0, targets.pf);
	else
		set_gate(VEC_PF, 0, 0);
}

void idt_load(void)
{
	struct descriptor_ptr p = { sizeof(idt) - 1, (u64)idt };
	lidt(&p);
}
