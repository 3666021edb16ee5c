/*
 * libos scheduling policies: one struct of callbacks, one small C file per
 * policy (libos/sched/), chosen at start-up (threads_init) and switchable
 * while the app runs (sched_set_policy). docs/schedulers.md shows how to
 * write one.
 *
 * The dispatcher (dispatch.c) owns every thread's state and does the
 * mechanism: saving and restoring threads, the timer, sleeping, blocking,
 * accounting, the trace. A policy only queues runnable threads and picks
 * the next. Its callbacks run with upcalls disabled, one at a time, on
 * whatever stack the dispatcher runs on; they must not block, sleep, print
 * much or call thread_* functions. A policy that faults, spins (the
 * kernel's watchdog trap), returns a thread that is not runnable, or
 * leaves a runnable thread unrun for longer than sched_watchdog_ns is
 * ejected: the dispatcher prints why and its state, and moves every thread
 * to round-robin.
 */
#ifndef LIBOS_SCHED_H
#define LIBOS_SCHED_H

#include "thread.h"

/* Why a thread is handed to `ready`. */
enum sched_why {
	SCHED_NEW,       /* created */
	SCHED_WOKEN,     /* was blocked or sleeping */
	SCHED_PREEMPTED, /* its turn was cut: a tick, or a woken thread preempted it */
	SCHED_YIELDED,   /* it called thread_yield */
	SCHED_MOVED,     /* a policy switch brought it here */
};

struct sched_policy {
	const char *name;
	/* The tick: the running thread's turn ends after this long (0: no
	 * tick; it runs until it blocks, yields or a woken thread preempts it). */
	uint64_t quantum_ns;
	/* Required. */
	void (*init)(void);                                  /* start empty */
	void (*ready)(struct thread *t, enum sched_why why); /* t is runnable: queue it */
	struct thread *(*pick)(void);                        /* take the next off the queue; NULL: none */
	/* Optional. */
	void (*blocked)(struct thread *t);                   /* the running t blocks, sleeps or exits */
	bool (*preempt)(struct thread *cur, struct thread *woken); /* should woken run at once? (NULL: no) */
	bool (*tick)(struct thread *cur);                    /* quantum over: end cur's turn? (NULL: yes) */
	void (*dump)(void);                                  /* print its state (on ejection) */
	/* Many CPUs (optional): the CPU whose queue t joins now, 0 ..
	 * sched_ncpus() - 1, stored in t->cpu before ready(t, why). NULL: a
	 * new thread the CPU that made it, any other the CPU it last ran on. */
	unsigned (*select_cpu)(struct thread *t, enum sched_why why);
	/* Optional: called on a CPU (locked, as the others) once at start and
	 * again when the kernel clock reaches the time it last returned there
	 * (0: not again) -- a policy's own timer on that CPU, for work no
	 * thread's event brings: sched_shinjuku's dispatcher CPU watching the
	 * workers' quanta. (A time sooner than the event handler takes to run
	 * keeps that CPU in its handler.) */
	uint64_t (*poll)(void);
	/* A CPU with nothing to run spins (upcalls on, watching a word in
	 * memory) instead of waiting in the kernel: work handed to it is a
	 * store, not an event through the kernel, and it starts at once --
	 * the CPU is never given back. Shinjuku's and Caladan's workers poll. */
	bool idle_poll;
};

/* ------------------------------------------------------ many CPUs */
/* Start the thread library on up to max_cpus CPUs this env holds (0: all
 * of them), one dispatcher each, the caller becoming thread 1 on the CPU
 * it runs on (CPU 0 of the library). Threads run on any and move between
 * them. 0 or -errno. */
int threads_init_cpus(const struct sched_policy *policy, unsigned max_cpus);
/* For policies (in a callback), and for apps. */
unsigned sched_ncpus(void);       /* CPUs the library runs on */
unsigned sched_cpu(void);         /* the one a callback runs on (0 .. sched_ncpus() - 1) */
unsigned sched_cpu_id(unsigned cpu); /* the kernel's index of it (keel_cpu()) */
bool sched_cpu_idle(unsigned cpu); /* it waits for work (not a CPU lent to another env) */
/* Counters of a CPU, and of all: dispatches there, times it idled (waited
 * in the kernel), kicks sent to it, threads stopped there inside the
 * library's restartable disable sequence (and restarted); threads
 * dispatched on another CPU than their last. */
enum sched_stat { SCHED_STAT_DISPATCHES, SCHED_STAT_IDLES, SCHED_STAT_KICKS, SCHED_STAT_RESTARTS };
uint64_t sched_cpu_stat(unsigned cpu, enum sched_stat what);
uint64_t sched_migrations(void);
/* (In a callback.) Make an idle CPU call pick again: work for it, or to
 * steal. The dispatcher kicks one itself for every thread made runnable:
 * its t->cpu if idle, else the first idle CPU. */
void sched_kick(unsigned cpu);
/* (In a callback.) End the turn of the thread running on `cpu` now: it goes
 * through ready(SCHED_PREEMPTED) and pick there (a cross-CPU event). */
void sched_resched(unsigned cpu);

/* (In a callback: lend.c.) Lend CPU `cpu` -- idle, not the caller's -- to
 * the env an ENV capability names: a CPU capability derived from this env's
 * into it, and a post of the CPU's bit (1 << its kernel index) to that
 * env's dispatcher on kernel CPU tell_cpu. The CPU runs no thread here
 * until taken back (its dispatcher waits in the kernel). Take it back:
 * the borrower's capability is deleted (the kernel takes the borrower off
 * the CPU at once), and the CPU runs threads again. 0, or -EINVAL / -EBUSY
 * (not a CPU that can be lent, or taken back, now). The kernel calls are
 * made after the scheduler lock is let go (lend.c); a lend the kernel
 * refuses there (the borrower gone, this env's quota) leaves the CPU lent
 * to nobody until taken back (counted, and said on the console). A policy
 * switch takes back every lent CPU. */
int sched_cpu_lend(unsigned cpu, uint32_t env_slot, unsigned tell_cpu);
int sched_cpu_reclaim(unsigned cpu);
bool sched_cpu_lent(unsigned cpu);
extern uint64_t sched_lends, sched_reclaims, sched_lend_failures; /* since the start */

extern const struct sched_policy sched_rr, sched_prio, sched_stride, sched_edf, sched_ws, sched_gedf, sched_pedf,
	sched_shinjuku, sched_caladan;
extern uint64_t sched_ws_stolen; /* sched_ws: threads one CPU took from another's queue */
/* sched_pedf: the CPU t is bound to (-1: not placed: no period or no WCET
 * declared yet), and how many threads fitted on no CPU (each went to the
 * least-loaded one). */
int sched_pedf_cpu(const struct thread *t);
extern unsigned sched_pedf_unfit;
/* sched_shinjuku: CPU 0 dispatches, the others serve requests (threads of
 * priority 0) from one FIFO queue; a request that has held a worker for the
 * quantum is preempted by the dispatcher (a cross-CPU event) and queued
 * again at the tail, if another waits. 0: run to completion. Read at
 * each decision: an app may change it between runs. */
extern uint64_t sched_shinjuku_quantum_ns;
extern uint64_t sched_shinjuku_preemptions; /* sent by the dispatcher since the policy started */

/* sched_caladan: CPU 0 runs the app's own threads and the allocator, the
 * others serve requests (threads of priority 0) from one FIFO queue; once
 * an interval a worker idle for the whole interval is lent to the borrower
 * (an ENV capability's slot; -1: none, nothing lent), keeping at least
 * `guaranteed` workers, or -- a request having waited an interval -- one
 * lent worker is taken back. Each change of the workers owned goes into
 * the app's log, if it gave one (the first log_size; `logged` counts all). */
extern uint64_t sched_caladan_interval_ns;
extern long sched_caladan_borrower;
extern unsigned sched_caladan_borrower_cpu; /* the kernel CPU of the borrower's dispatcher told of lends */
extern unsigned sched_caladan_guaranteed;
struct sched_caladan_change {
	uint64_t at;    /* keel_now() */
	uint32_t owned; /* workers owned (not lent) from then on */
	uint32_t reserved;
};
extern struct sched_caladan_change *sched_caladan_log;
extern unsigned sched_caladan_log_size, sched_caladan_logged;
extern unsigned sched_caladan_owned;

/* Switch the running app to another policy: every runnable thread moves to
 * it (SCHED_MOVED). Returns the old one. */
const struct sched_policy *sched_set_policy(const struct sched_policy *p);
const struct sched_policy *sched_policy(void);
/* A policy by name ("rr", "prio", "stride", "edf", "ws", "gedf", "pedf",
 * "shinjuku", "caladan"), or NULL. */
const struct sched_policy *sched_policy_named(const char *name);

/* The dispatcher's watchdog: the longest a runnable thread may wait
 * (default 1 s). */
extern uint64_t sched_watchdog_ns;
/* Policies ejected so far. */
extern unsigned sched_ejections;

/* ---------------------------------------- a FIFO queue for policies */
static inline void tq_push(struct thread_queue *q, struct thread *t)
{
	t->q_next = NULL;
	if (q->tail)
		q->tail->q_next = t;
	else
		q->head = t;
	q->tail = t;
}
static inline struct thread *tq_pop(struct thread_queue *q)
{
	struct thread *t = q->head;
	if (t && !(q->head = t->q_next))
		q->tail = NULL;
	return t;
}
/* The deadline policies' order (edf, gedf, pedf): a's current job is due
 * before b's (a thread without a period is due at UINT64_MAX: last). */
static inline bool sched_deadline_before(const struct thread *a, const struct thread *b)
{
	return a->abs_deadline < b->abs_deadline;
}
/* Insert before the first thread u with before(t, u); after equals (FIFO). */
void tq_insert(struct thread_queue *q, struct thread *t, bool (*before)(const struct thread *, const struct thread *));

/* ---------------------------------------------------------- the trace */
enum trace_event {
	TR_SWITCH,     /* tid: the thread now running; a: the one before (0: none) */
	TR_PREEMPT,    /* tid: a running thread whose turn was cut */
	TR_WAKE,       /* tid */
	TR_BLOCK,      /* tid */
	TR_SLEEP,      /* tid; a: until */
	TR_TICK,       /* tid: running at the tick */
	TR_RELEASE,    /* tid; a: job; b: its release time */
	TR_COMPLETE,   /* tid; a: job; b: its absolute deadline */
	TR_MISS,       /* tid; a: job; b: lateness ns */
	TR_CREATE,     /* tid */
	TR_EXIT,       /* tid */
	TR_POLICY,     /* a policy switch: a: 1 if an ejection */
	TR_ACTIVATION, /* the env was descheduled: a: ns lost */
	TR_EVENTS
};
/* Record an event (the dispatcher does; a policy may too); returns its timestamp. */
uint64_t trace(enum trace_event ev, int tid, uint64_t a, uint64_t b);
/* Name a thread id in dumps (the dispatcher does, at creation). */
void trace_thread(int tid, const char *name);
/* Print the trace on the console as CSV lines "sched-trace: ...",
 * oldest first, framed by a begin and an end line. Each event carries the
 * CPU (0 .. sched_ncpus() - 1) it was recorded on. */
void trace_dump(void);
void trace_clear(void);
/* Room for at least `events` (the ring keeps the last 8,192 by default):
 * 0, or -ENOMEM. Clears the trace. */
int trace_reserve(uint64_t events);

#endif
