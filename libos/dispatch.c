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
#include "mem.h"
#include "vm.h"

struct thread *dispatch_cur, *dispatch_all;
uint64_t sched_watchdog_ns = 1000000000ULL;
unsigned sched_ejections;

static const struct sched_policy *policy;
static struct thread *sleepers;  /* by wake_at, earliest first */
static unsigned nrunnable;       /* threads in state RUNNABLE (queued in the policy) */
static uint64_t armed;           /* the kernel deadline set now; 0 if none */
static uint64_t turn_end;        /* dispatch_vnow() at which the running thread's turn ends; 0: none */
static uint64_t last_watch;      /* dispatch_vnow() of the last watchdog scan */
static uint64_t waited_seen;     /* the area's waited_total_ns at the last activation */
static uint64_t watch_lo, watch_hi; /* thread_watch(): RIPs whose preemptions are counted */

void libos_switch(struct keel_context *from, void *from_x, struct keel_context *to, const void *to_x,
		  struct keel_upcall_area *a);
__attribute__((returns_twice)) int libos_setjmp(struct libos_jmp *j);

#define barrier() __asm__ volatile("" ::: "memory")
#define cur dispatch_cur

/* ------------------------------------------------------------- locking */
void dispatch_lock(void)
{
	*(volatile uint32_t *)&keel_area->disabled = 1;
	barrier();
}

void dispatch_unlock(void) { keel_upcalls_enable(keel_area); }

uint64_t dispatch_vnow(void)
{
	for (;;) {
		uint64_t w = *(volatile uint64_t *)&keel_area->waited_total_ns;
		uint64_t now = keel_now();
		if (w == *(volatile uint64_t *)&keel_area->waited_total_ns)
			return now - w;
	}
}

/* --------------------------------------------- guarded policy callbacks */
/*
 * Every call into the policy goes through guarded(): if the callback
 * faults, or spins until the kernel's watchdog traps the env, the trap
 * handler resumes the context saved here (libos_setjmp returns 1) and the
 * policy is ejected. Calls do not nest.
 */
static struct libos_jmp guard_jmp;
static volatile int in_policy;
static char guard_why[96];

enum pcall { P_INIT, P_READY, P_PICK, P_BLOCKED, P_PREEMPT, P_TICK, P_DUMP };
static const char *const pcall_names[] = { "init", "ready", "pick", "blocked", "preempt", "tick", "dump" };

/* Call one callback; 0, or -1 if it faulted or spun (guard_why says how). */
static int guarded(enum pcall what, struct thread *t, struct thread *u, uint64_t *out)
{
	if (libos_setjmp(&guard_jmp)) {
		in_policy = 0;
		return -1;
	}
	in_policy = 1 + what;
	switch (what) {
	case P_INIT: policy->init(); break;
	case P_READY: policy->ready(t, (enum sched_why)*out); break;
	case P_PICK: *out = (uint64_t)policy->pick(); break;
	case P_BLOCKED: if (policy->blocked) policy->blocked(t); break;
	case P_PREEMPT: *out = policy->preempt && policy->preempt(t, u); break;
	case P_TICK: *out = !policy->tick || policy->tick(t); break;
	case P_DUMP: if (policy->dump) policy->dump(); break;
	}
	in_policy = 0;
	return 0;
}

static void eject(const char *why);
static void install(const struct sched_policy *p, int ejecting);

static void policy_ready(struct thread *t, enum sched_why why)
{
	uint64_t w = why;
	t->state = THREAD_RUNNABLE;
	t->runnable_since = dispatch_vnow();
	nrunnable++;
	if (guarded(P_READY, t, NULL, &w))
		eject(guard_why);
}

static void policy_blocked(struct thread *t)
{
	if (guarded(P_BLOCKED, t, NULL, NULL))
		eject(guard_why);
}

static bool policy_preempt(struct thread *woken)
{
	uint64_t r = 0;
	if (!cur || cur->state != THREAD_RUNNING)
		return false;
	if (guarded(P_PREEMPT, cur, woken, &r)) {
		eject(guard_why);
		return false;
	}
	return r;
}

/* ------------------------------------------------------------- the timer */
/* Keep the kernel deadline no later than the earlier of the turn's end and
 * the first wake-up (SYS_SET_DEADLINE is one-shot). */
static void arm_timer(void)
{
	uint64_t want = sleepers ? sleepers->wake_at : 0;
	if (turn_end) {
		uint64_t v = dispatch_vnow(), now = keel_now();
		uint64_t end = turn_end > v ? now + (turn_end - v) : now;
		if (!want || end < want)
			want = end;
	}
	/* An earlier deadline already armed is kept: when it fires, the event
	 * re-arms for what is due then. That saves a syscall per switch, where
	 * each new turn pushes the turn's end later. */
	if (armed && (!want || armed <= want) && armed > keel_now())
		return;
	if (want != armed) {
		sys_set_deadline(want);
		armed = want;
	}
}

static void note_events(uint64_t events)
{
	if (events & KEEL_EV_TIMER)
		armed = 0; /* it fired */
	if (events & KEEL_EV_ACTIVATION) {
		uint64_t w = keel_area->waited_total_ns;
		trace(TR_ACTIVATION, cur ? cur->tid : 0, w - waited_seen, 0);
		waited_seen = w;
	}
}

/* Every sleeper due by now becomes runnable; true if one should preempt. */
static bool wake_due(uint64_t now)
{
	bool preempt = false;
	while (sleepers && sleepers->wake_at <= now) {
		struct thread *t = sleepers;
		sleepers = t->sleep_next;
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

static void account_in(struct thread *t)
{
	t->dispatched_at = dispatch_vnow();
	turn_end = policy->quantum_ns ? t->dispatched_at + policy->quantum_ns : 0;
}

static void dump_threads(void)
{
	uint64_t v = dispatch_vnow();
	static const char *const states[] = { "runnable", "running", "blocked", "sleeping", "done" };
	for (struct thread *t = dispatch_all; t; t = t->all_next)
		if (t->state == THREAD_RUNNABLE)
			printf("sched:   thread %d (%s): runnable for %llu us, ran %llu us\n", t->tid, t->name,
			       (unsigned long long)((v - t->runnable_since) / 1000), (unsigned long long)(t->ran_ns / 1000));
		else
			printf("sched:   thread %d (%s): %s, ran %llu us\n", t->tid, t->name, states[t->state],
			       (unsigned long long)(t->ran_ns / 1000));
}

/* Nothing is runnable: wait for the first sleeper, with upcalls still
 * disabled (events are taken here by hand). */
static void idle(void)
{
	if (!sleepers) {
		unsigned live = 0;
		for (struct thread *t = dispatch_all; t; t = t->all_next)
			live += t->state != THREAD_DONE;
		if (!live)
			sys_exit(0); /* every thread has exited */
		printf("sched: deadlock: %u threads blocked, none runnable or sleeping\n", live);
		dump_threads();
		sys_exit(125);
	}
	turn_end = 0;
	arm_timer();
	keel_syscall3(SYS_EVENT_WAIT, 0, 0, 0);
	note_events(__atomic_exchange_n(&keel_area->pending, 0, __ATOMIC_SEQ_CST));
	wake_due(keel_now());
}

/* The watchdog: a runnable thread the policy has not run for too long. */
static void watch(void)
{
	uint64_t v = dispatch_vnow();
	if (v - last_watch < 1000000 || !nrunnable)
		return;
	last_watch = v;
	for (struct thread *t = dispatch_all; t; t = t->all_next)
		if (t->state == THREAD_RUNNABLE && v - t->runnable_since > sched_watchdog_ns) {
			snprintf(guard_why, sizeof guard_why, "thread %d (%s) runnable but not run for %llu ms", t->tid,
				 t->name, (unsigned long long)((v - t->runnable_since) / 1000000));
			eject(guard_why);
			return;
		}
}

/* The next thread to run, taken from the policy (idling until there is
 * one); it is RUNNING and accounted from now on. */
static struct thread *pick_next(void)
{
	for (;;) {
		uint64_t r = 0;
		if (guarded(P_PICK, NULL, NULL, &r)) {
			eject(guard_why);
			continue;
		}
		struct thread *t = (struct thread *)r;
		if (t && (!thread_valid(t) || t->state != THREAD_RUNNABLE)) {
			snprintf(guard_why, sizeof guard_why, "pick returned %p, which is not a runnable thread", t);
			eject(guard_why);
			continue;
		}
		if (!t && nrunnable) {
			snprintf(guard_why, sizeof guard_why, "pick returned nothing with %u threads runnable", nrunnable);
			eject(guard_why);
			continue;
		}
		if (!t) {
			idle();
			continue;
		}
		nrunnable--;
		t->state = THREAD_RUNNING;
		t->dispatches++;
		return t;
	}
}

/* ------------------------------------------------------ thread context */
void dispatch_stop(enum sched_why why)
{
	struct thread *prev = cur;
	bool stopped = prev->state != THREAD_RUNNING; /* blocked, sleeping or done */
	account_out(prev);
	if (stopped)
		policy_blocked(prev);
	else
		policy_ready(prev, why);
	struct thread *next = pick_next();
	account_in(next);
	arm_timer();
	if (next != prev || stopped) /* it ran again after a stop: the trace says so */
		trace(TR_SWITCH, next->tid, (uint64_t)prev->tid, 0);
	if (next == prev) {
		dispatch_unlock();
		return;
	}
	cur = next;
	libos_switch(&prev->ctx, prev->xstate, &next->ctx, next->xstate, keel_area);
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
		cur->preemptions++;
		trace(TR_PREEMPT, cur->tid, 0, 0);
		dispatch_stop(SCHED_PREEMPTED);
	} else {
		dispatch_unlock();
	}
}

/* --------------------------------------------------------------- upcalls */
/* Inside an upcall, prev's turn is over (its registers saved, if it is to
 * run again): the entry's exit is to resume next instead -- its registers
 * into the context the entry resumes, its extended state into the buffer
 * the entry restores. */
static void upcall_resume(struct thread *prev, struct thread *next, struct keel_context *ctx)
{
	trace(TR_SWITCH, next->tid, (uint64_t)prev->tid, 0);
	*ctx = next->ctx;
	memcpy(keel_upcall_xstate, next->xstate, keel_xstate_size());
	cur = next;
}

static void on_event(struct keel_upcall_area *a, uint64_t events, struct keel_context *interrupted)
{
	note_events(events);
	bool preempt = wake_due(keel_now());
	if (turn_end && dispatch_vnow() >= turn_end) {
		uint64_t r = 1;
		trace(TR_TICK, cur->tid, 0, 0);
		if (guarded(P_TICK, cur, NULL, &r))
			eject(guard_why);
		if (r)
			preempt = true;
		else
			turn_end = dispatch_vnow() + policy->quantum_ns;
	}
	watch();
	if (preempt && cur->state == THREAD_RUNNING) {
		struct thread *prev = cur;
		prev->preemptions++;
		if (interrupted->rip >= watch_lo && interrupted->rip < watch_hi)
			prev->preempt_in_watch++;
		trace(TR_PREEMPT, prev->tid, 0, 0);
		account_out(prev);
		policy_ready(prev, SCHED_PREEMPTED);
		struct thread *next = pick_next();
		account_in(next);
		if (next != prev) {
			prev->ctx = *interrupted;
			memcpy(prev->xstate, keel_upcall_xstate, keel_xstate_size());
			upcall_resume(prev, next, interrupted);
		}
	}
	arm_timer();
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
	if (in_policy) {
		/* A callback faulted or spun: abandon it (guarded() returns -1). */
		snprintf(guard_why, sizeof guard_why, "%s in its %s callback at rip %#llx", trap_name(vector),
			 pcall_names[in_policy - 1], (unsigned long long)ctx->rip);
		const struct libos_jmp *j = &guard_jmp;
		ctx->rbx = j->rbx, ctx->rbp = j->rbp, ctx->r12 = j->r12, ctx->r13 = j->r13;
		ctx->r14 = j->r14, ctx->r15 = j->r15, ctx->rsp = j->rsp, ctx->rip = j->rip;
		ctx->rax = 1;
		return 0;
	}
	if (slot != KEEL_SAVE_ENABLED || !cur)
		return 1; /* in the dispatcher itself: the app ends (libos prints the trap) */
	/* A thread faulted: it ends, and the others go on. */
	printf("thread %d (%s): killed: %s at rip %#llx%s", cur->tid, cur->name, trap_name(vector),
	       (unsigned long long)ctx->rip, vmf == VMF_GUARD ? ": stack overflow (its guard page)" : "");
	if (vector == 14)
		printf(", address %#llx", (unsigned long long)cr2);
	printf("\n");
	struct thread *dead = cur;
	account_out(dead);
	dead->ret = (void *)(uintptr_t)(-1);
	dead->state = THREAD_DONE;
	trace(TR_EXIT, dead->tid, 1, 0);
	policy_blocked(dead);
	if (dead->joiner)
		dispatch_wake(dead->joiner);
	struct thread *next = pick_next();
	account_in(next);
	upcall_resume(dead, next, ctx);
	arm_timer();
	return 0;
}

/* -------------------------------------------------------------- policies */
static void install(const struct sched_policy *p, int ejecting)
{
	policy = p;
	nrunnable = 0;
	trace(TR_POLICY, cur ? cur->tid : 0, (uint64_t)ejecting, 0);
	if (guarded(P_INIT, NULL, NULL, NULL))
		goto broken;
	for (struct thread *t = dispatch_all; t; t = t->all_next)
		if (t->state == THREAD_RUNNABLE) {
			uint64_t w = SCHED_MOVED;
			t->runnable_since = dispatch_vnow(); /* the new policy's watch starts now */
			nrunnable++;
			if (guarded(P_READY, t, NULL, &w))
				goto broken;
		}
	if (cur && cur->state == THREAD_RUNNING) {
		account_out(cur);
		account_in(cur); /* a new turn, under the new quantum */
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

const struct sched_policy *sched_policy_named(const char *name)
{
	static const struct sched_policy *const all[] = { &sched_rr, &sched_prio, &sched_stride, &sched_edf };
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
	int err = keel_upcalls_init(on_event, on_trap);
	if (err)
		return err;
	waited_seen = keel_area->waited_total_ns;
	dispatch_lock();
	cur = main;
	dispatch_all = main;
	main->state = THREAD_RUNNING;
	trace(TR_CREATE, main->tid, 0, 0);
	trace_thread(main->tid, main->name);
	install(p, 0);
	arm_timer();
	dispatch_unlock();
	return 0;
}

void thread_watch(const void *start, const void *end)
{
	dispatch_lock();
	watch_lo = (uint64_t)start;
	watch_hi = (uint64_t)end;
	for (struct thread *t = dispatch_all; t; t = t->all_next)
		t->preempt_in_watch = 0;
	dispatch_unlock();
}

/* ------------------------------------------------------------- sleeping */
void thread_sleep_until(uint64_t deadline)
{
	dispatch_lock();
	if (deadline <= keel_now()) {
		dispatch_unlock();
		return;
	}
	cur->wake_at = deadline;
	cur->state = THREAD_SLEEPING;
	struct thread **p = &sleepers;
	while (*p && (*p)->wake_at <= deadline)
		p = &(*p)->sleep_next;
	cur->sleep_next = *p;
	*p = cur;
	trace(TR_SLEEP, cur->tid, deadline, 0);
	dispatch_stop(SCHED_WOKEN);
}
