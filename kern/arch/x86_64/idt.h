#ifndef KEEL_X86_IDT_H
#define KEEL_X86_IDT_H

#include "types.h"
/* entry.S's per-vector stubs: vector v's is at vector_stubs + IDT_STUB_SIZE * v. */
#define IDT_STUB_SIZE 16

/* Where the gates lead (entry.S's addresses; main.c knows them, so that
 * the IDT's code depends on nothing above it). */
struct idt_targets {
	u64 stubs;           /* the per-vector stubs */
	u64 self_event;      /* `int $0x82`, with its fast path */
	u64 self_event_slow; /* ... straight to the general entry (DEBUG_FAST_PATHS) */
	u64 floor_int;       /* benchmarks: a bare iretq */
	u64 pf;              /* #PF, with its fast path (its stub: without) */
};
void idt_init(const struct idt_targets *t); /* fill the gates (once) */
void idt_load(void); /* load IDTR on this CPU */
/* Tests: the gates with an assembly fast path (the self event's, #PF's)
 * to it, or straight to the general entry (DEBUG_FAST_PATHS). */
void idt_asm_fast_paths(bool on);

#endif
