/*
 * The libos dispatcher: the mechanism under every scheduling policy
 * (sched.h, docs/schedulers.md). It owns each thread's state, runs the
 * policy's callbacks with upcalls disabled, switches threads in Ring 3,
 * keeps the env's timer armed for the next tick or wake-up, accounts CPU
 * time, and guards against a broken policy.
 *
 * Two ways into it: a thread that yields, blocks, sleeps or exits (thread
 * context, locked by disabling upcalls: dispatch_stop switches with
 * libos_switch), and an upcall (the timer, an activation: on_event runs on
 * the upcall stack with the running thread's registers in the enabled save
 * and its extended state in keel_upcall_xstate, and switches by swapping
 * both for the next thread's before the entry resumes them).
 */
#include "dispatch.h"
#include "ipc.h"
#include "mem.h"
#include "vm.h"

struct dcpu dispatch_cpus[DISPATCH_CPUS_MAX];
unsigned dispatch_ncpus = 1;
struct dcpu *dispatch_by_cpu[DISPATCH_CPUS_MAX];
bool dispatch_multi;
struct thread *dispatch_all;
uint64_t sched_watchdog_ns = 1000000000ULL;
unsigned sched_ejections;

/* Shared by every CPU, under the scheduler lock. */
static const struct sched_policy *policy;
static unsigned nrunnable;       /* threads in state RUNNABLE (queued in the policy) */
static struct thread *run_head, *run_tail; /* the same, longest waiting first (run_next) */
static uint64_t runnable_none_at;           /* keel_now() when the last runnable thread was picked */

static void runnable_add(struct thread *t)
{
	t->run_next = NULL;
	t->run_prev = run_tail;
	if (run_tail)
		run_tail->run_next = t;
	else
		run_head = t;
	run_tail = t;
	nrunnable++;
}

static void runnable_remove(struct thread *t)
{
	if (t->run_prev)
		t->run_prev->run_next = t->run_next;
	else
		run_head = t->run_next;
	if (t->run_next)
		t->run_next->run_prev = t->run_prev;
	else
		run_tail = t->run_prev;
	if (!--nrunnable && dispatch_multi)
		runnable_none_at = keel_now(); /* (the idle-CPU watchdog's) */
}
static uint64_t watch_lo, watch_hi; /* thread_watch(): RIPs whose preemptions are counted */
static char guard_why[96];       /* why a guarded call failed (only the lock holder makes one) */
static uint32_t sched_lock_word;
static uint64_t migrations;

void libos_switch(struct keel_context *from, void *from_x, struct keel_context *to, const void *to_x,
		  struct keel_upcall_area *a, volatile uint32_t *from_saved);
void libos_switch_idle(struct keel_context *from, void *from_x, volatile uint32_t *from_saved, void *stack_top,
		       struct dcpu *c);
__attribute__((noreturn)) void libos_load(const struct keel_context *to, const void *to_x,
					  struct keel_upcall_area *a);
__attribute__((noreturn)) void libos_idle_on(void *stack_top, struct dcpu *c);
__attribute__((returns_twice)) int libos_setjmp(struct libos_jmp *j);
extern struct keel_upcall_area keel_area_page; /* upcall.c: CPU 0's */

_Static_assert(__builtin_offsetof(struct dcpu, area) == 0, "switch.S reads dcpu->area at offset 0");

#define barrier() __asm__ volatile("" ::: "memory")

/* ------------------------------------------------------------- locking */
/*
 * One lock for the scheduler's shared state, taken with this CPU's upcalls
 * off (so its holder is never switched away on its own CPU). Policy
 * callbacks run under it, one at a time on all CPUs: a policy needs no
 * locking of its own (docs/schedulers.md says why). With one CPU there is
 * no one to exclude and it is not taken.
 */
static bool try_lock(void) { return !__atomic_exchange_n(&sched_lock_word, 1, __ATOMIC_ACQUIRE); }

void dispatch_spin_lock(void)
{
	if (!dispatch_multi)
		return;
	struct dcpu *c = dispatch_here();
	c->spinning = true; /* (the kernel's watchdog may find it here: on_trap) */
	while (!try_lock())
		while (__atomic_load_n(&sched_lock_word, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
	c->spinning = false;
}

/* What this CPU owes once it has let go of the lock: the kicks it decided
 * (dispatch_kick) are posted -- after its upcalls are on again where they
 * can be, so that the kernel sees a thread that wakes others as what it
 * is, running enabled -- and the CPUs whose lending changed are settled
 * with the kernel (lend.c), before that, with upcalls still off. */
static uint64_t take_kicks(struct dcpu *c, uint64_t *lend)
{
	uint64_t m = c->kicks_owed;
	*lend = c->lend_owed;
	c->kicks_owed = c->lend_owed = 0;
	return m;
}

static void post_kicks(uint64_t m)
{
	for (; m; m &= m - 1) {
		unsigned cpu = dispatch_cpus[__builtin_ctzll(m)].cpu;
		long r = sys_event_post(KEEL_SELF, cpu, 1);
		if (r) /* (its dispatcher is gone: the CPU was taken away) */
			printf("libos: kick to cpu%u failed: %s\n", cpu, errname(r));
	}
}

void dispatch_spin_unlock(void)
{
	if (!dispatch_multi)
		return;
	uint64_t lend, m = take_kicks(dispatch_here(), &lend);
	__atomic_store_n(&sched_lock_word, 0, __ATOMIC_RELEASE);
	if (lend)
		dispatch_lend_settle(lend);
	post_kicks(m);
}

/* (A thread waits for the lock enabled: it may be preempted meanwhile,
 * and it is not disabled for long whoever holds the lock -- the kernel's
 * watchdog bounds that.) */
struct dcpu *dispatch_lock(void)
{
	if (!dispatch_multi) { /* (one CPU: its upcalls off is the lock) */
		struct dcpu *c = &dispatch_cpus[0];
		*(volatile uint32_t *)&c->area->disabled = 1;
		barrier();
		return c;
	}
	for (;;) {
		struct dcpu *c = dispatch_disable_here();
		barrier();
		if (try_lock())
			return c;
		keel_upcalls_enable(c->area);
		while (__atomic_load_n(&sched_lock_word, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
	}
}

void dispatch_unlock(void)
{
	struct dcpu *c = dispatch_here();
	if (!dispatch_multi) {
		keel_upcalls_enable(c->area);
		return;
	}
	uint64_t lend, m = take_kicks(c, &lend);
	__atomic_store_n(&sched_lock_word, 0, __ATOMIC_RELEASE);
	if (lend)
		dispatch_lend_settle(lend);
	keel_upcalls_enable(c->area);
	post_kicks(m);
}

uint64_t dispatch_vnow(void)
{
	struct keel_upcall_area *a = dispatch_here()->area;
	for (;;) {
		uint64_t w = *(volatile uint64_t *)&a->waited_total_ns;
		uint64_t now = keel_now();
		if (w == *(volatile uint64_t *)&a->waited_total_ns)
			return now - w;
	}
}

void dispatch_wait_saved(struct thread *t)
{
	while (__atomic_load_n(&t->on_cpu, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
}

/* The watchdog's clock: the env's own (one CPU: time it was descheduled
 * is not a thread's wait); with several, the kernel clock, the one clock
 * every CPU reads alike (each dispatcher has its own descheduled time). */
static uint64_t watch_clock(void) { return dispatch_multi ? keel_now() : dispatch_vnow(); }

/* --------------------------------------------- guarded policy callbacks */
/*
 * Every call into the policy goes through guarded(): if the callback
 * faults, or spins until the kernel's watchdog traps the env, the trap
 * handler resumes the context saved here (libos_setjmp returns 1) and the
 * policy is ejected. Calls do not nest.
 */
enum pcall { P_INIT, P_READY, P_PICK, P_BLOCKED, P_PREEMPT, P_TICK, P_DUMP, P_SELECT, P_POLL };
static const char *const pcall_names[] = { "init", "ready", "pick", "blocked", "preempt", "tick", "dump", "select_cpu",
					   "poll" };

/* Call one callback; 0, or -1 if it faulted or spun (guard_why says how). */
static int guarded(enum pcall what, struct thread *t, struct thread *u, uint64_t *out)
{
	if (libos_setjmp(&dispatch_here()->guard_jmp)) {
		dispatch_here()->in_policy = 0;
		return -1;
	}
	struct dcpu *c = dispatch_here();
	c->in_policy = 1 + what;
	switch (what) {
	case P_INIT: policy->init(); break;
	case P_READY: policy->ready(t, (enum sched_why)*out); break;
	case P_PICK:
		*out = (uint64_t)policy->pick();
		if (*out) /* read here, where a fault is the policy's: pick_next checks it */
			(void)*(volatile uint32_t *)&((struct thread *)*out)->magic;
		break;
	case P_BLOCKED: if (policy->blocked) policy->blocked(t); break;
	case P_PREEMPT: *out = policy->preempt && policy->preempt(t, u); break;
	case P_TICK: *out = !policy->tick || policy->tick(t); break;
	case P_DUMP: if (policy->dump) policy->dump(); break;
	case P_SELECT: *out = policy->select_cpu(t, (enum sched_why)*out); break;
	case P_POLL: *out = policy->poll(); break;
	}
	c->in_policy = 0;
	return 0;
}

static void eject(const char *why);
static void install(const struct sched_policy *p, int ejecting);

/* ------------------------------------------------------------ many CPUs */
unsigned sched_ncpus(void) { return dispatch_ncpus; }
unsigned sched_cpu(void) { return dispatch_here()->idx; }
unsigned sched_cpu_id(unsigned cpu) { return cpu < dispatch_ncpus ? dispatch_cpus[cpu].cpu : 0; }
/* Idle, and its to give work to (a lent CPU idles by intent). */
static bool idle_free(const struct dcpu *c) { return c->idle && !c->lent; }

bool sched_cpu_idle(unsigned cpu) { return cpu < dispatch_ncpus && idle_free(&dispatch_cpus[cpu]); }
void sched_kick(unsigned cpu)
{
	if (sched_cpu_idle(cpu))
		dispatch_kick(&dispatch_cpus[cpu]);
}
void sched_resched(unsigned cpu)
{
	if (cpu >= dispatch_ncpus || dispatch_cpus[cpu].lent)
		return;
	struct dcpu *c = &dispatch_cpus[cpu];
	c->resched = true;
	dispatch_kick(c);
}

uint64_t sched_migrations(void) { return migrations; }
uint64_t sched_cpu_stat(unsigned cpu, enum sched_stat what)
{
	if (cpu >= dispatch_ncpus)
		return 0;
	const struct dcpu *c = &dispatch_cpus[cpu];
	switch (what) {
	case SCHED_STAT_DISPATCHES: return c->dispatches;
	case SCHED_STAT_IDLES: return c->idles;
	case SCHED_STAT_KICKS: return c->kicks;
	case SCHED_STAT_RESTARTS: return c->restarts;
	}
	return 0;
}

/* Where t is queued when it becomes runnable (t->cpu). */
static void choose_cpu(struct thread *t, enum sched_why why)
{
	struct dcpu *here = dispatch_here();
	if (!dispatch_multi) {
		t->cpu = 0;
		return;
	}
	if (!policy->select_cpu) {
		if (why == SCHED_NEW || why == SCHED_PREEMPTED || why == SCHED_YIELDED)
			t->cpu = here->idx;
		return; /* woken or moved: where it last ran */
	}
	uint64_t r = why;
	if (guarded(P_SELECT, t, NULL, &r)) {
		eject(guard_why);
		return;
	}
	if (r >= dispatch_ncpus) {
		snprintf(guard_why, sizeof guard_why, "select_cpu returned CPU %llu of %u", (unsigned long long)r,
			 dispatch_ncpus);
		eject(guard_why);
		return;
	}
	t->cpu = (unsigned)r;
}

/* Work was queued for t->cpu: an idle CPU looks -- that one, else (unless
 * the policy places threads itself: select_cpu) the first idle one not
 * already told to, which may take it or steal it (each queued thread wakes
 * one). */
static void kick_for(struct thread *t)
{
	if (!dispatch_multi)
		return;
	struct dcpu *here = dispatch_here(), *c = &dispatch_cpus[t->cpu];
	if ((c == here || !idle_free(c) || c->kicked) && !policy->select_cpu)
		for (unsigned i = 0; i < dispatch_ncpus; i++) {
			struct dcpu *o = &dispatch_cpus[i];
			if (idle_free(o) && !o->kicked && o != here) {
				c = o;
				break;
			}
		}
	if (c != here && idle_free(c))
		dispatch_kick(c);
}

static void policy_ready(struct thread *t, enum sched_why why)
{
	uint64_t w = why;
	t->state = THREAD_RUNNABLE;
	t->runnable_since = watch_clock();
	runnable_add(t);
	unsigned ejections = sched_ejections;
	choose_cpu(t, why);
	if (sched_ejections != ejections)
		return; /* (the ejection handed it to round-robin already) */
	if (guarded(P_READY, t, NULL, &w))
		eject(guard_why);
	else
		kick_for(t);
}

static void policy_blocked(struct thread *t)
{
	if (guarded(P_BLOCKED, t, NULL, NULL))
		eject(guard_why);
}

/* Should woken preempt the thread on its CPU? Here: the caller's answer;
 * on another CPU, that CPU is told (sched_resched) and the answer is no. */
static bool policy_preempt(struct thread *woken)
{
	uint64_t r = 0;
	struct dcpu *c = &dispatch_cpus[woken->cpu];
	struct thread *cur = c->cur;
	if (!cur || cur->state != THREAD_RUNNING || woken->state != THREAD_RUNNABLE)
		return false;
	if (guarded(P_PREEMPT, cur, woken, &r)) {
		eject(guard_why);
		return false;
	}
	if (r && c != dispatch_here()) {
		sched_resched(c->idx);
		return false;
	}
	return r;
}

/* ------------------------------------------------------------- the timer */
/* Keep this CPU's kernel deadline no later than the earlier of the turn's
 * end and its first wake-up (SYS_SET_DEADLINE is one-shot, per dispatcher). */
static void arm_timer(struct dcpu *c)
{
	uint64_t want = c->sleepers ? c->sleepers->wake_at : 0;
	if (c->poll_at && (!want || c->poll_at < want))
		want = c->poll_at;
	if (c->turn_end) {
		uint64_t v = dispatch_vnow(), now = keel_now();
		uint64_t end = c->turn_end > v ? now + (c->turn_end - v) : now;
		if (!want || end < want)
			want = end;
	}
	/* An earlier deadline already armed is kept: when it fires, the event
	 * re-arms for what is due then. That saves a syscall per switch, where
	 * each new turn pushes the turn's end later. */
	if (c->armed && (!want || c->armed <= want) && c->armed > keel_now())
		return;
	if (want != c->armed) {
		sys_set_deadline(want);
		c->armed = want;
	}
}

/* Locked. */
static void note_events(struct dcpu *c, uint64_t events)
{
	if (events & KEEL_EV_TIMER)
		c->armed = 0; /* it fired */
	if (events & KEEL_EV_ACTIVATION) {
		uint64_t w = c->area->waited_total_ns;
		trace(TR_ACTIVATION, c->cur ? c->cur->tid : 0, w - c->waited_seen, 0);
		c->waited_seen = w;
	}
	if (events & KEEL_EV_POST) {
		keel_take(&c->area->posted); /* (a kick: the flags say what for) */
		c->kicked = false;
	}
}

/* The policy's poll, if due here (its answer: when next). */
static void run_poll(struct dcpu *c)
{
	if (!c->poll_at || c->poll_at > keel_now())
		return;
	uint64_t r = 0;
	c->poll_at = 0;
	if (guarded(P_POLL, NULL, NULL, &r))
		eject(guard_why);
	else
		c->poll_at = r;
}

/* Every sleeper of this CPU due by now becomes runnable; true if one should
 * preempt the thread running here. */
static bool wake_due(struct dcpu *c, uint64_t now)
{
	bool preempt = false;
	while (c->sleepers && c->sleepers->wake_at <= now) {
		struct thread *t = c->sleepers;
		c->sleepers = t->sleep_next;
		preempt |= dispatch_wake(t);
	}
	return preempt;
}

/* ------------------------------------------------ choosing the next thread */
static void account_out(struct thread *t)
{
	uint64_t ran = dispatch_vnow() - t->dispatched_at;
	t->last_ran_ns = ran;
	t->ran_ns += ran;
}

static void account_in(struct dcpu *c, struct thread *t)
{
	t->dispatched_at = dispatch_vnow();
	c->turn_end = policy->quantum_ns ? t->dispatched_at + policy->quantum_ns : 0;
}

static void dump_threads(void)
{
	uint64_t v = watch_clock();
	static const char *const states[] = { "runnable", "running", "blocked", "sleeping", "done" };
	for (struct thread *t = dispatch_all; t; t = t->all_next)
		if (t->state == THREAD_RUNNABLE)
			printf("sched:   thread %d (%s): runnable for %llu us, ran %llu us\n", t->tid, t->name,
			       (unsigned long long)((v > t->runnable_since ? v - t->runnable_since : 0) / 1000),
			       (unsigned long long)(t->ran_ns / 1000));
		else
			printf("sched:   thread %d (%s): %s, ran %llu us\n", t->tid, t->name, states[t->state],
			       (unsigned long long)(t->ran_ns / 1000));
}

/* The watchdog: a runnable thread the policy has not run for too long --
 * the one runnable longest, the head of the runnable list (O(1) however
 * many threads there are); and with several CPUs, a CPU left idle for as
 * long while there were runnable threads all along (by the kernel clock:
 * each CPU has its own env clock). */
static void watch(struct dcpu *c)
{
	uint64_t v = watch_clock();
	struct thread *t = run_head;
	if (v - c->last_watch < 1000000 || !t)
		return;
	c->last_watch = v;
	if (v > t->runnable_since && v - t->runnable_since > sched_watchdog_ns) {
		snprintf(guard_why, sizeof guard_why, "thread %d (%s) runnable but not run for %llu ms", t->tid, t->name,
			 (unsigned long long)((v - t->runnable_since) / 1000000));
		eject(guard_why);
		return;
	}
	uint64_t now = keel_now();
	for (unsigned i = 0; dispatch_multi && i < dispatch_ncpus; i++) {
		const struct dcpu *o = &dispatch_cpus[i];
		uint64_t since = o->idle_since > runnable_none_at ? o->idle_since : runnable_none_at;
		if (idle_free(o) && now - since > sched_watchdog_ns) {
			snprintf(guard_why, sizeof guard_why, "cpu%u idle for %llu ms while threads were runnable", i,
				 (unsigned long long)((now - since) / 1000000));
			eject(guard_why);
			return;
		}
	}
}

/* The next thread for this CPU, taken from the policy: it is RUNNING here
 * and accounted from now on. NULL: none for this CPU now (it idles). */
static struct thread *pick_next(struct dcpu *c)
{
	if (c->lent)
		return NULL; /* (lend.c: another env's to run, until taken back) */
	for (;;) {
		uint64_t r = 0;
		if (guarded(P_PICK, NULL, NULL, &r)) {
			eject(guard_why);
			continue;
		}
		struct thread *t = (struct thread *)r;
		if (t && (t->magic != THREAD_MAGIC || t->state != THREAD_RUNNABLE)) {
			snprintf(guard_why, sizeof guard_why, "pick returned %p, which is not a runnable thread", t);
			eject(guard_why);
			continue;
		}
		/* With one CPU every runnable thread is this CPU's to run; with
		 * several, a policy may keep one for another CPU (the watchdog
		 * catches one left too long). */
		if (!t && nrunnable && !dispatch_multi) {
			snprintf(guard_why, sizeof guard_why, "pick returned nothing with %u threads runnable", nrunnable);
			eject(guard_why);
			continue;
		}
		if (!t)
			return NULL;
		runnable_remove(t);
		t->state = THREAD_RUNNING;
		t->dispatches++;
		t->moved = t->ran_on != c->idx && t->dispatches > 1;
		t->cpu = t->ran_on = c->idx;
		c->dispatches++;
		c->resched = false; /* (one asked for the thread before it is served: this one is picked now) */
		account_in(c, t);
		return t;
	}
}

/* This CPU is about to load t's registers: once the CPU it stopped on has
 * saved them all. A thread that moved here is counted, and if it was
 * stopped inside the watched range (thread_watch), counted apart: its
 * registers crossed CPUs there. */
static void take_over(struct thread *t)
{
	dispatch_wait_saved(t);
	t->on_cpu = 1;
	if (t->moved) {
		t->migrations++;
		__atomic_add_fetch(&migrations, 1, __ATOMIC_RELAXED);
		if (t->ctx.rip >= watch_lo && t->ctx.rip < watch_hi)
			t->migrations_in_watch++;
	}
}

/* A switch outside an upcall handler (upcalls off): the image upcall.S's
 * entries save into (the running thread's own, armed when a handler
 * resumed it: keel_upcall_xstate_set) belongs to the thread leaving -- the
 * next entry saves on its stack. */
static inline void disarm(struct dcpu *c) { c->area->env_words[0] = 0; }

/* Locked, upcalls off, on this CPU's stack of its own or any: run t, which
 * pick_next just took, from nothing (the CPU idled, or its thread ended). */
__attribute__((noreturn)) static void run_fresh(struct dcpu *c, struct thread *t)
{
	arm_timer(c);
	trace(TR_SWITCH, t->tid, (uint64_t)c->last_tid, 0);
	c->cur = t;
	disarm(c);
	dispatch_spin_unlock();
	take_over(t);
	libos_load(&t->ctx, t->xstate, c->area);
}

/* ------------------------------------------------------ thread context */
void dispatch_stop(enum sched_why why)
{
	struct dcpu *c = dispatch_here();
	struct thread *prev = c->cur;
	bool stopped = prev->state != THREAD_RUNNING; /* blocked, sleeping or done */
	account_out(prev);
	if (stopped)
		policy_blocked(prev);
	else
		policy_ready(prev, why);
	struct thread *next = pick_next(c);
	if (!next) {
		/* Nothing here: prev is saved and this CPU idles on its own stack
		 * (prev may be resumed on another CPU at once). */
		c->cur = NULL;
		c->last_tid = prev->tid;
		c->turn_end = 0;
		disarm(c);
		dispatch_spin_unlock();
		libos_switch_idle(&prev->ctx, prev->xstate, &prev->on_cpu, c->idle_stack, c);
		return; /* resumed, enabled */
	}
	arm_timer(c);
	if (next != prev || stopped) /* it ran again after a stop: the trace says so */
		trace(TR_SWITCH, next->tid, (uint64_t)prev->tid, 0);
	if (next == prev) {
		dispatch_unlock();
		return;
	}
	c->cur = next;
	disarm(c);
	dispatch_spin_unlock();
	take_over(next);
	libos_switch(&prev->ctx, prev->xstate, &next->ctx, next->xstate, c->area, &prev->on_cpu);
}

bool dispatch_wake(struct thread *t)
{
	trace(TR_WAKE, t->tid, 0, 0);
	policy_ready(t, SCHED_WOKEN);
	return policy_preempt(t);
}

bool dispatch_add(struct thread *t)
{
	trace(TR_CREATE, t->tid, 0, 0);
	trace_thread(t->tid, t->name);
	policy_ready(t, SCHED_NEW);
	return policy_preempt(t);
}

void dispatch_unlock_after_wake(bool preempt)
{
	if (preempt) {
		struct thread *cur = dispatch_cur;
		cur->preemptions++;
		trace(TR_PREEMPT, cur->tid, 0, 0);
		dispatch_stop(SCHED_PREEMPTED);
	} else {
		dispatch_unlock();
	}
}

/* ------------------------------------------------------------ idling */
/*
 * Locked, upcalls off, on c's idle stack (dcpu.c): nothing runs here; wait
 * in the kernel until something does. Every way into it abandons the stack
 * it came on (a stopped thread's, saved; an upcall's), and it never
 * returns: a thread it picks is resumed, and the next idle starts afresh.
 */
static unsigned all_sleepers(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < dispatch_ncpus; i++)
		n += dispatch_cpus[i].sleepers != NULL;
	return n;
}

static bool all_idle(void)
{
	for (unsigned i = 0; i < dispatch_ncpus; i++)
		if (!dispatch_cpus[i].idle)
			return false;
	return true;
}

/* Locked, on c's idle stack: spin until poked -- by a CPU handing work
 * here (dispatch_kick: a store), or by this CPU's own event handler, which
 * runs meanwhile (upcalls on: the timer, a post) and may have made work.
 * Returns locked and disabled again. The dispatcher is bound to this CPU,
 * so disabling is a store (no restartable sequence).
 *
 * No `pause` in the loop: QEMU's TCG ends a vCPU's turn at one, and under
 * -icount (the vCPUs run in turn on one instruction clock) a CPU polling
 * with it would take none of the clock, leaving the busy CPUs to share it:
 * a request's time would depend on how many others run. Spinning plainly,
 * each CPU takes its share busy or idle, as a dedicated core would
 * (docs/schedulers.md "A centralised dispatcher"). */
static void idle_poll(struct dcpu *c)
{
	c->polling = true;
	c->poke = 0;
	dispatch_spin_unlock();
	keel_upcalls_enable(c->area); /* (an event pending runs the handler now) */
	while (!__atomic_load_n(&c->poke, __ATOMIC_ACQUIRE))
		barrier(); /* (no pause: above) */
	*(volatile uint32_t *)&c->area->disabled = 1;
	barrier();
	dispatch_spin_lock();
	c->polling = false;
	c->kicked = false;
}

__attribute__((noreturn)) void dispatch_idle(struct dcpu *c)
{
	dispatch_spin_lock();
	c->idle_since = keel_now(); /* (kept through wake-ups that find nothing: the watchdog's) */
	for (;;) {
		wake_due(c, keel_now());
		run_poll(c);
		watch(c);
		struct thread *t = pick_next(c);
		if (t) {
			c->idle = false;
			run_fresh(c, t);
		}
		c->idle = true;
		if (!all_sleepers() && !nrunnable && all_idle()) {
			unsigned live = 0;
			for (struct thread *u = dispatch_all; u; u = u->all_next)
				live += u->state != THREAD_DONE;
			if (!live)
				sys_exit(0); /* every thread has exited */
			printf("sched: deadlock: %u threads blocked, none runnable or sleeping\n", live);
			dump_threads();
			sys_exit(125);
		}
		c->idles++;
		c->turn_end = 0;
		arm_timer(c);
		if (policy->idle_poll && dispatch_multi && !c->lent) {
			idle_poll(c);
			continue;
		}
		if (c->lent)
			c->lend_owed |= 1ULL << c->idx; /* (lent: given to the borrower here, now that it runs nothing) */
		dispatch_spin_unlock();
		keel_syscall3(SYS_EVENT_WAIT, 0, 0, 0);
		uint64_t ev = __atomic_exchange_n(&c->area->pending, 0, __ATOMIC_SEQ_CST);
		dispatch_spin_lock();
		note_events(c, ev);
	}
}

/* --------------------------------------------------------------- upcalls */
/* Inside an upcall, prev's turn is over (its registers saved, if it is to
 * run again): the entry's exit is to resume next instead -- its registers
 * into the context the entry resumes, its extended state into the buffer
 * the entry restores. */
static void upcall_resume(struct dcpu *c, struct thread *prev, struct thread *next, struct keel_context *ctx)
{
	trace(TR_SWITCH, next->tid, (uint64_t)prev->tid, 0);
	take_over(next);
	*ctx = next->ctx;
	keel_upcall_xstate_set(c->area, next->xstate); /* (restored from there, no copy) */
	c->cur = next;
}

/* Locked, in an upcall: nothing more to run here now -- idle instead of
 * returning into the entry (whose stack is abandoned). */
__attribute__((noreturn)) static void upcall_idle(struct dcpu *c, int last_tid)
{
	c->cur = NULL;
	c->last_tid = last_tid;
	c->turn_end = 0;
	dispatch_spin_unlock();
	libos_idle_on(c->idle_stack, c);
}

/* Locked, in an upcall: prev, preempted, is not what runs next here. Out
 * of line, so that a debugger stopped at the save sees prev, next and the
 * interrupted context whatever the compiler does with on_event
 * (docs/debugging.md's worked example breaks here). */
static __attribute__((noinline)) void switch_preempted(struct dcpu *c, struct thread *prev, struct thread *next,
							struct keel_context *interrupted)
{
	/* Another CPU that picked prev waits for on_cpu (take_over). */
	prev->ctx = *interrupted;
	void *live = keel_upcall_xstate_of(c->area); /* (prev's own when the entry had it armed) */
	if (live != prev->xstate)
		memcpy(prev->xstate, live, keel_xstate_size());
	__atomic_store_n(&prev->on_cpu, 0, __ATOMIC_RELEASE);
	if (!next)
		upcall_idle(c, prev->tid);
	upcall_resume(c, prev, next, interrupted);
}

static void on_event(struct keel_upcall_area *a, uint64_t events, struct keel_context *interrupted)
{
	/* A thread stopped inside dispatch_disable_here's sequence finds its
	 * CPU again when it resumes, wherever that is. */
	struct dcpu *c = dispatch_here();
	if (interrupted->rip >= (uint64_t)dispatch_disable_seq_start &&
	    interrupted->rip < (uint64_t)dispatch_disable_seq_end) {
		interrupted->rip = (uint64_t)dispatch_disable_seq_start;
		c->restarts++;
	}
	dispatch_spin_lock();
	note_events(c, events);
	bool preempt = wake_due(c, keel_now());
	run_poll(c);
	if (c->resched) {
		c->resched = false;
		preempt = true;
	}
	struct thread *cur = c->cur;
	if (cur && c->turn_end && dispatch_vnow() >= c->turn_end) {
		uint64_t r = 1;
		trace(TR_TICK, cur->tid, 0, 0);
		if (guarded(P_TICK, cur, NULL, &r))
			eject(guard_why);
		if (r)
			preempt = true;
		else
			c->turn_end = dispatch_vnow() + policy->quantum_ns;
	}
	watch(c);
	if (preempt && cur && cur->state == THREAD_RUNNING) {
		struct thread *prev = cur;
		prev->preemptions++;
		if (interrupted->rip >= watch_lo && interrupted->rip < watch_hi)
			prev->preempt_in_watch++;
		trace(TR_PREEMPT, prev->tid, 0, 0);
		account_out(prev);
		policy_ready(prev, SCHED_PREEMPTED);
		struct thread *next = pick_next(c);
		if (next != prev)
			switch_preempted(c, prev, next, interrupted);
	}
	arm_timer(c);
	if (c->polling)
		c->poke = 1; /* (this CPU idles in idle_poll: it may have work now) */
	dispatch_spin_unlock();
}

static const char *trap_name(uint64_t v)
{
	static const char *const n[] = { [0] = "#DE", [1] = "#DB", [3] = "#BP", [6] = "#UD", [13] = "#GP",
					  [14] = "#PF", [16] = "#MF", [17] = "#AC", [19] = "#XM" };
	if (v == KEEL_TRAP_WATCHDOG)
		return "the kernel's watchdog (disabled too long)";
	return v < ARRAY_SIZE(n) && n[v] ? n[v] : "an exception";
}

static int on_trap(struct keel_upcall_area *a, uint64_t vector, uint64_t error, uint64_t cr2,
		   struct keel_context *ctx, int slot)
{
	long vmf = VMF_NOT_MINE;
	if (vector == 14 && (vmf = vm_region_fault(cr2, error)) == VMF_MAPPED)
		return 0; /* a stack or region page mapped on demand */
	struct dcpu *c = dispatch_here();
	if (c->in_policy) {
		/* A callback faulted or spun: abandon it (guarded() returns -1). */
		snprintf(guard_why, sizeof guard_why, "%s in its %s callback at rip %#llx", trap_name(vector),
			 pcall_names[c->in_policy - 1], (unsigned long long)ctx->rip);
		const struct libos_jmp *j = &c->guard_jmp;
		ctx->rbx = j->rbx, ctx->rbp = j->rbp, ctx->r12 = j->r12, ctx->r13 = j->r13;
		ctx->r14 = j->r14, ctx->r15 = j->r15, ctx->rsp = j->rsp, ctx->rip = j->rip;
		ctx->rax = 1;
		return 0;
	}
	if (vector == KEEL_TRAP_WATCHDOG && c->spinning)
		return 0; /* waiting for the lock another CPU holds -- in a callback the watchdog ejects: go on */
	if (slot != KEEL_SAVE_ENABLED || !c->cur)
		return 1; /* in the dispatcher itself: the app ends (libos prints the trap) */
	/* A thread faulted: it ends, and the others go on. */
	struct thread *dead = c->cur;
	printf("thread %d (%s): killed: %s at rip %#llx%s", dead->tid, dead->name, trap_name(vector),
	       (unsigned long long)ctx->rip, vmf == VMF_GUARD ? ": stack overflow (its guard page)" : "");
	if (vector == 14)
		printf(", address %#llx", (unsigned long long)cr2);
	printf("\n");
	dispatch_spin_lock();
	int tid = dead->tid;
	account_out(dead);
	dead->ret = (void *)(uintptr_t)(-1);
	dead->state = THREAD_DONE;
	trace(TR_EXIT, tid, 1, 0);
	policy_blocked(dead);
	if (dead->joiner)
		dispatch_wake(dead->joiner);
	__atomic_store_n(&dead->on_cpu, 0, __ATOMIC_RELEASE); /* nothing of it to save: its joiner may free it */
	struct thread *next = pick_next(c);
	if (!next)
		upcall_idle(c, tid);
	trace(TR_SWITCH, next->tid, (uint64_t)tid, 0);
	take_over(next);
	*ctx = next->ctx;
	keel_upcall_xstate_set(c->area, next->xstate);
	c->cur = next;
	arm_timer(c);
	dispatch_spin_unlock();
	return 0;
}

/* -------------------------------------------------------------- policies */
static void install(const struct sched_policy *p, int ejecting)
{
	struct dcpu *c = dispatch_here();
	policy = p;
	nrunnable = 0;
	run_head = run_tail = NULL;
	trace(TR_POLICY, c->cur ? c->cur->tid : 0, (uint64_t)ejecting, 0);
	if (guarded(P_INIT, NULL, NULL, NULL))
		goto broken;
	for (struct thread *t = dispatch_all; t; t = t->all_next)
		if (t->state == THREAD_RUNNABLE) {
			uint64_t w = SCHED_MOVED;
			t->runnable_since = watch_clock(); /* the new policy's watch starts now */
			runnable_add(t);
			if (guarded(P_READY, t, NULL, &w))
				goto broken;
		}
	for (unsigned i = 0; i < dispatch_ncpus; i++) {
		struct dcpu *o = &dispatch_cpus[i];
		if (o->lent)
			sched_cpu_reclaim(i); /* (the new policy has every CPU: a lender lends again if it will) */
		o->poll_at = p->poll ? keel_now() : 0; /* (due at once: each CPU's next event polls) */
		if (o->cur && o->cur->state == THREAD_RUNNING && o == c) {
			account_out(o->cur);
			account_in(o, o->cur); /* a new turn, under the new quantum */
		} else if (o->cur) {
			sched_resched(i); /* the others' turns end: the new policy decides there too */
		} else if (o->idle) {
			o->idle_since = keel_now(); /* (the new policy's watch starts now) */
			dispatch_kick(o);
		}
	}
	return;
broken:
	if (p == &sched_rr) {
		printf("sched: round-robin failed: %s\n", guard_why);
		sys_exit(126);
	}
	eject(guard_why);
}

static void eject(const char *why)
{
	char reason[96];
	memcpy(reason, why, sizeof reason); /* guard_why is reused below */
	const struct sched_policy *bad = policy;
	sched_ejections++;
	printf("sched: policy '%s' ejected: %s\n", bad->name, reason);
	dump_threads();
	if (bad->dump && guarded(P_DUMP, NULL, NULL, NULL))
		printf("sched:   (its dump callback failed too)\n");
	printf("sched: falling back to round-robin\n");
	install(&sched_rr, 1);
}

const struct sched_policy *sched_set_policy(const struct sched_policy *p)
{
	dispatch_lock();
	const struct sched_policy *old = policy;
	install(p, 0);
	/* The caller too goes to the new policy, which may prefer another thread. */
	dispatch_stop(SCHED_MOVED);
	return old;
}

const struct sched_policy *sched_policy(void) { return policy; }

void sched_restart_policy(void) { install(policy, 0); }

const struct sched_policy *sched_policy_named(const char *name)
{
	static const struct sched_policy *const all[] = {
		&sched_rr, &sched_prio, &sched_stride, &sched_edf, &sched_ws, &sched_gedf, &sched_pedf, &sched_shinjuku,
		&sched_caladan,
	};
	for (unsigned i = 0; i < ARRAY_SIZE(all); i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}

void tq_insert(struct thread_queue *q, struct thread *t, bool (*before)(const struct thread *, const struct thread *))
{
	struct thread **p = &q->head;
	while (*p && !before(t, *p))
		p = &(*p)->q_next;
	t->q_next = *p;
	*p = t;
	if (!t->q_next)
		q->tail = t;
}

int dispatch_init(const struct sched_policy *p, struct thread *main)
{
	struct dcpu *c = &dispatch_cpus[0];
	c->area = &keel_area_page;
	int err = dispatch_cpu_prepare(c, 0);
	if (err)
		return err;
	err = keel_upcalls_init_at(c->area, on_event, on_trap);
	if (err)
		return err;
	c->waited_seen = c->area->waited_total_ns;
	libos_mem_lock = &dispatch_mem_lock;
	dispatch_lock();
	c->cur = main;
	dispatch_all = main;
	main->state = THREAD_RUNNING;
	main->on_cpu = 1;
	trace(TR_CREATE, main->tid, 0, 0);
	trace_thread(main->tid, main->name);
	install(p, 0);
	arm_timer(c);
	dispatch_unlock();
	return 0;
}

void thread_watch(const void *start, const void *end)
{
	dispatch_lock();
	watch_lo = (uint64_t)start;
	watch_hi = (uint64_t)end;
	for (struct thread *t = dispatch_all; t; t = t->all_next)
		t->preempt_in_watch = t->migrations_in_watch = 0;
	dispatch_unlock();
}

/* ------------------------------------------------------------- sleeping */
void thread_sleep_until(uint64_t deadline)
{
	struct dcpu *c = dispatch_lock();
	if (deadline <= keel_now()) {
		dispatch_unlock();
		return;
	}
	struct thread *cur = c->cur;
	cur->wake_at = deadline;
	cur->state = THREAD_SLEEPING;
	struct thread **p = &c->sleepers; /* this CPU's timer wakes it */
	while (*p && (*p)->wake_at <= deadline)
		p = &(*p)->sleep_next;
	cur->sleep_next = *p;
	*p = cur;
	trace(TR_SLEEP, cur->tid, deadline, 0);
	dispatch_stop(SCHED_WOKEN);
}
