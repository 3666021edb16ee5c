/*
 * The Linux side of `./keel bench`: /init of an initramfs booted on Debian's
 * packaged kernel in the same QEMU configuration as Keel. It measures the
 * operations equivalent to Keel's the same way -- rdtsc around each, the
 * empty frame's minimum subtracted -- and prints the same BENCH lines, then
 * the kernel version and its mitigation state, and powers off.
 * Built with the build machine's gcc, -static. Never committed as a binary.
 */
#define _GNU_SOURCE
#include <dirent.h>
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
static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *op, size_t n)
{
	for (size_t i = 0; i < n; i++)
		samples[i] = samples[i] > empty_min ? samples[i] - empty_min : 0;
	qsort(samples, n, sizeof samples[0], cmp);
	printf("BENCH %s n=%zu min=%llu median=%llu p99=%llu\n", op, n, (unsigned long long)samples[0],
	       (unsigned long long)samples[n / 2], (unsigned long long)samples[n * 99 / 100]);
	fflush(stdout);
}

#define MEASURE(name, warm, n, body)                                                   \
	do {                                                                           \
		for (size_t i_ = 0; i_ < (warm) + (n); i_++) {                         \
			uint64_t t0_ = tsc();                                          \
			body;                                                          \
			uint64_t d_ = tsc() - t0_;                                     \
			if (i_ >= (warm))                                              \
				samples[i_ - (warm)] = d_;                             \
		}                                                                      \
		report(name, n);                                                       \
	} while (0)

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

static volatile int stop_yield;
static void *yielder(void *arg)
{
	(void)arg;
	while (!stop_yield)
		sched_yield();
	return NULL;
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

	MEASURE("empty_frame", warm, n, (void)0);
	qsort(samples, n, sizeof samples[0], cmp);
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
	for (size_t i = 0; i < warm + n; i++) {
		mprotect(protected_page, 4096, PROT_NONE);
		uint64_t t0 = tsc();
		*(volatile char *)protected_page = 1; /* -> SIGSEGV -> handler mprotects -> retried */
		uint64_t dt = tsc() - t0;
		if (i >= warm)
			samples[i - warm] = dt;
	}
	report("segv_mprotect_roundtrip", n);

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

	/* Two processes yielding to each other: an address-space switch each
	 * way, like Keel's env switch. The child yields until told to stop. */
	volatile int *stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t yc = fork();
	if (yc == 0) {
		while (!*stop)
			sched_yield();
		_exit(0);
	}
	MEASURE("sched_yield_2_processes", warm / 2, n / 5, sched_yield());
	*stop = 1;
	waitpid(yc, NULL, 0);

	pthread_t th;
	pthread_create(&th, NULL, yielder, NULL);
	MEASURE("sched_yield_2_threads", warm / 2, n / 5, sched_yield());
	stop_yield = 1;
	pthread_join(th, NULL);

	/* A first touch of anonymous memory: the demand-zero fault alone. */
	for (size_t i = 0; i < warm + n / 5; i++) {
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t t0 = tsc();
		*(volatile char *)p = 1;
		uint64_t dt = tsc() - t0;
		munmap(p, 4096);
		if (i >= warm)
			samples[i - warm] = dt;
	}
	report("demand_zero_fault", n / 5);

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
