/*
 * What an asm-offsets.c unit is written with. Assembly never spells a
 * structure offset or a constant that C defines: each side has one unit
 * (kern/arch/x86_64/asm-offsets.c, libos/asm-offsets.c) that the build
 * compiles with -S, never links, and turns into the asm-offsets.h its
 * assembly includes (boot/asm_offsets.py, docs/architecture.md). Each macro
 * leaves a marker line in the compiler's output, with the value the compiler
 * itself computed:
 *
 *   OFFSET(TF_RIP, trap_frame, rip)   #define TF_RIP <offsetof(struct trap_frame, rip)>
 *   SIZE(TF_SIZE, trap_frame)         #define TF_SIZE <sizeof(struct trap_frame)>
 *   CONST(MSR_GS_BASE)                #define MSR_GS_BASE <its C value>
 *   DEFINE(NAME, expression)          #define NAME <the expression's value>
 *   COMMENT("text")                   a comment line in the header
 */
#ifndef KEEL_ASMDEFS_H
#define KEEL_ASMDEFS_H

#include <stddef.h>

#include "keel/abi.h"

/* The marker: the name, the value, whether its type is unsigned, and
 * whether the header shows it in hex (constants) or decimal (offsets). */
#define ASM_DEFINE_NAMED(name, val, hex)                                                           \
	__asm__ volatile("\n.ascii \"->" name " %0 %1 %2\"" ::"i"((long long)(val)),              \
			 "i"((__typeof__(val))-1 > 0), "i"(hex))
/* The name is stringified where it is a parameter, so never macro-expanded:
 * CONST(X) exports the C constant X under its own name. */
#define DEFINE(sym, val) ASM_DEFINE_NAMED(#sym, val, 1)
#define CONST(sym) ASM_DEFINE_NAMED(#sym, sym, 1)
#define OFFSET(sym, type, field) ASM_DEFINE_NAMED(#sym, offsetof(struct type, field), 0)
#define SIZE(sym, type) ASM_DEFINE_NAMED(#sym, sizeof(struct type), 0)
#define COMMENT(text) __asm__ volatile("\n.ascii \"->#" text "\"")

/* The user ABI's layouts (keel/abi.h): in both sides' asm-offsets.h. */
static inline void asm_offsets_abi(void)
{
	COMMENT("struct keel_context (keel/abi.h): a saved Ring 3 context");
	OFFSET(KCTX_R15, keel_context, r15);
	OFFSET(KCTX_R14, keel_context, r14);
	OFFSET(KCTX_R13, keel_context, r13);
	OFFSET(KCTX_R12, keel_context, r12);
	OFFSET(KCTX_R11, keel_context, r11);
	OFFSET(KCTX_R10, keel_context, r10);
	OFFSET(KCTX_R9, keel_context, r9);
	OFFSET(KCTX_R8, keel_context, r8);
	OFFSET(KCTX_RBP, keel_context, rbp);
	OFFSET(KCTX_RDI, keel_context, rdi);
	OFFSET(KCTX_RSI, keel_context, rsi);
	OFFSET(KCTX_RDX, keel_context, rdx);
	OFFSET(KCTX_RCX, keel_context, rcx);
	OFFSET(KCTX_RBX, keel_context, rbx);
	OFFSET(KCTX_RAX, keel_context, rax);
	OFFSET(KCTX_RIP, keel_context, rip);
	OFFSET(KCTX_CS, keel_context, cs);
	OFFSET(KCTX_RFLAGS, keel_context, rflags);
	OFFSET(KCTX_RSP, keel_context, rsp);
	OFFSET(KCTX_SS, keel_context, ss);
	SIZE(KCTX_SIZE, keel_context);

	COMMENT("struct keel_upcall_area (keel/abi.h)");
	OFFSET(KUA_DISABLED, keel_upcall_area, disabled);
	OFFSET(KUA_PENDING, keel_upcall_area, pending);
	OFFSET(KUA_EVENT_ENTRY, keel_upcall_area, event_entry);
	OFFSET(KUA_TRAP_ENTRY, keel_upcall_area, trap_entry);
	OFFSET(KUA_UPCALL_STACK, keel_upcall_area, upcall_stack);
	OFFSET(KUA_TRAP_STACK, keel_upcall_area, trap_stack);
	OFFSET(KUA_TRAP_STACK_SIZE, keel_upcall_area, trap_stack_size);
	OFFSET(KUA_CRIT_START, keel_upcall_area, crit_start);
	OFFSET(KUA_CRIT_END, keel_upcall_area, crit_end);
	OFFSET(KUA_UPCALLS, keel_upcall_area, upcalls);
	OFFSET(KUA_TRAPS, keel_upcall_area, traps);
	OFFSET(KUA_TRAP_VECTOR, keel_upcall_area, trap_vector);
	OFFSET(KUA_TRAP_ERROR, keel_upcall_area, trap_error);
	OFFSET(KUA_TRAP_CR2, keel_upcall_area, trap_cr2);
	OFFSET(KUA_IRQ_PENDING, keel_upcall_area, irq_pending);
	OFFSET(KUA_SWVEC_PENDING, keel_upcall_area, swvec_pending);
	OFFSET(KUA_PCT_ENTRY, keel_upcall_area, pct_entry);
	OFFSET(KUA_ENV_WORDS, keel_upcall_area, env_words);
	OFFSET(KUA_PCT_STACK, keel_upcall_area, pct_stack);
	OFFSET(KUA_ENABLED_SAVE, keel_upcall_area, enabled_save);
	OFFSET(KUA_DISABLED_SAVE, keel_upcall_area, disabled_save);
	OFFSET(KUA_TRAP_SAVE, keel_upcall_area, trap_save);
	SIZE(KUA_SIZE, keel_upcall_area);
}

#endif
