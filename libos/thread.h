/*
 * libos threads: many threads in one env, scheduled by a policy chosen at
 * start-up (sched.h), preempted by the env's timer upcall, switched entirely
 * in Ring 3 (every register and the FPU/SSE/AVX state saved, the next
 * thread resumed through keel_resume's iretq). docs/schedulers.md.
 *
 *     threads_init(&sched_rr);            // main becomes thread 1
 *     struct thread *t = thread_create("worker", fn, arg);
 *     void *ret; thread_join(t, &ret);
 */
#ifndef LIBOS_THREAD_H
#define LIBOS_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel.h"

struct sched_policy;

enum thread_state {
	THREAD_RUNNABLE,  /* queued in the policy */
	THREAD_RUNNING,
	THREAD_BLOCKED,   /* on a mutex, condition, semaphore or join */
	THREAD_SLEEPING,  /* until wake_at */
	THREAD_DONE,      /* exited; waits to be joined */
};

struct thread {
	struct keel_context ctx; /* its registers while it does not run */
	uint8_t *xstate;         /* its FPU/SSE/AVX state (XSAVE image) while it does not run */
	int tid;                 /* 1 is main */
	char name[16];
	enum thread_state state;

	/* Scheduling parameters: set by the app, read by policies. */
	int priority;            /* sched_prio: higher runs first */
	uint32_t tickets;        /* sched_stride: CPU share */
	uint64_t period, rel_deadline; /* periodic jobs (thread_set_period); 0 if not periodic */
	uint64_t wcet;           /* its jobs' declared execution time, ns (thread_set_wcet); 0: none */

	/* Many CPUs: the CPU (0 .. sched_ncpus() - 1) whose queue it joins
	 * when it becomes runnable -- the policy's select_cpu sets it, else
	 * the one it last ran on -- and, from its dispatch on, the one it runs
	 * on. */
	unsigned cpu;

	/* Policy-private: one queue link and a few words of state. */
	struct thread *q_next;
	uint64_t pol[4];

	/* Accounting, kept by the dispatcher. */
	uint64_t ran_ns;         /* CPU time, not counting time the env was descheduled */
	uint64_t last_ran_ns;    /* CPU time of its last turn (for a policy's charge) */
	uint64_t runnable_since; /* for the dispatcher's watchdog (this CPU's env clock) */
	uint64_t dispatches, preemptions;
	uint64_t migrations;     /* dispatches on another CPU than its last */
	uint64_t migrations_in_watch; /* of them, with its RIP in thread_watch()'s range */
	uint64_t preempt_in_watch; /* preemptions with its RIP in thread_watch()'s range */

	/* Periodic jobs. */
	uint64_t job;            /* the current job's number (1, 2, ...) */
	uint64_t release, abs_deadline; /* the current job's; abs_deadline UINT64_MAX if none */
	uint64_t jobs_done, misses;
	int64_t max_lateness;

	/* Dispatcher and library internals. */
	uint64_t wake_at;
	uint64_t dispatched_at, lost_at;
	struct thread *all_next, *all_prev, *sleep_next, *wait_next;
	struct thread *run_next, *run_prev; /* runnable threads, longest waiting first (the watchdog's) */
	struct thread *joiner;
	void *ret;
	volatile uint32_t on_cpu; /* 1 from its dispatch until its registers are saved after it stops */
	bool moved;               /* its current dispatch is on another CPU than its last */
	unsigned ran_on;          /* the CPU of its last dispatch */
	int stack_index;         /* in the stack arena; -1 for main */
	uint32_t magic;
};

/* Start the thread library with `policy`: the caller becomes thread 1
 * ("main"). 0 or -errno. */
int threads_init(const struct sched_policy *policy);

/* A new runnable thread running fn(arg) on its own demand-mapped stack (its
 * lowest page a guard): the thread, or NULL (thread_errno() says why:
 * -ENOMEM, -EDQUOT, -ENOSPC). Its scheduling parameters may be set before it
 * first runs: thread_create_with. */
struct thread *thread_create(const char *name, void *(*fn)(void *), void *arg);
struct thread *thread_create_with(const char *name, void *(*fn)(void *), void *arg, int priority,
				  uint32_t tickets);
long thread_errno(void);
__attribute__((noreturn)) void thread_exit(void *ret);
/* Wait for t to end, take its result, free it. 0, or -EINVAL (not a live
 * thread, or one another thread joins, or itself). */
int thread_join(struct thread *t, void **ret);
void thread_yield(void);
/* Sleep until the kernel clock reads `deadline` ns (keel_now()). */
void thread_sleep_until(uint64_t deadline);
void thread_sleep(uint64_t ns);
struct thread *thread_self(void);
/* The calling thread's CPU time so far (its current turn included). */
uint64_t thread_cpu_ns(void);
/* Threads not yet joined (main included). */
unsigned thread_count(void);

/* Periodic jobs: from the next thread_next_job() on, the thread releases a
 * job every `period` ns, each due `rel_deadline` ns after its release.
 * thread_next_job() ends the current job (counting a miss if it is late)
 * and sleeps until the next release; it returns the new job's number. */
void thread_set_period(uint64_t period, uint64_t rel_deadline);
/* The same, the first job released at `first` (keel_now() time; the thread
 * sleeps until then; 0 or a time past: now) -- threads given one `first`
 * start in phase, the synchronous release of the real-time literature. The
 * policy sees the period (and a declared WCET) before the sleep. */
void thread_set_period_at(uint64_t period, uint64_t rel_deadline, uint64_t first);
uint64_t thread_next_job(void);
/* Declare the execution time each job of the calling thread needs, ns: for
 * policies that admit or place tasks by utilisation (wcet / period:
 * sched_pedf). Nothing enforces it. */
void thread_set_wcet(uint64_t wcet);

/* From now on, count in each thread's `preempt_in_watch` the preemptions by
 * the timer upcall that interrupted it with RIP in [start, end) -- what the
 * kernel's DEBUG_WATCH_RANGE does for envs. The counts start from 0. */
void thread_watch(const void *start, const void *end);

/* Run `n` guest instructions of pure computation (exactly, under icount). */
void thread_burn(uint64_t n);

/* ------------------------------------------------- synchronisation */
struct thread_queue {
	struct thread *head, *tail;
};
struct mutex {
	struct thread *owner;
	struct thread_queue waiters;
	uint64_t contended; /* lock calls that had to wait */
};
struct cond {
	struct thread_queue waiters;
};
struct sem {
	long count;
	struct thread_queue waiters;
};
#define MUTEX_INIT {0}
#define COND_INIT {0}
#define SEM_INIT(n) { .count = (n) }

void mutex_lock(struct mutex *m);
bool mutex_trylock(struct mutex *m);
void mutex_unlock(struct mutex *m);
void cond_wait(struct cond *c, struct mutex *m);
void cond_signal(struct cond *c);
void cond_broadcast(struct cond *c);
void sem_wait(struct sem *s);
void sem_post(struct sem *s);

#endif
