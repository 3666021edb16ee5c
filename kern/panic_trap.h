/* Panics for exceptions in Ring 0: register dumps and the #DF diagnosis. */
#ifndef KEEL_PANIC_TRAP_H
#define KEEL_PANIC_TRAP_H

#include "types.h"

struct trap_frame;

/* An exception in Ring 0: full register dump, decoded error, backtrace. */
__noreturn void panic_trap(const struct trap_frame *tf);

/* #DF: as panic_trap, plus whether the saved RSP and CR2 are mapped. */
__noreturn void panic_double_fault(const struct trap_frame *tf);

#endif
