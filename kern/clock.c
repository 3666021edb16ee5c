#include "clock.h"
#include "arch/x86_64/cpu.h"

u64 tsc_hz;
static u64 tsc_boot, ns_per_tsc_mult; /* ns = (tsc - tsc_boot) * mult >> 32 */

u64 mult_frac32(u64 a, u64 b)
{
	u64 q = a / b, r = a % b;
	/* r < b; r << 32 fits while b < 2^32 -- true for any clock rate here */
	return (q << 32) + (r << 32) / b;
}

void clock_init(u64 tsc_rate)
{
	tsc_hz = tsc_rate ? tsc_rate : 1000000000;
	ns_per_tsc_mult = mult_frac32(1000000000, tsc_hz);
	tsc_boot = rdtsc();
}

u64 clock_ns(void) { return mul_shift32(rdtsc() - tsc_boot, ns_per_tsc_mult); }

void clock_params(u64 *tsc_base, u64 *mult)
{
	*tsc_base = tsc_boot;
	*mult = ns_per_tsc_mult;
}
