/*
 * The per-env state of the subsystems above env.c, as data: each subsystem
 * declares its part here and is the only code that touches it (struct env
 * embeds them, so env.h depends on no subsystem's code). Parts the
 * assembly reads stay at struct env's top, where asm-offsets.c finds them.
 */
#ifndef KEEL_ENV_STATE_H
#define KEEL_ENV_STATE_H

#include "types.h"

struct env;

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
	struct env *caller; /* serving a call from it (NULL once that caller ended) */
	struct env *callee; /* blocked in a call to it */
};

#endif
