/* Requests served by a pool of threads (requests.h). */
#include "requests.h"
#include "mem.h"

struct slot {
	struct sem go;
	volatile long req; /* the request it serves next; -1: exit */
	struct slot *next;
	struct thread *t;
};

struct requests rq;
static struct slot *free_slots; /* pushed by any CPU, popped by main alone (no ABA) */

static void slot_free(struct slot *s)
{
	struct slot *h = __atomic_load_n(&free_slots, __ATOMIC_RELAXED);
	do
		s->next = h;
	while (!__atomic_compare_exchange_n(&free_slots, &h, s, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

static struct slot *slot_take(void)
{
	struct slot *h = __atomic_load_n(&free_slots, __ATOMIC_ACQUIRE);
	while (h && !__atomic_compare_exchange_n(&free_slots, &h, h->next, true, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
		;
	return h;
}

static void *serve(void *arg)
{
	struct slot *s = arg;
	struct thread *self = thread_self();
	for (;;) {
		sem_wait(&s->go);
		long j = s->req;
		if (j < 0)
			return NULL;
		uint64_t pre = self->preemptions;
		rq.start[j] = keel_now();
		thread_burn(rq.size[j]);
		rq.done[j] = keel_now();
		rq.cpu[j] = keel_cpu();
		rq.preempted[j] = self->preemptions - pre;
		__atomic_add_fetch(&rq.completed, 1, __ATOMIC_RELEASE);
		slot_free(s);
	}
}

static struct slot *slot_new(void)
{
	struct slot *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->t = thread_create("req", serve, s); /* priority 0: a request */
	if (!s->t) {
		free(s);
		return NULL;
	}
	return s;
}

static bool waits(const struct slot *s)
{
	return *(volatile enum thread_state *)&s->t->state == THREAD_BLOCKED;
}

/* Hand request j to a thread of the pool that waits for it: a slot freed
 * by a thread not yet back in sem_wait is passed over (handed now, it
 * would go on with the request straight from its last one, on its worker,
 * ahead of the queue: it is put back for later). */
int request_hand(long j)
{
	struct slot *s, *busy = NULL;
	while ((s = slot_take()) && !waits(s)) {
		s->next = busy; /* (the list is main's alone while taken off) */
		busy = s;
	}
	while (busy) {
		struct slot *b = busy;
		busy = b->next;
		slot_free(b);
	}
	if (!s) {
		if (!(s = slot_new()))
			return -1;
		rq.grown++;
	}
	s->req = j;
	sem_post(&s->go);
	return 0;
}

void requests_wait(unsigned n)
{
	while (__atomic_load_n(&rq.completed, __ATOMIC_ACQUIRE) < n)
		thread_sleep(50000);
}

/* -ln(u), u in (0, 1]: u = m 2^e with m in [1, 2), ln m = 2 atanh((m-1)/(m+1)). */
static double neg_ln(double u)
{
	int e = 0;
	while (u < 1.0)
		u *= 2.0, e--;
	double z = (u - 1.0) / (u + 1.0), z2 = z * z, term = z, sum = 0;
	for (int k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= z2;
	}
	return -(2.0 * sum + e * 0.69314718055994530942);
}

uint64_t requests_gap(struct keel_rand *r, double mean_ns)
{
	double u = (double)((rand_next(r) >> 11) + 1) / 9007199254740992.0; /* (0, 1] */
	return (uint64_t)(mean_ns * neg_ln(u));
}

uint64_t pct(const uint64_t *sorted, unsigned n, unsigned per_mille)
{
	return n ? sorted[(uint64_t)n * per_mille / 1000 < n ? (uint64_t)n * per_mille / 1000 : n - 1] : 0;
}

uint64_t requests_capacity(unsigned workers, uint64_t size)
{
	uint64_t work = 0, time = 0;
	unsigned j = 0;
	for (unsigned r = 0; r < REQ_CALIBRATE; r++) {
		unsigned first = j;
		for (unsigned k = 0; k < workers * REQ_BACKLOG; k++, j++) {
			rq.size[j] = size;
			rq.arrival[j] = keel_now();
			if (request_hand(j))
				return 0;
		}
		requests_wait(j);
		uint64_t start = UINT64_MAX, end = 0;
		for (unsigned k = first; k < j; k++) {
			start = rq.start[k] < start ? rq.start[k] : start;
			end = rq.done[k] > end ? rq.done[k] : end;
		}
		work += size * workers * REQ_BACKLOG;
		time += end - start;
	}
	return work * 1000 / time;
}


int requests_size(unsigned n, const char *who)
{
	rq.n = n;
	uint64_t **arrays[] = { &rq.offset, &rq.size, &rq.arrival, &rq.start, &rq.done, &rq.preempted, &rq.cpu };
	for (unsigned i = 0; i < ARRAY_SIZE(arrays); i++) {
		free(*arrays[i]);
		if (!(*arrays[i] = calloc(n, sizeof(uint64_t)))) {
			printf("sched %s: out of memory for %u requests\n", who, n);
			return -1;
		}
	}
	return 0;
}

int requests_init(unsigned n, unsigned pool, const char *who)
{
	rq.pool = pool;
	if (requests_size(n, who))
		return -1;
	for (unsigned i = 0; i < pool; i++) {
		struct slot *s = slot_new();
		if (!s) {
			printf("sched %s: pool: %s\n", who, errname(thread_errno()));
			return -1;
		}
		slot_free(s);
	}
	for (bool all = false; !all;) { /* every pool thread waits for its first request */
		thread_sleep(100000);
		all = true;
		for (struct slot *s = free_slots; s; s = s->next)
			all &= *(volatile enum thread_state *)&s->t->state == THREAD_BLOCKED;
	}
	return 0;
}

void requests_end(void)
{
	for (unsigned ended = 0; ended < rq.pool + rq.grown;) {
		struct slot *s = slot_take();
		if (!s) {
			thread_sleep(50000);
			continue;
		}
		s->req = -1;
		sem_post(&s->go);
		thread_join(s->t, NULL);
		free(s);
		ended++;
	}
}
