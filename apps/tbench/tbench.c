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

static void sort(uint64_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j && v[j - 1] > v[j]; j--) {
			uint64_t x = v[j];
			v[j] = v[j - 1];
			v[j - 1] = x;
		}
}

static void report(const char *op)
{
	sort(samples, nsamples);
	printf("BENCH %s n=%zu min=%llu median=%llu p99=%llu redone=0\n", op, nsamples,
	       (unsigned long long)samples[0], (unsigned long long)samples[nsamples / 2],
	       (unsigned long long)samples[nsamples * 99 / 100]);
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

int main(int argc, char **argv)
{
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
