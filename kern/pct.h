/*
 * CPU time between envs: waiting for events, directed yield and protected
 * control transfer (docs/design.md "CPU time"; docs/abi.md "Control transfer").
 *
 * A protected control transfer is a synchronous call into another env's
 * registered entry, with four register arguments each way. It is a
 * continuation, not a kernel thread: the caller's registers stay in its env
 * (blocked, the reply writes its results there), the receiver is entered
 * like an upcall, and no kernel stack survives the switch. The caller's time
 * slice is donated: the receiver runs for the rest of it.
 */
#ifndef KEEL_PCT_H
#define KEEL_PCT_H

#include "types.h"

struct dispatcher;

/* SYS_PCT_CALL (arguments in e->ctx): returns only an error; success
 * switches to the receiver. */
i64 pct_call(struct dispatcher *d);
/* SYS_PCT_REPLY (results in e->ctx): returns only an error; success
 * switches back to the caller. */
i64 pct_reply(struct dispatcher *d);
/* Their fast paths (entry.S -> syscall_switch): the common case done in one
 * pass, by switching -- else they return, having changed nothing, and the
 * general path above makes the call. */
void pct_call_fast(struct dispatcher *d);
void pct_reply_fast(struct dispatcher *d);
/* SYS_YIELD: the next env runs (d resumed in place if its area says
 * KEEL_AREA_YIELD_IN_PLACE, else by activation). Its fast path, as the
 * call's above. */
__noreturn void pct_yield(struct dispatcher *d);
void pct_yield_fast(struct dispatcher *d);
/* SYS_YIELD_TO: returns only an error; success runs the target now. */
i64 pct_yield_to(struct dispatcher *d, u64 env_slot);
/* SYS_EVENT_WAIT: 0 at once if an event is pending; else blocks. */
i64 pct_event_wait(struct dispatcher *d);

/* At boot. When an env ends, a caller blocked on it gets -EPIPE and a
 * receiver serving it learns at its reply. */
void pct_init(void);

#endif
