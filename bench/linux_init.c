/*
 * The Linux side of `./keel bench`: /init of an initramfs booted on Debian's
 * packaged kernel in the same QEMU configuration as Keel. It measures the
 * operations equivalent to Keel's the same way -- rdtsc around each, the
 * empty frame's minimum subtracted, a sample that did not measure the
 * operation redone and counted -- and prints the same BENCH lines, then
 * the kernel version and its mitigation state, and powers off.
 * With `bench=smp` on the command line (booted with -smp 2) it measures
 * only the cross-CPU rows: munmap with a second thread of the process
 * running on CPU 1, which the unmap's TLB shootdown must reach; then futex,
 * eventfd and signal round trips between a thread on CPU 0 and one on CPU 1.
 * Last, user-level preemption (issue 23's counterpart of apps/tbench's
 * preempt rows): two user-level threads (ucontext) switched by the handler
 * of a timer_create signal per quantum of 5, 10, 50 and 100 us.
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
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
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

/*
 * Unmapping one page, on one CPU and with a shootdown to pay -- the Linux
 * side of Keel's unmap_1_page and shootdown_unmap_1_page. The page is
 * mapped (MAP_POPULATE) and touched before the timing, so its translation
 * is in this CPU's TLB; then munmap alone is timed. Besides clearing the
 * entry and flushing, munmap removes the VMA and frees the page (Keel's
 * frame stays allocated and it has no VMA). The page is asked for at one
 * address, between two PROT_NONE pages: munmap then removes one whole VMA
 * -- none to split, as when the page merged with an anonymous neighbour
 * (it did, beside the SIGSEGV row's page) -- and frees no page table.
 *
 * Whether another CPU was sent a flush is read from /proc/interrupts' TLB
 * line, CPU 1's column: Linux counts a shootdown there when a flush from
 * another CPU runs (flush_tlb_func). It is read before and after each
 * sample, outside the timing, through a kept descriptor into a static
 * buffer: the reads themselves map and free nothing of the process's.
 */
static int interrupts_fd = -1;
static char interrupts_buf[16384];

/* CPU `cpu`'s TLB shootdowns received so far, or -1 (no such CPU, no
 * /proc/interrupts). */
static long tlb_shootdowns(int cpu)
{
	if (interrupts_fd < 0)
		return -1;
	ssize_t len = pread(interrupts_fd, interrupts_buf, sizeof interrupts_buf - 1, 0);
	if (len <= 0)
		return -1;
	interrupts_buf[len] = 0;
	char *p = strstr(interrupts_buf, "TLB:");
	if (!p)
		return -1;
	p += 4;
	for (int i = 0;; i++) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			return -1; /* the line has no column for this CPU */
		if (i == cpu)
			return v;
		p = end;
	}
}

/* The shootdowns CPU 1 received in a row's kept samples. */
static long row_shootdowns;

/* One page mapped and unmapped; the munmap timed alone, or with the mmap
 * (`whole`: the same operation as mmap_munmap_1_page, untouched, where
 * the kernel puts it). Valid when CPU 1 received a shootdown during it
 * (`shootdown`), or none, and the page was where it was asked for. */
static void unmap_row(const char *name, size_t warm, size_t n, int whole, int shootdown)
{
	char *guard = NULL, *hole = NULL;
	if (!whole) {
		guard = mmap(NULL, 3 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (guard == MAP_FAILED || munmap(guard + 4096, 4096)) {
			printf("bench: %s not measured: no guard pages\n", name);
			return;
		}
		hole = guard + 4096;
	}
	row_shootdowns = 0;
	for (size_t i = 0; i < warm; i++) {
		char *p = mmap(hole, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		*(volatile char *)p = 1;
		munmap(p, 4096);
	}
	for (begin(); more(n);) {
		long before = tlb_shootdowns(1);
		uint64_t t0 = tsc();
		char *p = mmap(hole, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (!whole) {
			*(volatile char *)p = 1; /* its translation in this CPU's TLB */
			t0 = tsc();
		}
		munmap(p, 4096);
		uint64_t dt = tsc() - t0;
		long got = tlb_shootdowns(1) - before;
		size_t k = kept;
		take(dt, (shootdown ? got > 0 : got == 0) && (whole || p == hole));
		if (kept > k)
			row_shootdowns += got;
	}
	if (guard)
		munmap(guard, 3 * 4096);
	report(name);
	if (shootdown)
		printf("INFO %s cpu1_tlb_shootdowns=%ld kept=%zu\n", name, row_shootdowns, kept);
}

/* The second thread: pinned to CPU 1, asleep until told to go, then
 * writing to memory of the process without pause, so the address space is
 * live there (an idle CPU that keeps it lazily is skipped by Linux's
 * flush) and every munmap must reach it. */
static struct spinner {
	int go[2];                 /* a pipe: a byte wakes it */
	volatile uint64_t started;
	volatile uint64_t loops;
	volatile int cpu;          /* where it found itself last (sched_getcpu) */
	volatile uint64_t off_cpu; /* looks that found it on another CPU than 1 */
	volatile int stop;
} spin = { .cpu = -1 };
static char spin_mem[16 * 4096];

static void *spinner(void *arg)
{
	char c;
	(void)arg;
	memset(spin_mem, 1, sizeof spin_mem); /* faulted in before it counts */
	spin.cpu = sched_getcpu();
	spin.started = 1;
	if (read(spin.go[0], &c, 1) != 1)
		return NULL;
	while (!spin.stop) {
		for (size_t i = 0; i < sizeof spin_mem; i += 64)
			spin_mem[i]++;
		int cpu = sched_getcpu();
		spin.cpu = cpu;
		if (cpu != 1)
			spin.off_cpu++;
		spin.loops++;
	}
	return NULL;
}

static int pin_to(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

/* Up to 5 s for a count of the spinner's to reach `at_least`. */
static int spin_wait(volatile uint64_t *count, uint64_t at_least)
{
	for (int i = 0; i < 5000 && *count < at_least; i++)
		usleep(1000);
	return *count >= at_least;
}

/* `bench=smp`, on two CPUs: this thread on CPU 0, the second on CPU 1.
 * The unmap with the second thread asleep (CPU 1 idle: no shootdown),
 * then with it spinning (a shootdown each) -- the same process, the same
 * mappings around the page either way. The rows are left out, saying why,
 * if a thread is not where it should be. */
static void smp_rows(size_t warm, size_t n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	printf("INFO cpus %ld\n", cpus);
	if (cpus < 2 || pin_to(0) || sched_getcpu() != 0 || tlb_shootdowns(1) < 0) {
		printf("bench: shootdown rows not measured: %ld CPUs online, this thread on cpu%d, CPU 1's TLB "
		       "shootdowns %ld\n", cpus, sched_getcpu(), tlb_shootdowns(1));
		return;
	}
	pthread_t t;
	pthread_attr_t attr;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(1, &one);
	pthread_attr_init(&attr);
	pthread_attr_setaffinity_np(&attr, sizeof one, &one);
	if (pipe(spin.go) || pthread_create(&t, &attr, spinner, NULL)) {
		printf("bench: shootdown rows not measured: no second thread\n");
		return;
	}
	char c = 'g';
	if (!spin_wait(&spin.started, 1) || spin.cpu != 1) {
		printf("bench: shootdown rows not measured: the second thread %s (cpu%d)\n",
		       spin.started ? "started off cpu1" : "did not start", spin.cpu);
		goto stop;
	}
	usleep(10000); /* asleep in read(): CPU 1 idle */
	unmap_row("munmap_1_page_peer_asleep", warm, n, 0, 0);
	if (write(spin.go[1], &c, 1) == 1 && spin_wait(&spin.loops, 10) && spin.cpu == 1 && !spin.off_cpu &&
	    sched_getcpu() == 0) {
		unmap_row("shootdown_munmap_1_page", warm, n, 0, 1);
		unmap_row("shootdown_mmap_munmap_1_page", warm, n, 1, 1);
	} else {
		printf("bench: shootdown rows not measured: the second thread runs on cpu%d (%llu looks off cpu1, %llu "
		       "loops), this one on cpu%d\n", spin.cpu, (unsigned long long)spin.off_cpu,
		       (unsigned long long)spin.loops, sched_getcpu());
	}
stop:
	spin.stop = 1;
	if (write(spin.go[1], &c, 1) == 1) /* (if it never woke) */
		pthread_join(t, NULL);
	printf("INFO spinner cpu=%d loops=%llu off_cpu1=%llu\n", spin.cpu, (unsigned long long)spin.loops,
	       (unsigned long long)spin.off_cpu);
}

/*
 * Cross-CPU round trips: thread A (this one, pinned to CPU 0) wakes thread
 * B (pinned to CPU 1), B wakes A back -- the Linux side of Keel's
 * cross-CPU event round trip (a dispatcher on CPU 0 posts to one on CPU 1,
 * which posts back). A times each round trip; a sample counts only if B's
 * count of its answers moved by exactly one (B ran once, in between) and A
 * blocked waiting for it (its voluntary context switches, from
 * getrusage(RUSAGE_THREAD) outside the timing, moved): B's answer then woke
 * a sleeping thread, not one that found it already there.
 *
 *   futex    each waits with FUTEX_WAIT_PRIVATE on its own word until the
 *            other sets it and FUTEX_WAKE_PRIVATEs it
 *   eventfd  two blocking eventfds: A writes B's and reads its own, B the
 *            other way round
 *   signal   A sends SIGUSR2 to B (pthread_kill: tgkill), whose handler
 *            sends SIGUSR1 back to A (tgkill); each waits in sigsuspend,
 *            its signal blocked outside it, so each side's signal runs a
 *            handler (a signal frame and sigreturn), like an upcall
 *
 * Whether B went to sleep between two round trips depends on timing: it may
 * find its next wake pending. So the voluntary context switches of both
 * threads over the timed loop are reported (INFO), each a time its thread
 * blocked.
 * Placement is checked with sched_getcpu() by each thread before the
 * warm-up and after the timed loop: if A was not on CPU 0 or B not on
 * CPU 1 the row is left out, saying why.
 */
static struct xcpu {
	volatile uint64_t turns; /* B's answers */
	volatile int stop;
	volatile int started;
	volatile int b_cpu_start, b_cpu_end;
	volatile pid_t a_tid, b_tid;
	int a_word, b_word;       /* futex: set by the other side, then woken */
	int efd_a, efd_b;         /* eventfd: A reads efd_a, B reads efd_b */
	volatile uint64_t a_seen; /* signal: SIGUSR1 handlers run on A */
} xc;

static long futex(int *word, int op, int val)
{
	return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

static void futex_post(int *word)
{
	__atomic_store_n(word, 1, __ATOMIC_SEQ_CST);
	futex(word, FUTEX_WAKE_PRIVATE, 1);
}

static void futex_take(int *word)
{
	while (!__atomic_load_n(word, __ATOMIC_SEQ_CST))
		futex(word, FUTEX_WAIT_PRIVATE, 0);
	__atomic_store_n(word, 0, __ATOMIC_SEQ_CST);
}

static void futex_roundtrip(void)
{
	futex_post(&xc.b_word);
	futex_take(&xc.a_word);
}

static void futex_peer(void)
{
	for (;;) {
		futex_take(&xc.b_word);
		if (xc.stop)
			return;
		xc.turns++;
		futex_post(&xc.a_word);
	}
}

static void futex_stop(void) { futex_post(&xc.b_word); }

static const uint64_t efd_one = 1;

static void eventfd_roundtrip(void)
{
	uint64_t v;
	if (write(xc.efd_b, &efd_one, 8) != 8 || read(xc.efd_a, &v, 8) != 8)
		xc.stop = 1; /* (never: B's count then stays and the sample is redone) */
}

static void eventfd_peer(void)
{
	uint64_t v;
	while (read(xc.efd_b, &v, 8) == 8 && !xc.stop) {
		xc.turns++;
		if (write(xc.efd_a, &efd_one, 8) != 8)
			return;
	}
}

static void eventfd_stop(void)
{
	if (write(xc.efd_b, &efd_one, 8) != 8)
		printf("bench: eventfd: cannot wake the second thread to stop it\n");
}

static sigset_t xcpu_mask; /* the threads' mask outside sigsuspend: both signals blocked */

static void on_xcpu_a(int s) { (void)s; xc.a_seen++; }

static void on_xcpu_b(int s)
{
	(void)s;
	if (xc.stop)
		return;
	xc.turns++;
	syscall(SYS_tgkill, getpid(), xc.a_tid, SIGUSR1);
}

static void signal_roundtrip_xcpu(void)
{
	sigset_t wait = xcpu_mask;
	uint64_t seen = xc.a_seen;
	sigdelset(&wait, SIGUSR1);
	syscall(SYS_tgkill, getpid(), xc.b_tid, SIGUSR2);
	while (xc.a_seen == seen)
		sigsuspend(&wait);
}

static void signal_peer(void)
{
	sigset_t wait = xcpu_mask;
	sigdelset(&wait, SIGUSR2);
	while (!xc.stop)
		sigsuspend(&wait);
}

static void signal_stop(void) { syscall(SYS_tgkill, getpid(), xc.b_tid, SIGUSR2); }

static void (*xcpu_peer_loop)(void);

static void *xcpu_peer(void *arg)
{
	(void)arg;
	xc.b_tid = syscall(SYS_gettid);
	xc.b_cpu_start = sched_getcpu();
	__atomic_store_n(&xc.started, 1, __ATOMIC_SEQ_CST);
	xcpu_peer_loop();
	xc.b_cpu_end = sched_getcpu();
	return NULL;
}

/* A thread's voluntary context switches so far (the times it blocked), from
 * /proc: -1 if unreadable. */
static long voluntary_switches(pid_t tid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	char *p = strstr(buf, "\nvoluntary_ctxt_switches:");
	return p ? strtol(p + strlen("\nvoluntary_ctxt_switches:"), NULL, 10) : -1;
}

static void xcpu_row(const char *name, void (*peer)(void), void (*roundtrip)(void), void (*stop)(void), size_t warm,
		     size_t n)
{
	pthread_t t;
	pthread_attr_t attr;
	cpu_set_t one;
	memset(&xc, 0, sizeof xc);
	xc.efd_a = xc.efd_b = -1;
	xc.b_cpu_start = xc.b_cpu_end = -1;
	xc.a_tid = syscall(SYS_gettid);
	if (peer == eventfd_peer && ((xc.efd_a = eventfd(0, 0)) < 0 || (xc.efd_b = eventfd(0, 0)) < 0)) {
		printf("bench: %s not measured: no eventfd (%s)\n", name, strerror(errno));
		goto close;
	}
	xcpu_peer_loop = peer;
	CPU_ZERO(&one);
	CPU_SET(1, &one);
	pthread_attr_init(&attr);
	pthread_attr_setaffinity_np(&attr, sizeof one, &one);
	if (pthread_create(&t, &attr, xcpu_peer, NULL)) {
		printf("bench: %s not measured: no second thread\n", name);
		goto close;
	}
	for (int i = 0; i < 5000 && !__atomic_load_n(&xc.started, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	int a_cpu_start = sched_getcpu(), a_cpu_end = -1;
	long a_sw = -1, b_sw = -1;
	if (!xc.started)
		goto stop;
	for (size_t i = 0; i < warm; i++)
		roundtrip();
	usleep(1000); /* B asleep again after its last answer: its count taken whole */
	a_sw = voluntary_switches(xc.a_tid);
	b_sw = voluntary_switches(xc.b_tid);
	for (begin(); more(n);) {
		struct rusage r0, r1;
		uint64_t c = xc.turns;
		getrusage(RUSAGE_THREAD, &r0);
		uint64_t t0 = tsc();
		roundtrip();
		uint64_t dt = tsc() - t0;
		getrusage(RUSAGE_THREAD, &r1);
		take(dt, xc.turns == c + 1 && r1.ru_nvcsw > r0.ru_nvcsw);
	}
	a_cpu_end = sched_getcpu();
	usleep(1000);
	a_sw = voluntary_switches(xc.a_tid) - a_sw;
	b_sw = voluntary_switches(xc.b_tid) - b_sw;
stop:
	xc.stop = 1;
	stop();
	pthread_join(t, NULL);
	if (!xc.started || a_cpu_start != 0 || a_cpu_end != 0 || xc.b_cpu_start != 1 || xc.b_cpu_end != 1) {
		printf("bench: %s not measured: the timing thread was on cpu%d then cpu%d (wanted 0), the second "
		       "thread on cpu%d then cpu%d (wanted 1)%s\n", name, a_cpu_start, a_cpu_end, xc.b_cpu_start,
		       xc.b_cpu_end, xc.started ? "" : "; the second thread did not start");
		goto close;
	}
	report(name);
	printf("INFO %s a_cpu=%d,%d b_cpu=%d,%d round_trips=%zu a_blocked=%ld b_blocked=%ld\n", name, a_cpu_start,
	       a_cpu_end, xc.b_cpu_start, xc.b_cpu_end, kept + redone, a_sw, b_sw);
close:
	if (xc.efd_a >= 0)
		close(xc.efd_a);
	if (xc.efd_b >= 0)
		close(xc.efd_b);
}

/* The three rows, this thread pinned to CPU 0 (as smp_rows leaves it). */
static void xcpu_rows(size_t warm, size_t n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 2 || pin_to(0) || sched_getcpu() != 0) {
		printf("bench: cross-CPU round trips not measured: %ld CPUs online, this thread on cpu%d\n", cpus,
		       sched_getcpu());
		return;
	}
	xcpu_row("xcpu_futex_pingpong", futex_peer, futex_roundtrip, futex_stop, warm, n);
	xcpu_row("xcpu_eventfd_pingpong", eventfd_peer, eventfd_roundtrip, eventfd_stop, warm, n);

	struct sigaction sa = { 0 };
	sigemptyset(&xcpu_mask);
	sigaddset(&xcpu_mask, SIGUSR1);
	sigaddset(&xcpu_mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &xcpu_mask, NULL); /* B inherits it */
	sa.sa_handler = on_xcpu_a;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_xcpu_b;
	sigaction(SIGUSR2, &sa, NULL);
	xcpu_row("xcpu_signal_roundtrip", signal_peer, signal_roundtrip_xcpu, signal_stop, warm, n);
	sigprocmask(SIG_UNBLOCK, &xcpu_mask, NULL);
}

/* ------------------------------------------------ user-level preemption */
/* As apps/tbench's preempt rows: two CPU-bound user-level threads (ucontext),
 * each turn ended by a POSIX timer's signal (SIGALRM, timer_create, one per
 * quantum). The handler only marks the turn over; the thread switches at
 * its next unit of work (swapcontext: the glibc way, two rt_sigprocmask
 * calls a switch) -- switching inside the handler races the signal against
 * setcontext's own mask change. Samples of the ticks lost per preemption
 * over windows of 100 quanta, measured against the cost of a unit of work
 * alone; the timer's overruns (si_overrun: expirations that came while a
 * signal was still pending) counted apart. */
#define PRE_UNIT 100 /* loop iterations of work in a unit */
#define PRE_WINDOWS_MAX 64
static ucontext_t pre_main, pre_ult[2];
static char pre_stacks[2][65536] __attribute__((aligned(16)));
static volatile uint64_t pre_units[2], pre_switches, pre_overruns, pre_signals;
static volatile int pre_cur, pre_calibrating, pre_pending, pre_over;
static uint64_t pre_window, pre_unit_x1000, pre_lost[PRE_WINDOWS_MAX], pre_share[PRE_WINDOWS_MAX];
static uint64_t pre_start_tsc, pre_u0, pre_p0;
static size_t pre_windows, pre_done, pre_redone;

static void on_pre(int s, siginfo_t *si, void *uc)
{
	(void)s, (void)uc;
	pre_overruns += (uint64_t)si->si_overrun;
	pre_signals++;
	pre_pending = 1;
}

/* A window that has run its length is closed: its loss recorded. */
static void pre_close(uint64_t now)
{
	uint64_t u = pre_units[0] + pre_units[1], p = pre_switches, len = now - pre_start_tsc;
	if (pre_calibrating) {
		pre_unit_x1000 = len * 1000 / (u - pre_u0);
		pre_over = 1;
		return;
	}
	uint64_t work = (u - pre_u0) * pre_unit_x1000 / 1000;
	if (p > pre_p0 && len > work) {
		pre_lost[pre_done] = (len - work) / (p - pre_p0);
		pre_share[pre_done] = (len - work) * 1000 / len;
		pre_done++;
	} else {
		pre_redone++; /* (it measured nothing: wall mode's noise can do that) */
	}
	if (pre_done == pre_windows || pre_redone >= pre_windows)
		pre_over = 1;
	pre_start_tsc = now, pre_u0 = u, pre_p0 = p;
}

/* Both threads run the same instructions per unit (see apps/tbench). */
static void pre_spin(void)
{
	while (!pre_over) {
		for (int i = 0; i < PRE_UNIT; i++)
			__asm__ volatile("");
		pre_units[pre_cur]++;
		uint64_t now = tsc();
		if (now - pre_start_tsc >= pre_window)
			pre_close(now);
		if (pre_pending) {
			pre_pending = 0;
			pre_switches++;
			int from = pre_cur;
			pre_cur ^= 1;
			swapcontext(&pre_ult[from], &pre_ult[pre_cur]);
		}
	}
	setcontext(&pre_main);
}

static void pre_start(int me)
{
	getcontext(&pre_ult[me]);
	pre_ult[me].uc_stack.ss_sp = pre_stacks[me];
	pre_ult[me].uc_stack.ss_size = sizeof pre_stacks[me];
	pre_ult[me].uc_link = &pre_main;
	sigdelset(&pre_ult[me].uc_sigmask, SIGALRM); /* (main keeps it blocked: only the threads take it) */
	makecontext(&pre_ult[me], pre_spin, 0);
}

static void preempt_rows(int quick)
{
	static const long quanta_us[] = { 5, 10, 50, 100 };
	pre_windows = quick ? 10 : 40;
	struct sigaction sa = { 0 };
	sa.sa_sigaction = on_pre;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGALRM, &sa, NULL);
	struct sigevent sev = { 0 };
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGALRM;
	timer_t timer;
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer)) {
		printf("bench: preempt rows not measured: timer_create: %s\n", strerror(errno));
		return;
	}
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, NULL);
	/* A unit alone, no timer: 4 ms of them. */
	pre_calibrating = 1;
	pre_window = 4000000;
	pre_over = 0;
	pre_start(0);
	pre_start_tsc = tsc(), pre_u0 = pre_units[0] + pre_units[1], pre_p0 = pre_switches;
	swapcontext(&pre_main, &pre_ult[0]);
	pre_calibrating = 0;
	printf("INFO preempt_unit_ticks_linux %llu.%03llu (%d loop iterations, a count and a clock read)\n",
	       (unsigned long long)(pre_unit_x1000 / 1000), (unsigned long long)(pre_unit_x1000 % 1000), PRE_UNIT);
	for (size_t q = 0; q < sizeof quanta_us / sizeof quanta_us[0]; q++) {
		pre_window = 100 * (uint64_t)quanta_us[q] * 1000;
		pre_done = pre_redone = 0;
		pre_switches = pre_overruns = pre_signals = 0;
		pre_pending = 0;
		pre_cur = 0;
		pre_over = 0;
		pre_start(0);
		pre_start(1);
		pre_start_tsc = tsc(), pre_u0 = pre_units[0] + pre_units[1], pre_p0 = 0;
		struct itimerspec its = { .it_interval = { 0, quanta_us[q] * 1000 }, .it_value = { 0, quanta_us[q] * 1000 } };
		timer_settime(timer, 0, &its, NULL);
		swapcontext(&pre_main, &pre_ult[0]);
		struct itimerspec off = { 0 };
		timer_settime(timer, 0, &off, NULL);
		struct timespec zero = { 0 };
		while (sigtimedwait(&alrm, NULL, &zero) > 0) /* (one left pending: not into the next row) */
			;
		char op[48];
		snprintf(op, sizeof op, "sigalrm_preempt_%ldus", quanta_us[q]);
		kept = pre_done;
		redone = pre_redone;
		memcpy(samples, pre_lost, kept * sizeof pre_lost[0]);
		report(op);
		qsort(pre_share, pre_done, sizeof pre_share[0], cmp);
		printf("INFO %s_lost_permille %llu\n", op, (unsigned long long)(pre_done ? pre_share[pre_done / 2] : 0));
		printf("INFO %s_overruns %llu of %llu signals\n", op, (unsigned long long)pre_overruns,
		       (unsigned long long)pre_signals);
		fflush(stdout);
	}
	timer_delete(timer);
}

static int cmdline_has(const char *cmdline, const char *word)
{
	size_t len = strlen(word);
	for (const char *p = strstr(cmdline, word); p; p = strstr(p + 1, word))
		if ((p == cmdline || p[-1] == ' ') && (!p[len] || p[len] == ' ' || p[len] == '\n'))
			return 1;
	return 0;
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
	size_t n = cmdline_has(cmdline, "bench=quick") ? 1000 : 10000, warm = n / 10;
	interrupts_fd = open("/proc/interrupts", O_RDONLY);

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

	if (cmdline_has(cmdline, "bench=smp")) {
		smp_rows(warm, n / 5);
		xcpu_rows(warm, n / 5);
		goto done;
	}

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
	unmap_row("munmap_1_page", warm, n / 5, 0, 0);
	preempt_rows(cmdline_has(cmdline, "bench=quick"));
done:
	printf("BENCH done\n");
	fflush(stdout);
	reboot(RB_POWER_OFF);
	return 0;
}
