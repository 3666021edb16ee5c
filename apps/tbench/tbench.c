/*
 * tbench: the thread library's microbenchmarks on two CPUs (bench/run.py,
 * keel-smp rows; docs/benchmarks.md), printed as apps/bench prints its own:
 *   BENCH <op> n=<samples> min=<> median=<> p99=<> redone=0
 * in TSC ticks (under -icount, guest instructions of both CPUs: a CPU that
 * waits halts, and QEMU hands the turn to the other at once).
 *
 *   libos_yield_roundtrip         two threads on one CPU yield to each other:
 *                                 a round trip is two Ring 3 thread switches
 *   thread_wake_xcpu_roundtrip    a thread on cpu0 posts a semaphore a thread
 *                                 on cpu1 waits on, and waits on one that
 *                                 thread posts back; both CPUs idle in the
 *                                 kernel while they wait (Linux: a futex
 *                                 ping-pong between CPUs)
 *   thread_migration_roundtrip    a thread moves to cpu1 and back: each move a
 *                                 yield whose thread the policy queues on the
 *                                 other CPU, which is kicked out of its wait
 *
 * The threads are placed by `pin`, a policy of a dozen lines written here:
 * per-CPU FIFOs, and select_cpu sending each thread to its home (pol[0]).
 *
 *   tbench[:quick]
 *
 * tbench:preempt[:quick] (one CPU is enough): what preemption costs at
 * quanta of 5, 10, 50 and 100 us -- two CPU-bound threads under `pin` with
 * that quantum, each turn ended by the env's timer upcall and a thread
 * switch (issue 23's benchmark; Linux's counterpart in bench/linux_init.c):
 *   BENCH preempt_<Q>us n= min= median= p99= redone=
 * samples of instructions (TSC ticks) lost per preemption over a window of
 * 100 quanta: the window's length less the work done in it, at the cost a
 * unit of work takes without preemption (measured first, alone), over the
 * preemptions in it; and INFO preempt_<Q>us_lost_permille, the median share
 * of the CPU lost.
 */
#include "keel.h"
#include "sched.h"
#include "lib/errname.h"

#define CPUS_MAX 64
static struct thread_queue pinq[CPUS_MAX];

static void pin_init(void)
{
	for (unsigned i = 0; i < CPUS_MAX; i++)
		pinq[i] = (struct thread_queue){0};
}
static unsigned pin_select(struct thread *t, enum sched_why why) { return (unsigned)t->pol[0] % sched_ncpus(); }
static void pin_ready(struct thread *t, enum sched_why why) { tq_push(&pinq[t->cpu], t); }
static struct thread *pin_pick(void) { return tq_pop(&pinq[sched_cpu()]); }

static const struct sched_policy sched_pin = {
	.name = "pin",
	.init = pin_init,
	.ready = pin_ready,
	.pick = pin_pick,
	.select_cpu = pin_select,
};

/* ------------------------------------------------------------ measuring */
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

#define SAMPLES_MAX 10000
static uint64_t samples[SAMPLES_MAX];
static size_t nsamples, warmup;

static size_t nredone; /* samples that measured nothing, thrown away */

static void report(const char *op)
{
	keel_sort_u64(samples, nsamples);
	printf("BENCH %s n=%zu min=%llu median=%llu p99=%llu redone=%zu\n", op, nsamples,
	       (unsigned long long)samples[0], (unsigned long long)samples[nsamples / 2],
	       (unsigned long long)samples[nsamples * 99 / 100], nredone);
}

/* Runs on the home CPU given. */
static void go_home(uint64_t cpu)
{
	thread_self()->pol[0] = cpu;
	thread_yield(); /* queued there (select_cpu): that CPU runs it next */
}

static struct thread *spawn_on(unsigned cpu, void *(*fn)(void *), void *arg)
{
	struct thread *t = thread_create("bench", fn, arg);
	if (!t) {
		printf("tbench: thread_create: %s\n", errname(thread_errno()));
		sys_exit(1);
	}
	return t; /* it moves to its home first thing */
}

/* ----------------------------------------------------- yield on one CPU */
static volatile int yield_stop;

static void *yielder(void *arg)
{
	go_home(0);
	while (!yield_stop)
		thread_yield();
	return NULL;
}

static void *yield_timer(void *arg)
{
	go_home(0);
	for (size_t i = 0; i < warmup + nsamples; i++) {
		uint64_t t0 = rdtsc();
		thread_yield();
		uint64_t t1 = rdtsc();
		if (i >= warmup)
			samples[i - warmup] = t1 - t0;
	}
	yield_stop = 1;
	return NULL;
}

/* ------------------------------------------------- wake-up across CPUs */
static struct sem ping = SEM_INIT(0), pong = SEM_INIT(0);
static size_t wake_rounds;

static void *ponger(void *arg)
{
	go_home(1);
	for (size_t i = 0; i < wake_rounds; i++) {
		sem_wait(&ping);
		sem_post(&pong);
	}
	return NULL;
}

static void *pinger(void *arg)
{
	go_home(0);
	for (size_t i = 0; i < wake_rounds; i++) {
		uint64_t t0 = rdtsc();
		sem_post(&ping);
		sem_wait(&pong);
		uint64_t t1 = rdtsc();
		if (i >= warmup)
			samples[i - warmup] = t1 - t0;
	}
	return NULL;
}

/* ------------------------------------------------------------ migration */
static void *mover(void *arg)
{
	go_home(0);
	for (size_t i = 0; i < warmup + nsamples; i++) {
		uint64_t t0 = rdtsc();
		go_home(1);
		go_home(0);
		uint64_t t1 = rdtsc();
		if (i >= warmup)
			samples[i - warmup] = t1 - t0;
	}
	return NULL;
}

static void run(const char *op, void *(*a)(void *), void *(*b)(void *))
{
	struct thread *ta = spawn_on(0, a, NULL), *tb = b ? spawn_on(1, b, NULL) : NULL;
	thread_join(ta, NULL);
	if (tb)
		thread_join(tb, NULL);
	report(op);
}

/* --------------------------------------------------- preemption's cost */
#define UNIT 200 /* instructions of work in a unit: well below the smallest quantum */
#define WINDOWS_MAX 64

static struct sched_policy pin_q;     /* sched_pin with a quantum */
static volatile uint64_t units[2];    /* work done by each spinner */
static volatile int spin_stop;
static struct thread *spinners[2];
static uint64_t lost[WINDOWS_MAX], share[WINDOWS_MAX];
static size_t windows, windows_done, windows_redone;
static uint64_t window_len, unit_cost_x1000; /* ticks a unit of work costs, x1000 */

static uint64_t preemptions(void)
{
	return (spinners[0] ? spinners[0]->preemptions : 0) + (spinners[1] ? spinners[1]->preemptions : 0);
}

/* Both spinners run the same instructions per unit, clock read and window
 * test included (under -icount the figures rest on a unit costing exactly
 * what it cost alone: one instruction more a unit in one of them would move
 * the 100 us row by a quarter); spinner 0 keeps the windows: past a window's end it
 * records what the window lost. Calibrating (alone, no quantum), it records
 * what a unit costs instead. */
static int calibrating;

static void *spin(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	go_home(0);
	uint64_t start = rdtsc(), u0 = units[0] + units[1], p0 = preemptions();
	while (!spin_stop) {
		thread_burn(UNIT);
		units[me]++;
		uint64_t now = rdtsc();
		if (now - start < window_len)
			continue; /* (the common path: the same instructions in both) */
		if (me) {
			start = now; /* (once a window) */
			continue;
		}
		uint64_t u = units[0] + units[1], p = preemptions(), len = now - start;
		if (calibrating) {
			unit_cost_x1000 = len * 1000 / (u - u0);
			break;
		}
		uint64_t work = (u - u0) * unit_cost_x1000 / 1000;
		if (p > p0 && len > work) {
			lost[windows_done] = (len - work) / (p - p0);
			share[windows_done] = (len - work) * 1000 / len;
			windows_done++;
		} else {
			windows_redone++; /* (it measured nothing: wall mode's noise can do that) */
		}
		if (windows_done == windows || windows_redone >= windows)
			spin_stop = 1;
		start = now, u0 = u, p0 = p;
	}
	return NULL;
}

static int preempt_rows(int quick)
{
	static const uint64_t quanta_us[] = { 5, 10, 50, 100 };
	windows = quick ? 6 : 40;
	calibrating = 1; /* sched_pin: no quantum */
	window_len = 4000000;
	spinners[0] = spawn_on(0, spin, (void *)0);
	thread_join(spinners[0], NULL);
	calibrating = 0;
	printf("INFO preempt_unit_ticks %llu.%03llu (%d instructions of work, a count and a clock read)\n",
	       (unsigned long long)(unit_cost_x1000 / 1000), (unsigned long long)(unit_cost_x1000 % 1000), UNIT);
	for (size_t q = 0; q < sizeof quanta_us / sizeof quanta_us[0]; q++) {
		pin_q = sched_pin;
		pin_q.quantum_ns = quanta_us[q] * 1000;
		sched_set_policy(&pin_q);
		window_len = 100 * quanta_us[q] * 1000; /* (ticks: -icount's are ns) */
		windows_done = windows_redone = 0;
		spin_stop = 0;
		spinners[0] = spinners[1] = NULL;
		spinners[1] = spawn_on(0, spin, (void *)1);
		spinners[0] = spawn_on(0, spin, (void *)0);
		thread_join(spinners[0], NULL);
		thread_join(spinners[1], NULL);
		nsamples = windows_done;
		char op[32];
		snprintf(op, sizeof op, "preempt_%lluus", (unsigned long long)quanta_us[q]);
		if (!nsamples) {
			printf("tbench: %s not measured: every window redone (%zu)\n", op, windows_redone);
			continue;
		}
		memcpy(samples, lost, nsamples * sizeof lost[0]);
		nredone = windows_redone;
		report(op);
		keel_sort_u64(share, nsamples);
		printf("INFO %s_lost_permille %llu\n", op, (unsigned long long)share[nsamples / 2]);
	}
	sched_set_policy(&sched_pin);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "preempt")) {
		int err = threads_init(&sched_pin);
		if (err) {
			printf("tbench: threads_init: %s\n", errname(err));
			return 1;
		}
		thread_self()->pol[0] = 0;
		return preempt_rows(argc > 2 && !strcmp(argv[2], "quick"));
	}
	nsamples = argc > 1 && !strcmp(argv[1], "quick") ? 1000 : 5000;
	warmup = nsamples / 10;
	wake_rounds = warmup + nsamples;
	int err = threads_init_cpus(&sched_pin, 2);
	if (err || sched_ncpus() != 2) {
		printf("tbench: needs two CPUs: %s (%u)\n", errname(err), sched_ncpus());
		return 1;
	}
	/* main waits on cpu0's queue only in join: it never runs beside them */
	thread_self()->pol[0] = 0;
	run("libos_yield_roundtrip", yield_timer, yielder);
	run("thread_wake_xcpu_roundtrip", pinger, ponger);
	run("thread_migration_roundtrip", mover, NULL);
	printf("tbench: %llu migrations\n", (unsigned long long)sched_migrations());
	return 0;
}
