/*
 * `life MODE ...`: envs that end while they run on other CPUs, and many envs
 * at once (tests/test_smp_lifetime.py). A parent ends a child by deleting
 * the ENV capability SYS_ENV_SPAWN gave it (docs/abi.md "Spawning"); the
 * kernel stops the child on whatever CPU holds it before anything of it is
 * freed. Children put themselves on a CPU with DEBUG_PIN (debug builds).
 *
 *   kill NCPUS ROUNDS    the parent on cpu0 spawns ROUNDS children, one at a
 *                        time, each pinned to one of cpu1..cpuNCPUS-1 in turn:
 *                        a Ring 3 spinner, a child looping in syscalls, and a
 *                        waiter blocked in SYS_EVENT_WAIT (its CPU idles with
 *                        its CR3 still loaded), in turn; each increments its
 *                        counter in a page shared with the parent. Once a
 *                        child is seen running (its counter moving) or
 *                        waiting, the parent deletes its ENV capability; the
 *                        counter must never move again, watched after each
 *                        kill and at the end. Then a crowd: a spinner and a
 *                        syscall loop on every other CPU at once, all killed
 *                        while they run.
 *   many NCPUS ALIVE TOTAL
 *                        ALIVE children alive at once (each maps a shared page,
 *                        says it arrived, and blocks in SYS_EVENT_WAIT on the
 *                        CPU it pinned itself to, round robin), all killed;
 *                        then waves of ALIVE until TOTAL were spawned, half
 *                        of each wave blocking (killed), half exiting at once
 *
 * The children (spawned by the modes above): spin|calls|wait IDX CPU,
 * hold CPU, brief.
 */
#include "env.h"
#include "ipc.h"
#include "keel.h"
#include "lib/string.h"
#include "vm.h"

#define PAGE 4096ULL
#define ROUNDS_MAX 240
/* A child's image, stack and tables take 52 frames and as many capability
 * slots (the loader's, charged before its quotas are set); the shared page,
 * the range it goes in and a table or two fit in the rest. */
#define CHILD_FRAMES 64
#define CHILD_CAPS 64

/* The page a parent shares with its children (one frame, derived to each). */
struct box {
	uint64_t count[ROUNDS_MAX]; /* kill: each child's counter */
	uint64_t ready[ROUNDS_MAX]; /* kill: 1 once it runs on its CPU, 2 once it is about to wait */
	uint64_t arrived;           /* many: hold children that are pinned and about to wait */
};
static volatile struct box *box;

static int failed;
static void check(int ok, const char *what)
{
	if (!ok) {
		printf("life: FAILED: %s\n", what);
		failed = 1;
	}
}

static long must(long r, const char *what)
{
	if (r < 0) {
		printf("life: FAILED: %s: %s\n", what, errname((int)r));
		sys_exit(2);
	}
	return r;
}

static uint64_t vrange(uint64_t size)
{
	long s = must(sys_vrange_alloc(size, 0), "a virtual range");
	struct keel_cap_info info;
	must(sys_cap_info((uint32_t)s, &info), "the range's info");
	return info.base;
}

static int from_other(const struct keel_cap_info *i, uint64_t unused)
{
	(void)unused;
	return i->from != 0;
}

/* ------------------------------------------------------------ children */

/* Map the page the parent derived to this child (it may come a moment
 * after the child starts). */
static void map_box(void)
{
	/* It lands in the lowest free slot, just above the loader's: look at
	 * 16 slots there, and only every 16th time at all of them. (Each slot
	 * looked at is a syscall, and there are 512: scanning them all while
	 * the parent has not derived it yet cost seconds under a loaded host,
	 * every syscall taking the kernel lock from three other vCPUs.) */
	struct keel_quota_info q;
	sys_quota_info(&q);
	uint32_t from = q.caps_used > 8 ? q.caps_used - 8 : 0;
	long f = -1;
	for (unsigned n = 1; f < 0; n++) {
		if (n % 16) {
			struct keel_cap_info info;
			for (uint32_t s = from; s < from + 16 && f < 0; s++)
				if (sys_cap_info(s, &info) == 0 && info.type == KEEL_CAP_FRAME && from_other(&info, 0))
					f = s;
		} else {
			f = vm_find_cap(0, KEEL_CAP_FRAME, from_other, 0, NULL);
		}
		if (f < 0)
			sys_yield();
	}
	if (vm_init()) /* (its page tables: for the mapping below) */
		sys_exit(2);
	uint64_t v = vrange(PAGE);
	must(vm_map(v, (uint32_t)f, KEEL_MAP_WRITE), "map the shared page");
	box = (volatile struct box *)v;
}

static void pin(unsigned cpu) { must(sys_debug(DEBUG_PIN, cpu, 0), "DEBUG_PIN"); }

static void on_event(struct keel_upcall_area *a, uint64_t events, struct keel_context *interrupted)
{
	(void)a, (void)events, (void)interrupted;
}

/* Block for good: events arrive by upcall, so it needs an area. A deadline
 * far ahead keeps the kernel from taking it for a waiter nothing can wake
 * (it never comes: the parent ends it first). */
static void wait_for_ever(volatile uint64_t *count)
{
	must(keel_upcalls_init(on_event, NULL), "upcalls");
	must(sys_set_deadline(keel_now() + 600000000000ULL), "a deadline");
	for (;;) {
		sys_event_wait();
		if (count)
			(*count)++; /* woken: it must not be, it is dead by then */
	}
}

static int child(const char *mode, int argc, char **argv)
{
	if (!strcmp(mode, "brief"))
		return 0;
	if (!strcmp(mode, "hold")) {
		/* Pinned first: by the time it is on its CPU the parent has
		 * derived the page (no scans of its slots while it waits). */
		pin(argc > 2 ? (unsigned)keel_atou(argv[2]) : 0);
		map_box();
		__atomic_fetch_add(&box->arrived, 1, __ATOMIC_SEQ_CST);
		wait_for_ever(NULL);
	}
	unsigned idx = argc > 2 ? (unsigned)keel_atou(argv[2]) : 0;
	unsigned cpu = argc > 3 ? (unsigned)keel_atou(argv[3]) : 1;
	if (idx >= ROUNDS_MAX)
		return 2;
	pin(cpu);
	map_box();
	volatile uint64_t *count = &box->count[idx];
	if (!strcmp(mode, "spin")) {
		box->ready[idx] = 1;
		for (;;) /* Ring 3 only, until it is stopped */
			(*count)++;
	}
	if (!strcmp(mode, "calls")) {
		box->ready[idx] = 1;
		struct keel_quota_info q;
		struct keel_cap_info ci;
		for (uint64_t n = 0;; n++) {
			(*count)++;
			switch (n % 4) { /* the general path, the locked fast path, the unlocked one */
			case 0: sys_yield(); break;
			case 1: sys_quota_info(&q); break;
			case 2: sys_cap_info(0, &ci); break;
			default: sys_env_id(); break;
			}
		}
	}
	if (!strcmp(mode, "wait")) {
		box->ready[idx] = 2;
		wait_for_ever(count);
	}
	return 2;
}

/* --------------------------------------------------------------- parent */

static uint32_t shared;     /* the parent's frame capability for the box */

static void make_box(void)
{
	uint64_t v = vrange(PAGE);
	shared = (uint32_t)must(vm_map_new(v, KEEL_MAP_WRITE), "map the box");
	box = (volatile struct box *)v;
}

static long spawn_sharing(const char *args)
{
	long s = keel_spawn("life", args, CHILD_FRAMES, CHILD_CAPS, 0);
	if (s < 0)
		return s;
	long d = sys_cap_derive(shared, KEEL_R_READ | KEEL_R_WRITE, (uint32_t)s);
	if (d < 0) {
		sys_cap_delete((uint32_t)s);
		return d;
	}
	return s;
}

static uint64_t now_ms(void) { return keel_now() / 1000000; }

/* Wait up to `ms` for *p >= v (the child may be slow to get a CPU). The
 * bound is wall time under multi-threaded TCG: generous, so that a loaded
 * host only makes the run slower (the test's own timeout is the limit). */
#define AWAIT_MS 60000
/* Wait up to `ms` for *p >= v (the child may be slow to get a CPU). */
static int await(volatile uint64_t *p, uint64_t v, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	while (*p < v)
		if (now_ms() > end)
			return 0;
	return 1;
}

static uint64_t after_kill[ROUNDS_MAX]; /* each killed child's counter when its kill returned */
static unsigned killed;

/* Every counter of a killed child is where it was when its kill returned. */
static unsigned moved_since_kill(void)
{
	unsigned moved = 0;
	for (unsigned i = 0; i < killed; i++)
		moved += box->count[i] != after_kill[i];
	return moved;
}

/* Watch the killed ones for `ms`: the number of counters that moved. */
static unsigned watch(uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	unsigned moved = 0;
	while (now_ms() <= end && !moved)
		moved = moved_since_kill();
	return moved;
}

static const char *const kinds[] = { "spin", "calls", "wait" };

static void kill_one(uint32_t slot, unsigned idx)
{
	long r = sys_cap_delete(slot);
	after_kill[idx] = box->count[idx]; /* the first read after the kill returned */
	check(r == 0, "the kill returns 0");
	killed = idx + 1;
}

static void kill_mode(unsigned ncpus, unsigned rounds)
{
	if (ncpus < 2 || rounds + 2 * (ncpus - 1) > ROUNDS_MAX) {
		printf("life kill: need 2 CPUs or more and at most %u rounds\n", ROUNDS_MAX);
		sys_exit(2);
	}
	pin(0);
	make_box();
	struct keel_quota_info q0;
	sys_quota_info(&q0);
	unsigned late = 0, seen[3] = { 0 };
	for (unsigned i = 0; i < rounds; i++) {
		unsigned kind = i % 3, cpu = 1 + (i / 3) % (ncpus - 1);
		char args[48];
		snprintf(args, sizeof args, "%s %u %u", kinds[kind], i, cpu);
		long s = must(spawn_sharing(args), "spawn a child");
		int ok;
		if (kind == 2) {
			/* It says it is about to wait; a moment for the wait itself. */
			ok = await(&box->ready[i], 2, AWAIT_MS);
			uint64_t t = now_ms() + 50;
			while (now_ms() < t)
				;
		} else {
			/* Running now: its counter moves while we look. */
			ok = await(&box->ready[i], 1, AWAIT_MS) && await(&box->count[i], 1000, AWAIT_MS);
			uint64_t c = box->count[i];
			ok = ok && await(&box->count[i], c + 1, AWAIT_MS);
		}
		check(ok, "the child runs on its CPU");
		seen[kind] += ok;
		kill_one((uint32_t)s, i);
		unsigned moved = watch(20);
		late += moved;
		printf("life kill: round %u: %s child on cpu%u killed at count %llu; %s 20 ms later\n", i, kinds[kind],
		       cpu, (unsigned long long)after_kill[i], moved ? "MOVED" : "still");
		struct keel_quota_info q;
		sys_quota_info(&q);
		check(q.envs_used == 0, "its env's share is back");
	}
	/* The crowd: every other CPU runs a spinner and a syscall loop; all
	 * of them are killed as they run, one after the other. */
	unsigned first = rounds, n = 2 * (ncpus - 1);
	uint32_t slots[2 * 64];
	for (unsigned k = 0; k < n; k++) {
		char args[48];
		snprintf(args, sizeof args, "%s %u %u", kinds[k % 2], first + k, 1 + k / 2);
		slots[k] = (uint32_t)must(spawn_sharing(args), "spawn a crowd child");
	}
	int ok = 1;
	for (unsigned k = 0; k < n; k++) {
		/* (The syscall loops contend for the kernel lock three at a time
		 * here: a few turns each is proof enough that they run.) */
		int got = await(&box->ready[first + k], 1, AWAIT_MS) &&
			  await(&box->count[first + k], k % 2 ? 20 : 1000, AWAIT_MS);
		if (!got)
			printf("life kill: crowd child %u (%s on cpu%u): ready %llu, count %llu after %llu s\n", k,
			       kinds[k % 2], 1 + k / 2, (unsigned long long)box->ready[first + k],
			       (unsigned long long)box->count[first + k], (unsigned long long)AWAIT_MS / 1000);
		ok &= got;
	}
	check(ok, "the crowd runs");
	for (unsigned k = 0; k < n; k++)
		kill_one(slots[k], first + k);
	late += watch(20);
	printf("life kill: crowd: %u children running on cpu1..cpu%u killed one after the other\n", n, ncpus - 1);
	unsigned moved = watch(200);
	printf("life kill: %u children killed (%u spinning, %u in syscalls, %u waiting, then %u in a crowd); "
	       "counters that moved after their kill returned: %u (watched 20 ms after each, 200 ms at the end)\n",
	       killed, seen[0], seen[1], seen[2], n, late + moved);
	check(late + moved == 0, "no killed child ever runs again");
	struct keel_quota_info q;
	sys_quota_info(&q);
	check(q.envs_used == 0 && q.frames_used == q0.frames_used && q.caps_used == q0.caps_used,
	      "every share is back");
}

#define ALIVE_MAX 1024
static uint32_t slots[ALIVE_MAX];
static uint8_t holds[ALIVE_MAX];

static void many_mode(unsigned ncpus, unsigned alive, unsigned total)
{
	if (!ncpus || !alive || alive > ALIVE_MAX) {
		printf("life many: bad arguments\n");
		sys_exit(2);
	}
	pin(0);
	make_box();
	struct keel_quota_info q0;
	sys_quota_info(&q0);
	uint64_t t0 = now_ms();
	unsigned spawned = 0, exited = 0, kills = 0, most = 0;
	for (unsigned wave = 0; spawned < total; wave++) {
		unsigned n = total - spawned < alive ? total - spawned : alive, want_arrived = 0;
		box->arrived = 0;
		for (unsigned i = 0; i < n; i++) {
			/* The first wave all stay; later ones half stay, half exit. */
			holds[i] = wave == 0 || i % 2 == 0;
			char args[32];
			snprintf(args, sizeof args, "hold %u", i % ncpus);
			long s = holds[i] ? spawn_sharing(args) : keel_spawn("life", "brief", CHILD_FRAMES, CHILD_CAPS, 0);
			if (s < 0) {
				printf("life many: wave %u: spawning child %u: %s\n", wave, i, errname((int)s));
				sys_exit(1);
			}
			slots[i] = (uint32_t)s;
			want_arrived += holds[i];
		}
		spawned += n;
		/* Until every holder is on its CPU, about to block, and every
		 * brief one has ended by itself. */
		uint64_t end = now_ms() + 60000;
		struct keel_quota_info q;
		for (;;) {
			/* The env quota says how many are alive: one cheap call
			 * (each GONE check looks the env up among all of them). */
			sys_quota_info(&q);
			if ((box->arrived == want_arrived && q.envs_used == want_arrived) || now_ms() > end)
				break;
			/* No syscall meanwhile: the kernel lock is the children's. */
			for (int k = 0; k < 2000; k++)
				__builtin_ia32_pause();
		}
		unsigned gone = 0;
		for (unsigned i = 0; i < n; i++)
			gone += !holds[i] && keel_env_gone(slots[i]);
		unsigned alive_now = q.envs_used; /* each child counts 1 (quota_envs 0) */
		if (alive_now > most)
			most = alive_now;
		check(box->arrived == want_arrived && gone == n - want_arrived, "every child of the wave got going");
		if (wave == 0)
			printf("life many: wave 0: %u children alive at once (%llu arrived and blocked, pinned round robin "
			       "over %u CPUs; envs used %u of %u)\n",
			       n, (unsigned long long)box->arrived, ncpus, q.envs_used, q.envs_quota);
		for (unsigned i = 0; i < n; i++) {
			if (holds[i]) {
				check(!keel_env_gone(slots[i]), "a holder is alive until killed");
				check(sys_cap_delete(slots[i]) == 0, "kill a holder");
				kills++;
			} else {
				check(sys_cap_delete(slots[i]) == 0, "delete an ended child's capability");
				exited++;
			}
		}
		sys_quota_info(&q);
		check(q.envs_used == 0, "every child of the wave ended");
	}
	struct keel_quota_info q;
	sys_quota_info(&q);
	printf("life many: %u spawned, %u ended (%u killed by deleting their ENV capability, %u exited), at most %u "
	       "alive at once; envs used %u, frames used %u -> %u, %llu ms\n",
	       spawned, kills + exited, kills, exited, most, q.envs_used, q0.frames_used, q.frames_used,
	       (unsigned long long)(now_ms() - t0));
	check(q.envs_used == 0 && q.frames_used == q0.frames_used && q.caps_used == q0.caps_used,
	      "every share is back");
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "kill") && strcmp(mode, "many"))
		return child(mode, argc, argv);
	if (vm_init()) {
		printf("life: vm_init failed\n");
		return 1;
	}
	if (!strcmp(mode, "kill"))
		kill_mode(argc > 2 ? (unsigned)keel_atou(argv[2]) : 2, argc > 3 ? (unsigned)keel_atou(argv[3]) : 12);
	else
		many_mode(argc > 2 ? (unsigned)keel_atou(argv[2]) : 1, argc > 3 ? (unsigned)keel_atou(argv[3]) : 1000,
			  argc > 4 ? (unsigned)keel_atou(argv[4]) : 10000);
	must(sys_cap_delete(shared), "free the box");
	if (!failed)
		printf("life %s: ok\n", mode);
	return failed;
}
