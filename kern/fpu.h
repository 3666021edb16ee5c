/*
 * Extended (FPU/SSE/AVX) state belongs to environments. The kernel is built
 * with general registers only, so the registers hold the running env's state
 * throughout a kernel entry; an env switch saves the old env's state and loads
 * the new one's (XSAVE/XRSTOR where the CPU has XSAVE, FXSAVE/FXRSTOR otherwise).
 */
#ifndef KEEL_FPU_H
#define KEEL_FPU_H

#include "types.h"

extern size_t fpu_state_size; /* bytes of one save area */
extern u64 fpu_xcr0;          /* state components saved (0: FXSAVE) */

/* Enable x87/SSE (and AVX, via XCR0) for Ring 3 and size the save area. */
void fpu_init(void);

/* A save area in the initial state (x87 FCW 0x37F, MXCSR 0x1F80, all else 0),
 * or NULL when out of memory. Free with kfree. */
void *fpu_state_alloc(void);

void fpu_save(void *area);
void fpu_restore(const void *area);

#endif
