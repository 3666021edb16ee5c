/*
 * The Linux side of `./keel bench`: /init of an initramfs booted on Debian's
 * packaged kernel in the same QEMU configuration as Keel. It measures the
 * operations equivalent to Keel's the same way -- rdtsc around each, the
 * empty frame's minimum subtracted, a sample that did not measure the
 * operation redone and counted -- and prints the same BENCH lines, then
 * the kernel version and its mitigation state, and powers off.
 * Built with the build machine's gcc, -static. Never committed as a binary.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static inline uint64_t tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

#define MAXN 20000
static uint64_t samples[MAXN], empty_min;
static size_t kept, redone;
static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Samples are taken as in apps/bench: a sample is kept less the empty
 * frame's minimum, or redone and counted when it did not measure the
 * operation (`valid` false) or is below the empty frame, which every sample
 * contains (a measurement error, never a 0). At most n are redone. */
static void begin(void) { kept = redone = 0; }
static int more(size_t n) { return kept < n && redone < n; }
static void take(uint64_t d, int valid)
{
	if (valid && d >= empty_min)
		samples[kept++] = d - empty_min;
	else
		redone++;
}

static void report(const char *op)
{
	if (!kept) {
		printf("bench: %s not measured: every sample redone (%zu)\n", op, redone);
		return;
	}
	qsort(samples, kept, sizeof samples[0], cmp);
	printf("BENCH %s n=%zu min=%llu median=%llu p99=%llu redone=%zu\n", op, kept, (unsigned long long)samples[0],
	       (unsigned long long)samples[kept / 2], (unsigned long long)samples[kept * 99 / 100], redone);
	fflush(stdout);
}

/* `body` timed, warm times discarded, then until n samples are kept; a
 * sample counts only if `valid` holds after it. */
#define MEASURE_IF(name, warm, n, body, valid)                                         \
	do {                                                                           \
		for (size_t i_ = 0; i_ < (warm); i_++) {                               \
			body;                                                          \
		}                                                                      \
		for (begin(); more(n);) {                                              \
			uint64_t t0_ = tsc();                                          \
			body;                                                          \
			uint64_t d_ = tsc() - t0_;                                     \
			take(d_, valid);                                               \
		}                                                                      \
		report(name);                                                          \
	} while (0)
#define MEASURE(name, warm, n, body) MEASURE_IF(name, warm, n, body, 1)

static volatile int sig_seen;
static void on_usr1(int s) { (void)s; sig_seen++; }

static char *protected_page;
static void on_segv(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)si;
	(void)uc;
	mprotect(protected_page, 4096, PROT_READ | PROT_WRITE);
}

/*
 * sched_yield round trips that really switch. Under CFS a yield often
 * returns to the caller without running the peer (it was 891 instructions
 * here, under three getpids), so both sides run SCHED_FIFO at one priority
 * on CPU 0, where a yield always hands the CPU to a runnable peer; and a
 * round trip counts only if the peer's count of its turns (in shared
 * memory for a process) moved by exactly one -- it ran once, in between.
 */
struct yield_peer {
	volatile uint64_t turns;
	volatile int stop;
};

static void yield_peer_loop(struct yield_peer *p)
{
	while (!p->stop) {
		p->turns++;
		sched_yield();
	}
}

static void *yield_peer_thread(void *arg)
{
	yield_peer_loop(arg);
	return NULL;
}

/* SCHED_FIFO on CPU 0 for the caller (and what it forks or creates next),
 * or back to SCHED_OTHER: 0, or -1 if refused. */
static int yield_sched(int fifo)
{
	cpu_set_t cpu0;
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	struct sched_param sp = { .sched_priority = fifo ? 1 : 0 };
	if (sched_setaffinity(0, sizeof cpu0, &cpu0) || sched_setscheduler(0, fifo ? SCHED_FIFO : SCHED_OTHER, &sp)) {
		printf("bench: sched_yield rows: cannot %s: %s\n", fifo ? "run SCHED_FIFO on CPU 0" : "leave SCHED_FIFO",
		       strerror(errno));
		return -1;
	}
	return 0;
}

static void yield_rows(size_t warm, size_t n)
{
	struct yield_peer *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	static struct yield_peer th;
	uint64_t c;
	if (sh == MAP_FAILED)
		return;
	int fifo = yield_sched(1) == 0; /* else CFS: the turn count alone keeps the rows honest */

	/* Two processes: an address-space switch each way, like Keel's env switch. */
	pid_t child = fork();
	if (child == 0) {
		yield_peer_loop(sh);
		_exit(0);
	}
	MEASURE_IF("sched_yield_2_processes", warm, n, (c = sh->turns, sched_yield()), sh->turns == c + 1);
	sh->stop = 1;
	waitpid(child, NULL, 0);

	pthread_t t;
	pthread_create(&t, NULL, yield_peer_thread, &th); /* inherits SCHED_FIFO and CPU 0 */
	MEASURE_IF("sched_yield_2_threads", warm, n, (c = th.turns, sched_yield()), th.turns == c + 1);
	th.stop = 1;
	pthread_join(t, NULL);
	if (fifo)
		yield_sched(0);
	munmap(sh, 4096);
}

static void print_file(const char *label, const char *path)
{
	char buf[512];
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(buf, sizeof buf, f)) {
		buf[strcspn(buf, "\n")] = 0;
		printf("INFO %s %s\n", label, buf);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	char cmdline[512] = "";
	FILE *cf = fopen("/proc/cmdline", "r");
	if (cf) {
		if (!fgets(cmdline, sizeof cmdline, cf))
			cmdline[0] = 0;
		fclose(cf);
	}
	size_t n = strstr(cmdline, "bench=quick") ? 1000 : 10000, warm = n / 10;

	print_file("version", "/proc/version");
	DIR *d = opendir("/sys/devices/system/cpu/vulnerabilities");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[300];
		snprintf(path, sizeof path, "/sys/devices/system/cpu/vulnerabilities/%s", de->d_name);
		char label[300];
		snprintf(label, sizeof label, "vulnerability.%s", de->d_name);
		print_file(label, path);
	}
	if (d)
		closedir(d);

	MEASURE("empty_frame", warm, n, (void)0); /* nothing subtracted yet: empty_min is 0 */
	empty_min = samples[0];

	MEASURE("getpid", warm, n, syscall(SYS_getpid));

	struct sigaction sa = { 0 };
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	pid_t me = getpid();
	MEASURE("signal_roundtrip", warm, n, syscall(SYS_kill, me, SIGUSR1));

	protected_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	struct sigaction sv = { 0 };
	sv.sa_sigaction = on_segv;
	sv.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sv, NULL);
	for (size_t i = 0; i < warm; i++) {
		mprotect(protected_page, 4096, PROT_NONE);
		*(volatile char *)protected_page = 1;
	}
	for (begin(); more(n);) {
		mprotect(protected_page, 4096, PROT_NONE);
		uint64_t t0 = tsc();
		*(volatile char *)protected_page = 1; /* -> SIGSEGV -> handler mprotects -> retried */
		take(tsc() - t0, 1);
	}
	report("segv_mprotect_roundtrip");

	int p2c[2], c2p[2];
	if (pipe(p2c) == 0 && pipe(c2p) == 0) {
		pid_t child = fork();
		if (child == 0) {
			char c;
			while (read(p2c[0], &c, 1) == 1 && c != 'q')
				if (write(c2p[1], &c, 1) != 1)
					break;
			_exit(0);
		}
		char c = 'x';
		MEASURE("pipe_pingpong_2_processes", warm, n / 2,
			{
				if (write(p2c[1], &c, 1) != 1 || read(c2p[0], &c, 1) != 1)
					break;
			});
		c = 'q';
		if (write(p2c[1], &c, 1) == 1)
			waitpid(child, NULL, 0);
	}

	yield_rows(warm / 2, n / 5);

	/* A first touch of anonymous memory: the demand-zero fault alone. */
	for (size_t i = 0; i < warm; i++) {
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		*(volatile char *)p = 1;
		munmap(p, 4096);
	}
	for (begin(); more(n / 5);) {
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t t0 = tsc();
		*(volatile char *)p = 1;
		uint64_t dt = tsc() - t0;
		munmap(p, 4096);
		take(dt, 1);
	}
	report("demand_zero_fault");

	MEASURE("mmap_munmap_1_page", warm, n / 5,
		{
			void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
			munmap(p, 4096);
		});
	MEASURE("mmap_munmap_512_pages", warm / 10, n / 50,
		{
			void *p = mmap(NULL, 512 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
				       0);
			munmap(p, 512 * 4096);
		});
	printf("BENCH done\n");
	fflush(stdout);
	reboot(RB_POWER_OFF);
	return 0;
}
