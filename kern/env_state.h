/*
 * The per-env state of the subsystems above env.c, as data: each subsystem
 * declares its part here and is the only code that touches it (struct env
 * embeds them, so env.h depends on no subsystem's code). The parts entry.S
 * reads stay at struct env's top, where asm-offsets.c finds them.
 */
#ifndef KEEL_ENV_STATE_H
#define KEEL_ENV_STATE_H

#include "lib/list.h"
#include "timer.h"
#include "types.h"

struct cap;
struct dispatcher;
struct env;

/* upcall.c: the env's deadline, and the CPU time it is told of at each
 * activation (the parts entry.S reads sit at struct env's top). */
struct upcall_state {
	struct timer deadline;   /* SYS_SET_DEADLINE */
	u64 fired_deadline;      /* the deadline whose KEEL_EV_TIMER is pending */
	u64 descheduled_at, ran_ns;
	u64 ran_total_ns, waited_total_ns, activations;
};

/* cpucap.c: the CPUs it holds capabilities for. */
#define CPUCAP_MAX 64 /* = MAX_CPUS (checked in cpucap.c) */
struct cpucap_state {
	u64 held;              /* bit c: it holds a capability for CPU c */
	struct hnode *caps;    /* its CPU capabilities (struct cap, in_holder) */
	u16 count[CPUCAP_MAX]; /* per CPU: how many it holds */
};

/* pt.c: what its page tables and ranges hold. */
struct pt_state {
	struct hnode *vranges;   /* the VRANGE capabilities it holds (struct cap, in_holder) */
	struct cap *vrange_hint; /* the range the last mapping was found in */
	struct cap **recs;       /* per user PML4 entry: the capability installed there */
};

/* ioport.c: the env's I/O permission bitmap, following its capabilities. */
struct ioport_state {
	u8 *bitmap;     /* 8 KiB once it holds ports: a 0 bit allows the port */
	u8 *count;      /* per port: how many of its capabilities allow it */
	u32 bytes;      /* the part of the bitmap that allows anything */
	u32 ncaps;      /* port capabilities held (at most IOPORT_CAPS_MAX) */
};

/* pct.c: protected control transfers in progress. */
struct pct_state {
	bool serving;       /* entered by a call not yet replied to */
	bool was_waiting;   /* ... while it waited for events (and waits again after) */
	struct dispatcher *caller; /* serving a call from it (NULL once that caller ended) */
	struct dispatcher *callee; /* blocked in a call to it */
};

#endif
