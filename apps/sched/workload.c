/* A seeded random workload for trace reproducibility: five threads that
 * compute, sleep, yield and share a mutex in amounts drawn from a PRNG seeded
 * with SEED and their index. Same seed, same schedule. */
#include "demo.h"

static uint64_t seed;
static struct mutex lock = MUTEX_INIT;
static uint64_t shared;

static void *random_worker(void *arg)
{
	struct keel_rand r;
	rand_seed(&r, seed * 31 + (uint64_t)arg);
	for (int i = 0; i < 40; i++) {
		thread_burn(rand_range(&r, 10000, 400000));
		switch (rand_below(&r, 4)) {
		case 0: thread_sleep(rand_range(&r, 10000, 500000)); break;
		case 1: thread_yield(); break;
		case 2:
			mutex_lock(&lock);
			shared++;
			thread_burn(rand_range(&r, 1000, 50000));
			mutex_unlock(&lock);
			break;
		default: break;
		}
	}
	return NULL;
}

int demo_trace(int argc, char **argv)
{
	seed = arg_or(argc, argv, 1, 1);
	struct thread *t[5];
	trace_clear();
	for (uint64_t i = 0; i < 5; i++)
		t[i] = thread_create("random", random_worker, (void *)i);
	for (int i = 0; i < 5; i++)
		thread_join(t[i], NULL);
	printf("sched trace: seed %llu: 5 threads done, %llu critical sections\n", (unsigned long long)seed,
	       (unsigned long long)shared);
	trace_dump();
	return 0;
}
