/* Boot tests of the kernel clock and timer queue. */
#include "arch/x86_64/cpu.h"
#include "clock.h"
#include "ktest.h"
#include "timer.h"

static u64 fired;
static u64 period_ns;

static void rearm(struct timer *t)
{
	fired++;
	timer_arm(t, t->deadline + period_ns);
}

/* A periodic timer at 100 us for 20 ms of kernel clock fires ~200 times,
 * never early. */
KTEST(timer_queue_fires_on_time)
{
	static struct timer t = { .fire = rearm };
	period_ns = 100000;
	u64 start = clock_ns(), irq0 = timer_interrupts;
	fired = 0;
	timer_arm(&t, start + period_ns);
	while (clock_ns() - start < 20000000) {
		sti();
		hlt();
		cli();
	}
	timer_cancel(&t);
	u64 elapsed = clock_ns() - start;
	ktest_log("%llu timer callbacks, %llu interrupts in %llu us", (unsigned long long)fired,
		  (unsigned long long)(timer_interrupts - irq0), (unsigned long long)(elapsed / 1000));
	KEXPECT(fired >= 150 && fired <= 201, "about 200 callbacks in 20 ms, got %llu", (unsigned long long)fired);
}
