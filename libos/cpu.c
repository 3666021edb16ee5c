/* Which CPU this code runs on, without a system call (keel.h keel_cpu). */
#include "keel.h"

static int how; /* 0: not asked yet; else the KEEL_CPU_BY_* used */

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

int keel_cpu_method(void)
{
	if (!how) {
		uint32_t r[4];
		cpuid(0, 0, r);
		uint32_t max = r[0];
		how = KEEL_CPU_BY_LSL;
		if (max >= 7 && (cpuid(7, 0, r), r[2] & (1u << 22)))
			how = KEEL_CPU_BY_RDPID;
		else if ((cpuid(0x80000000, 0, r), r[0] >= 0x80000001) && (cpuid(0x80000001, 0, r), r[3] & (1u << 27)))
			how = KEEL_CPU_BY_RDTSCP;
	}
	return how;
}

unsigned keel_cpu_by(int method)
{
	uint64_t v = 0;
	uint32_t lo, hi, aux;
	switch (method) {
	case KEEL_CPU_BY_RDPID:
		__asm__ volatile("rdpid %0" : "=r"(v));
		return (unsigned)v;
	case KEEL_CPU_BY_RDTSCP:
		__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
		return aux;
	default:
		__asm__ volatile("lsl %1, %0" : "=r"(v) : "r"((uint64_t)KEEL_CPU_SEL));
		return (unsigned)v;
	}
}

unsigned keel_cpu(void) { return keel_cpu_by(keel_cpu_method()); }
