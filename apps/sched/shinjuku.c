/*
 * The Shinjuku-style dispatcher (sched_shinjuku) under a bimodal request
 * load (start with cpus=N, N >= 2: CPU 0 dispatches, the rest serve):
 *
 *   sched:shinjuku[:LOAD[:N[:SEED[:Q...]]]]
 *
 * N requests (default 4000), 99.5% of SHORT guest instructions and 0.5%
 * of 100 x SHORT, arrive as a Poisson process from the seeded PRNG
 * (default seed 1) at LOAD per mille (default 600) of the workers'
 * capacity; the same arrivals run once per quantum Q, in instructions of a
 * worker (0: run to completion; default: 0 and SHORT), turned into clock
 * time at the measured capacity.
 *
 * Requests are threads of a pool (priority 0: the policy's workers serve
 * them), each woken by the load generator -- main, priority 1, on the
 * dispatcher CPU -- at its request's arrival time, a request to a thread
 * (a free list, grown if it ever runs dry: the run says so). A request's
 * latency is from its arrival to the end of its work.
 *
 * The workers' capacity is measured first: rounds of BACKLOG short
 * requests per worker handed at once, their instructions over the time
 * from the first start to the last end -- what the workers do back to
 * back, their per-request costs included. (Under QEMU -icount the vCPUs
 * take turns on one instruction clock and every CPU here spins when idle,
 * so each runs at about a quarter of it; on hardware the clock is real
 * time. The load and the quantum are relative to what was measured,
 * either way.) Latencies are in ns of the kernel clock; each run prints
 * its percentiles, and tests/test_shinjuku.py compares the runs.
 */
#include "requests.h"
#include "mem.h"

#define SHORT 40000ULL    /* instructions */
#define LONG_RATIO 100
#define LONG_PER_MILLE 5  /* 0.5% */
#define POOL 384 /* request threads made before the runs (a 24,000-request run to completion had 230 at once) */
#define CALIBRATE REQ_CALIBRATE /* rounds of the capacity's measure, and short requests alone */
#define BACKLOG REQ_BACKLOG

static uint64_t late_max; /* how late the generator handed a request, at most (ns) */

/* A short request's time alone, arrival to end: handed with every worker
 * idle (printed beside the runs' latencies). */
static uint64_t alone(unsigned workers)
{
	uint64_t sum = 0;
	unsigned j = CALIBRATE * workers * BACKLOG;
	for (unsigned r = 0; r < CALIBRATE; r++, j++) {
		rq.size[j] = SHORT;
		rq.arrival[j] = keel_now();
		if (request_hand(j))
			return 0;
		requests_wait(j + 1);
		sum += rq.done[j] - rq.arrival[j];
	}
	return sum / CALIBRATE;
}

/* A quantum of q instructions, as ns of the clock: a worker's time for
 * them at the measured capacity (cap instructions a microsecond for all). */
static int run(uint64_t q_insns, uint64_t cap, unsigned workers, const char *tag)
{
	unsigned n = rq.n;
	uint64_t q_ns = q_insns * workers * 1000 / cap;
	sched_shinjuku_quantum_ns = q_ns;
	uint64_t pre0 = sched_shinjuku_preemptions;
	unsigned grown0 = rq.grown;
	rq.completed = 0;
	late_max = 0;
	uint64_t t0 = keel_now() + 1000000;
	for (unsigned j = 0; j < n; j++) {
		uint64_t at = t0 + rq.offset[j];
		thread_sleep_until(at);
		uint64_t late = keel_now() - at;
		if (late > late_max)
			late_max = late;
		rq.arrival[j] = at;
		if (request_hand(j)) {
			printf("sched shinjuku: no thread for request %u: %s\n", j, errname(thread_errno()));
			return 1;
		}
	}
	requests_wait(n);
	uint64_t span = keel_now() - t0;

	uint64_t *lat_s = malloc(n * sizeof *lat_s), *lat_l = malloc(n * sizeof *lat_l);
	if (!lat_s || !lat_l)
		return 1;
	unsigned ns = 0, nl = 0;
	uint64_t short_pre = 0, long_pre = 0;
	for (unsigned j = 0; j < n; j++) {
		uint64_t l = rq.done[j] - rq.arrival[j];
		if (rq.size[j] == SHORT)
			lat_s[ns++] = l, short_pre += rq.preempted[j];
		else
			lat_l[nl++] = l, long_pre += rq.preempted[j];
	}
	keel_sort_u64(lat_s, ns);
	keel_sort_u64(lat_l, nl);
#define U(x) ((unsigned long long)(x))
	printf("sched shinjuku: run %s quantum %llu insns (%llu ns): %u short, %u long; short p50 %llu p99 %llu p99.9 %llu max %llu ns; "
	       "long p50 %llu max %llu ns; preemptions %llu (short requests %llu, long %llu); span %llu ns; "
	       "generator late at most %llu ns; pool grew %u\n",
	       tag, U(q_insns), U(q_ns), ns, nl, U(pct(lat_s, ns, 500)), U(pct(lat_s, ns, 990)), U(pct(lat_s, ns, 999)),
	       U(ns ? lat_s[ns - 1] : 0), U(pct(lat_l, nl, 500)), U(nl ? lat_l[nl - 1] : 0),
	       U(sched_shinjuku_preemptions - pre0), U(short_pre), U(long_pre), U(span), U(late_max),
	       rq.grown - grown0);
#undef U
	free(lat_s);
	free(lat_l);
	return 0;
}

/* `turns`: how often QEMU hands the vCPUs over while every CPU is busy
 * -- main spins on the dispatcher CPU reading the clock, the idle workers
 * spin too (idle_poll) -- counted as the clock jumping past what one read
 * takes (another vCPU ran in between). metronome_us= (kern/arch/x86_64/
 * metronome.c) is what makes them frequent; tests/test_shinjuku.py. */
static int turns(void)
{
	uint64_t start = keel_now(), last = start, longest = 0, handovers = 0;
	while (last - start < 10000000) {
		uint64_t t = keel_now();
		if (t - last > 200)
			handovers++;
		if (t - last > longest)
			longest = t - last;
		last = t;
	}
	printf("sched shinjuku: turns: %llu hand-overs in 10 ms, the longest gap %llu ns\n",
	       (unsigned long long)handovers, (unsigned long long)longest);
	return 0;
}

int demo_shinjuku(int argc, char **argv)
{
	thread_self()->priority = 1; /* main is the load generator: the dispatcher CPU's */
	if (argc > 1 && !strcmp(argv[1], "turns"))
		return turns();
	unsigned load = (unsigned)arg_or(argc, argv, 1, 600), n = (unsigned)arg_or(argc, argv, 2, 4000);
	uint64_t seed = arg_or(argc, argv, 3, 1);
	unsigned workers = sched_ncpus() - 1;
	if (sched_ncpus() < 2 || !load || load >= 1000 || n < CALIBRATE * (workers * BACKLOG + 1)) {
		printf("sched shinjuku: needs cpus=2 or more, 0 < LOAD < 1000, N >= %u\n", CALIBRATE * (workers * BACKLOG + 1));
		return 1;
	}
	if (requests_init(n, POOL, "shinjuku"))
		return 1;
	uint64_t cap = requests_capacity(workers, SHORT), t_alone = alone(workers);
	if (!cap || !t_alone)
		return 1;

	/* The arrivals: exponential gaps at the rate that makes the mean
	 * work LOAD of the capacity. */
	struct keel_rand r;
	rand_seed(&r, seed);
	double mean_insns = SHORT * ((1000 - LONG_PER_MILLE) + LONG_PER_MILLE * LONG_RATIO) / 1000.0;
	double gap_ns = mean_insns * 1000.0 / cap * 1000.0 / load;
	uint64_t t = 0;
	for (unsigned j = 0; j < n; j++) {
		t += requests_gap(&r, gap_ns);
		rq.offset[j] = t;
		rq.size[j] = rand_below(&r, 1000) < LONG_PER_MILLE ? SHORT * LONG_RATIO : SHORT;
	}
	printf("sched shinjuku: %u workers, %u requests (short %llu insns, long %llu), load %u per mille, seed %llu; "
	       "capacity %llu insns per us, a short request alone %llu ns; mean gap %llu ns\n",
	       workers, n, (unsigned long long)SHORT, (unsigned long long)(SHORT * LONG_RATIO), load,
	       (unsigned long long)seed, (unsigned long long)cap, (unsigned long long)t_alone,
	       (unsigned long long)gap_ns);

	int rc = 0;
	if (argc <= 4) {
		rc |= run(0, cap, workers, "rtc");
		rc |= run(SHORT, cap, workers, "preemptive");
	}
	for (int i = 4; i < argc; i++) {
		uint64_t q = keel_atou(argv[i]);
		rc |= run(q, cap, workers, q ? "preemptive" : "rtc");
	}
	for (unsigned c = 0; c < sched_ncpus(); c++)
		printf("sched shinjuku: cpu %u: %llu dispatches, %llu idles, %llu kicks\n", c,
		       (unsigned long long)sched_cpu_stat(c, SCHED_STAT_DISPATCHES),
		       (unsigned long long)sched_cpu_stat(c, SCHED_STAT_IDLES),
		       (unsigned long long)sched_cpu_stat(c, SCHED_STAT_KICKS));
	requests_end();
	return rc;
}
