/*
 * `exhaust MODE`: run one kernel resource out from Ring 3 and check that the
 * kernel answers with an error, gives everything back, and serves again
 * (tests/test_hostile.py). Each line it prints is one measured fact.
 *   frames   allocate frames until refused (the machine's memory, or the
 *            quota); delete them; allocate again
 *   pt       turn frames into page tables until refused; delete them
 *   timers   re-arm this env's deadline 100,000 times: the kernel's timer
 *            queue holds one entry per env, however often it is re-armed,
 *            and only the last deadline fires, once
 *   spawn    each refused SYS_ENV_SPAWN with its code; children until the
 *            env quota refuses; every share back once they end
 *   bomb     spawn copies of itself without end, each of which does the
 *            same: stopped by the quota, nobody else's
 *   orphan   spawn three long spinners and exit: they end with it
 */
#include "env.h"
#include "keel.h"
#include "lib/errname.h"
#include "lib/string.h"
#include "vm.h"

static struct keel_quota_info quota(void)
{
	struct keel_quota_info q;
	long err = sys_quota_info(&q);
	if (err) {
		printf("exhaust: quota_info: %s\n", errname((int)err));
		sys_exit(1);
	}
	return q;
}

static int failed;
static void check(int ok, const char *what)
{
	if (!ok) {
		printf("exhaust: FAILED: %s\n", what);
		failed = 1;
	}
}

/* Slots of everything made, to delete afterwards (one page per 512). */
#define MAX_SLOTS (1u << 20)
static uint32_t *slots;

static uint32_t *slot_array(void)
{
	long r = sys_vrange_alloc((uint64_t)MAX_SLOTS * 4, 0);
	if (r < 0)
		return NULL;
	struct keel_cap_info info;
	sys_cap_info((uint32_t)r, &info);
	/* The first page now (so it is in every "before"); the others as the
	 * count reaches them. */
	if (vm_map_new(info.base, KEEL_MAP_WRITE) < 0)
		return NULL;
	return (uint32_t *)info.base;
}

/* Make sure slots[i] is backed (maps a page every 1024 slots). */
static long slot_store(uint32_t i, uint32_t v)
{
	if (i && i % 1024 == 0) {
		long err = vm_map_new((uint64_t)&slots[i], KEEL_MAP_WRITE);
		if (err < 0)
			return err;
	}
	slots[i] = v;
	return 0;
}

static void frames(void)
{
	struct keel_quota_info before = quota();
	uint32_t n = 0;
	long err;
	for (;;) {
		err = sys_frame_alloc();
		if (err < 0)
			break;
		if (slot_store(n, (uint32_t)err) < 0) {
			sys_cap_delete((uint32_t)err);
			err = -ENOMEM; /* the bookkeeping page itself was refused */
			break;
		}
		n++;
	}
	struct keel_quota_info full = quota();
	printf("exhaust frames: %u frames allocated, then %s (%llu frames free in the machine)\n", n,
	       errname((int)err), (unsigned long long)full.frames_free);
	for (uint32_t i = 0; i < n; i++)
		check(sys_cap_delete(slots[i]) == 0, "delete a frame");
	struct keel_quota_info after = quota();
	long again = sys_frame_alloc();
	check(again >= 0, "allocate after deleting");
	if (again >= 0)
		sys_cap_delete((uint32_t)again);
	printf("exhaust frames: deleted: frames free %llu -> %llu -> %llu; allocating again: %s\n",
	       (unsigned long long)before.frames_free, (unsigned long long)full.frames_free,
	       (unsigned long long)after.frames_free, again >= 0 ? "ok" : errname((int)again));
}

static void pt(void)
{
	/* Level-1 tables cover 2 MiB each: bind them to successive 2 MiB of a
	 * 64 GiB range of our own (32,768 possible). */
	long vr = sys_vrange_alloc(64ULL << 30, 1ULL << 30);
	struct keel_cap_info info;
	if (vr < 0 || sys_cap_info((uint32_t)vr, &info)) {
		printf("exhaust pt: no range: %s\n", errname((int)vr));
		sys_exit(1);
	}
	struct keel_quota_info before = quota();
	uint32_t n = 0;
	long err;
	for (;;) {
		long f = sys_frame_alloc();
		if (f < 0) {
			err = f;
			break;
		}
		err = sys_pt_retype((uint32_t)f, 1, info.base + ((uint64_t)n << 21));
		if (err == 0)
			err = slot_store(n, (uint32_t)f);
		if (err < 0) {
			sys_cap_delete((uint32_t)f);
			break;
		}
		if (++n == 32768) {
			err = 0;
			break;
		}
	}
	printf("exhaust pt: %u page tables made, then %s\n", n, errname((int)err));
	for (uint32_t i = 0; i < n; i++)
		check(sys_cap_delete(slots[i]) == 0, "delete a table");
	check(sys_cap_delete((uint32_t)vr) == 0, "delete the range");
	struct keel_quota_info after = quota();
	printf("exhaust pt: deleted: frames used %u -> %u (the slot list's own pages: %u)\n", before.frames_used,
	       after.frames_used, n ? (n - 1) / 1024 : 0);
}

/* Timer events seen, and what the area said of the last one. */
static volatile uint64_t timer_events, event_deadline, event_delivered_at;
static void on_event(struct keel_upcall_area *a, uint64_t events, struct keel_context *interrupted)
{
	(void)interrupted;
	if (events & KEEL_EV_TIMER) {
		timer_events++;
		event_deadline = a->deadline;
		event_delivered_at = a->delivered_at;
	}
}

/*
 * One deadline per env, re-armed in place: each SYS_SET_DEADLINE replaces
 * the one before. So after 100,000 arms, each 1-2 s ahead of its own arm,
 * then a last one 1 ms ahead, the kernel's queue never held more than one
 * entry for this env (asked after every arm), and once the clock is past
 * every deadline ever set, exactly one timer event came: for the last.
 */
static void timers(void)
{
	if (keel_upcalls_init(on_event, NULL)) {
		printf("exhaust timers: no upcalls\n");
		sys_exit(1);
	}
	long most = 0;
	uint64_t latest = 0; /* the latest deadline ever set */
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t d = keel_now() + 1000000000ULL + x % 1000000000ULL;
		check(sys_set_deadline(d) == 0, "set a deadline");
		if (d > latest)
			latest = d;
		long q = sys_debug(DEBUG_TIMERS, 0, 0);
		if (q > most)
			most = q;
	}
	uint64_t early_events = timer_events;
	uint64_t last = keel_now() + 1000000;
	check(sys_set_deadline(last) == 0, "set the last deadline");
	long q = sys_debug(DEBUG_TIMERS, 0, 0);
	if (q > most)
		most = q;
	if (last > latest)
		latest = last;
	while (keel_now() < latest + 1000000) /* past every deadline ever set */
		sys_yield();
	printf("exhaust timers: 100000 deadlines set, each 1-2 s ahead; the kernel's timer queue held at most %ld "
	       "entries after any of them\n", most);
	printf("exhaust timers: then the last, 1 ms ahead; by 1 ms past the latest deadline ever set, %llu timer "
	       "event(s) delivered (%llu before the last was set), for deadline %s, delivered %s\n",
	       (unsigned long long)timer_events, (unsigned long long)early_events,
	       event_deadline == last ? "the last" : event_deadline ? "another" : "none",
	       !event_deadline ? "never" : event_delivered_at >= event_deadline ? "on time" : "EARLY");
	check(timer_events == 1, "exactly one timer event");
	check(event_deadline == last, "the event is for the last deadline set");
	check(event_delivered_at >= last, "not before its deadline");
}

/* Until every child (ENV capability) in slots[0..n) has ended. */
static void wait_children(uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		keel_env_wait(slots[i]);
		check(sys_cap_delete(slots[i]) == 0, "delete a child's capability");
	}
}

static void spawn_mode(void)
{
	static const struct {
		const char *what;
		struct keel_spawn r;
		long want;
	} bad[] = {
		{ "image pointer in the kernel half", { (const char *)0xFFFFFFFF80000000ULL, 5, 0, 0, 64, 16, 0, 0 }, -EFAULT },
		{ "image pointer not canonical", { (const char *)0x0000800000000000ULL, 5, 0, 0, 64, 16, 0, 0 }, -EFAULT },
		{ "empty image name", { "hello", 0, 0, 0, 64, 16, 0, 0 }, -EINVAL },
		{ "image name of 32 bytes", { "hellohellohellohellohellohello12", 32, 0, 0, 64, 16, 0, 0 }, -E2BIG },
		{ "image name with a NUL inside", { "he\0lo", 5, 0, 0, 64, 16, 0, 0 }, -EINVAL },
		{ "no such module", { "nosuch", 6, 0, 0, 64, 16, 0, 0 }, -ENOENT },
		{ "a module that is not a program", { "ksyms", 5, 0, 0, 64, 16, 0, 0 }, -ENOEXEC },
		{ "arguments too long", { "hello", 5, "x", 4096, 64, 16, 0, 0 }, -E2BIG },
		{ "frame quota below 64", { "hello", 5, 0, 0, 63, 16, 0, 0 }, -EINVAL },
		{ "capability quota below 16", { "hello", 5, 0, 0, 64, 15, 0, 0 }, -EINVAL },
		{ "more frames than it has", { "hello", 5, 0, 0, 0xFFFFFFFFu, 16, 0, 0 }, -EDQUOT },
		{ "more capabilities than it has", { "hello", 5, 0, 0, 64, 0xFFFFFFFFu, 0, 0 }, -EDQUOT },
		{ "more envs than it may have", { "hello", 5, 0, 0, 64, 16, 0xFFFFFFFFu, 0 }, -EDQUOT },
		{ "an unknown flag", { "hello", 5, 0, 0, 64, 16, 0, 2 }, -EINVAL },
	};
	struct keel_quota_info q0 = quota();
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		long got = sys_env_spawn(&bad[i].r);
		printf("exhaust spawn: %s: %s\n", bad[i].what, got < 0 ? errname((int)got) : "accepted");
		check(got == bad[i].want, bad[i].what);
		if (got >= 0)
			sys_cap_delete((uint32_t)got);
	}
	check(sys_env_spawn((const struct keel_spawn *)0x10) == -EFAULT, "request at an unmapped address");
	uint32_t n = 0;
	long err;
	while ((err = keel_spawn("hello", "child", 64, 16, 0)) >= 0)
		slot_store(n++, (uint32_t)err);
	struct keel_quota_info full = quota();
	printf("exhaust spawn: %u children (quota %u envs), then %s with %u alive; frames used %u -> %u\n", n,
	       q0.envs_quota, errname((int)err), full.envs_used, q0.frames_used, full.frames_used);
	/* (Some may have ended already and given their share back.) */
	check(full.envs_used == q0.envs_quota && err == -EDQUOT, "the env quota bounds the children");
	wait_children(n);
	struct keel_quota_info after = quota();
	printf("exhaust spawn: all ended: envs used %u, frames used %u, capabilities used %u (before %u)\n",
	       after.envs_used, after.frames_used, after.caps_used, q0.caps_used);
	check(after.envs_used == 0 && after.frames_used == q0.frames_used && after.caps_used == q0.caps_used,
	      "every share returned");
}

/* Spawn copies of itself for ever: half of what is left to each. */
static void bomb(int depth)
{
	uint32_t n = 0;
	long err;
	for (;;) {
		struct keel_quota_info q = quota();
		uint32_t envs_left = q.envs_quota - q.envs_used;
		uint32_t frames = (q.frames_quota - q.frames_used) / 4;
		uint32_t caps = (q.caps_quota - q.caps_used) / 4;
		char args[32];
		snprintf(args, sizeof args, "bomb %d", depth + 1);
		err = keel_spawn("exhaust", args, frames < 64 ? 64 : frames, caps < 16 ? 16 : caps,
			    envs_left ? (envs_left - 1) / 2 : 0);
		if (err < 0)
			break;
		if (slot_store(n++, (uint32_t)err) < 0)
			break;
	}
	printf("exhaust bomb: env %ld depth %d: spawned %u, then %s\n", sys_env_id(), depth, n, errname((int)err));
	wait_children(n);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "frames";
	if (vm_init()) {
		printf("exhaust: vm_init failed\n");
		return 1;
	}
	slots = slot_array();
	if (!slots) {
		printf("exhaust: no range for the slot array\n");
		return 1;
	}
	if (!strcmp(mode, "frames"))
		frames();
	else if (!strcmp(mode, "pt"))
		pt();
	else if (!strcmp(mode, "timers"))
		timers();
	else if (!strcmp(mode, "spawn"))
		spawn_mode();
	else if (!strcmp(mode, "orphan")) {
		for (int i = 0; i < 3; i++)
			check(keel_spawn("spin", "orphan 1000000", 64, 16, 0) >= 0, "spawn a spinner");
		sys_yield();
		printf("exhaust orphan: exiting with 3 children running\n");
	} else if (!strcmp(mode, "bomb"))
		bomb(argc > 2 ? (int)keel_atou(argv[2]) : 0);
	else {
		printf("exhaust: unknown mode '%s'\n", mode);
		return 2;
	}
	if (!failed)
		printf("exhaust %s: ok\n", mode);
	return failed;
}
