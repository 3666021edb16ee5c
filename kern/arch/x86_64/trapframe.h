/*
 * The trap frame: what an interrupt or exception leaves on the kernel stack.
 * entry.S builds it; its offsets are checked here against the assembly's.
 */
#ifndef KEEL_X86_TRAPFRAME_H
#define KEEL_X86_TRAPFRAME_H

/* Offsets (bytes from the frame's start = %rsp after the stub pushed all). */
#define TF_R15    0
#define TF_R14    8
#define TF_R13    16
#define TF_R12    24
#define TF_R11    32
#define TF_R10    40
#define TF_R9     48
#define TF_R8     56
#define TF_RBP    64
#define TF_RDI    72
#define TF_RSI    80
#define TF_RDX    88
#define TF_RCX    96
#define TF_RBX    104
#define TF_RAX    112
#define TF_VECTOR 120
#define TF_ERROR  128
#define TF_RIP    136
#define TF_CS     144
#define TF_RFLAGS 152
#define TF_RSP    160
#define TF_SS     168
#define TF_SIZE   176

#ifndef __ASSEMBLER__
#include "types.h"

struct trap_frame {
	/* pushed by entry.S's common path (r15 last, so lowest) */
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	/* pushed by the vector's stub */
	u64 vector;
	/* pushed by the CPU for #DF #TS #NP #SS #GP #PF #AC #CP, else 0 by the stub */
	u64 error;
	/* pushed by the CPU; in 64-bit mode always all five, any ring */
	u64 rip, cs, rflags, rsp, ss;
};

#define TF_CHECK(field, off) _Static_assert(__builtin_offsetof(struct trap_frame, field) == off, #field)
TF_CHECK(r15, TF_R15);
TF_CHECK(r14, TF_R14);
TF_CHECK(r13, TF_R13);
TF_CHECK(r12, TF_R12);
TF_CHECK(r11, TF_R11);
TF_CHECK(r10, TF_R10);
TF_CHECK(r9, TF_R9);
TF_CHECK(r8, TF_R8);
TF_CHECK(rbp, TF_RBP);
TF_CHECK(rdi, TF_RDI);
TF_CHECK(rsi, TF_RSI);
TF_CHECK(rdx, TF_RDX);
TF_CHECK(rcx, TF_RCX);
TF_CHECK(rbx, TF_RBX);
TF_CHECK(rax, TF_RAX);
TF_CHECK(vector, TF_VECTOR);
TF_CHECK(error, TF_ERROR);
TF_CHECK(rip, TF_RIP);
TF_CHECK(cs, TF_CS);
TF_CHECK(rflags, TF_RFLAGS);
TF_CHECK(rsp, TF_RSP);
TF_CHECK(ss, TF_SS);
_Static_assert(sizeof(struct trap_frame) == TF_SIZE, "trap frame size");
#undef TF_CHECK

static inline bool tf_from_user(const struct trap_frame *tf) { return (tf->cs & 3) == 3; }

void trap_dispatch(struct trap_frame *tf);
#endif

#endif
