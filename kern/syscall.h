#ifndef KEEL_SYSCALL_H
#define KEEL_SYSCALL_H

#include "types.h"

struct env;
struct trap_frame;

void syscall_init(void); /* STAR, LSTAR, FMASK, EFER.SCE */
i64 syscall_dispatch(struct env *e, u64 nr, u64 a0, u64 a1, u64 a2);
__noreturn void syscall_from_user(struct trap_frame *tf);

__noreturn void syscall_compat_from_user(struct trap_frame *tf);

#endif
