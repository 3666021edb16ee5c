/*
 * I/O-port capabilities. A KEEL_CAP_IOPORT names ports [base, base + size);
 * every env holding one may use `in`/`out` on them from Ring 3, through its
 * own I/O permission bitmap, which env_run copies into this CPU's TSS when
 * it switches to the env (IOPL stays 0: any other port is #GP). The
 * kernel's own ports are never granted.
 */
#ifndef KEEL_IOPORT_H
#define KEEL_IOPORT_H

#include "types.h"

struct cap;
struct env;
struct percpu;

/* A capability for ports [base, base + count), made at boot (grant.c):
 * its slot in e, or -errno (-EPERM for the kernel's own ports). */
int ioport_grant(struct env *e, u32 base, u32 count);

#define IOPORTS 65536
/* Port capabilities one env may hold (derive more: -EDQUOT). A driver needs
 * a few; the bound keeps every revocation's work small. */
#define IOPORT_CAPS_MAX 16

/* At boot: the IOPORT capability type. Before one is placed in e's space,
 * e gets its bitmap (8 KiB) and per-port counts (64 KiB), once (-EDQUOT,
 * -ENOMEM); the holder's bitmap then follows its capabilities. */
void ioport_init(void);

/* env_run, switching from prev to next on this CPU. */
void ioport_switch(struct percpu *cpu, struct env *next);


#endif
