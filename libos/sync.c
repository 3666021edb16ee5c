/*
 * Mutexes, condition variables and semaphores for libos threads. Each is a
 * FIFO of blocked threads, touched only with upcalls disabled (the
 * dispatcher's lock: one CPU, so that is all the mutual exclusion needed).
 * A release hands the mutex or the semaphore count straight to the first
 * waiter, so a woken thread never finds it taken again (no barging).
 */
#include "dispatch.h"

static void wq_push(struct thread_queue *q, struct thread *t)
{
	t->wait_next = NULL;
	if (q->tail)
		q->tail->wait_next = t;
	else
		q->head = t;
	q->tail = t;
}

static struct thread *wq_pop(struct thread_queue *q)
{
	struct thread *t = q->head;
	if (t && !(q->head = t->wait_next))
		q->tail = NULL;
	return t;
}

/* Locked: the running thread waits on q until someone hands it what it waits for. */
static void block_on(struct thread_queue *q)
{
	struct thread *self = dispatch_cur;
	wq_push(q, self);
	self->state = THREAD_BLOCKED;
	trace(TR_BLOCK, self->tid, 0, 0);
	dispatch_stop(SCHED_WOKEN);
}

void mutex_lock(struct mutex *m)
{
	dispatch_lock();
	if (!m->owner) {
		m->owner = dispatch_cur;
		dispatch_unlock();
		return;
	}
	m->contended++;
	block_on(&m->waiters); /* mutex_unlock makes it the owner */
}

bool mutex_trylock(struct mutex *m)
{
	dispatch_lock();
	bool got = !m->owner;
	if (got)
		m->owner = dispatch_cur;
	dispatch_unlock();
	return got;
}

/* Locked: give m to its first waiter, or free it. True if the waiter should preempt. */
static bool release(struct mutex *m)
{
	struct thread *t = wq_pop(&m->waiters);
	m->owner = t;
	return t && dispatch_wake(t);
}

void mutex_unlock(struct mutex *m)
{
	dispatch_lock();
	if (m->owner != dispatch_cur) {
		printf("libos: thread %d unlocks a mutex it does not hold\n", dispatch_cur->tid);
		sys_exit(134);
	}
	dispatch_unlock_after_wake(release(m));
}

void cond_wait(struct cond *c, struct mutex *m)
{
	dispatch_lock();
	release(m); /* no preemption here: this thread blocks at once */
	block_on(&c->waiters);
	mutex_lock(m);
}

void cond_signal(struct cond *c)
{
	dispatch_lock();
	struct thread *t = wq_pop(&c->waiters);
	dispatch_unlock_after_wake(t && dispatch_wake(t));
}

void cond_broadcast(struct cond *c)
{
	dispatch_lock();
	bool preempt = false;
	for (struct thread *t; (t = wq_pop(&c->waiters));)
		preempt |= dispatch_wake(t);
	dispatch_unlock_after_wake(preempt);
}

void sem_wait(struct sem *s)
{
	dispatch_lock();
	if (s->count > 0) {
		s->count--;
		dispatch_unlock();
		return;
	}
	block_on(&s->waiters); /* sem_post hands it the count */
}

void sem_post(struct sem *s)
{
	dispatch_lock();
	struct thread *t = wq_pop(&s->waiters);
	if (!t)
		s->count++;
	dispatch_unlock_after_wake(t && dispatch_wake(t));
}
