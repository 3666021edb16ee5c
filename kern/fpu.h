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
/* The same control registers on this CPU, as fpu_init chose them (an AP). */
void fpu_cpu_setup(void);

/* A save area in the initial state (x87 FCW 0x37F, MXCSR 0x1F80, all else 0),
 * or NULL when out of memory. Free with kfree. */
void *fpu_state_alloc(void);

/* Save the registers into a save area, and load them from one: on every env
 * switch, so inline. fpu_clear_x87_pointers: a CPU that saves FIP/FDP/FOP
 * only with a pending x87 exception (no FDP_EXCPTN_ONLY erratum fix) would
 * otherwise show one env's pointers to the next; they are overwritten with
 * kernel values first (as Linux does): clear pending exceptions and the
 * tags, then load an integer from a fixed kernel address. */
extern bool fpu_clear_x87_pointers;

static inline void fpu_save(void *area)
{
	if (fpu_xcr0)
		__asm__ volatile("xsave64 (%0)" ::"r"(area), "a"(0xFFFFFFFFu), "d"(0xFFFFFFFFu) : "memory");
	else
		__asm__ volatile("fxsave64 (%0)" ::"r"(area) : "memory");
}

static inline void fpu_restore(const void *area)
{
	if (fpu_clear_x87_pointers) {
		static const u32 zero;
		__asm__ volatile("fnclex\n\temms\n\tfildl %0" ::"m"(zero));
	}
	if (fpu_xcr0)
		__asm__ volatile("xrstor64 (%0)" ::"r"(area), "a"(0xFFFFFFFFu), "d"(0xFFFFFFFFu) : "memory");
	else
		__asm__ volatile("fxrstor64 (%0)" ::"r"(area) : "memory");
}

#endif
