/*
 * threads: the libos thread library at work (tests/test_libos.py).
 *
 *   threads                 the demo: a bounded buffer between producers and
 *                           consumers (mutex + condition variables), a
 *                           semaphore-limited pool, and register checks
 *   threads:many:N          N threads created, run and joined
 *   threads:mutex:T:N[:nolock]  T threads add 1 to a shared counter N times
 *                           each, a slow read-modify-write under a mutex
 *                           (nolock: without it, which loses updates)
 *   threads:regs:T:N        T threads hold their own registers and FPU/SSE
 *                           state through N spins with preemption
 *   threads:spin            a thread that never yields beside three that finish
 *   threads:overflow        a thread recursing off its stack is killed alone
 *   threads:memory          regions: demand paging, unmapping, out of memory
 *   threads:self:T:N        T threads call thread_self() N times each, checking
 *                           the answer, while the tick preempts and moves them:
 *                           the library's restartable "which CPU, disable it"
 *                           sequence is interrupted and restarted
 *   threads:skew:N:I        main makes N tasks of I guest instructions each, all on
 *                           its own CPU, joins them and dumps the trace (on
 *                           several CPUs: how they spread; tests/test_mcore.py)
 *   threads:switch:N        two threads yield to each other N times: the cost
 *                           of a Ring 3 thread switch (guest instructions under
 *                           -icount)
 *
 * Before the mode, options: cpus=N runs the library on N of the env's CPUs
 * (0: all it holds; default 1), policy=NAME under that policy (sched.h;
 * default rr). With several CPUs each mode also says how often threads moved.
 */
#include "keel.h"
#include "mem.h"
#include "rand.h"
#include "sched.h"
#include "vm.h"

uint64_t regs_hold(const uint64_t v[28], uint64_t n);
extern char regs_hold_spin[], regs_hold_spin_end[];

static void check(int ok, const char *what)
{
	if (!ok) {
		printf("threads: FAILED: %s\n", what);
		sys_exit(1);
	}
}

static uint64_t frames_used(void)
{
	struct keel_quota_info q;
	sys_quota_info(&q);
	return q.frames_used;
}

/* ------------------------------------------------ bounded buffer (demo) */
#define SLOTS 8
static struct mutex buf_lock = MUTEX_INIT;
static struct cond not_full = COND_INIT, not_empty = COND_INIT;
static uint64_t buf[SLOTS], buf_in, buf_out;
static uint64_t consumed_sum, consumed_n;

static void *producer(void *arg)
{
	uint64_t base = (uint64_t)arg;
	for (uint64_t i = 1; i <= 500; i++) {
		mutex_lock(&buf_lock);
		while (buf_in - buf_out == SLOTS)
			cond_wait(&not_full, &buf_lock);
		buf[buf_in++ % SLOTS] = base + i;
		cond_signal(&not_empty);
		mutex_unlock(&buf_lock);
		if (i % 50 == 0)
			thread_yield();
	}
	return NULL;
}

static void *consumer(void *arg)
{
	for (;;) {
		mutex_lock(&buf_lock);
		while (buf_in == buf_out)
			cond_wait(&not_empty, &buf_lock);
		uint64_t v = buf[buf_out++ % SLOTS];
		cond_signal(&not_full);
		if (v) {
			consumed_sum += v;
			consumed_n++;
		}
		mutex_unlock(&buf_lock);
		if (!v)
			return NULL; /* the end marker */
		thread_burn(2000);
	}
}

static struct sem pool = SEM_INIT(2);
static int in_pool, max_in_pool;

static void *pooled(void *arg)
{
	for (int i = 0; i < 5; i++) {
		sem_wait(&pool);
		in_pool++;
		if (in_pool > max_in_pool)
			max_in_pool = in_pool;
		thread_sleep(200000);
		in_pool--;
		sem_post(&pool);
	}
	return NULL;
}

static int demo(void)
{
	struct thread *p[3], *c[2], *s[5];
	for (int i = 0; i < 3; i++)
		p[i] = thread_create("producer", producer, (void *)(uint64_t)(i * 1000));
	for (int i = 0; i < 2; i++)
		c[i] = thread_create("consumer", consumer, NULL);
	for (int i = 0; i < 3; i++)
		thread_join(p[i], NULL);
	for (int i = 0; i < 2; i++) { /* one end marker per consumer */
		mutex_lock(&buf_lock);
		while (buf_in - buf_out == SLOTS)
			cond_wait(&not_full, &buf_lock);
		buf[buf_in++ % SLOTS] = 0;
		cond_signal(&not_empty);
		mutex_unlock(&buf_lock);
	}
	for (int i = 0; i < 2; i++)
		thread_join(c[i], NULL);
	uint64_t want = 0;
	for (uint64_t i = 0; i < 3; i++)
		want += 500 * i * 1000 + 500 * 501 / 2;
	printf("threads: bounded buffer: 3 producers, 2 consumers, %llu items, sum %llu (expected %llu), "
	       "%llu contended locks\n",
	       (unsigned long long)consumed_n, (unsigned long long)consumed_sum, (unsigned long long)want,
	       (unsigned long long)buf_lock.contended);
	check(consumed_n == 1500 && consumed_sum == want, "the bounded buffer lost or duplicated items");

	for (int i = 0; i < 5; i++)
		s[i] = thread_create("pooled", pooled, NULL);
	for (int i = 0; i < 5; i++)
		thread_join(s[i], NULL);
	printf("threads: semaphore of 2: 5 threads, at most %d inside at once\n", max_in_pool);
	check(max_in_pool == 2, "the semaphore let the wrong number in");
	return 0;
}

/* ---------------------------------------------------------- many threads */
static void *square(void *arg)
{
	uint64_t i = (uint64_t)arg;
	thread_yield();
	return (void *)(i * i);
}

static int many(unsigned n)
{
	uint64_t frames0 = frames_used();
	struct thread **t = malloc(n * sizeof *t);
	check(t != NULL, "malloc");
	for (unsigned i = 0; i < n; i++) {
		t[i] = thread_create("square", square, (void *)(uint64_t)i);
		if (!t[i]) {
			struct heap_stats hs;
			struct keel_quota_info q;
			heap_stats(&hs);
			sys_quota_info(&q);
			printf("threads: create %u: %s (heap: %llu pages, %llu failures; frames %llu of %llu, caps %llu of %llu)\n", i,
			       errname(thread_errno()), (unsigned long long)hs.pages_mapped, (unsigned long long)hs.failures,
			       (unsigned long long)q.frames_used, (unsigned long long)q.frames_quota, (unsigned long long)q.caps_used,
			       (unsigned long long)q.caps_quota);
			return 1;
		}
	}
	unsigned alive = thread_count();
	uint64_t frames_peak = frames_used();
	uint64_t sum = 0, want = 0;
	for (unsigned i = 0; i < n; i++) {
		void *r;
		check(thread_join(t[i], &r) == 0, "join");
		sum += (uint64_t)r;
		want += (uint64_t)i * i;
	}
	free(t);
	printf("threads: %u threads created (%u alive at once), run and joined; sum of squares %llu (expected %llu)\n", n,
	       alive, (unsigned long long)sum, (unsigned long long)want);
	printf("threads: frames in use: %llu before, %llu with all alive, %llu after\n", (unsigned long long)frames0,
	       (unsigned long long)frames_peak, (unsigned long long)frames_used());
	check(sum == want && thread_count() == 1, "results");
	return 0;
}

/* ---------------------------------------------------------- mutex stress */
static struct mutex counter_lock = MUTEX_INIT;
static volatile uint64_t counter;
static uint64_t per_thread, use_lock;

static void *adder(void *arg)
{
	for (uint64_t i = 0; i < per_thread; i++) {
		if (use_lock)
			mutex_lock(&counter_lock);
		uint64_t v = counter;
		thread_burn(1000); /* a slow critical section: ticks land inside it */
		counter = v + 1;
		if (use_lock)
			mutex_unlock(&counter_lock);
	}
	return NULL;
}

/* n threads (at most 64) running fn(NULL), all joined. */
static void run_all(const char *name, void *(*fn)(void *), unsigned n)
{
	struct thread *t[64];
	check(n <= 64, "at most 64 threads");
	for (unsigned i = 0; i < n; i++)
		t[i] = thread_create(name, fn, NULL);
	for (unsigned i = 0; i < n; i++)
		thread_join(t[i], NULL);
}

static int mutex_stress(unsigned nthreads, uint64_t n, int lock)
{
	per_thread = n;
	use_lock = lock;
	run_all("adder", adder, nthreads);
	printf("threads: mutex%s: %u threads x %llu increments: counter %llu (expected %llu), %llu lost; "
	       "%llu lock calls waited\n",
	       lock ? "" : " (none)", nthreads, (unsigned long long)n, (unsigned long long)counter,
	       (unsigned long long)(nthreads * n), (unsigned long long)(nthreads * n - counter),
	       (unsigned long long)counter_lock.contended);
	return 0;
}

/* -------------------------------------------------------- register state */
static uint64_t regs_rounds;
static uint64_t regs_preempted[32]; /* each holder's preemptions, wherever they landed */
static uint64_t regs_moved[32];     /* each holder's moves to another CPU from inside the spin */

static void *holder(void *arg)
{
	struct keel_rand r;
	uint64_t v[28];
	rand_seed(&r, (uint64_t)arg);
	for (int i = 0; i < 28; i++)
		v[i] = rand_next(&r);
	for (uint64_t i = 0; i < regs_rounds; i++) {
		uint64_t bad = regs_hold(v, 200000);
		if (bad) {
			printf("threads: thread %d: register %llu changed in round %llu\n", thread_self()->tid,
			       (unsigned long long)bad - 1, (unsigned long long)i);
			return (void *)1;
		}
	}
	/* Only preemptions that interrupted the spin, where its values were in
	 * the registers, prove anything about saving them. */
	regs_preempted[(uint64_t)arg - 1] = thread_self()->preemptions;
	regs_moved[(uint64_t)arg - 1] = thread_self()->migrations_in_watch;
	return (void *)(thread_self()->preempt_in_watch << 1);
}

static int regs(unsigned nthreads, uint64_t rounds)
{
	struct thread *t[32];
	regs_rounds = rounds;
	check(nthreads <= 32, "at most 32 threads");
	thread_watch(regs_hold_spin, regs_hold_spin_end);
	for (unsigned i = 0; i < nthreads; i++)
		t[i] = thread_create("holder", holder, (void *)(uint64_t)(i + 1));
	unsigned bad = 0;
	uint64_t inside = 0, all = 0, moved = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		void *r;
		thread_join(t[i], &r);
		all += regs_preempted[i];
		moved += regs_moved[i];
		bad += (uint64_t)r & 1;
		inside += (uint64_t)r >> 1;
	}
	printf("threads: registers: %u threads x %llu rounds, %llu preemptions inside the spin (of %llu), "
	       "%u threads saw a change\n",
	       nthreads, (unsigned long long)rounds, (unsigned long long)inside, (unsigned long long)all, bad);
	if (sched_ncpus() > 1)
		printf("threads: registers: %llu times a thread stopped inside the spin went on on another CPU\n",
		       (unsigned long long)moved);
	return bad != 0;
}

/* ------------------------------------------------------------- spinning */
static volatile int done_work;

static void *spinner(void *arg)
{
	for (;;)
		__asm__ volatile("");
	return NULL;
}

static void *worker(void *arg)
{
	for (int i = 0; i < 20; i++)
		thread_burn(500000);
	__atomic_add_fetch(&done_work, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int spin(void)
{
	struct thread *s = thread_create("spinner", spinner, NULL);
	struct thread *w[3];
	for (int i = 0; i < 3; i++)
		w[i] = thread_create("worker", worker, NULL);
	for (int i = 0; i < 3; i++)
		thread_join(w[i], NULL);
	printf("threads: spin: %d workers finished beside a thread that never yields (preempted %llu times)\n",
	       done_work, (unsigned long long)s->preemptions);
	return 0; /* main's return ends the app, the spinner with it */
}

/* ------------------------------------------------------- stack overflow */
static volatile int depth_limit = 1 << 30; /* never reached: the stack ends first */

static int recurse(int depth)
{
	volatile char pad[512];
	pad[0] = (char)depth;
	return depth < depth_limit ? recurse(depth + 1) + pad[0] : 0;
}

static void *overflow(void *arg) { return (void *)(uint64_t)recurse(0); }

static int stack_overflow(void)
{
	struct thread *o = thread_create("deep", overflow, NULL);
	struct thread *w = thread_create("worker", worker, NULL);
	void *r;
	thread_join(o, &r);
	thread_join(w, NULL);
	printf("threads: overflow: the deep thread ended with %lld; the worker finished: %d\n", (long long)(intptr_t)r,
	       done_work);
	return done_work == 1 && (intptr_t)r == -1 ? 0 : 1;
}

/* -------------------------------------------------------------- regions */
static int memory(void)
{
	static uint32_t frames[256];
	struct vm_region r;
	uint64_t f0 = frames_used();
	check(vm_region_reserve(&r, 256 * 4096, 0, 4096, 0, VMR_WRITE | VMR_DEMAND, frames) == 0, "reserve");
	for (uint64_t i = 1; i < 256; i += 3)
		((volatile uint8_t *)r.base)[i * 4096 + 7] = (uint8_t)i; /* faults; mapped on demand */
	uint64_t f1 = frames_used();
	int ok = 1;
	for (uint64_t i = 1; i < 256; i += 3)
		ok &= ((volatile uint8_t *)r.base)[i * 4096 + 7] == (uint8_t)i;
	printf("threads: region: %llu pages touched, %llu mapped on demand, data %s\n", 85ULL,
	       (unsigned long long)r.mapped, ok ? "intact" : "WRONG");
	vm_region_release(&r);
	uint64_t f2 = frames_used();
	printf("threads: region: frames in use %llu before, %llu touched, %llu released\n", (unsigned long long)f0,
	       (unsigned long long)f1, (unsigned long long)f2);

	/* The heap until the frame quota runs out: NULL, not a fault. */
	static void *blocks[4096];
	unsigned n = 0;
	while (n < ARRAY_SIZE(blocks) && (blocks[n] = malloc(64 * 1024)))
		memset(blocks[n++], 0xAB, 64 * 1024);
	struct heap_stats hs;
	heap_stats(&hs);
	printf("threads: heap: %u blocks of 64 KiB before malloc returned NULL (%llu failures)\n", n,
	       (unsigned long long)hs.failures);
	for (unsigned i = 0; i < n; i++)
		free(blocks[i]);
	struct thread *t = thread_create("late", square, (void *)3);
	void *sq = NULL;
	if (t)
		thread_join(t, &sq);
	printf("threads: heap: all freed: %llu pages still mapped; a thread after it: %s (%llu)\n",
	       (unsigned long long)(heap_stats(&hs), hs.pages_mapped), t ? "ran" : "FAILED",
	       (unsigned long long)(uint64_t)sq);
	return ok && f2 == f0 && t && (uint64_t)sq == 9 ? 0 : 1;
}

/* ------------------------------------------- the restartable sequence */
static uint64_t self_rounds;
static volatile uint64_t self_wrong;

static void *selfish(void *arg)
{
	struct thread *me = thread_self();
	for (uint64_t i = 0; i < self_rounds; i++)
		if (thread_self() != me)
			__atomic_add_fetch(&self_wrong, 1, __ATOMIC_RELAXED);
	return NULL;
}

static int self_check(unsigned nthreads, uint64_t rounds)
{
	self_rounds = rounds;
	run_all("selfish", selfish, nthreads);
	uint64_t restarts = 0;
	for (unsigned i = 0; i < sched_ncpus(); i++)
		restarts += sched_cpu_stat(i, SCHED_STAT_RESTARTS);
	printf("threads: self: %u threads x %llu calls, %llu wrong answers; %llu restarts of the disable sequence, "
	       "%llu migrations\n", nthreads, (unsigned long long)rounds, (unsigned long long)self_wrong,
	       (unsigned long long)restarts, (unsigned long long)sched_migrations());
	return self_wrong != 0;
}

/* ------------------------------------------------------- a skewed spawn */
static uint64_t task_burn;

static void *task(void *arg)
{
	thread_burn(task_burn);
	return arg;
}

static int skew(unsigned n, uint64_t burn)
{
	task_burn = burn;
	struct thread **t = malloc(n * sizeof *t);
	check(t != NULL, "malloc");
	check(trace_reserve(8ULL * n + 1024) == 0, "trace_reserve");
	for (unsigned i = 0; i < n; i++) {
		t[i] = thread_create("task", task, (void *)(uint64_t)i);
		if (!t[i]) {
			printf("threads: create %u: %s\n", i, errname(thread_errno()));
			return 1;
		}
	}
	uint64_t sum = 0;
	for (unsigned i = 0; i < n; i++) {
		void *r;
		check(thread_join(t[i], &r) == 0, "join");
		sum += (uint64_t)r;
	}
	free(t);
	printf("threads: skew: %u tasks of %llu instructions made on one CPU, run on %u: results %s\n", n,
	       (unsigned long long)burn, sched_ncpus(), sum == (uint64_t)n * (n - 1) / 2 ? "right" : "WRONG");
	trace_dump();
	return sum != (uint64_t)n * (n - 1) / 2;
}

/* ---------------------------------------------------------- switch cost */
static uint64_t switch_n;

static void *yielder(void *arg)
{
	for (uint64_t i = 0; i < switch_n; i++)
		thread_yield();
	return NULL;
}

static int switch_cost(uint64_t n)
{
	switch_n = n;
	struct thread *a = thread_create("yielder", yielder, NULL);
	struct thread *b = thread_create("yielder", yielder, NULL);
	thread_sleep(1); /* main steps aside: a and b alternate */
	uint64_t t0 = keel_now();
	thread_join(a, NULL);
	thread_join(b, NULL);
	uint64_t ns = keel_now() - t0;
	printf("threads: %llu yields between two threads: %llu ns per switch\n", (unsigned long long)(2 * n),
	       (unsigned long long)(ns / (2 * n)));
	return 0;
}

/* With several CPUs: what each ran and how often threads moved. */
static void cpu_report(void)
{
	if (sched_ncpus() < 2)
		return;
	uint64_t migrations = 0;
	for (unsigned i = 0; i < sched_ncpus(); i++)
		printf("threads: cpu%u (kernel cpu%u): %llu dispatches, idled %llu times, kicked %llu times\n", i,
		       sched_cpu_id(i), (unsigned long long)sched_cpu_stat(i, SCHED_STAT_DISPATCHES),
		       (unsigned long long)sched_cpu_stat(i, SCHED_STAT_IDLES),
		       (unsigned long long)sched_cpu_stat(i, SCHED_STAT_KICKS));
	migrations = sched_migrations();
	printf("threads: %llu migrations between CPUs\n", (unsigned long long)migrations);
	if (sched_policy() == &sched_ws)
		printf("threads: ws: %llu threads stolen\n", (unsigned long long)sched_ws_stolen);
}

int main(int argc, char **argv)
{
	const struct sched_policy *p = &sched_rr;
	unsigned cpus = 1;
	for (; argc > 1 && strchr(argv[1], '='); argc--, argv++) {
		if (!strncmp(argv[1], "cpus=", 5))
			cpus = (unsigned)keel_atou(argv[1] + 5);
		else if (!strncmp(argv[1], "policy=", 7) && sched_policy_named(argv[1] + 7))
			p = sched_policy_named(argv[1] + 7);
		else {
			printf("threads: unknown option %s\n", argv[1]);
			return 2;
		}
	}
	const char *mode = argc > 1 ? argv[1] : "demo";
	int err = cpus == 1 ? threads_init(p) : threads_init_cpus(p, cpus);
	if (err) {
		printf("threads: threads_init: %s\n", errname(err));
		return 1;
	}
	if (cpus != 1)
		printf("threads: %u CPUs, policy %s\n", sched_ncpus(), sched_policy()->name);
	int rc;
	if (!strcmp(mode, "demo"))
		rc = demo() || regs(4, 20);
	else if (!strcmp(mode, "many"))
		rc = many(argc > 2 ? (unsigned)keel_atou(argv[2]) : 1000);
	else if (!strcmp(mode, "mutex"))
		rc = mutex_stress((unsigned)keel_atou(argv[2]), keel_atou(argv[3]), !(argc > 4 && !strcmp(argv[4], "nolock")));
	else if (!strcmp(mode, "regs"))
		rc = regs((unsigned)keel_atou(argv[2]), keel_atou(argv[3]));
	else if (!strcmp(mode, "spin"))
		rc = spin();
	else if (!strcmp(mode, "overflow"))
		rc = stack_overflow();
	else if (!strcmp(mode, "self"))
		rc = self_check((unsigned)keel_atou(argv[2]), keel_atou(argv[3]));
	else if (!strcmp(mode, "skew"))
		rc = skew((unsigned)keel_atou(argv[2]), keel_atou(argv[3]));
	else if (!strcmp(mode, "switch"))
		rc = switch_cost(argc > 2 ? keel_atou(argv[2]) : 10000);
	else if (!strcmp(mode, "memory"))
		rc = memory();
	else {
		printf("threads: unknown mode %s\n", mode);
		return 2;
	}
	cpu_report();
	printf("threads: %s\n", rc ? "FAILED" : "ok");
	return rc;
}
