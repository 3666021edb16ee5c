/*
 * Requests served by a pool of threads, for the request-serving demos
 * (shinjuku.c, caladan.c): request j is `size[j]` guest instructions,
 * handed by the load generator (main) to a pool thread -- priority 0, a
 * request to the policies that serve them -- at its arrival; its latency
 * is from arrival to the end of its work.
 */
#ifndef SCHED_REQUESTS_H
#define SCHED_REQUESTS_H

#include "demo.h"

#define REQ_CALIBRATE 4 /* rounds of the capacity's measure */
#define REQ_BACKLOG 4   /* requests per worker in a round */

struct requests {
	unsigned n;
	uint64_t *offset; /* arrival, clock ns after a run's start */
	uint64_t *size;   /* instructions */
	uint64_t *arrival, *start, *done, *preempted;
	uint64_t *cpu;    /* the (kernel) CPU it ended on */
	volatile unsigned completed;
	unsigned pool;    /* threads made before the runs */
	unsigned grown;   /* threads the pool grew by (it ran dry) */
};
extern struct requests rq;

/* The arrays for n requests and a pool of `pool` threads, each waiting
 * for its first request: 0, or -1 (said why, as `who`). */
int requests_init(unsigned n, unsigned pool, const char *who);
/* The arrays again, for n requests (zeroed). */
int requests_size(unsigned n, const char *who);
/* Hand request j to a pool thread that waits for one (a new one if none
 * does): 0, or -1 (no thread). */
int request_hand(long j);
/* Wait until rq.completed reaches n. */
void requests_wait(unsigned n);
/* End every pool thread. */
void requests_end(void);
/* The workers' capacity, instructions per microsecond of the clock, from
 * REQ_CALIBRATE rounds of REQ_BACKLOG requests of `size` per worker handed
 * at once (requests 0 .. REQ_CALIBRATE * workers * REQ_BACKLOG - 1): their
 * instructions over the time from the first start to the last end (each
 * worker busy back to back, its per-request costs included). 0: failed. */
uint64_t requests_capacity(unsigned workers, uint64_t size);
/* Poisson arrivals: the next exponential gap of mean `mean_ns`. */
uint64_t requests_gap(struct keel_rand *r, double mean_ns);
/* The per-mille percentile of n sorted values. */
uint64_t pct(const uint64_t *sorted, unsigned n, unsigned per_mille);

#endif
