/*
 * The trace capability (KEEL_CAP_TRACE): granted at boot only
 * (grant=IDX:trace), without the grant right, so Ring 3 can neither make one
 * nor hand one to another env. Its holder switches the kernel trace
 * (trace.h) on and off and reads the rings; rings it switches on are charged
 * to its frame quota and given back when it switches them off, or when the
 * capability it used goes (deleted, revoked, or its holder ended).
 */
#ifndef KEEL_TRACE_CAP_H
#define KEEL_TRACE_CAP_H

#include "types.h"

struct env;

void trace_cap_init(void);
/* A trace capability for e (grant.c): its slot, or -errno. */
int trace_grant(struct env *e);
/* SYS_TRACE(slot, op, arg). */
i64 trace_syscall(struct env *e, u64 slot, u64 op, u64 arg);

#endif
