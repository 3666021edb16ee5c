/* Boot tests of the kernel clock and timer queue. */
#include "arch/x86_64/cpu.h"
#include "clock.h"
#include "ktest.h"
#include "timer.h"

/*
 * Every callback appends what it saw to one log, in firing order: the
 * deadline it fired for, the clock when it ran, and the number of the arm
 * that set that deadline (arms are numbered in the order they were made).
 */
struct fire {
	u64 deadline, at, arm;
	int who; /* -1: the periodic timer; else the one-shot's index */
};

#define ONESHOTS 64
#define LOG_MAX 512

static struct fire seen[LOG_MAX];
static unsigned nlog, lost;
static u64 arms;
static u64 period_ns;

struct oneshot {
	struct timer t;
	u64 arm;   /* the number of its last arm */
	u64 fires;
};
static struct oneshot shots[ONESHOTS];
static struct timer periodic;
static u64 periodic_arm, periodic_fires;

static void record(u64 deadline, u64 arm, int who)
{
	u64 now = clock_ns();
	if (nlog == LOG_MAX) {
		lost++;
		return;
	}
	seen[nlog++] = (struct fire){ deadline, now, arm, who };
}

static void arm(struct timer *t, u64 deadline, u64 *arm_no)
{
	*arm_no = ++arms;
	timer_arm(t, deadline);
}

static void periodic_fire(struct timer *t)
{
	periodic_fires++;
	record(t->deadline, periodic_arm, -1);
	arm(t, t->deadline + period_ns, &periodic_arm);
}

static void oneshot_fire(struct timer *t)
{
	struct oneshot *s = (struct oneshot *)t;
	s->fires++;
	record(t->deadline, s->arm, (int)(s - shots));
}

/* 1 to 20 ms after start on a 400 us grid, half of them a few us past
 * their grid point: a deadline a little after another catches a queue
 * that fires what is nearly due. */
static u64 grid(u64 start, u64 x)
{
	u64 d = start + 1000000 + (x % 48) * 400000;
	return (x >> 8) & 1 ? d + (x >> 16) % 4000 : d;
}

/*
 * The queue against its contract, under a periodic timer (100 us, re-armed
 * from its own callback) and 64 one-shots armed at once with deadlines from
 * 1 to 20 ms ahead (grid(): several share a deadline, some share it with the
 * periodic one, some are a few us after another); 16 of them re-armed to another deadline and 8
 * cancelled before anything fires. Then, for every callback:
 *  - never early: the clock when it runs is at or past its deadline;
 *  - in order: deadlines never go backwards from one callback to the next,
 *    and equal deadlines fire in the order they were armed;
 *  - once: each one-shot fires exactly once, at the deadline it was last
 *    armed for; a cancelled one never; the periodic one once per period
 *    (~250 times in the 25 ms the test waits).
 * The latest callback's lateness is reported (tests/test_boot.py bounds it
 * under -icount, where it does not depend on the host).
 */
KTEST(timer_queue_fires_on_time)
{
	period_ns = 100000;
	u64 start = clock_ns(), irq0 = timer_interrupts, q0 = timer_queue_length();
	u64 deadline_of[ONESHOTS];
	bool cancelled[ONESHOTS] = { false };
	u64 x = 0x9E3779B97F4A7C15ULL; /* xorshift: the same grid every boot */
	for (int i = 0; i < ONESHOTS; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		deadline_of[i] = grid(start, x);
		shots[i].t.fire = oneshot_fire;
		arm(&shots[i].t, deadline_of[i], &shots[i].arm);
	}
	periodic.fire = periodic_fire;
	arm(&periodic, start + period_ns, &periodic_arm);
	for (int i = 0; i < 16; i++) { /* re-armed: some earlier, some later */
		int k = i * 4;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		deadline_of[k] = grid(start, x);
		arm(&shots[k].t, deadline_of[k], &shots[k].arm);
	}
	for (int i = 0; i < 8; i++) {
		int k = i * 8 + 1;
		timer_cancel(&shots[k].t);
		cancelled[k] = true;
	}
	KEXPECT(timer_queue_length() == q0 + ONESHOTS - 8 + 1, "%llu + 56 one-shots + the periodic timer queued, got %llu",
		(unsigned long long)q0, (unsigned long long)timer_queue_length());

	while (clock_ns() - start < 25000000) { /* past every one-shot */
		sti();
		hlt();
		cli();
	}
	timer_cancel(&periodic);
	u64 elapsed = clock_ns() - start;

	unsigned early = 0, disorder = 0, ties = 0;
	u64 late_max = 0;
	for (unsigned i = 0; i < nlog; i++) {
		const struct fire *f = &seen[i];
		if (f->at < f->deadline) {
			if (early++ < 5)
				ktest_log("EARLY: %s %d fired %llu ns before its deadline", f->who < 0 ? "periodic" : "one-shot",
					  f->who, (unsigned long long)(f->deadline - f->at));
		} else if (f->at - f->deadline > late_max) {
			late_max = f->at - f->deadline;
		}
		if (i == 0)
			continue;
		const struct fire *p = &seen[i - 1];
		ties += p->deadline == f->deadline;
		if (p->deadline > f->deadline || (p->deadline == f->deadline && p->arm > f->arm)) {
			if (disorder++ < 5)
				ktest_log("OUT OF ORDER: deadline +%llu ns (arm %llu) fired after +%llu ns (arm %llu)",
					  (unsigned long long)(f->deadline - start), (unsigned long long)f->arm,
					  (unsigned long long)(p->deadline - start), (unsigned long long)p->arm);
		}
	}
	unsigned wrong = 0;
	for (int i = 0; i < ONESHOTS; i++) {
		u64 want = cancelled[i] ? 0 : 1;
		bool at_last = true;
		for (unsigned j = 0; j < nlog; j++)
			if (seen[j].who == i && (seen[j].deadline != deadline_of[i] || seen[j].arm != shots[i].arm))
				at_last = false;
		if (shots[i].fires != want || !at_last) {
			if (wrong++ < 5)
				ktest_log("one-shot %d%s fired %llu times%s", i, cancelled[i] ? " (cancelled)" : "",
					  (unsigned long long)shots[i].fires, at_last ? "" : ", not at its last deadline");
		}
	}
	ktest_log("%llu periodic callbacks, %u one-shots, %llu interrupts in %llu us; %u callbacks logged, %u "
		  "sharing a deadline with the one before",
		  (unsigned long long)periodic_fires, ONESHOTS - 8, (unsigned long long)(timer_interrupts - irq0),
		  (unsigned long long)(elapsed / 1000), nlog, ties);
	ktest_log("%u early, %u out of order, %u one-shots fired wrongly; latest callback %llu ns after its deadline",
		  early, disorder, wrong, (unsigned long long)late_max);
	KEXPECT(lost == 0, "every callback logged, %u lost", lost);
	KEXPECT(early == 0, "no callback before its deadline, %u early", early);
	KEXPECT(disorder == 0, "callbacks in deadline order (ties in arm order), %u out of order", disorder);
	KEXPECT(wrong == 0, "each one-shot once at its last deadline, cancelled ones never: %u wrong", wrong);
	KEXPECT(ties > 0, "the grid makes some deadlines equal (else ties are not tested)");
	KEXPECT(periodic_fires >= 240 && periodic_fires <= 251, "about 250 periodic callbacks in 25 ms, got %llu",
		(unsigned long long)periodic_fires);
}
