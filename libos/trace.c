/* The scheduling trace: a fixed ring of events, dumped as CSV (sched.h).
 * bench/schedtrace.py turns a dump into a Gantt chart and per-thread job
 * metrics. */
#include "sched.h"

#define TRACE_EVENTS 8192 /* a power of two */
#define TRACE_NAMES 2048

struct trace_rec {
	uint64_t t;
	uint32_t ev, tid;
	uint64_t a, b;
};

static struct trace_rec ring[TRACE_EVENTS];
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

uint64_t trace(enum trace_event ev, int tid, uint64_t a, uint64_t b)
{
	struct trace_rec *r = &ring[head++ & (TRACE_EVENTS - 1)];
	*r = (struct trace_rec){ .t = keel_now(), .ev = ev, .tid = (uint32_t)tid, .a = a, .b = b };
	return r->t;
}

void trace_clear(void) { head = 0; }

void trace_dump(void)
{
	uint64_t n = head < TRACE_EVENTS ? head : TRACE_EVENTS;
	const struct sched_policy *p = sched_policy();
	/* env= ties the dump to its env's tracks in ./keel trace (bench/ktrace.py). */
	printf("sched-trace: begin policy=%s events=%llu dropped=%llu env=%ld\n", p ? p->name : "none",
	       (unsigned long long)n, (unsigned long long)(head - n), sys_env_id());
	for (int tid = 1; tid < TRACE_NAMES; tid++)
		if (names[tid][0])
			printf("sched-thread: %d,%s\n", tid, names[tid]);
	printf("sched-trace: t_ns,event,tid,a,b\n");
	for (uint64_t i = head - n; i < head; i++) {
		struct trace_rec *r = &ring[i & (TRACE_EVENTS - 1)];
		printf("sched-trace: %llu,%s,%u,%llu,%llu\n", (unsigned long long)r->t, event_names[r->ev], r->tid,
		       (unsigned long long)r->a, (unsigned long long)r->b);
	}
	printf("sched-trace: end\n");
}
