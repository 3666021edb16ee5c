/* libos threads: creation, exit, join, periodic jobs (thread.h). The
 * scheduling itself is the dispatcher's (dispatch.c). */
#include "dispatch.h"
#include "mem.h"
#include "vm.h"

#define STACK_SIZE (32 * 1024)  /* each thread's, its lowest page a guard */
#define PAGE 4096
/* Stacks come in arenas, each a region of 4,096, reserved as threads need
 * them: at most 32 of them, 131,072 threads alive at once. */
#define ARENA_STACKS 4096
#define ARENAS_MAX 32

static struct thread main_thread = { .tid = 1, .name = "main", .tickets = 100, .stack_index = -1, .magic = THREAD_MAGIC };
static struct vm_region arenas[ARENAS_MAX];
static unsigned narenas;
static int growing;             /* a thread is adding an arena */
static int *free_stacks;        /* a stack of free stack indices (locked) */
static int nfree_stacks;
static int next_tid = 2;
static unsigned nthreads = 1;
static long last_error;
static uint8_t *xstate_template;

static void *xstate_new(void)
{
	uint8_t *x = aligned_alloc(64, keel_xstate_size());
	if (x)
		memcpy(x, xstate_template, keel_xstate_size());
	return x;
}

static uint64_t stack_base(int index)
{
	return arenas[index / ARENA_STACKS].base + (uint64_t)(index % ARENA_STACKS) * STACK_SIZE;
}

/* One more arena of stacks, unless another thread is adding one: it maps
 * and allocates, so not under the scheduler lock. 0 or -errno. */
static int grow(void)
{
	if (__atomic_exchange_n(&growing, 1, __ATOMIC_ACQUIRE)) {
		thread_yield(); /* (then the caller looks again) */
		return 0;
	}
	int err = 0;
	unsigned a = narenas;
	uint32_t *frames = NULL;
	int *fs = NULL;
	if (a == ARENAS_MAX) {
		err = -ENOSPC;
		goto out;
	}
	frames = malloc(sizeof(uint32_t) * (ARENA_STACKS * STACK_SIZE / PAGE));
	fs = malloc(sizeof(int) * (a + 1) * ARENA_STACKS);
	if (!frames || !fs) {
		err = -ENOMEM;
		goto out;
	}
	long r = vm_region_reserve(&arenas[a], (uint64_t)ARENA_STACKS * STACK_SIZE, 0, PAGE, STACK_SIZE,
				   VMR_WRITE | VMR_DEMAND, frames);
	if (r) {
		err = (int)r;
		goto out;
	}
	frames = NULL; /* the arena's now */
	dispatch_lock();
	memcpy(fs, free_stacks, sizeof(int) * (size_t)nfree_stacks);
	int *old = free_stacks;
	free_stacks = fs;
	fs = old;
	for (int i = ARENA_STACKS - 1; i >= 0; i--)
		free_stacks[nfree_stacks++] = (int)(a * ARENA_STACKS) + i;
	narenas = a + 1;
	dispatch_unlock();
out:
	free(frames);
	free(fs);
	__atomic_store_n(&growing, 0, __ATOMIC_RELEASE);
	return err;
}

int threads_init(const struct sched_policy *policy)
{
	/* A new thread's extended state: x87 and SSE in their initial state
	 * (XSTATE_BV 0), with the control words every C program starts with. */
	xstate_template = aligned_alloc(64, keel_xstate_size());
	if (!xstate_template)
		return -ENOMEM;
	memset(xstate_template, 0, keel_xstate_size());
	*(uint16_t *)(xstate_template + 0) = 0x037F;  /* FCW */
	*(uint32_t *)(xstate_template + 24) = 0x1F80; /* MXCSR */
	main_thread.xstate = xstate_new();
	if (!main_thread.xstate)
		return -ENOMEM;
	main_thread.abs_deadline = UINT64_MAX;
	int err = dispatch_init(policy, &main_thread);
	return err ? err : grow();
}

int threads_init_cpus(const struct sched_policy *policy, unsigned max_cpus)
{
	int err = threads_init(policy);
	return err ? err : dispatch_start_cpus(max_cpus);
}

long thread_errno(void) { return last_error; }

/* A thread's record and XSAVE image live at the top of its own stack (a
 * TCB, as many thread libraries keep one): no heap per thread, and the page
 * holding them is the stack's first, which the thread touches anyway. */
static size_t tcb_size(void)
{
	return ((sizeof(struct thread) + 63) & ~(size_t)63) + ((keel_xstate_size() + 63) & ~(size_t)63);
}

static struct thread *tcb_of(int index) { return (struct thread *)(stack_base(index) + STACK_SIZE - tcb_size()); }

/* Any pointer may be asked: a TCB's place in a stack arena whose page is
 * mapped, then its magic. */
bool thread_valid(const struct thread *t)
{
	if (t == &main_thread)
		return true;
	for (unsigned a = 0; a < narenas; a++) {
		const struct vm_region *r = &arenas[a];
		if (!vm_region_contains(r, (uint64_t)t))
			continue;
		int index = (int)(a * ARENA_STACKS + ((uint64_t)t - r->base) / STACK_SIZE);
		uint32_t f = r->frames[((uint64_t)t - r->base) / PAGE];
		return tcb_of(index) == t && f != KEEL_CAP_NONE && f != VMR_FRAME_PENDING && t->magic == THREAD_MAGIC;
	}
	return false;
}
struct thread *thread_self(void)
{
	struct dcpu_disabled d = dispatch_disable();
	struct thread *t = d.c->cur;
	if (!d.was)
		keel_upcalls_enable(d.c->area);
	return t;
}
unsigned thread_count(void) { return nthreads; }

uint64_t thread_cpu_ns(void)
{
	struct thread *t = dispatch_lock()->cur;
	uint64_t ns = t->ran_ns + (dispatch_vnow() - t->dispatched_at);
	dispatch_unlock();
	return ns;
}

void libos_thread_start(void);

struct thread *thread_create_with(const char *name, void *(*fn)(void *), void *arg, int priority,
				  uint32_t tickets)
{
	int index;
	for (;;) {
		dispatch_lock();
		if (nfree_stacks)
			break;
		dispatch_unlock();
		int err = grow();
		if (err) {
			last_error = err;
			return NULL;
		}
	}
	index = free_stacks[--nfree_stacks];
	dispatch_unlock();
	/* The TCB's pages mapped here, where running out is an error to return. */
	struct vm_region *arena = &arenas[index / ARENA_STACKS];
	struct thread *t = tcb_of(index);
	long err = 0;
	for (uint64_t p = (uint64_t)t & ~(uint64_t)(PAGE - 1); !err && p < stack_base(index) + STACK_SIZE; p += PAGE)
		err = vm_region_map(arena, p);
	if (err) {
		vm_region_unmap(arena, stack_base(index), STACK_SIZE);
		dispatch_lock();
		free_stacks[nfree_stacks++] = index;
		dispatch_unlock();
		last_error = err;
		return NULL;
	}
	memset(t, 0, tcb_size());
	t->xstate = (uint8_t *)t + ((sizeof *t + 63) & ~(size_t)63);
	memcpy(t->xstate, xstate_template, keel_xstate_size());
	size_t n = strnlen(name, sizeof t->name - 1);
	memcpy(t->name, name, n);
	t->priority = priority;
	t->tickets = tickets ? tickets : 100;
	t->abs_deadline = UINT64_MAX;
	t->stack_index = index;
	t->ctx = (struct keel_context){ .rip = (uint64_t)libos_thread_start, .cs = KEEL_USER_CS, .rflags = 0x202,
					.rsp = (uint64_t)t & ~15ULL, .ss = KEEL_USER_SS,
					.r12 = (uint64_t)fn, .r13 = (uint64_t)arg };
	t->magic = THREAD_MAGIC;

	dispatch_lock();
	t->tid = next_tid++;
	t->all_next = dispatch_all;
	t->all_prev = NULL;
	dispatch_all->all_prev = t;
	dispatch_all = t;
	nthreads++;
	dispatch_unlock_after_wake(dispatch_add(t));
	return t;
}

struct thread *thread_create(const char *name, void *(*fn)(void *), void *arg)
{
	return thread_create_with(name, fn, arg, 0, 100);
}

void thread_exit(void *ret)
{
	dispatch_lock();
	struct thread *self = dispatch_cur;
	self->ret = ret;
	self->state = THREAD_DONE;
	trace(TR_EXIT, self->tid, 0, 0);
	if (self->joiner)
		dispatch_wake(self->joiner); /* no preemption to ask for: this thread stops anyway */
	dispatch_stop(SCHED_YIELDED);
	__builtin_unreachable();
}

int thread_join(struct thread *t, void **ret)
{
	dispatch_lock();
	struct thread *self = dispatch_cur;
	if (!thread_valid(t) || t == self || t->joiner || t == &main_thread) {
		dispatch_unlock();
		return -EINVAL;
	}
	if (t->state != THREAD_DONE) {
		t->joiner = self;
		self->state = THREAD_BLOCKED;
		trace(TR_BLOCK, self->tid, (uint64_t)t->tid, 0);
		dispatch_stop(SCHED_WOKEN);
		dispatch_lock();
	}
	dispatch_wait_saved(t); /* (the CPU it ended on may still be saving it) */
	if (t->all_prev) /* (O(1): 100,000 threads are joined) */
		t->all_prev->all_next = t->all_next;
	else
		dispatch_all = t->all_next;
	if (t->all_next)
		t->all_next->all_prev = t->all_prev;
	nthreads--;
	dispatch_unlock();
	if (ret)
		*ret = t->ret;
	int index = t->stack_index;
	t->magic = 0;
	/* Its stack pages, the TCB with them, go back to the kernel; the
	 * addresses stay for the next thread -- once they are unmapped. */
	vm_region_unmap(&arenas[index / ARENA_STACKS], stack_base(index), STACK_SIZE);
	dispatch_lock();
	free_stacks[nfree_stacks++] = index;
	dispatch_unlock();
	return 0;
}

void thread_yield(void)
{
	dispatch_lock();
	dispatch_stop(SCHED_YIELDED);
}

void thread_sleep(uint64_t ns) { thread_sleep_until(keel_now() + ns); }

/* ------------------------------------------------------- periodic jobs */
void thread_set_period(uint64_t period, uint64_t rel_deadline) { thread_set_period_at(period, rel_deadline, 0); }

void thread_set_period_at(uint64_t period, uint64_t rel_deadline, uint64_t first)
{
	dispatch_lock();
	struct thread *t = dispatch_cur;
	uint64_t now = keel_now();
	t->period = period;
	t->rel_deadline = rel_deadline ? rel_deadline : period;
	t->job = 1;
	t->release = first > now ? first : now;
	t->abs_deadline = t->release + t->rel_deadline;
	dispatch_stop(SCHED_YIELDED); /* the policy sees its deadline (and places it) */
	if (t->release > now)
		thread_sleep_until(t->release);
	dispatch_lock();
	trace(TR_RELEASE, t->tid, t->job, t->release);
	dispatch_unlock();
}

void thread_set_wcet(uint64_t wcet)
{
	dispatch_lock();
	dispatch_cur->wcet = wcet;
	dispatch_unlock();
}

uint64_t thread_next_job(void)
{
	struct thread *t = thread_self();
	dispatch_lock();
	uint64_t now = trace(TR_COMPLETE, t->tid, t->job, t->abs_deadline); /* the trace's time is the job's */
	t->jobs_done++;
	int64_t lateness = (int64_t)(now - t->abs_deadline);
	if (t->jobs_done == 1 || lateness > t->max_lateness)
		t->max_lateness = lateness;
	if (lateness > 0) {
		t->misses++;
		trace(TR_MISS, t->tid, t->job, (uint64_t)lateness);
	}
	t->job++;
	t->release += t->period;
	t->abs_deadline = t->release + t->rel_deadline;
	dispatch_unlock();
	thread_sleep_until(t->release); /* at once if the release has passed */
	dispatch_lock();
	trace(TR_RELEASE, t->tid, t->job, t->release);
	if (t->release < now) /* late: let the policy weigh the new deadline */
		dispatch_stop(SCHED_YIELDED);
	else
		dispatch_unlock();
	return t->job;
}
