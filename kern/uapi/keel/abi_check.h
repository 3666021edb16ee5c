/* Compile-time checks that keel/abi.h's offsets (used by assembly in the
 * kernel and in libos/) match its structs. Included by both sides. */
#ifndef KEEL_UAPI_ABI_CHECK_H
#define KEEL_UAPI_ABI_CHECK_H

#include <stddef.h>

#include "keel/abi.h"

#define KEEL_ABI_CHECK(type, field, off) _Static_assert(offsetof(type, field) == (off), #type "." #field)

KEEL_ABI_CHECK(struct keel_context, r15, KCTX_R15);
KEEL_ABI_CHECK(struct keel_context, r11, KCTX_R11);
KEEL_ABI_CHECK(struct keel_context, rbp, KCTX_RBP);
KEEL_ABI_CHECK(struct keel_context, rdi, KCTX_RDI);
KEEL_ABI_CHECK(struct keel_context, rsi, KCTX_RSI);
KEEL_ABI_CHECK(struct keel_context, rcx, KCTX_RCX);
KEEL_ABI_CHECK(struct keel_context, rax, KCTX_RAX);
KEEL_ABI_CHECK(struct keel_context, rip, KCTX_RIP);
KEEL_ABI_CHECK(struct keel_context, cs, KCTX_CS);
KEEL_ABI_CHECK(struct keel_context, rflags, KCTX_RFLAGS);
KEEL_ABI_CHECK(struct keel_context, rsp, KCTX_RSP);
KEEL_ABI_CHECK(struct keel_context, ss, KCTX_SS);
_Static_assert(sizeof(struct keel_context) == KCTX_SIZE, "keel_context size");

KEEL_ABI_CHECK(struct keel_upcall_area, disabled, KUA_DISABLED);
KEEL_ABI_CHECK(struct keel_upcall_area, pending, KUA_PENDING);
KEEL_ABI_CHECK(struct keel_upcall_area, event_entry, KUA_EVENT_ENTRY);
KEEL_ABI_CHECK(struct keel_upcall_area, trap_entry, KUA_TRAP_ENTRY);
KEEL_ABI_CHECK(struct keel_upcall_area, upcall_stack, KUA_UPCALL_STACK);
KEEL_ABI_CHECK(struct keel_upcall_area, trap_stack, KUA_TRAP_STACK);
KEEL_ABI_CHECK(struct keel_upcall_area, trap_stack_size, KUA_TRAP_STACK_SIZE);
KEEL_ABI_CHECK(struct keel_upcall_area, crit_start, KUA_CRIT_START);
KEEL_ABI_CHECK(struct keel_upcall_area, crit_end, KUA_CRIT_END);
KEEL_ABI_CHECK(struct keel_upcall_area, upcalls, KUA_UPCALLS);
KEEL_ABI_CHECK(struct keel_upcall_area, irq_pending, KUA_IRQ_PENDING);
KEEL_ABI_CHECK(struct keel_upcall_area, swvec_pending, KUA_SWVEC_PENDING);
KEEL_ABI_CHECK(struct keel_upcall_area, pct_entry, KUA_PCT_ENTRY);
KEEL_ABI_CHECK(struct keel_upcall_area, pct_stack, KUA_PCT_STACK);
KEEL_ABI_CHECK(struct keel_upcall_area, enabled_save, KUA_ENABLED_SAVE);
KEEL_ABI_CHECK(struct keel_upcall_area, disabled_save, KUA_DISABLED_SAVE);
KEEL_ABI_CHECK(struct keel_upcall_area, trap_save, KUA_TRAP_SAVE);
_Static_assert(sizeof(struct keel_upcall_area) == KUA_SIZE, "upcall area is one page");

#endif
