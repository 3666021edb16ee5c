/*
 * race: a lost update, for docs/debugging.md's worked example ("a race found
 * by replaying backwards") and tests/test_race_replay.py.
 *
 *   race          two threads each add 1 to `counter` ADDS times with a plain
 *                 read-modify-write: a volatile load, a little work, a store.
 *                 The libOS scheduler's tick (the timer upcall) preempts a
 *                 thread between its load and its store; the other thread's
 *                 increments in that turn are overwritten when it resumes.
 *                 race_check_failed() reports it and the app exits with 1.
 *   race:fixed    the same with an atomic add: nothing is lost, exit 0.
 *
 * Under -icount the boot is deterministic, so the same updates are lost on
 * every run, and a recording replays them exactly.
 */
#include "keel.h"
#include "lib/errname.h"
#include "sched.h"

#define ADDS 400

static volatile uint64_t counter;
static int fixed;

/* One increment, as a researcher might first write it. */
static __attribute__((noinline)) void *adder(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < ADDS; i++) {
		if (fixed) {
			__atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		uint64_t v = counter;   /* load */
		thread_burn(10000);     /* a little work: a tick can land here */
		counter = v + 1;        /* store: overwrites what others added meanwhile */
	}
	return NULL;
}

/* The assertion's failure: a named function, so gdb can break on it. */
static __attribute__((noinline, noreturn)) void race_check_failed(uint64_t expected, uint64_t found)
{
	printf("race: ASSERTION FAILED: counter == %llu: found %llu, %llu updates lost\n",
	       (unsigned long long)expected, (unsigned long long)found, (unsigned long long)(expected - found));
	sys_exit(1);
}

int main(int argc, char **argv)
{
	fixed = argc > 1 && !strcmp(argv[1], "fixed");
	int err = threads_init(&sched_rr);
	if (err) {
		printf("race: threads_init: %s\n", errname(err));
		return 1;
	}
	struct thread *a = thread_create("adder-a", adder, NULL);
	struct thread *b = thread_create("adder-b", adder, NULL);
	thread_join(a, NULL);
	thread_join(b, NULL);
	uint64_t expected = 2 * (uint64_t)ADDS, found = counter;
	if (found != expected)
		race_check_failed(expected, found);
	printf("race: %s: counter %llu (expected %llu): no update lost\n", fixed ? "fixed" : "racy",
	       (unsigned long long)found, (unsigned long long)expected);
	return 0;
}
