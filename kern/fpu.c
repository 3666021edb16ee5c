#include "fpu.h"
#include "arch/x86_64/cpu.h"
#include "console.h"
#include "cpu_features.h"
#include "heap.h"
#include "lib/string.h"

#define XCR0_X87 (1ULL << 0)
#define XCR0_SSE (1ULL << 1)
#define XCR0_AVX (1ULL << 2)
#define FXSAVE_FCW 0    /* offsets in the legacy (FXSAVE) region */
#define FXSAVE_MXCSR 24
#define MXCSR_DEFAULT 0x1F80
#define FCW_DEFAULT 0x037F

size_t fpu_state_size = 512;
u64 fpu_xcr0;
/* AMD CPUs before Zen save the x87 last-instruction/operand pointers only
 * when an exception is pending, so XRSTOR/FXRSTOR would leave the previous
 * env's pointers for the next to read (fnstenv): a leak of where its data
 * lives. CPUID 0x80000008 EBX[2] says the CPU always restores them. */
bool fpu_clear_x87_pointers;

static inline void xsetbv(u32 reg, u64 v)
{
	__asm__ volatile("xsetbv" ::"c"(reg), "a"((u32)v), "d"((u32)(v >> 32)));
}

void fpu_cpu_setup(void)
{
	write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(CR0_EM | CR0_TS));
	u64 cr4 = read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT;
	if (cpu_has.xsave)
		cr4 |= CR4_OSXSAVE;
	write_cr4(cr4);
	if (cpu_has.xsave)
		xsetbv(0, fpu_xcr0);
}

void fpu_init(void)
{
	if (cpu_has.xsave) {
		u32 a, b, c, d;
		cpuid(0xD, 0, &a, &b, &c, &d);
		u64 supported = ((u64)d << 32) | a;
		fpu_xcr0 = supported & (XCR0_X87 | XCR0_SSE | XCR0_AVX);
	}
	fpu_cpu_setup();
	if (cpu_has.xsave) {
		u32 a, b, c, d;
		cpuid(0xD, 0, &a, &b, &c, &d); /* EBX: size for the enabled components */
		fpu_state_size = b;
	}
	if (!memcmp(cpu_has.vendor, "AuthenticAMD", 12)) {
		u32 a, b = 0, c, d;
		if (cpu_has.max_ext_leaf >= 0x80000008)
			cpuid(0x80000008, 0, &a, &b, &c, &d);
		fpu_clear_x87_pointers = !(b & (1u << 2));
	}
	kprintf("fpu: %s, %zu-byte save area%s%s\n", fpu_xcr0 ? "XSAVE" : "FXSAVE", fpu_state_size,
		fpu_xcr0 & XCR0_AVX ? ", x87+SSE+AVX" : ", x87+SSE",
		fpu_clear_x87_pointers ? ", x87 error pointers cleared on switch" : "");
}

void *fpu_state_alloc(void)
{
	/* kmalloc gives 64-byte alignment for sizes >= 64 (XSAVE needs 64). */
	u8 *a = kzalloc(fpu_state_size);
	if (!a)
		return NULL;
	u16 fcw = FCW_DEFAULT;
	u32 mxcsr = MXCSR_DEFAULT;
	memcpy(a + FXSAVE_FCW, &fcw, 2);
	memcpy(a + FXSAVE_MXCSR, &mxcsr, 4);
	/* XSAVE header (XSTATE_BV) stays 0: XRSTOR loads the init state for
	 * every component, except MXCSR, which it always reads from the area. */
	return a;
}

