/*
 * DF=1 and AC=1 set in Ring 3 across a syscall, a software interrupt and a
 * timer preemption: the kernel's string copy still runs forwards, SMAP still
 * protects Ring 3 memory from the kernel, and the flags come back as set.
 */
#include "keel.h"

#define DF 0x400ULL
#define AC 0x40000ULL

uint64_t df_ac_loop(uint64_t n);
extern char df_ac_loop_start[], df_ac_loop_end[];

/* One SYS_DEBUG call made with DF and AC set, by `syscall` or `int $0x80`;
 * returns the result and the RFLAGS seen right after. */
static long call_with_df_ac(int use_int, long op, long a, long b, uint64_t *flags_after)
{
	long r;
	uint64_t fl;
	if (use_int)
		__asm__ volatile("pushfq; orq $0x40400, (%%rsp); popfq\n\t"
				 "int $0x80\n\t"
				 "pushfq; popq %[fl]\n\t"
				 "cld; pushfq; andq $~0x40000, (%%rsp); popfq"
				 : "=a"(r), [fl] "=&r"(fl)
				 : "a"(SYS_DEBUG), "D"(op), "S"(a), "d"(b)
				 : "memory", "cc");
	else
		__asm__ volatile("pushfq; orq $0x40400, (%%rsp); popfq\n\t"
				 "syscall\n\t"
				 "pushfq; popq %[fl]\n\t"
				 "cld; pushfq; andq $~0x40000, (%%rsp); popfq"
				 : "=a"(r), [fl] "=&r"(fl)
				 : "a"(SYS_DEBUG), "D"(op), "S"(a), "d"(b)
				 : "rcx", "r11", "memory", "cc");
	*flags_after = fl;
	return r;
}

static int check_path(int use_int)
{
	const char *path = use_int ? "int $0x80" : "syscall";
	int bad = 0;
	uint64_t fl;
	static uint8_t buf[200];
	memset(buf, 0xEE, sizeof buf);
	long r = call_with_df_ac(use_int, DEBUG_KERNEL_COPY, (long)buf, sizeof buf, &fl);
	int forwards = r == 0;
	for (unsigned i = 0; i < sizeof buf; i++)
		forwards &= buf[i] == (uint8_t)i;
	printf("flags: %s with DF=1 AC=1: kernel copy %s; DF %s, AC %s after\n", path,
	       forwards ? "ran forwards" : "WRONG", fl & DF ? "kept" : "LOST", fl & AC ? "kept" : "LOST");
	bad += !forwards || !(fl & DF) || !(fl & AC);

	static volatile uint8_t probe = 0x5A;
	r = call_with_df_ac(use_int, DEBUG_SMAP_PROBE, (long)&probe, 0, &fl);
	if (r == -ENOSYS) {
		printf("flags: %s: no SMAP on this CPU, probe skipped\n", path);
	} else {
		printf("flags: %s with AC=1: kernel read of user memory without STAC -> %ld (%s)\n", path, r,
		       r == -EFAULT ? "SMAP still applies" : "SMAP BYPASSED");
		bad += r != -EFAULT;
	}
	return bad;
}

int main(int argc, char **argv)
{
	int bad = check_path(0) + check_path(1);

	/* Preemption: spin with DF and AC set until the kernel has preempted
	 * the loop a few times (another env must be running). */
	sys_debug(DEBUG_WATCH_RANGE, (long)df_ac_loop_start, (long)df_ac_loop_end);
	uint64_t lost = 0, t0 = sys_time();
	long preempted = 0;
	while (preempted < 20 && sys_time() - t0 < 60ULL * 1000000000ULL) {
		lost += df_ac_loop(200000);
		preempted = sys_debug(DEBUG_PREEMPTIONS, 0, 0);
	}
	printf("flags: %ld preemptions inside the DF=1 AC=1 loop, flags lost %llu times\n", preempted,
	       (unsigned long long)lost);
	bad += lost != 0 || preempted < 20;
	printf("flags: %s\n", bad ? "FAILED" : "all flags kept");
	return bad;
}
