/*
 * `ipc MODE [ARGS]`: control transfer between envs (tests/test_ipc.py).
 *   server [busy]    takes protected control transfers until told to stop,
 *                    waiting for events meanwhile (busy: computing, mostly
 *                    with upcalls disabled)
 *   client N [END]   N calls to the server, every argument and result
 *                    checked; END: stop (default) | die (the server is killed
 *                    mid-call: the call fails with -EPIPE) | exit (it exits
 *                    mid-call: the same) | busy (for a busy server: -EAGAIN
 *                    retried, some calls longer than a time slice)
 *   yielder R [plain]  R rounds of "yield to the env two after me" (or a plain
 *                    yield); spinner and target log every run, so the log
 *                    shows who ran next
 *   spinner R / target R  log each run, yield; R runs
 *   hog +|-          yield to the next (+) or previous (-) env until env 3 ends
 */
#include "keel.h"
#include "ipc.h"
#include "vm.h"

enum { OP_ECHO = 1, OP_STOP, OP_DIE, OP_EXIT, OP_SLOW };

#define XMM_PATTERN 0x5EC0DE5EC0DEULL
static inline void xmm15_set(uint64_t v) { __asm__ volatile("movq %0, %%xmm15" : : "r"(v)); }
static inline uint64_t xmm15_get(void)
{
	uint64_t v;
	__asm__ volatile("movq %%xmm15, %0" : "=r"(v));
	return v;
}

static int env_is(const struct keel_cap_info *i, uint64_t id) { return i->base == id; }
/* The slot of the ENV capability for env `id`. */
static long env_slot(uint64_t id) { return vm_find_cap(0, KEEL_CAP_ENV, env_is, id, NULL); }

/* ----------------------------------------------------------------- server */
static volatile int stop;
static uint64_t served, slow_preempted;

static void expect_f(uint64_t a, uint64_t b, uint64_t c, uint64_t caller, uint64_t out[4])
{
	out[0] = a * 3 + 1;
	out[1] = ~b;
	out[2] = c ^ caller;
	out[3] = served;
}

static void handler(struct keel_upcall_area *a, uint64_t caller, uint64_t msg[4])
{
	served++;
	/* The handler's extended state is its own: the entry saved the
	 * interrupted context's, and restores it after. */
	xmm15_set(~XMM_PATTERN);
	switch (msg[0]) {
	case OP_ECHO:
		expect_f(msg[1], msg[2], msg[3], caller, msg);
		return;
	case OP_SLOW: { /* longer than a time slice: preempted inside */
		uint64_t act = __atomic_load_n(&a->activations, __ATOMIC_SEQ_CST);
		for (volatile uint64_t i = 0; i < msg[1]; i++)
			;
		slow_preempted += __atomic_load_n(&a->activations, __ATOMIC_SEQ_CST) - act;
		expect_f(msg[1], msg[2], msg[3], caller, msg);
		return;
	}
	case OP_STOP:
		stop = 1;
		msg[0] = served;
		/* Wake the main loop, which waits for events: raise one on
		 * ourselves (held while disabled, delivered after the reply). */
		__asm__ volatile("int $0x82" ::: "memory");
		return;
	case OP_DIE:
		printf("ipc server: told to die mid-call (call %llu): no trap entry, then ud2\n",
		       (unsigned long long)served);
		a->trap_entry = 0;
		__asm__ volatile("ud2");
		return;
	case OP_EXIT:
		printf("ipc server: exiting mid-call (call %llu)\n", (unsigned long long)served);
		sys_exit(7);
	default:
		msg[0] = (uint64_t)-1;
	}
}

/* Never waits: runs in stretches with upcalls disabled (calls then get
 * -EAGAIN), enabling between them; a value in xmm15 must survive every
 * handler, which clobbers it. */
static int mode_server_busy(void)
{
	uint64_t loops = 0, xmm_bad = 0, x = 88172645463325252ULL;
	struct keel_context c;
	xmm15_set(XMM_PATTERN);
	while (!stop) {
		keel_area->disabled = 1;
		/* A loop of varying length (xorshift): one of fixed length can
		 * fall in step with the time slice -- exactly so under icount --
		 * and every slice end would then find the server disabled, and
		 * every call -EAGAIN, for ever. */
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int spin = 300 + (int)(x % 400);
		for (volatile int i = 0; i < spin; i++)
			;
		keel_capture_resume(&c, keel_area); /* enabled: calls come in now */
		xmm_bad += xmm15_get() != XMM_PATTERN;
		loops++;
	}
	printf("ipc server: busy: %llu calls, %llu loops, %llu slow calls preempted, xmm15 %s\n",
	       (unsigned long long)served, (unsigned long long)loops, (unsigned long long)slow_preempted,
	       xmm_bad ? "CLOBBERED" : "kept");
	return xmm_bad != 0;
}

static int mode_server(int busy)
{
	keel_upcalls_init(NULL, NULL);
	keel_pct_serve(handler);
	printf("ipc server: env %ld takes calls\n", sys_env_id());
	if (busy)
		return mode_server_busy();
	uint64_t wakeups = 0;
	while (!stop) {
		sys_event_wait();
		wakeups++;
	}
	printf("ipc server: stopped after %llu calls, %llu wake-ups of its main loop\n", (unsigned long long)served,
	       (unsigned long long)wakeups);
	return 0;
}

/* ----------------------------------------------------------------- client */
static long call(long slot, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t r[4])
{
	uint64_t a[4] = { a0, a1, a2, a3 };
	return keel_pct_call((uint32_t)slot, a, r);
}

/* Calls into a server that is often disabled: -EAGAIN is retried by
 * yielding to it; every 64th call is slower than a time slice. */
static int client_busy(long slot, uint64_t n, long me)
{
	uint64_t eagain = 0, bad = 0, r[4] = { 0 };
	for (uint64_t i = 0; i < n; i++) {
		int slow = i % 64 == 63;
		uint64_t a[4] = { slow ? OP_SLOW : OP_ECHO, slow ? 3000000 : i * 7, ~i, i << 3 }, want[4];
		long err;
		while ((err = sys_pct_call((uint32_t)slot, a, r)) == -EAGAIN) {
			eagain++;
			if (sys_yield_to((uint32_t)slot) < 0)
				sys_yield();
		}
		served = r[3];
		expect_f(a[1], a[2], a[3], (uint64_t)me, want);
		if (i % 16 == 15)
			sys_yield(); /* the server's own loop runs too */
		bad += err || r[0] != want[0] || r[1] != want[1] || r[2] != want[2];
	}
	uint64_t stop_r[4];
	long err;
	while ((err = sys_pct_call((uint32_t)slot, (uint64_t[4]){ OP_STOP }, stop_r)) == -EAGAIN)
		sys_yield();
	printf("ipc client: busy: %llu calls, %llu wrong, %llu refused with EAGAIN and retried; stop: %s\n",
	       (unsigned long long)n, (unsigned long long)bad, (unsigned long long)eagain,
	       err ? errname((int)err) : "ok");
	printf("ipc client: %s\n", bad || err ? "FAILED" : "ok");
	return bad || err;
}

static int mode_client(uint64_t n, const char *end)
{
	long me = sys_env_id();
	long slot = env_slot((uint64_t)me - 1); /* the server is started just before */
	keel_upcalls_init(NULL, NULL);
	uint64_t r[4];
	long err = -ENOENT;
	for (int i = 0; i < 10000 && err == -ENOENT; i++) /* until it registered its entry */
		if ((err = call(slot, OP_ECHO, 0, 0, 0, r)) == -ENOENT)
			sys_yield();
	if (slot < 0 || err) {
		printf("ipc client: FAILED: no server (slot %ld, %s)\n", slot, errname((int)err));
		return 1;
	}
	if (!strcmp(end, "busy"))
		return client_busy(slot, n, me);
	/* Once the server's main loop waits for events it cannot be yielded to
	 * (-EAGAIN). It may not be there yet -- its first call can come while it
	 * still prints, or before it reaches sys_event_wait (a slow console, a
	 * busy boot): then the yield succeeds (0) and runs it on. Try again. */
	long y;
	for (int tries = 0; (y = sys_yield_to((uint32_t)slot)) == 0 && tries < 100; tries++)
		;
	printf("ipc client: yield to the waiting server: %s\n", errname((int)y));
	uint64_t bad = y != -EAGAIN, served0 = r[3], seed = 0x9E3779B97F4A7C15ULL;
	uint64_t t0 = keel_now();
	for (uint64_t i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		uint64_t a = seed, b = seed * 31 + i, c = i ^ 0xABCDEF;
		uint64_t want[4];
		err = call(slot, OP_ECHO, a, b, c, r);
		served = served0 + i + 1;
		expect_f(a, b, c, (uint64_t)me, want);
		if (err || r[0] != want[0] || r[1] != want[1] || r[2] != want[2] || r[3] != want[3]) {
			if (bad++ < 5)
				printf("ipc client: call %llu: %s (%ld), got %#llx %#llx %#llx %#llx\n", (unsigned long long)i,
				       errname((int)err), err, (unsigned long long)r[0], (unsigned long long)r[1],
				       (unsigned long long)r[2], (unsigned long long)r[3]);
		}
	}
	uint64_t ns = keel_now() - t0;
	printf("ipc client: %llu round trips, %llu wrong; %llu ns each\n", (unsigned long long)n,
	       (unsigned long long)bad, (unsigned long long)(n ? ns / n : 0));
	if (!strcmp(end, "stop")) {
		err = call(slot, OP_STOP, 0, 0, 0, r);
		printf("ipc client: stop: %s (the server counted %llu calls)\n", err ? errname((int)err) : "ok",
		       (unsigned long long)r[0]);
		bad += err != 0 || r[0] != n + 2;
	} else {
		err = call(slot, !strcmp(end, "die") ? OP_DIE : OP_EXIT, 0, 0, 0, r);
		long again = call(slot, OP_ECHO, 1, 2, 3, r);
		printf("ipc client: the server ended mid-call: the call returned %s; the next %s\n", errname((int)err),
		       errname((int)again));
		bad += err != -EPIPE || again != -ENOENT;
	}
	printf("ipc client: %s\n", bad ? "FAILED" : "ok");
	return bad != 0;
}

/* ------------------------------------------------------------------ yield */
static int mode_yielder(uint64_t rounds, int plain)
{
	long me = sys_env_id();
	long target = env_slot((uint64_t)me + 2);
	long self_err = sys_yield_to(KEEL_SELF), type_err = sys_yield_to(0);
	if (target < 0) {
		printf("yielder: FAILED: no target\n");
		return 1;
	}
	printf("yielder: yield to itself: %s, to a non-env slot: %s\n", errname((int)self_err), errname((int)type_err));
	for (uint64_t i = 0; i < rounds; i++) {
		printf("yielder: round %llu: %s\n", (unsigned long long)i, plain ? "yield" : "yield to the target");
		long err = plain ? sys_yield() : sys_yield_to((uint32_t)target);
		if (err) {
			printf("yielder: FAILED: %s\n", errname((int)err));
			return 1;
		}
	}
	return 0;
}

/* Two hogs yield to each other (partner: the env id after or before mine)
 * until the bystander (env id 3) has ended: if donations could keep one
 * slice alive for ever, it never would. */
static int gone(const struct keel_cap_info *i, uint64_t id) { return i->base == id && (i->flags & KEEL_CAPF_GONE); }

static int mode_hog(const char *partner)
{
	long me = sys_env_id();
	long slot = env_slot((uint64_t)(me + (partner[0] == '-' ? -1 : 1)));
	uint64_t n = 0;
	while (vm_find_cap(0, KEEL_CAP_ENV, gone, 3, NULL) < 0) {
		for (int i = 0; i < 1000; i++, n++) { /* a tight loop: most of the time in yields */
			long err = sys_yield_to((uint32_t)slot);
			if (err && err != -ENOENT) {
				printf("hog: FAILED: %s\n", errname((int)err));
				return 1;
			}
		}
	}
	printf("hog %ld: the bystander ended after %llu directed yields\n", me, (unsigned long long)n);
	return 0;
}

static int mode_runs(const char *who, uint64_t runs)
{
	for (uint64_t i = 0; i < runs; i++) {
		printf("%s: run %llu\n", who, (unsigned long long)i);
		sys_yield();
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	uint64_t n = argc > 2 ? keel_atou(argv[2]) : 10000;
	if (!strcmp(mode, "server"))
		return mode_server(argc > 2 && !strcmp(argv[2], "busy"));
	if (!strcmp(mode, "client"))
		return mode_client(n, argc > 3 ? argv[3] : "stop");
	if (!strcmp(mode, "yielder"))
		return mode_yielder(n, argc > 3 && !strcmp(argv[3], "plain"));
	if (!strcmp(mode, "hog"))
		return mode_hog(argc > 2 ? argv[2] : "+");
	if (!strcmp(mode, "spinner") || !strcmp(mode, "target"))
		return mode_runs(mode, n);
	printf("ipc: unknown mode %s\n", mode);
	return 2;
}
