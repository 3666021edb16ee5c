/*
 * Core allocation in the style of Caladan (sched_caladan) between a
 * latency-critical env -- this one -- and a best-effort env it spawns:
 *
 *   cpus=3 sched:caladan[:IV[:LOW[:HIGH[:MS[:PHASES[:SEED[:KEEP]]]]]]]   (on 4 CPUs)
 *
 * The thread library runs on three of the env's CPUs: CPU 0 generates the
 * load and allocates (every IV us of the clock, default 100), CPUs 1 and 2
 * serve requests of SHORT guest instructions. The fourth CPU is the
 * best-effort env's own (its "home": a capability derived into it); the
 * workers are lent to it while they have nothing to do and taken back when
 * requests queue (KEEP of them never lent, default 0). PHASES phases
 * (default 4) of MS ms each (default 40) alternate between LOW and HIGH
 * load (per mille of the workers' measured capacity; defaults 100, 800),
 * low first; arrivals are Poisson from the seeded PRNG (default seed 1).
 *
 * Per phase it prints the requests' latencies, the moves, and how long the
 * env took to own every worker again after the phase began (the issue's
 * "within 10 allocation intervals" when the load rises) -- from the
 * policy's log of changes. The best-effort env ("soak", below) counts
 * units of work done on all its CPUs and notes the count at each phase's
 * start (a post from here); it prints them when told to stop, and
 * tests/test_caladan.py compares its rate in the low and the high phases.
 *
 * soak (`sched soak`, spawned by the above, never run by hand): the
 * best-effort env, on raw dispatchers -- not the thread library, which
 * takes CPUs only at its start. Its first dispatcher runs on the home CPU
 * and takes the posts: a CPU's bit -- it was lent one: a dispatcher
 * started there, running units of work (EEXIST: the one there never left,
 * the CPU came back before the kernel took it off); PHASE_BIT -- note the
 * count; STOP_BIT -- print and exit. A dispatcher whose CPU is taken back
 * is handed by the kernel to another (KEEL_EV_LOST): its context -- a unit
 * of work under way -- is dropped (counted), as its work is only counted
 * once a unit is done.
 */
#include "requests.h"
#include "env.h"
#include "ipc.h"
#include "mem.h"
#include "vm.h"

#define SHORT 40000ULL /* instructions */
#define PHASE_BIT (1ULL << 62)
#define STOP_BIT (1ULL << 63)
#define HELLO_BIT (1ULL << 61) /* (ignored: posted until the soak env takes posts) */
#define UNIT 20000ULL          /* the soak env's unit of work, instructions */
#define SOAK_CPUS 8            /* the kernel CPUs the soak env can use: 0 .. 7 */
#define MARKS 64
#define POOL 64                /* request threads (the pool grows if ever short: the run says so) */

/* ------------------------------------------------- the best-effort env */
static struct keel_upcall_area soak_area[SOAK_CPUS] __attribute__((aligned(4096)));
static uint8_t soak_stack[SOAK_CPUS][3][8192] __attribute__((aligned(64))); /* run, upcall, trap */
static volatile uint64_t soak_units, soak_dropped, soak_started, soak_there, soak_late, soak_stop;
static uint32_t soak_live[SOAK_CPUS]; /* a dispatcher of this env is on that CPU, or may still be */
static uint64_t soak_deferred;        /* CPUs lent before the first dispatcher was bound to its home */
static unsigned soak_home;
static uint64_t mark_units[MARKS], mark_at[MARKS];
static unsigned marks;

static void soak_unit(void)
{
	thread_burn(UNIT);
	__atomic_add_fetch(&soak_units, 1, __ATOMIC_RELAXED);
}

static __attribute__((noreturn)) void soak_worker(void *arg)
{
	for (;;)
		soak_unit();
}

/* A dispatcher on CPU c, unless one is there already. The first start
 * binds the calling dispatcher to the CPU it runs on: made from the home
 * CPU only (an unbound first dispatcher may run on a lent one). */
static void soak_start(unsigned c, bool told)
{
	if (c == soak_home)
		return;
	if (!soak_started && keel_cpu() != soak_home) { /* (none started: the caller is still unbound) */
		__atomic_fetch_or(&soak_deferred, 1ULL << c, __ATOMIC_RELAXED);
		return;
	}
	if (!__atomic_compare_exchange_n(&soak_live[c], &(uint32_t){ 0 }, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&soak_there, told, __ATOMIC_RELAXED); /* lent again before its dispatcher there left */
		return;
	}
	struct keel_upcall_area *na = &soak_area[c]; /* (no dispatcher has it now) */
	keel_area_prepare(na, soak_stack[c][1], sizeof soak_stack[c][1], soak_stack[c][2], sizeof soak_stack[c][2]);
	long r = keel_disp_start(c, na, soak_worker, soak_stack[c][0], sizeof soak_stack[c][0], NULL);
	if (r == 0) {
		__atomic_add_fetch(&soak_started, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_store_n(&soak_live[c], 0, __ATOMIC_RELEASE);
	if (r == -ENOCPU)
		__atomic_add_fetch(&soak_late, told, __ATOMIC_RELAXED); /* taken back before the post was read (or, after a loss, not lent again) */
	else
		printf("soak: a dispatcher on cpu%u: %s\n", c, errname(r));
}

static void soak_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_LOST) /* a dispatcher's CPU was taken back: its context is dropped (its unit not counted) */
		for (uint64_t m = keel_take(&a->lost); m; m &= m - 1) {
			unsigned c = (unsigned)__builtin_ctzll(m);
			__atomic_add_fetch(&soak_dropped, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&soak_live[c], 0, __ATOMIC_RELEASE);
			soak_start(c, false); /* (lent again meanwhile, its post found it there) */
		}
	if (!(ev & KEEL_EV_POST))
		return;
	uint64_t b = keel_take(&a->posted);
	if ((b & PHASE_BIT) && marks < MARKS) {
		mark_units[marks] = __atomic_load_n(&soak_units, __ATOMIC_RELAXED);
		mark_at[marks++] = keel_now();
	}
	if (b & STOP_BIT)
		soak_stop = 1;
	for (uint64_t cpus = b & ((1ULL << SOAK_CPUS) - 1); cpus; cpus &= cpus - 1)
		soak_start((unsigned)__builtin_ctzll(cpus), true);
}

int demo_soak(int argc, char **argv)
{
	soak_home = argc > 1 ? (unsigned)keel_atou(argv[1]) : 0;
	if (keel_upcalls_init(soak_event, NULL)) {
		printf("soak: no upcalls\n");
		return 1;
	}
	while (!soak_stop) {
		soak_unit();
		if (__atomic_load_n(&soak_deferred, __ATOMIC_RELAXED) && keel_cpu() == soak_home) {
			*(volatile uint32_t *)&keel_area->disabled = 1; /* (as in the handler: one start at a time) */
			for (uint64_t m = keel_take(&soak_deferred); m; m &= m - 1)
				soak_start((unsigned)__builtin_ctzll(m), true);
			keel_upcalls_enable(keel_area);
		}
	}
	printf("soak: %llu units of %llu insns, %llu dispatchers started (%llu lends found one still there, "
	       "%llu were taken back before read), %llu contexts dropped when a CPU was taken back\n",
	       (unsigned long long)soak_units, (unsigned long long)UNIT, (unsigned long long)soak_started,
	       (unsigned long long)soak_there, (unsigned long long)soak_late, (unsigned long long)soak_dropped);
	for (unsigned i = 0; i < marks; i++)
		printf("soak: mark %u at %llu units %llu\n", i, (unsigned long long)mark_at[i],
		       (unsigned long long)mark_units[i]);
	return 0;
}

/* ----------------------------------------------- the latency-critical env */
/* The kernel CPU this env holds that the thread library does not run on. */
static long home_cpu(void)
{
	for (unsigned c = 0; c < SOAK_CPUS; c++) {
		bool used = false;
		for (unsigned i = 0; i < sched_ncpus(); i++)
			used |= sched_cpu_id(i) == c;
		if (!used && vm_find_cpu_cap(c, NULL) >= 0)
			return c;
	}
	return -1;
}

static long spawn_soak(unsigned home)
{
	char args[16];
	snprintf(args, sizeof args, "soak %u", home);
	struct keel_spawn r = { .image = "sched", .image_len = 5, .args = args, .args_len = strlen(args),
				.quota_frames = 512, .quota_caps = 64, .flags = KEEL_SPAWN_NO_CPUS };
	long env = sys_env_spawn(&r);
	if (env < 0)
		return env;
	long cap = vm_find_cpu_cap(home, NULL);
	long err = cap < 0 ? cap : sys_cap_derive((uint32_t)cap, KEEL_R_ALL & ~KEEL_R_GRANT, (uint32_t)env);
	if (err < 0)
		return err;
	while ((err = sys_event_post((uint32_t)env, home, HELLO_BIT)) == -ENOENT)
		thread_sleep(100000); /* (it has not taken upcalls yet) */
	return err < 0 ? err : env;
}

struct phase {
	unsigned first, n; /* its requests */
	uint64_t start, end;
};

/* From the policy's log, over [from, to): when `all` workers were the
 * env's first (from itself if they were then; 0: never), the mean number
 * it owned, in thousandths, and how many it owned at `from`. */
static uint64_t owned_over(uint64_t from, uint64_t to, unsigned all, uint64_t *mean_milli, unsigned *at_from)
{
	unsigned n = sched_caladan_logged < sched_caladan_log_size ? sched_caladan_logged : sched_caladan_log_size;
	unsigned owned = all; /* (the install's: every worker) */
	uint64_t first = 0, area = 0, since = from;
	*at_from = ~0u;
	for (unsigned i = 0; i <= n; i++) {
		uint64_t at = i < n ? sched_caladan_log[i].at : to;
		if (at > to)
			at = to;
		if (at > from && *at_from == ~0u)
			*at_from = owned;
		if (at > since) {
			if (owned == all && !first)
				first = since;
			area += (at - since) * owned;
			since = at;
		}
		if (at >= to)
			break;
		owned = sched_caladan_log[i].owned;
	}
	*mean_milli = area * 1000 / (to - from);
	return first;
}

int demo_caladan(int argc, char **argv)
{
	thread_self()->priority = 1; /* main is the load generator: CPU 0's */
	uint64_t iv_us = arg_or(argc, argv, 1, 100);
	unsigned low = (unsigned)arg_or(argc, argv, 2, 100), high = (unsigned)arg_or(argc, argv, 3, 800);
	uint64_t ms = arg_or(argc, argv, 4, 40);
	unsigned nph = (unsigned)arg_or(argc, argv, 5, 4);
	uint64_t seed = arg_or(argc, argv, 6, 1);
	unsigned keep = (unsigned)arg_or(argc, argv, 7, 0);
	unsigned workers = sched_ncpus() - 1;
	long home = home_cpu();
	if (sched_ncpus() < 2 || home < 0 || !iv_us || !low || low >= 1000 || !high || high >= 1000 || !nph ||
	    nph >= MARKS || !ms || keep > workers) {
		printf("sched caladan: needs cpus=N with a CPU of the env's left for the best-effort env, IV > 0, "
		       "0 < LOW, HIGH < 1000, 0 < PHASES < %u, MS > 0, KEEP <= workers\n", MARKS);
		return 1;
	}
	/* The best-effort env first: it runs on its home CPU from now on, and
	 * the workers' capacity is measured beside it (under QEMU -icount every
	 * busy vCPU takes its share of one clock). */
	long be = spawn_soak((unsigned)home);
	if (be < 0) {
		printf("sched caladan: the best-effort env: %s\n", errname(be));
		return 1;
	}
	/* The workers' capacity, every worker the env's (nothing lent yet);
	 * then the arrivals at each phase's load. */
	if (requests_init(REQ_CALIBRATE * workers * REQ_BACKLOG, POOL, "caladan"))
		return 1;
	uint64_t cap = requests_capacity(workers, SHORT);
	if (!cap)
		return 1;
	double gap_ns[2] = { SHORT * 1000.0 / cap * 1000.0 / low, SHORT * 1000.0 / cap * 1000.0 / high };
	struct phase ph[MARKS];
	unsigned n = 0, room = 1024;
	uint64_t *off = malloc(room * sizeof *off);
	struct keel_rand r;
	rand_seed(&r, seed);
	for (unsigned p = 0; p < nph && off; p++) {
		ph[p] = (struct phase){ .first = n, .start = p * ms * 1000000, .end = (p + 1) * ms * 1000000 };
		for (uint64_t t = ph[p].start + requests_gap(&r, gap_ns[p & 1]); t < ph[p].end;
		     t += requests_gap(&r, gap_ns[p & 1])) {
			if (n == room && !(off = realloc(off, (room *= 2) * sizeof *off)))
				break;
			off[n++] = t;
		}
		ph[p].n = n - ph[p].first;
	}
	if (!off || requests_size(n, "caladan"))
		return 1;
	for (unsigned j = 0; j < n; j++)
		rq.offset[j] = off[j], rq.size[j] = SHORT;
	free(off);

	static struct sched_caladan_change log[16384];
	sched_caladan_log = log;
	sched_caladan_log_size = ARRAY_SIZE(log);
	sched_caladan_logged = 0;
	sched_caladan_interval_ns = iv_us * 1000;
	sched_caladan_guaranteed = keep;
	sched_caladan_borrower_cpu = (unsigned)home;
	sched_caladan_owned = workers;
	uint64_t lends0 = sched_lends, reclaims0 = sched_reclaims;
	printf("sched caladan: %u workers, the best-effort env on cpu%ld; interval %llu us, %u phases of %llu ms, "
	       "load %u and %u per mille, %u requests of %llu insns (seed %llu), %u workers kept; capacity %llu insns per us\n",
	       workers, home, (unsigned long long)iv_us, nph, (unsigned long long)ms, low, high, n,
	       (unsigned long long)SHORT, (unsigned long long)seed, keep, (unsigned long long)cap);
	sched_caladan_borrower = be; /* lending starts */

	rq.completed = 0;
	uint64_t t0 = keel_now() + 1000000, late_max = 0;
	unsigned p = 0;
	for (unsigned j = 0; j <= n; j++) {
		/* Each phase's start is marked in the soak env's count. */
		while (p < nph && (j == n || rq.offset[j] >= ph[p].start)) {
			thread_sleep_until(t0 + ph[p].start);
			sys_event_post((uint32_t)be, (unsigned)home, PHASE_BIT);
			p++;
		}
		if (j == n)
			break;
		uint64_t at = t0 + rq.offset[j];
		thread_sleep_until(at);
		uint64_t late = keel_now() - at;
		late_max = late > late_max ? late : late_max;
		rq.arrival[j] = at;
		if (request_hand(j)) {
			printf("sched caladan: no thread for request %u: %s\n", j, errname(thread_errno()));
			return 1;
		}
	}
	thread_sleep_until(t0 + ph[nph - 1].end);
	sys_event_post((uint32_t)be, (unsigned)home, PHASE_BIT); /* the last phase's end */
	requests_wait(n);
	sched_caladan_borrower = -1; /* no more lending */
	sys_event_post((uint32_t)be, (unsigned)home, STOP_BIT);
	keel_env_wait((uint32_t)be);

	uint64_t *lat = malloc(n * sizeof *lat);
	if (!lat)
		return 1;
	int rc = 0;
#define U(x) ((unsigned long long)(x))
	for (unsigned q = 0; q < nph; q++) {
		unsigned k = 0;
		for (unsigned j = ph[q].first; j < ph[q].first + ph[q].n; j++)
			lat[k++] = rq.done[j] - rq.arrival[j];
		keel_sort_u64(lat, k);
		uint64_t from = t0 + ph[q].start, to = t0 + ph[q].end, mean;
		unsigned at_start;
		uint64_t full = owned_over(from, to, workers, &mean, &at_start);
		unsigned changes = 0, by[SOAK_CPUS] = { 0 };
		for (unsigned i = 0; i < sched_caladan_logged && i < sched_caladan_log_size; i++)
			changes += log[i].at >= from && log[i].at < to;
		for (unsigned j = ph[q].first; j < ph[q].first + ph[q].n; j++)
			by[rq.cpu[j] < SOAK_CPUS ? rq.cpu[j] : 0]++;
		char served[64];
		int len = 0;
		for (unsigned i = 1; i < sched_ncpus() && len < (int)sizeof served - 16; i++)
			len += snprintf(served + len, sizeof served - len, "%s%u", i > 1 ? " " : "", by[sched_cpu_id(i)]);
		printf("sched caladan: phase %u %s load %u: %u requests, p50 %llu p99 %llu max %llu ns; %u moves, "
		       "%llu.%03llu workers owned on average, %u at its start; all %u owned after %lld ns (%lld intervals); "
		       "served by each worker %s\n",
		       q, q & 1 ? "high" : "low", q & 1 ? high : low, k, U(pct(lat, k, 500)), U(pct(lat, k, 990)),
		       U(k ? lat[k - 1] : 0), changes, U(mean / 1000), U(mean % 1000), at_start, workers,
		       full ? (long long)(full - from) : -1LL, full ? (long long)((full - from) / (iv_us * 1000)) : -1LL,
		       served);
	}
	printf("sched caladan: %llu lends (%llu refused by the kernel), %llu taken back, %u changes logged; "
	       "generator late at most %llu ns; pool grew %u; start %llu\n",
	       U(sched_lends - lends0), U(sched_lend_failures), U(sched_reclaims - reclaims0), sched_caladan_logged,
	       U(late_max), rq.grown, U(t0));
#undef U
	free(lat);
	requests_end();
	return rc;
}
