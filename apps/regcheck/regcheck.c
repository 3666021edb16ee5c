/*
 * `regcheck [PREEMPTIONS [hop]]`: the original failure, at scale. Loads this env's
 * own values into every general register, XMM/YMM, MXCSR and the x87 control
 * word and checks them in a loop while the kernel preempts it and runs other
 * environments in other address spaces. Counts (through the kernel) how many
 * preemptions landed inside the loop; any lost bit is a mismatch. `hop`
 * (two CPUs, debug builds): after every round the env moves to the other
 * CPU (DEBUG_PIN), leaving the one it ran on idle with its registers kept
 * there -- the CPU it moves to must fetch them (its FS/GS bases are checked
 * every round).
 */
#include "keel.h"

extern uint64_t regcheck_expected[15 + 64 + 2];
extern uint64_t regcheck_use_avx;
extern char regcheck_loop_start[], regcheck_loop_end[];
uint64_t regcheck_loop(uint64_t iterations);

static int have_avx(void)
{
	uint32_t a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c & (1u << 27)) || !(c & (1u << 28))) /* OSXSAVE, AVX */
		return 0;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6; /* the OS saves SSE and AVX state */
}

/* FSGSBASE: where the CPU has it, Keel lets Ring 3 set its own FS and GS
 * bases; they must survive preemption like any register. */
static int have_fsgsbase(void)
{
	uint32_t a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	return b & 1;
}

static const char *const check_names[] = {
	"", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
	"r15", "xmm/ymm", "mxcsr", "x87 control word", "DF",
};

int main(int argc, char **argv)
{
	uint64_t target = argc > 1 ? keel_atou(argv[1]) : 5000;
	int hop = argc > 2 && !strcmp(argv[2], "hop");
	uint64_t per_round = hop ? 500 : 20000; /* hopping: often */
	uint64_t id = (uint64_t)sys_env_id();
	uint64_t seed = 0x9E3779B97F4A7C15ULL * (id + 1);
	for (int i = 0; i < 15 + 64; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		regcheck_expected[i] = seed;
	}
	regcheck_expected[79] = 0x1F80 | ((id & 3) << 13); /* MXCSR: all masked, own rounding mode */
	regcheck_expected[80] = 0x037F | ((id & 3) << 10); /* x87: all masked, own rounding mode */
	regcheck_use_avx = have_avx();

	int fsgs = have_fsgsbase();
	uint64_t fs_want = 0x0000100000000000ULL + (id << 12), gs_want = 0x0000200000000000ULL + (id << 12);
	if (fsgs)
		__asm__ volatile("wrfsbase %0\n\twrgsbase %1" ::"r"(fs_want), "r"(gs_want));

	sys_debug(DEBUG_WATCH_RANGE, (long)regcheck_loop_start, (long)regcheck_loop_end);
	uint64_t rounds = 0, fails = 0, preempted = 0, t0 = sys_time();
	while (preempted < target) {
		uint64_t r = regcheck_loop(per_round);
		rounds++;
		if (r) {
			fails++;
			printf("regcheck env %llu: MISMATCH in %s (round %llu)\n", (unsigned long long)id,
			       check_names[r < ARRAY_SIZE(check_names) ? r : 0], (unsigned long long)rounds);
		}
		if (fsgs) {
			uint64_t fs, gs;
			__asm__ volatile("rdfsbase %0\n\trdgsbase %1" : "=r"(fs), "=r"(gs));
			if (fs != fs_want || gs != gs_want) {
				fails++;
				printf("regcheck env %llu: MISMATCH in FS/GS base (%#llx %#llx)\n", (unsigned long long)id,
				       (unsigned long long)fs, (unsigned long long)gs);
			}
		}
		preempted = (uint64_t)sys_debug(DEBUG_PREEMPTIONS, 0, 0);
		if (hop && sys_debug(DEBUG_PIN, (long)(rounds & 1), 0) < 0) {
			printf("regcheck env %llu: cannot hop (two CPUs and a debug build needed)\n", (unsigned long long)id);
			return 2;
		}
		if (sys_time() - t0 > 120ULL * 1000000000ULL) {
			printf("regcheck env %llu: only %llu preemptions in 120 s\n", (unsigned long long)id,
			       (unsigned long long)preempted);
			return 2;
		}
	}
	printf("regcheck env %llu: %llu preemptions inside the check loop, %llu rounds of %llu, %llu mismatches, %s%s\n",
	       (unsigned long long)id, (unsigned long long)preempted, (unsigned long long)rounds, (unsigned long long)per_round,
	       (unsigned long long)fails, regcheck_use_avx ? "ymm" : "xmm", fsgs ? " fsgsbase" : "");
	return fails != 0;
}
