/* lottery: three CPU-bound threads holding 100, 200 and 300 tickets under
 * the lottery policy (lottery.c) for 300 ms; their shares, then the trace. */
#include "keel.h"
#include "sched.h"

extern const struct sched_policy sched_lottery;

static volatile int stop;

static void *worker(void *arg)
{
	uint64_t *bursts = arg;
	while (!stop) {
		thread_burn(10000);
		(*bursts)++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static uint64_t bursts[3];
	struct thread *t[3];
	threads_init(&sched_lottery);
	for (int i = 0; i < 3; i++)
		t[i] = thread_create_with("worker", worker, &bursts[i], 0, 100 * (i + 1));
	thread_sleep(300000000); /* 300 ms: main sleeps, the workers share the CPU */
	stop = 1;
	for (int i = 0; i < 3; i++)
		thread_join(t[i], NULL);
	uint64_t total = bursts[0] + bursts[1] + bursts[2];
	for (int i = 0; i < 3; i++)
		printf("lottery: %d tickets: %llu%% of the work\n", 100 * (i + 1),
		       (unsigned long long)(bursts[i] * 100 / total));
	trace_dump();
	return 0;
}
