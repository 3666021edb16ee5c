/* libos control transfer: see ipc.h; the entry is in upcall.S. */
#include "ipc.h"
#include "keel/errno.h"

#define PCT_STACK_SIZE (16 * 1024)
static uint8_t pct_stack[PCT_STACK_SIZE] __attribute__((aligned(64)));
static keel_pct_fn pct_handler;

extern char keel_pct_entry[];
void libos_pct(struct keel_upcall_area *a, uint64_t caller, uint64_t *msg);

void libos_pct(struct keel_upcall_area *a, uint64_t caller, uint64_t *msg) { pct_handler(a, caller, msg); }

int keel_pct_serve(keel_pct_fn fn)
{
	if (!keel_area)
		return -EINVAL;
	pct_handler = fn;
	/* The stack first: a call finds either no entry or a whole one. */
	__atomic_store_n(&keel_area->pct_stack, (uint64_t)(pct_stack + PCT_STACK_SIZE), __ATOMIC_SEQ_CST);
	__atomic_store_n(&keel_area->pct_entry, (uint64_t)keel_pct_entry, __ATOMIC_SEQ_CST);
	return 0;
}

void keel_wait_while(struct keel_upcall_area *a, const volatile uint64_t *word, uint64_t value)
{
	for (;;) {
		*(volatile uint32_t *)&a->disabled = 1;
		__asm__ volatile("" ::: "memory");
		if (*word != value)
			break;
		sys_event_wait();
		keel_upcalls_enable(a);
	}
	keel_upcalls_enable(a);
}

long keel_pct_call(uint32_t env_slot, const uint64_t a[4], uint64_t r[4])
{
	long ret;
	while ((ret = sys_pct_call(env_slot, a, r)) == -EAGAIN)
		if (sys_yield_to(env_slot) < 0)
			sys_yield();
	return ret;
}
