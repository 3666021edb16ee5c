/* The scheduling trace: a fixed ring of events, dumped as CSV (sched.h).
 * bench/schedtrace.py turns a dump into a Gantt chart and per-thread job
 * metrics. */
#include "dispatch.h"
#include "mem.h"

#define TRACE_EVENTS 8192 /* a power of two */
#define TRACE_NAMES 2048

struct trace_rec {
	uint64_t t;
	uint16_t ev, cpu; /* cpu: the library's CPU it was recorded on */
	uint32_t tid;
	uint64_t a, b;
};

static struct trace_rec ring0[TRACE_EVENTS];
static struct trace_rec *ring = ring0;
static uint64_t ring_size = TRACE_EVENTS;
static uint64_t head; /* events recorded since the last clear */
static char names[TRACE_NAMES][16];

static const char *const event_names[TR_EVENTS] = {
	[TR_SWITCH] = "switch", [TR_PREEMPT] = "preempt", [TR_WAKE] = "wake",
	[TR_BLOCK] = "block", [TR_SLEEP] = "sleep", [TR_TICK] = "tick",
	[TR_RELEASE] = "release", [TR_COMPLETE] = "complete", [TR_MISS] = "miss",
	[TR_CREATE] = "create", [TR_EXIT] = "exit", [TR_POLICY] = "policy",
	[TR_ACTIVATION] = "activation",
};

void trace_thread(int tid, const char *name)
{
	if (tid <= 0 || tid >= TRACE_NAMES)
		return;
	size_t n = strnlen(name, sizeof names[0] - 1);
	memcpy(names[tid], name, n);
	names[tid][n] = 0;
}

/* (Each record's place is taken atomically: several CPUs may record at
 * once, though the dispatcher's own events come under its lock.) */
uint64_t trace(enum trace_event ev, int tid, uint64_t a, uint64_t b)
{
	uint64_t i = __atomic_fetch_add(&head, 1, __ATOMIC_RELAXED);
	struct trace_rec *r = &ring[i & (ring_size - 1)];
	*r = (struct trace_rec){ .t = keel_now(), .ev = (uint16_t)ev, .cpu = (uint16_t)dispatch_here()->idx,
				 .tid = (uint32_t)tid, .a = a, .b = b };
	return r->t;
}

void trace_clear(void) { head = 0; }

int trace_reserve(uint64_t events)
{
	uint64_t n = TRACE_EVENTS;
	while (n < events)
		n <<= 1;
	if (n == ring_size)
		return 0;
	struct trace_rec *r = malloc(n * sizeof *r);
	if (!r)
		return -ENOMEM;
	struct dcpu *c = dispatch_lock();
	struct trace_rec *old = ring;
	ring = r;
	ring_size = n;
	head = 0;
	(void)c;
	dispatch_unlock();
	if (old != ring0)
		free(old);
	return 0;
}

void trace_dump(void)
{
	uint64_t end = __atomic_load_n(&head, __ATOMIC_RELAXED); /* (what comes while it prints is not dumped) */
	uint64_t n = end < ring_size ? end : ring_size;
	const struct sched_policy *p = sched_policy();
	/* env= ties the dump to its env's tracks in ./keel trace (bench/ktrace.py). */
	printf("sched-trace: begin policy=%s events=%llu dropped=%llu env=%ld\n", p ? p->name : "none",
	       (unsigned long long)n, (unsigned long long)(end - n), sys_env_id());
	for (int tid = 1; tid < TRACE_NAMES; tid++)
		if (names[tid][0])
			printf("sched-thread: %d,%s\n", tid, names[tid]);
	printf("sched-trace: t_ns,event,tid,a,b,cpu\n");
	for (uint64_t i = end - n; i < end; i++) {
		struct trace_rec *r = &ring[i & (ring_size - 1)];
		printf("sched-trace: %llu,%s,%u,%llu,%llu,%u\n", (unsigned long long)r->t, event_names[r->ev], r->tid,
		       (unsigned long long)r->a, (unsigned long long)r->b, r->cpu);
	}
	printf("sched-trace: end\n");
}
