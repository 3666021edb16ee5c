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
 *
 * `regcheck N disps` (two CPUs): one env, two dispatchers checking at once,
 * one per CPU, each with its own values (its own copy of the loop and of
 * the expected registers: regloop2.S) and its own FS/GS bases, while two
 * children (`regcheck 0 poster`) post events to both in turn and compete
 * with them for both CPUs (both dispatchers are often off their CPUs at once): the checks are interrupted by cross-CPU kicks
 * with event upcalls, preemptions with activation upcalls, and the other
 * env's runs, on both CPUs at once. Each side counts the upcalls that
 * interrupted its loop (the handler sees where); it stops at N of them.
 * A kernel that mixed the two dispatchers' registers, extended state or
 * bases would show a mismatch.
 */
#include "env.h"
#include "ipc.h"
#include "keel.h"
#include "lib/string.h"
#include "vm.h"

extern uint64_t regcheck_expected[15 + 64 + 2];
extern uint64_t regcheck_use_avx;
extern char regcheck_loop_start[], regcheck_loop_end[];
uint64_t regcheck_loop(uint64_t iterations);
extern uint64_t regcheck2_expected[15 + 64 + 2];
extern uint64_t regcheck2_use_avx;
extern char regcheck2_loop_start[], regcheck2_loop_end[];
uint64_t regcheck2_loop(uint64_t iterations);

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

/* One round of `loop`, then the FS/GS bases (where the CPU has FSGSBASE):
 * the mismatches found, each printed as `regcheck WHO: MISMATCH ...`. */
static int fsgs; /* the CPU has FSGSBASE: the bases are checked too */

static uint64_t check_round(const char *who, uint64_t (*loop)(uint64_t), uint64_t n, uint64_t round, uint64_t fs_want,
			    uint64_t gs_want)
{
	uint64_t fails = 0, r = loop(n);
	if (r) {
		fails++;
		printf("regcheck %s: MISMATCH in %s (round %llu)\n", who, check_names[r < ARRAY_SIZE(check_names) ? r : 0],
		       (unsigned long long)round);
	}
	if (fsgs) {
		uint64_t fs, gs;
		__asm__ volatile("rdfsbase %0\n\trdgsbase %1" : "=r"(fs), "=r"(gs));
		if (fs != fs_want || gs != gs_want) {
			fails++;
			printf("regcheck %s: MISMATCH in FS/GS base (%#llx %#llx)\n", who, (unsigned long long)fs,
			       (unsigned long long)gs);
		}
	}
	return fails;
}

/* The values a checker loads: its own for every `salt`. */
static void fill_expected(uint64_t *expected, uint64_t salt)
{
	uint64_t seed = 0x9E3779B97F4A7C15ULL * (salt + 1);
	for (int i = 0; i < 15 + 64; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		expected[i] = seed;
	}
	expected[79] = 0x1F80 | ((salt & 3) << 13); /* MXCSR: all masked, own rounding mode */
	expected[80] = 0x037F | ((salt & 3) << 10); /* x87: all masked, own rounding mode */
}

/* ------------------------------------------------- two dispatchers at once */
struct side {
	uint64_t (*loop)(uint64_t);
	uint64_t lo, hi;                     /* its loop's check range */
	volatile uint64_t rounds, fails, upcalls, in_loop;
	uint64_t fs_want, gs_want;
	unsigned cpu;
	volatile int done;
};
static struct side sides[2];
static uint64_t target;
static struct keel_upcall_area area2 __attribute__((aligned(4096)));
static uint8_t d2_stack[16384] __attribute__((aligned(64)));
static uint8_t d2_ustack[16384] __attribute__((aligned(64)));
static uint8_t d2_tstack[16384] __attribute__((aligned(64)));

static void on_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *interrupted)
{
	struct side *sd = &sides[a == keel_area ? 0 : 1];
	(void)ev;
	keel_take(&a->posted);
	sd->upcalls++;
	if (interrupted->rip >= sd->lo && interrupted->rip < sd->hi)
		sd->in_loop++;
}

static void check_side(unsigned k)
{
	struct side *sd = &sides[k];
	sd->cpu = keel_cpu();
	if (fsgs)
		__asm__ volatile("wrfsbase %0\n\twrgsbase %1" ::"r"(sd->fs_want), "r"(sd->gs_want));
	char who[16];
	snprintf(who, sizeof who, "dispatcher %u", k);
	uint64_t t0 = sys_time();
	while (sd->in_loop < target && sys_time() - t0 < 120ULL * 1000000000ULL) {
		sd->fails += check_round(who, sd->loop, 2000, ++sd->rounds, sd->fs_want, sd->gs_want);
		if (keel_cpu() != sd->cpu) {
			sd->fails++;
			printf("regcheck dispatcher %u: moved from cpu%u to cpu%u\n", k, sd->cpu, keel_cpu());
		}
	}
	sd->done = 1;
}

static void second(void *arg)
{
	(void)arg;
	check_side(1);
	for (;;)
		sys_event_wait(); /* until the env ends */
}

static int any_env(const struct keel_cap_info *info, uint64_t unused) { return 1; }

/* The child: post to the parent's two dispatchers in turn until it ends. */
static int poster(void)
{
	long peer = vm_find_cap(0, KEEL_CAP_ENV, any_env, 0, NULL);
	if (peer < 0)
		return 1;
	for (uint64_t n = 0; !keel_env_gone((uint32_t)peer); n++)
		sys_event_post((uint32_t)peer, (unsigned)(n & 1), 1); /* (ENOCPU until the second starts) */
	return 0;
}

static int disps(uint64_t id)
{
	fsgs = have_fsgsbase();
	regcheck_use_avx = regcheck2_use_avx = have_avx();
	fill_expected(regcheck_expected, id * 2);
	fill_expected(regcheck2_expected, id * 2 + 1);
	sides[0] = (struct side){ .loop = regcheck_loop, .lo = (uint64_t)regcheck_loop_start,
				  .hi = (uint64_t)regcheck_loop_end, .fs_want = 0x0000100000000000ULL,
				  .gs_want = 0x0000200000000000ULL };
	sides[1] = (struct side){ .loop = regcheck2_loop, .lo = (uint64_t)regcheck2_loop_start,
				  .hi = (uint64_t)regcheck2_loop_end, .fs_want = 0x0000100000001000ULL,
				  .gs_want = 0x0000200000001000ULL };
	if (keel_upcalls_init(on_event, NULL))
		return 2;
	/* Two posters: with one, the two dispatchers would take turns being
	 * off their CPUs, never both at once. */
	long child = keel_spawn("regcheck", "0 poster", 64, 64, 0), child2 = keel_spawn("regcheck", "0 poster", 64, 64, 0);
	keel_area_prepare(&area2, d2_ustack, sizeof d2_ustack, d2_tstack, sizeof d2_tstack);
	long r = -1;
	for (int tries = 0; tries < 1000 && r; tries++) /* (the first binds to the CPU it runs on) */
		r = keel_disp_start(1 - keel_cpu(), &area2, second, d2_stack, sizeof d2_stack, 0);
	if (child < 0 || child2 < 0 || r) {
		printf("regcheck: no posters or no second dispatcher (%ld, %ld, %ld)\n", child, child2, r);
		return 2;
	}
	check_side(0);
	while (!sides[1].done)
		;
	sys_cap_delete((uint32_t)child); /* the posters end */
	sys_cap_delete((uint32_t)child2);
	uint64_t fails = 0;
	for (unsigned k = 0; k < 2; k++) {
		struct side *sd = &sides[k];
		printf("regcheck dispatcher %u on cpu%u: %llu upcalls inside the check loop (%llu in all), %llu rounds "
		       "of 2000, %llu mismatches, %s%s\n",
		       k, sd->cpu, (unsigned long long)sd->in_loop, (unsigned long long)sd->upcalls,
		       (unsigned long long)sd->rounds, (unsigned long long)sd->fails, regcheck_use_avx ? "ymm" : "xmm",
		       fsgs ? " fsgsbase" : "");
		fails += sd->fails + (sd->in_loop < target);
	}
	return fails != 0;
}

int main(int argc, char **argv)
{
	target = argc > 1 ? keel_atou(argv[1]) : 5000;
	if (argc > 2 && !strcmp(argv[2], "poster"))
		return poster();
	uint64_t id = (uint64_t)sys_env_id();
	if (argc > 2 && !strcmp(argv[2], "disps"))
		return disps(id);
	int hop = argc > 2 && !strcmp(argv[2], "hop");
	uint64_t per_round = hop ? 500 : 20000; /* hopping: often */
	fill_expected(regcheck_expected, id);
	regcheck_use_avx = have_avx();

	fsgs = have_fsgsbase();
	uint64_t fs_want = 0x0000100000000000ULL + (id << 12), gs_want = 0x0000200000000000ULL + (id << 12);
	if (fsgs)
		__asm__ volatile("wrfsbase %0\n\twrgsbase %1" ::"r"(fs_want), "r"(gs_want));

	sys_debug(DEBUG_WATCH_RANGE, (long)regcheck_loop_start, (long)regcheck_loop_end);
	char who[32];
	snprintf(who, sizeof who, "env %llu", (unsigned long long)id);
	uint64_t rounds = 0, fails = 0, preempted = 0, t0 = sys_time();
	while (preempted < target) {
		fails += check_round(who, regcheck_loop, per_round, ++rounds, fs_want, gs_want);
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
